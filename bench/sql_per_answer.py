"""Counts the SQL statements one report answer costs: an officer registers, opens the annual
report and answers every question; a SQLAlchemy ``before_cursor_execute`` listener counts the
statements of each answer (from the dedupe insert to the commit).

    .venv/bin/python bench/sql_per_answer.py
    BDG_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/sql_per_answer.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text  # noqa: E402

from bench.common import commune_code, flat_province  # noqa: E402
from db.engine import Database  # noqa: E402
from handlers.dispatch import Dispatcher  # noqa: E402
from handlers.registration import new_invite  # noqa: E402
from kernel.clock import to_utc  # noqa: E402
from kernel.messages import Incoming  # noqa: E402
from kernel.settings import Services  # noqa: E402
from tests.answers import ANSWERS, current_question  # noqa: E402


async def run(url: str, schema: str | None, verbose: bool) -> list[int]:
    db = Database(url, schema)
    await db.upgrade()
    await flat_province(db, 1)
    statements: list[str] = []
    active = [False]

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if active[0]:
            locks = " FOR UPDATE" if "FOR UPDATE" in statement else ""
            statements.append(statement.split()[0].upper() + " " + _table(statement) + locks)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)

    start = to_utc(datetime(2026, 11, 25, 9, 0), "Asia/Ho_Chi_Minh")
    # The clock moves 20 s a message, as in a real conversation: a fixed clock hid the
    # writes of "last changed" columns that would not change.
    tick = [0]

    def clock() -> datetime:
        return start + timedelta(seconds=20 * tick[0])

    d = Dispatcher(db, Services(), clock=clock)

    async def say(line: str) -> int:
        statements.clear()
        tick[0] += 1
        active[0] = True
        out = await d.handle(Incoming("bench", "u", "u", text=line, dedupe_key=uuid.uuid4().hex))
        active[0] = False
        assert not out.failed
        return len(statements)

    code = await new_invite(db, commune_code(0), now=start)
    for line in (f"/start {code}", "Cán bộ thử", "Công chức", "/baocao"):
        await say(line)
    per_answer: list[int] = []
    kinds: Counter[str] = Counter()
    while (qid := await current_question(db, "bench", "u")) is not None:
        per_answer.append(await say(ANSWERS[qid][0]))
        kinds.update(statements)
    if verbose:
        for stmt, n in kinds.most_common():
            print(f"  {n / len(per_answer):5.2f} per answer  {stmt}")
    if schema:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await db.dispose()
    return per_answer


def _table(statement: str) -> str:
    words = statement.replace('"', "").split()
    for marker in ("FROM", "INTO", "UPDATE"):
        if marker in words:
            i = words.index(marker)
            if i + 1 < len(words):
                return words[i + 1].split(".")[-1]
    return ""


def main() -> None:
    verbose = "-v" in sys.argv
    targets = []
    with tempfile.TemporaryDirectory() as tmp:
        targets.append(("SQLite", f"sqlite+aiosqlite:///{tmp}/sql.sqlite3", None))
        pg = os.environ.get("BDG_BENCH_PG_URL")
        if pg:
            targets.append(("PostgreSQL", pg, f"sqlcount_{uuid.uuid4().hex[:8]}"))
        for name, url, schema in targets:
            counts = asyncio.run(run(url, schema, verbose))
            print(
                f"{name}: {len(counts)} answers, SQL statements per answer: "
                f"mean {statistics.mean(counts):.1f}, min {min(counts)}, max {max(counts)}"
            )


if __name__ == "__main__":
    main()
