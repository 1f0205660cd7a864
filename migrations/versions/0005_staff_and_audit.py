"""Staff tools: roles, the audit trail, check-in, questions handed to the office, broadcasts.

Outbox rows keep the message number Telegram gave them, so a staff reply in the
staff group can be traced back to the question it answers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:42:15.348676
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.columns


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_actor'), ['actor'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_at'), ['at'], unique=False)

    op.create_table('broadcast',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=False),
    sa.Column('author_locale', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('texts', sa.JSON(), nullable=False),
    sa.Column('media', sa.JSON(), nullable=True),
    sa.Column('audience', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('send_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('created_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('staff_member',
    sa.Column('telegram_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('added_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('added_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('telegram_id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('broadcast_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('telegram_message_id', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_broadcast_id'), ['broadcast_id'], unique=False)
        batch_op.create_index('ix_outbox_sent_message', ['chat_id', 'telegram_message_id'], unique=False)
        batch_op.create_foreign_key('fk_outbox_broadcast_id_broadcast', 'broadcast', ['broadcast_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checked_in_at', models.columns.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('checked_in_by', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('unanswered_question', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_to_office_at', models.columns.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('answered_at', models.columns.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('answered_by', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('answer', sa.Text(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('unanswered_question', schema=None) as batch_op:
        batch_op.drop_column('answer')
        batch_op.drop_column('answered_by')
        batch_op.drop_column('answered_at')
        batch_op.drop_column('sent_to_office_at')

    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_column('checked_in_by')
        batch_op.drop_column('checked_in_at')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outbox_broadcast_id_broadcast', type_='foreignkey')
        batch_op.drop_index('ix_outbox_sent_message')
        batch_op.drop_index(batch_op.f('ix_outbox_broadcast_id'))
        batch_op.drop_column('telegram_message_id')
        batch_op.drop_column('broadcast_id')

    op.drop_table('staff_member')
    op.drop_table('broadcast')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_at'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_actor'))

    op.drop_table('audit_entry')
