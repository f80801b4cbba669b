"""How long the scheduler stays without a holder after its process is SIGKILLed.

    python bench/takeover.py [--runs 3] [--pg postgresql://postgres@127.0.0.1:5432/test]

SQLite: process A holds the lease; A is killed; the restarted process B (same file, same
host) reports when it holds the lease. PostgreSQL: A holds the advisory lock and B, a
surviving worker, tries every ``LOCK_RENEW_SECONDS`` as the scheduler service does; A is
killed; B reports when it holds the lock. Each child tries at once on start, then every
``LOCK_RENEW_SECONDS`` (scheduler.service), like the service's jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from db.engine import Database
from scheduler.lock import make_lock
from scheduler.service import LOCK_RENEW_SECONDS

ROOT = Path(__file__).resolve().parent.parent
STARTS: list[float] = []  # when each child's Python was up (imports done)


async def child(url: str, schema: str | None) -> None:
    print(f"START {time.time():.3f}", flush=True)
    db = Database(url, schema or None)
    lock = make_lock(db)
    announced = False
    while True:
        try:
            held = await lock.acquire()
        except Exception as exc:  # noqa: BLE001 - a busy database: try again
            print(f"ERROR {type(exc).__name__}", flush=True)
            held = False
        if held and not announced:
            print(f"HELD {time.time():.3f}", flush=True)
            announced = True
        await asyncio.sleep(LOCK_RENEW_SECONDS)


def spawn(url: str, schema: str | None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--child", url, "--schema", schema or ""],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def wait_held(proc: subprocess.Popen[str], timeout: float = 300) -> float:
    deadline = time.time() + timeout
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("HELD"):
            return float(line.split()[1])
        if line.startswith("START"):
            STARTS.append(float(line.split()[1]))
        if not line and proc.poll() is not None:
            raise RuntimeError("child died")
    raise TimeoutError("no holder")


def kill(proc: subprocess.Popen[str]) -> float:
    t0 = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return t0


async def prepare(url: str, schema: str | None) -> None:
    db = Database(url, schema)
    await db.upgrade()
    await db.dispose()


async def drop(url: str, schema: str) -> None:
    db = Database(url, schema)
    async with db.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await db.dispose()


def run_sqlite(runs: int) -> list[float]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        asyncio.run(prepare(url, None))
        a = spawn(url, None)
        wait_held(a)
        for _ in range(runs):
            time.sleep(1.0)
            t0 = kill(a)
            a = spawn(url, None)  # the restarted process
            held = wait_held(a)
            out.append(held - t0)
            print(
                f"  SQLite run: process up {STARTS[-1] - t0:.2f} s after the kill, "
                f"lease held {held - STARTS[-1]:.2f} s later"
            )
        kill(a)
    return out


def run_pg(url: str, runs: int) -> list[float]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(prepare(url, schema))
    out = []
    try:
        a = spawn(url, schema)
        wait_held(a)
        b = spawn(url, schema)
        time.sleep(2.0)
        for _ in range(runs):
            t0 = kill(a)
            out.append(wait_held(b) - t0)
            a, b = b, spawn(url, schema)  # the survivor holds; a new worker waits
            time.sleep(2.0)
        kill(a)
        kill(b)
    finally:
        asyncio.run(drop(url, schema))
    return out


def show(name: str, figures: list[float]) -> None:
    shown = ", ".join(f"{x:.2f}" for x in figures)
    print(
        f"{name}: takeover after SIGKILL {shown} s "
        f"(median {statistics.median(figures):.2f}, max {max(figures):.2f}; "
        f"retry every {LOCK_RENEW_SECONDS} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("BDG_TEST_DATABASE_URL"))
    parser.add_argument("--child")
    parser.add_argument("--schema", default="")
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.schema))
        return
    show("SQLite (restarted process)", run_sqlite(args.runs))
    if args.pg:
        show("PostgreSQL (surviving worker)", run_pg(args.pg, args.runs))


if __name__ == "__main__":
    main()
