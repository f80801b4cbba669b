"""Duplicates per crash during a reminder fan-out (issue 12, defect 9).

    python bench/fanout_crash.py [--rows 600] [--kills 3] [--latency 0.05] [--pg URL]

A child process runs the real outbox dispatcher (``scheduler.dispatcher``, default rates
and concurrency) over ``--rows`` pending reminders, through a channel that takes
``--latency`` seconds per send (the platform's round trip) and appends every accepted message
to a file (what the platform delivered). The parent SIGKILLs the child ``--kills`` times in the
middle of the fan-out, restarts it each time, and lets the last one finish. Then it counts
what was delivered: duplicates (delivered twice) and losses (never delivered).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, text
from sqlmodel import col, select

from db.engine import Database
from db.models import ChannelAccount, Outbox
from db.outbox import enqueue_many, new_row
from kernel.channel import STANDARD
from kernel.clock import utcnow
from kernel.messages import Reply
from kernel.settings import SchedulerSettings
from scheduler.dispatcher import OutboxDispatcher

ROOT = Path(__file__).resolve().parent.parent


class RecordingChannel:
    """The platform: each delivered message is one line of ``log``."""

    name = "telegram"
    capabilities = STANDARD["telegram"]

    def __init__(self, log: Path, latency: float) -> None:
        self.log = log.open("a", encoding="utf-8")
        self.latency = latency

    async def send(self, chat_id: str, reply: Reply) -> list[str]:
        # Delivered half-way through the round trip; the answer takes the other half.
        await asyncio.sleep(self.latency / 2)
        self.log.write(chat_id + "\n")
        self.log.flush()
        await asyncio.sleep(self.latency / 2)
        return ["1"]

    async def stop(self) -> None:
        self.log.close()


async def child(url: str, schema: str | None, log: Path, latency: float) -> None:
    db = Database(url, schema)
    channel: Any = RecordingChannel(log, latency)
    dispatcher = OutboxDispatcher(db, {"telegram": channel}, settings=SchedulerSettings())
    await dispatcher.run(asyncio.Event())


async def populate(url: str, schema: str | None, rows: int) -> None:
    db = Database(url, schema)
    await db.upgrade()
    now = utcnow() - timedelta(minutes=1)
    async with db.session() as s:
        await s.exec(
            insert(ChannelAccount),
            params=[
                dict(
                    id=i + 1,
                    channel="telegram",
                    user_id=str(i),
                    chat_id=str(100000 + i),
                    lang="vi",
                    unreachable=False,
                    created_at=now,
                )
                for i in range(rows)
            ],
        )
        await enqueue_many(
            s,
            [
                new_row(
                    key=f"bench:{i}",
                    kind="reminder",
                    channel="telegram",
                    chat_id=str(100000 + i),
                    text="⏰ Nhắc hạn nộp báo cáo",
                    now=now,
                    account_id=i + 1,
                    batch="bench",
                )
                for i in range(rows)
            ],
        )
    await db.dispose()


async def pending(url: str, schema: str | None) -> int:
    db = Database(url, schema)
    async with db.session() as s:
        n = (await s.exec(select(func.count()).where(col(Outbox.status) == "pending"))).one()
    await db.dispose()
    return int(n)


async def drop(url: str, schema: str) -> None:
    db = Database(url, schema)
    async with db.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await db.dispose()


def delivered(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").split() if log.exists() else []


def spawn(url: str, schema: str | None, log: Path, latency: float) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        __file__,
        "--child",
        url,
        "--schema",
        schema or "",
        "--log",
        str(log),
        "--latency",
        str(latency),
    ]
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def run(url: str, schema: str | None, rows: int, kills: int, latency: float, log: Path) -> None:
    asyncio.run(populate(url, schema, rows))
    proc = spawn(url, schema, log, latency)
    for k in range(kills):
        target = rows * (k + 1) // (kills + 1)
        while len(delivered(log)) < target:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = spawn(url, schema, log, latency)
    while asyncio.run(pending(url, schema)) > 0:
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    counts = Counter(delivered(log))
    duplicates = sum(n - 1 for n in counts.values())
    lost = rows - len(counts)
    print(
        f"{'PostgreSQL' if schema else 'SQLite'}: {rows} reminders, {kills} SIGKILLs mid-fan-out, "
        f"send latency {latency * 1000:.0f} ms: {duplicates} duplicates "
        f"({duplicates / kills:.2f} per crash, max {max(counts.values()) - 1} extra per chat), "
        f"{lost} lost"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--pg", default=os.environ.get("BDG_TEST_DATABASE_URL"))
    parser.add_argument("--child")
    parser.add_argument("--schema", default="")
    parser.add_argument("--log")
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.schema or None, Path(args.log), args.latency))
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'fanout.sqlite3'}"
        run(url, None, args.rows, args.kills, args.latency, Path(tmp) / "sqlite.log")
        if args.pg:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            try:
                run(args.pg, schema, args.rows, args.kills, args.latency, Path(tmp) / "pg.log")
            finally:
                asyncio.run(drop(args.pg, schema))


if __name__ == "__main__":
    main()
