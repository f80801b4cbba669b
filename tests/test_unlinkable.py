"""A copy of the database cannot tie a case to the messenger account that reported it
(issue 12, defect 2): every row of every table is read back, the rows that name the reporter's
account are set apart, and no column of a case row may join them — not an id, not a key
containing the chat id, not a timestamp equal to one of theirs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlmodel import SQLModel

import db.all_models  # noqa: F401 - every table in the metadata
from db.engine import Database
from db.models import ProcessedUpdate
from handlers.dispatch import Dispatcher
from services.privacy import dedupe_digest
from tests.cases_helpers import CITIZEN_URGENT, CODE, case_keys
from tests.chat import Chat, Clock

__all__ = ["case_keys"]  # the autouse fixture: a test key, never ./data/case.key

USER = "7319904466"  # distinctive: found by substring in any column
_updates = itertools.count(880_001)


async def dump(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as the database returns it."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with db.engine.connect() as conn:
        if db.schema:
            await conn.execute(text(f'SET search_path TO "{db.schema}"'))
        for table in SQLModel.metadata.sorted_tables:
            rows = (await conn.execute(select(table))).mappings().all()
            out[table.name] = [dict(r) for r in rows]
    return out


def instant(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def names_reporter(table: str, row: dict[str, Any], account_id: int) -> bool:
    if table == "channelaccount" and row["id"] == account_id:
        return True
    if row.get("account_id") == account_id:
        return True
    return any(USER in str(v) for v in row.values())


async def test_a_database_copy_cannot_join_a_case_to_its_reporter(
    demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    chat = Chat(dispatcher, user=USER, channel="telegram")
    for message_id, line in enumerate(CITIZEN_URGENT, start=1):
        # Real time moves between messages (the test clock starts on a round minute).
        clock.advance(seconds=13, microseconds=370_001)
        key = f"telegram:{next(_updates)}:{USER}:{message_id}"
        out = await chat.send(line, dedupe_key=key)
    code = CODE.search(out)
    assert code, out
    clock.advance(minutes=3, seconds=1)
    await chat.send(f"/vuviec {code.group(0)}", dedupe_key=f"telegram:1:{USER}:99")
    rows = await dump(demo_db)
    account = next(r for r in rows["channelaccount"] if r["user_id"] == USER)
    reporter = [
        (table, row)
        for table, table_rows in rows.items()
        for row in table_rows
        if names_reporter(table, row, account["id"])
    ]
    cases = [
        (table, row)
        for table, table_rows in rows.items()
        if table.startswith("violence_case")
        for row in table_rows
    ] + [("auditlog", r) for r in rows["auditlog"] if r["target"] == code.group(0)]
    assert rows["violence_case"] and len(reporter) >= 2  # the dump really holds both sides
    # No key reveals the sender: processed-update keys are keyed hashes.
    assert rows["processedupdate"]
    assert not any(USER in r["key"] for r in rows["processedupdate"])
    reporter += [("processedupdate", r) for r in rows["processedupdate"]]
    reporter_times = {
        t for _table, row in reporter for v in row.values() if (t := instant(v)) is not None
    }
    for table, row in cases:
        assert row.get("account_id") is None, (table, row)
        for column, value in row.items():
            assert USER not in str(value), (table, column)
            moment = instant(value)
            assert moment is None or moment not in reporter_times, (table, column, moment)


async def test_old_plain_dedupe_keys_still_stop_a_redelivery(
    demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    """Keys stored before the change were the plain text: an update delivered again after
    the upgrade is still recognised."""
    plain = f"telegram:77:{USER}:5"
    async with demo_db.session() as s:
        s.add(ProcessedUpdate(key=plain, at=clock()))
    chat = Chat(dispatcher, user=USER, channel="telegram")
    await chat.send("/trogiup", dedupe_key=plain)
    assert chat.last is not None and chat.last.duplicate
    await chat.send("/trogiup", dedupe_key=f"telegram:78:{USER}:6")
    assert chat.last is not None and not chat.last.duplicate
    async with demo_db.session() as s:
        assert await s.get(ProcessedUpdate, dedupe_digest(f"telegram:78:{USER}:6")) is not None
