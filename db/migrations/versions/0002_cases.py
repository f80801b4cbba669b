"""violence cases: the case (free texts encrypted) and its history

Revision ID: 0002_cases
Revises: 0001_core
Create Date: 2026-11-26 12:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op


revision: str = '0002_cases'
down_revision: str | Sequence[str] | None = '0001_core'
branch_labels: str | Sequence[str] | None = ('cases',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('violence_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('reporter_tag', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('reported_by', sa.Integer(), nullable=True),
    sa.Column('steps_done', sa.JSON(), nullable=False),
    sa.Column('danger_now', sa.Boolean(), nullable=True),
    sa.Column('affected', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('victim_sex', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('age_group', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('forms', sa.JSON(), nullable=False),
    sa.Column('relation', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('occurred', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('occurred_on', sa.Date(), nullable=True),
    sa.Column('help_needed', sa.JSON(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('actions_taken', sa.JSON(), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=True),
    sa.Column('consent', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('description_enc', sa.Text(), nullable=True),
    sa.Column('contact_enc', sa.Text(), nullable=True),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('child', sa.Boolean(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('submitted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_by', sa.Integer(), nullable=True),
    sa.Column('intervened_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('escalated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('clock_alerts', sa.Integer(), nullable=False),
    sa.Column('purged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by'], ['officer.id'], ),
    sa.ForeignKeyConstraint(['reported_by'], ['officer.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('violence_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_violence_case_closed_at'), ['closed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_violence_case_reporter_tag'), ['reporter_tag'], unique=False)
        batch_op.create_index(batch_op.f('ix_violence_case_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_violence_case_submitted_at'), ['submitted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_violence_case_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_violence_case_updated_at'), ['updated_at'], unique=False)

    op.create_table('violence_case_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('officer_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('level', sa.Integer(), nullable=True),
    sa.Column('note_enc', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['violence_case.id'], ),
    sa.ForeignKeyConstraint(['officer_id'], ['officer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('violence_case_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_violence_case_event_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('violence_case_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_violence_case_event_case_id'))

    op.drop_table('violence_case_event')
    with op.batch_alter_table('violence_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_violence_case_updated_at'))
        batch_op.drop_index(batch_op.f('ix_violence_case_unit_id'))
        batch_op.drop_index(batch_op.f('ix_violence_case_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_violence_case_status'))
        batch_op.drop_index(batch_op.f('ix_violence_case_reporter_tag'))
        batch_op.drop_index(batch_op.f('ix_violence_case_closed_at'))

    op.drop_table('violence_case')
