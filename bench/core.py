"""Drives N simulated officers through full annual reports in-process and prints conversation
steps per second, p50 / p99 latency per step and peak RSS, on SQLite and (when
BDG_BENCH_PG_URL is set) on PostgreSQL.

    .venv/bin/python bench/core.py --officers 50
    BDG_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/core.py

Officers run concurrently (asyncio), each in its own chat, as a busy morning before 05/12.
"CPU ms/step" is the process's CPU time over the run divided by the steps (the harness's own
reads included): steadier than steps/s on a shared, loaded machine. ``load`` is the 1-minute
load average at the end of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench.common import commune_code, flat_province  # noqa: E402
from db.engine import Database  # noqa: E402
from handlers.dispatch import Dispatcher  # noqa: E402
from handlers.registration import new_invite  # noqa: E402
from kernel.clock import to_utc  # noqa: E402
from kernel.messages import Incoming  # noqa: E402
from kernel.settings import Services  # noqa: E402
from tests.answers import ANSWERS, current_question  # noqa: E402


async def officer(
    d: Dispatcher, db: Database, user: str, unit_code: str, latencies: list[float]
) -> None:
    async def say(text: str) -> None:
        t0 = time.perf_counter()
        out = await d.handle(
            Incoming("bench", user, user, text=text, dedupe_key=f"bench:{uuid.uuid4().hex}")
        )
        latencies.append(time.perf_counter() - t0)
        assert not out.failed

    code = await new_invite(db, unit_code, now=d.clock())
    for line in (f"/start {code}", "Cán bộ thử", "Công chức", "/baocao"):
        await say(line)
    while (qid := await current_question(db, "bench", user)) is not None:
        await say(ANSWERS[qid][0])
    await say("gửi")


async def run(url: str, schema: str | None, n: int) -> dict[str, float]:
    db = Database(url, schema)
    await db.upgrade()
    await flat_province(db, n)
    start = to_utc(datetime(2026, 11, 25, 9, 0), "Asia/Ho_Chi_Minh")
    d = Dispatcher(db, Services(), clock=lambda: start)
    latencies: list[float] = []
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(officer(d, db, f"u{i}", commune_code(i), latencies) for i in range(n)))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    async with db.session() as s:
        submitted = (
            await s.exec(text("SELECT count(*) FROM report WHERE status='submitted'"))
        ).one()[0]  # type: ignore[call-overload]
    if schema:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await db.dispose()
    q = statistics.quantiles(latencies, n=100)
    return {
        "steps": len(latencies),
        "wall": wall,
        "rate": len(latencies) / wall,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "submitted": submitted,
        "cpu": cpu / len(latencies) * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--officers", type=int, default=50)
    args = ap.parse_args()
    targets = []
    with tempfile.TemporaryDirectory() as tmp:
        targets.append(("SQLite", f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", None))
        pg = os.environ.get("BDG_BENCH_PG_URL")
        if pg:
            targets.append(("PostgreSQL", pg, f"bench_{uuid.uuid4().hex[:8]}"))
        print(f"{args.officers} officers, each: register + full annual report + submit")
        print(
            f"{'database':<11} {'steps':>6} {'steps/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'submitted':>9} {'CPU ms/step':>11} {'load':>5}"
        )
        for name, url, schema in targets:
            r = asyncio.run(run(url, schema, args.officers))
            print(
                f"{name:<11} {r['steps']:>6.0f} {r['rate']:>8.1f} {r['p50']:>7.1f} "
                f"{r['p99']:>7.1f} {r['submitted']:>9.0f} {r['cpu']:>11.2f} "
                f"{os.getloadavg()[0]:>5.2f}"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
