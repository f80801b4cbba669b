"""SQLite: a report's updated_at follows its answers by trigger (one statement less per answer)

Revision ID: 0009_report_touch_trigger
Revises: 0008_telegram_chat_view
Create Date: 2026-12-02 00:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '0009_report_touch_trigger'
down_revision: str | Sequence[str] | None = '0008_telegram_chat_view'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An answer stored (inserted, or changed by the upsert) marks its report as changed at the
# answer's time. PostgreSQL does the same in the answers' own statement (a data-modifying CTE,
# handlers.report._upsert); SQLite has no such CTEs, and a separate UPDATE report per answer
# was one statement of six. A trigger runs inside the statement that fired it.
TRIGGERS = {
    'bdg_report_touch_insert': 'AFTER INSERT ON reportvalue',
    'bdg_report_touch_update': 'AFTER UPDATE OF value, answered_at ON reportvalue',
}


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for name, when in TRIGGERS.items():
        op.execute(
            f'CREATE TRIGGER IF NOT EXISTS {name} {when} FOR EACH ROW BEGIN '
            'UPDATE report SET updated_at = NEW.answered_at WHERE id = NEW.report_id; END'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for name in TRIGGERS:
        op.execute(f'DROP TRIGGER IF EXISTS {name}')
