"""Applicant identity, seat offers held for the next in line, and the outbox.

A registration outlives an applicant who erases their data, as an anonymous count:
its applicant_id becomes NULL instead of the row being deleted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 19:48:57.439371
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.columns


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# 0002 left the foreign key unnamed: PostgreSQL named it itself; SQLite's copy is found
# through this naming convention in batch mode.
SQLITE_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _applicant_fk() -> str:
    return "fk_registration_applicant_id_applicant" if _is_sqlite() else "registration_applicant_id_fkey"


def _registration_table():  # type: ignore[no-untyped-def]
    if _is_sqlite():
        return op.batch_alter_table('registration', naming_convention=SQLITE_NAMING)
    return op.batch_alter_table('registration')


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=True),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=120), nullable=False),
    sa.Column('send_after', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', models.columns.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicant.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_applicant_id'), ['applicant_id'], unique=False)
        batch_op.create_index('ix_outbox_due', ['status', 'send_after'], unique=False)

    with op.batch_alter_table('applicant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_latin', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch_op.add_column(sa.Column('name_khmer', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch_op.add_column(sa.Column('date_of_birth', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('sex', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('id_number', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('province', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('consented_at', models.columns.UtcDateTime(timezone=True), nullable=True))

    with _registration_table() as batch_op:
        batch_op.add_column(sa.Column('offered_at', models.columns.UtcDateTime(timezone=True), nullable=True))
        batch_op.alter_column('applicant_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_registration_applicant_id'), ['applicant_id'], unique=False)
        batch_op.drop_constraint(_applicant_fk(), type_='foreignkey')
        batch_op.create_foreign_key(_applicant_fk(), 'applicant', ['applicant_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    op.execute("DELETE FROM registration WHERE applicant_id IS NULL")
    with _registration_table() as batch_op:
        batch_op.drop_constraint(_applicant_fk(), type_='foreignkey')
        batch_op.create_foreign_key(_applicant_fk(), 'applicant', ['applicant_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_index(batch_op.f('ix_registration_applicant_id'))
        batch_op.alter_column('applicant_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('offered_at')

    with op.batch_alter_table('applicant', schema=None) as batch_op:
        batch_op.drop_column('consented_at')
        batch_op.drop_column('province')
        batch_op.drop_column('id_number')
        batch_op.drop_column('phone')
        batch_op.drop_column('sex')
        batch_op.drop_column('date_of_birth')
        batch_op.drop_column('name_khmer')
        batch_op.drop_column('name_latin')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')
        batch_op.drop_index(batch_op.f('ix_outbox_applicant_id'))

    op.drop_table('outbox')
