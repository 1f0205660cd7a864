"""Reminders and delivery: the reminders switch, offer expiry, and outbox claims.

Outbox rows now name the registration they are about and whether they may wake
someone at night (urgent), and carry the time a sender claimed them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 20:12:40.858031
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.columns


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('applicant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminders', sa.Boolean(), nullable=False, server_default=sa.true()))

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('urgent', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('claimed_at', models.columns.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_registration_id'), ['registration_id'], unique=False)
        batch_op.create_foreign_key('fk_outbox_registration_id_registration', 'registration', ['registration_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offer_expires_at', models.columns.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reminders_for', models.columns.UtcDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_column('reminders_for')
        batch_op.drop_column('offer_expires_at')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outbox_registration_id_registration', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_registration_id'))
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('urgent')
        batch_op.drop_column('registration_id')

    with op.batch_alter_table('applicant', schema=None) as batch_op:
        batch_op.drop_column('reminders')

