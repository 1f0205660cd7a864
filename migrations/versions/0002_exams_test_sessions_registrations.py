"""Exams, test sessions and registrations, with one live registration per applicant per exam.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:49:18.208049
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.columns


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('exam',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name_km', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('name_en', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('name_ja', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('min_age', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('test_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exam_id', sa.String(length=32), nullable=False),
    sa.Column('starts_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('venue_name_km', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('venue_name_en', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('venue_name_ja', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('venue_address_km', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('venue_address_en', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('venue_address_ja', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('seats_taken', sa.Integer(), nullable=False),
    sa.Column('registration_opens_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('registration_closes_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.CheckConstraint('capacity > 0', name='capacity_positive'),
    sa.CheckConstraint('registration_opens_at < registration_closes_at', name='window_in_order'),
    sa.CheckConstraint('seats_taken >= 0 AND seats_taken <= capacity', name='seats_within_capacity'),
    sa.ForeignKeyConstraint(['exam_id'], ['exam.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('test_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_test_session_exam_id'), ['exam_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_test_session_starts_at'), ['starts_at'], unique=False)

    op.create_table('registration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('exam_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=6), nullable=False),
    sa.Column('created_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.columns.UtcDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', models.columns.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicant.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['exam_id'], ['exam.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['session_id'], ['test_session.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_status'), ['status'], unique=False)
        batch_op.create_index('uq_live_registration_per_exam', ['applicant_id', 'exam_id'], unique=True, sqlite_where=sa.text("status IN ('confirmed', 'waitlisted')"), postgresql_where=sa.text("status IN ('confirmed', 'waitlisted')"))



def downgrade() -> None:
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_index('uq_live_registration_per_exam', sqlite_where=sa.text("status IN ('confirmed', 'waitlisted')"), postgresql_where=sa.text("status IN ('confirmed', 'waitlisted')"))
        batch_op.drop_index(batch_op.f('ix_registration_status'))
        batch_op.drop_index(batch_op.f('ix_registration_session_id'))

    op.drop_table('registration')
    with op.batch_alter_table('test_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_test_session_starts_at'))
        batch_op.drop_index(batch_op.f('ix_test_session_exam_id'))

    op.drop_table('test_session')
    op.drop_table('exam')
