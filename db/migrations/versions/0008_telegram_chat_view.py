"""Telegram keyboards shared by several workers: one row per chat

Revision ID: 0008_telegram_chat_view
Revises: 0007_change_counter
Create Date: 2026-12-01 23:50:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op
from sqlalchemy.dialects import postgresql


revision: str = '0008_telegram_chat_view'
down_revision: str | Sequence[str] | None = '0007_change_counter'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Starts empty: a chat without a row behaves as after a restart before this table (taps
    # are dispatched until the bot has answered in that chat again).
    op.create_table('telegramchatview',
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('newest', sa.BigInteger(), nullable=False),
    sa.Column(
        'keyboards',
        sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
        nullable=False,
    ),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('chat_id')
    )


def downgrade() -> None:
    op.drop_table('telegramchatview')
