"""Staff teach the FAQ: taught phrasings, and unanswered questions settled by the office.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.columns


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'taught_phrasing',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entry_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('taught_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('taught_at', models.columns.UtcDateTime(timezone=True), nullable=False),
        sa.Column('question_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['question_id'], ['unanswered_question.id'], ondelete='SET NULL'
        ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('taught_phrasing', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_taught_phrasing_entry_key'), ['entry_key'])
        batch_op.create_index(batch_op.f('ix_taught_phrasing_question_id'), ['question_id'])
    with op.batch_alter_table('unanswered_question', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolution', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', models.columns.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column('resolved_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('unanswered_question', schema=None) as batch_op:
        batch_op.drop_column('resolved_by')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('resolution')
    with op.batch_alter_table('taught_phrasing', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_taught_phrasing_question_id'))
        batch_op.drop_index(batch_op.f('ix_taught_phrasing_entry_key'))
    op.drop_table('taught_phrasing')
