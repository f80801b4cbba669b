"""change counters: a value the triggers on officer and channelaccount change with every write,
so the planner re-reads its recipients only when they may have changed

Revision ID: 0007_change_counter
Revises: 0006_outbox_workers
Create Date: 2026-12-01 23:50:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op


revision: str = '0007_change_counter'
down_revision: str | Sequence[str] | None = '0006_outbox_workers'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('officer', 'channelaccount')
EVENTS = ('insert', 'update', 'delete')

# PostgreSQL: a constraint trigger deferred to the commit, so the counter row is locked only
# while committing, after every other lock the transaction takes (a plain trigger would lock
# it at the first write and could deadlock two transactions writing officers in different
# orders), and once per transaction (the flag lasts until its end). The value is the
# transaction's id: never seen before, so a rolled-back write cannot bring back an old value.
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION bdg_bump_recipients() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('bdg.recipients_bumped', true) IS DISTINCT FROM 'y' THEN
        PERFORM set_config('bdg.recipients_bumped', 'y', true);
        UPDATE changecounter SET n = txid_current() WHERE name = 'recipients';
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        'changecounter',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.execute("INSERT INTO changecounter (name, n) VALUES ('recipients', 0)")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_FUNCTION)
        for table in TABLES:
            op.execute(
                f'CREATE CONSTRAINT TRIGGER bdg_recipients_{table} '
                f'AFTER INSERT OR UPDATE OR DELETE ON {table} '
                'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW '
                'EXECUTE FUNCTION bdg_bump_recipients()'
            )
        return
    # SQLite: one writer at a time, so plain row triggers; random() is a fresh 64-bit value.
    for table in TABLES:
        for event in EVENTS:
            op.execute(
                f'CREATE TRIGGER bdg_recipients_{table}_{event} AFTER {event.upper()} ON {table} '
                "BEGIN UPDATE changecounter SET n = random() WHERE name = 'recipients'; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TABLES:
            op.execute(f'DROP TRIGGER IF EXISTS bdg_recipients_{table} ON {table}')
        op.execute('DROP FUNCTION IF EXISTS bdg_bump_recipients()')
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(f'DROP TRIGGER IF EXISTS bdg_recipients_{table}_{event}')
    op.drop_table('changecounter')
