"""web desk: the account a session was opened from; a case's assignee

Revision ID: 0005_web_desk
Revises: 0002_web (depends on 0003_case_safety)
Create Date: 2026-12-01 05:40:00

Existing data: sessions opened before this have no account (their audit rows keep only the
officer, as before); no case is assigned.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005_web_desk'
down_revision: str | Sequence[str] | None = '0002_web'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = '0003_case_safety'


def upgrade() -> None:
    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_websession_account', 'channelaccount', ['account_id'], ['id']
        )
    with op.batch_alter_table('violence_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_to', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_case_assigned_to', 'officer', ['assigned_to'], ['id'])
    with op.batch_alter_table('violence_case_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_case_event_assignee', 'officer', ['assignee_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('violence_case_event', schema=None) as batch_op:
        batch_op.drop_constraint('fk_case_event_assignee', type_='foreignkey')
        batch_op.drop_column('assignee_id')
    with op.batch_alter_table('violence_case', schema=None) as batch_op:
        batch_op.drop_constraint('fk_case_assigned_to', type_='foreignkey')
        batch_op.drop_column('assigned_to')
    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.drop_constraint('fk_websession_account', type_='foreignkey')
        batch_op.drop_column('account_id')
