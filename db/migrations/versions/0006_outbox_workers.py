"""outbox shared by several workers: row claims, and one rate budget for all workers

Revision ID: 0006_outbox_workers
Revises: 0005_local_calendar
Create Date: 2026-12-01 05:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op
from sqlalchemy.dialects import postgresql


revision: str = '0006_outbox_workers'
down_revision: str | Sequence[str] | None = '0005_local_calendar'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows in flight keep their status (pending); the new columns start empty.
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=True)
        )
        batch_op.add_column(
            sa.Column('claimed_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(batch_op.f('ix_outbox_claimed_by'), ['claimed_by'], unique=False)
    op.create_table('ratebudget',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
    sa.Column(
        'times',
        sa.JSON().with_variant(postgresql.ARRAY(sa.Float()), 'postgresql'),
        nullable=False,
    ),
    sa.Column('paused', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('ratebudget')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_claimed_by'))
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
