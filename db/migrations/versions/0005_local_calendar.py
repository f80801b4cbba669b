"""local calendars: recurring deadline rules, the agency's compilation marks, e-mail addresses

Revision ID: 0005_local_calendar
Revises: 0002_schedule
Create Date: 2026-12-01 05:40:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op


revision: str = '0005_local_calendar'
down_revision: str | Sequence[str] | None = '0002_schedule'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('calendarrule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('since_year', sa.Integer(), nullable=False),
    sa.Column('set_by', sa.Integer(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['set_by'], ['officer.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_id', 'kind', 'step', 'since_year', name='uq_calendarrule')
    )
    with op.batch_alter_table('calendarrule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendarrule_unit_id'), ['unit_id'], unique=False)

    op.create_table('compilationmark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('officer_id', sa.Integer(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.ForeignKeyConstraint(['officer_id'], ['officer.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_id', 'period', name='uq_compilation_unit_period')
    )
    with op.batch_alter_table('compilationmark', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_compilationmark_unit_id'), ['unit_id'], unique=False)

    op.create_table('unitemail',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_id', 'address', name='uq_unitemail')
    )
    with op.batch_alter_table('unitemail', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unitemail_unit_id'), ['unit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('unitemail', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unitemail_unit_id'))
    op.drop_table('unitemail')
    with op.batch_alter_table('compilationmark', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_compilationmark_unit_id'))
    op.drop_table('compilationmark')
    with op.batch_alter_table('calendarrule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendarrule_unit_id'))
    op.drop_table('calendarrule')
