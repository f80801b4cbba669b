"""web desk: one-time login links and sessions

Revision ID: 0002_web
Revises: 0001_core
Create Date: 2026-12-01 03:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op


revision: str = '0002_web'
down_revision: str | Sequence[str] | None = '0001_core'
branch_labels: str | Sequence[str] | None = ('web',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('weblogin',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('officer_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['channelaccount.id'], ),
    sa.ForeignKeyConstraint(['officer_id'], ['officer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('weblogin', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_weblogin_officer_id'), ['officer_id'], unique=False)
    op.create_table('websession',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sid_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('officer_id', sa.Integer(), nullable=False),
    sa.Column('lang', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['officer_id'], ['officer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sid_hash')
    )
    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_websession_officer_id'), ['officer_id'], unique=False)


def downgrade() -> None:
    op.drop_table('websession')
    op.drop_table('weblogin')
