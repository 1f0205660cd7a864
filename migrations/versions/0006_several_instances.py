"""Several instances on one PostgreSQL: who claimed an outbox row, one shared send budget.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 05:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_outbox_chat_status', ['chat_id', 'status'], unique=False)

    op.create_table('send_slot',
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('free_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('slot')
    )
    op.create_table('chat_pace',
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('chat_id')
    )
    with op.batch_alter_table('chat_pace', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_pace_at'), ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('chat_pace', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_pace_at'))
    op.drop_table('chat_pace')
    op.drop_table('send_slot')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_chat_status')
        batch_op.drop_column('claimed_by')
