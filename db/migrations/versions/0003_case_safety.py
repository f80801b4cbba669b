"""case safety: officers' scope, alert time, incomplete notifications, duty rosters,
no-contact orders

Revision ID: 0003_case_safety
Revises: 0002_cases
Create Date: 2026-12-01 03:00:00

Existing data: the standing agency's admins (an admin whose unit is of kind ``agency``) get
the agency's parent as their scope; cases already sent are alerted at their sending time.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op


revision: str = '0003_case_safety'
down_revision: str | Sequence[str] | None = '0002_cases'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('officer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope_unit_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_officer_scope_unit', 'unit', ['scope_unit_id'], ['id'])
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope_unit_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_invite_scope_unit', 'unit', ['scope_unit_id'], ['id'])
    op.execute(
        "UPDATE officer SET scope_unit_id = (SELECT u.parent_id FROM unit u"
        " WHERE u.id = officer.unit_id) WHERE role = 'admin' AND scope_unit_id IS NULL"
        " AND unit_id IN (SELECT id FROM unit WHERE kind = 'agency' AND parent_id IS NOT NULL)"
    )

    with op.batch_alter_table('violence_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alerted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('incomplete', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('nc_requested_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('nc_decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('nc_decision', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('nc_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('nc_alerts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index(batch_op.f('ix_violence_case_alerted_at'), ['alerted_at'], unique=False)
    op.execute("UPDATE violence_case SET alerted_at = submitted_at WHERE submitted_at IS NOT NULL")
    with op.batch_alter_table('violence_case', schema=None) as batch_op:
        batch_op.alter_column('incomplete', server_default=None)
        batch_op.alter_column('nc_alerts', server_default=None)

    op.create_table('violence_case_duty',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('shift', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('officer_id', sa.Integer(), nullable=True),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['officer_id'], ['officer.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('violence_case_duty', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_violence_case_duty_unit_id'), ['unit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('violence_case_duty', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_violence_case_duty_unit_id'))
    op.drop_table('violence_case_duty')
    with op.batch_alter_table('violence_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_violence_case_alerted_at'))
        for name in ('nc_alerts', 'nc_until', 'nc_decision', 'nc_decided_at', 'nc_requested_at',
                     'incomplete', 'alerted_at'):
            batch_op.drop_column(name)
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.drop_constraint('fk_invite_scope_unit', type_='foreignkey')
        batch_op.drop_column('scope_unit_id')
    with op.batch_alter_table('officer', schema=None) as batch_op:
        batch_op.drop_constraint('fk_officer_scope_unit', type_='foreignkey')
        batch_op.drop_column('scope_unit_id')
