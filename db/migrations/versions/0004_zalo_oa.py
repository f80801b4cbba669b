"""Zalo Official Account: encrypted OAuth tokens and the users' consultation windows

Revision ID: 0004_zalo_oa
Revises: 0001_core
Create Date: 2026-12-01 03:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op


revision: str = '0004_zalo_oa'
down_revision: str | Sequence[str] | None = '0001_core'
branch_labels: str | Sequence[str] | None = ('zalo_oa',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('zalooatoken',
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('access_token', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('access_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('refresh_token', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('seed_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('app_id')
    )
    op.create_table('zalooauser',
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('last_interaction_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('followed', sa.Boolean(), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
    sa.Column('zns_consent', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )


def downgrade() -> None:
    op.drop_table('zalooauser')
    op.drop_table('zalooatoken')
