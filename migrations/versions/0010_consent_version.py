"""Consent is remembered with the version of the text agreed to.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Agreements given before this column existed name no version: they are asked again.
    with op.batch_alter_table('applicant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent_version', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('applicant', schema=None) as batch_op:
        batch_op.drop_column('consent_version')
