"""SQLite statements run on the event loop's thread; a write lock held by another process is
waited for off the loop, so the loop keeps serving while it waits, and the write lands."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import text

from db.engine import Database


async def test_a_lock_held_elsewhere_is_waited_for_without_stopping_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.sqlite3"
    db = Database(f"sqlite:///{path}")
    async with db.session() as s:
        await s.exec(text("CREATE TABLE t (v INTEGER)"))  # type: ignore[call-overload]
    other = sqlite3.connect(path, isolation_level=None)  # another process, as SQLite sees it
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def write() -> None:
        async with db.session() as s:
            await s.exec(text("INSERT INTO t VALUES (1)"))  # type: ignore[call-overload]

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writer.done()  # still waiting for the other holder …
    assert ticks >= 10  # … while the loop went on serving
    other.execute("COMMIT")
    await asyncio.wait_for(writer, 5)
    ticker.cancel()
    async with db.session() as s:
        rows = (await s.exec(text("SELECT v FROM t"))).all()  # type: ignore[call-overload]
    assert [tuple(r) for r in rows] == [(1,)]
    other.close()
    await db.dispose()
