"""reminders: deadline overrides, scheduler lease, unreachable-account notices

Revision ID: 0002_schedule
Revises: 0001_core
Create Date: 2026-11-26 12:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op


revision: str = '0002_schedule'
down_revision: str | Sequence[str] | None = '0001_core'
branch_labels: str | Sequence[str] | None = ('schedule',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('deadlineoverride',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('set_by', sa.Integer(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['set_by'], ['officer.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_id', 'year', 'kind', name='uq_override_unit_year_kind')
    )
    with op.batch_alter_table('deadlineoverride', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadlineoverride_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deadlineoverride_year'), ['year'], unique=False)

    op.create_table('schedulerlease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('unreachablenotice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('officer_id', sa.Integer(), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['channelaccount.id'], ),
    sa.ForeignKeyConstraint(['officer_id'], ['officer.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('unreachablenotice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unreachablenotice_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unreachablenotice_at'), ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('unreachablenotice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unreachablenotice_at'))
        batch_op.drop_index(batch_op.f('ix_unreachablenotice_account_id'))
    op.drop_table('unreachablenotice')
    op.drop_table('schedulerlease')
    with op.batch_alter_table('deadlineoverride', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deadlineoverride_year'))
        batch_op.drop_index(batch_op.f('ix_deadlineoverride_unit_id'))
    op.drop_table('deadlineoverride')
