"""The web panel: one-time login links and open panel sessions, both stored as digests;
taught phrasings that staff take back.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.columns

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('panel_login_link',
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('telegram_id', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('used_at', models.columns.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('token_digest')
    )
    op.create_table('panel_session',
    sa.Column('key_digest', sa.String(length=64), nullable=False),
    sa.Column('telegram_id', sa.BigInteger(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_digest')
    )
    with op.batch_alter_table('panel_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_panel_session_telegram_id'), ['telegram_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_panel_session_expires_at'), ['expires_at'], unique=False)
    with op.batch_alter_table('taught_phrasing', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', models.columns.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('removed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('taught_phrasing', schema=None) as batch_op:
        batch_op.drop_column('removed_by')
        batch_op.drop_column('removed_at')
    with op.batch_alter_table('panel_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_panel_session_expires_at'))
        batch_op.drop_index(batch_op.f('ix_panel_session_telegram_id'))
    op.drop_table('panel_session')
    op.drop_table('panel_login_link')
