"""Time to the first case alert after a crash, end to end: real ``bdg run`` processes, the
Zalo stand-in (``tests/fakes/zalo_api.py``) on loopback, SIGKILL.

SQLite (the embedded single-process setup): process A runs and polls Zalo; A is SIGKILLed;
a person in danger writes while the bot is down (``/baovuviec``, ``1`` = danger now, the
commune's code; the messages wait at the platform); process B is started at once on the same
file (what systemd's ``Restart=always`` does). Measured: kill → the first alert to the
commune's duty officer, and B up (its first ``getUpdates``) → that alert.

PostgreSQL (several workers): A and B run side by side; A holds the scheduler lock; A is
SIGKILLed and the same intake is written; B alone is left. Measured: kill → first alert, and
the place answer reaching the platform → first alert.

    .venv/bin/python bench/crash_alert.py [--runs 3] [--pg postgresql://postgres@127.0.0.1:5432/test]

No assertions: it prints figures.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.case_alerts import setup  # noqa: E402
from db.crypto import new_key_spec  # noqa: E402
from db.engine import Database  # noqa: E402
from services.cases.config import CaseConfig, configure  # noqa: E402
from tests.fakes.zalo_api import FakeZalo  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OFFICER_CHAT = "p0"  # the duty officer of the first commune (bench.case_alerts.setup)
WAIT = 180.0


def start_bot(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,
    )


def wait_for(cond, what: str, timeout: float = WAIT) -> float:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = cond()
        if found is not None:
            return float(found)
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def first_call_after(zalo: FakeZalo, method: str, after: float, chat: str | None = None):  # type: ignore[no-untyped-def]
    for call in zalo.calls_to(method):
        if call.time > after and (chat is None or call.params.get("chat_id") == chat):
            return call.time
    return None


def intake(zalo: FakeZalo, user: str, commune: str) -> float:
    zalo.push_text(user, "/baovuviec")
    zalo.push_text(user, "1")
    zalo.push_text(user, commune)
    return time.monotonic()


def kill(proc: subprocess.Popen[bytes]) -> float:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return time.monotonic()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def prepare(url: str, schema: str | None) -> str:
    async def go() -> str:
        db = Database(url, schema)
        await db.upgrade()
        communes = await setup(db)
        await db.dispose()
        return communes[0]

    return asyncio.run(go())


def run_sqlite(runs: int, env: dict[str, str], zalo: FakeZalo, commune: str, log: Path) -> None:
    since_kill, since_up = [], []
    proc = start_bot(env, log)
    wait_for(lambda: first_call_after(zalo, "getUpdates", 0), "A to poll")
    for i in range(runs):
        time.sleep(3)  # A settled: it holds the lease and renews it
        t_kill = kill(proc)
        proc = start_bot(env, log)  # restarted at once, like Restart=always
        intake(zalo, f"s{i}", commune)
        # The killed process's own long poll is recorded when its connection drops, right
        # after the kill; the restarted one cannot poll within half a second (Python starts).
        t_up = wait_for(lambda t=t_kill: first_call_after(zalo, "getUpdates", t + 0.5), "B to poll")
        t_alert = wait_for(
            lambda t=t_kill: first_call_after(zalo, "sendMessage", t, OFFICER_CHAT), "the alert"
        )
        since_kill.append(t_alert - t_kill)
        since_up.append(t_alert - t_up)
    stop(proc)
    report("SQLite, restarted process", since_kill, "B up", since_up)


def run_pg(runs: int, env: dict[str, str], zalo: FakeZalo, commune: str, log: Path) -> None:
    since_kill, since_place = [], []
    for i in range(runs):
        a = start_bot(env, log)
        wait_for(lambda: first_call_after(zalo, "getUpdates", time.monotonic() - 0.5), "A")
        time.sleep(6)  # A takes the lock first (one renewal period)
        b = start_bot(env, log)
        t_b = time.monotonic()
        # Both poll now: wait for two getUpdates after B's start, then let B settle.
        wait_for(
            lambda t=t_b: sum(1 for c in zalo.calls_to("getUpdates") if c.time > t) >= 3 or None,
            "B to poll",
        )
        time.sleep(3)
        t_kill = kill(a)
        t_place = intake(zalo, f"p{i}x", commune)
        t_alert = wait_for(
            lambda t=t_kill: first_call_after(zalo, "sendMessage", t, OFFICER_CHAT), "the alert"
        )
        since_kill.append(t_alert - t_kill)
        since_place.append(t_alert - t_place)
        stop(b)
    report("PostgreSQL, surviving worker", since_kill, "place answer written", since_place)


def report(what: str, since_kill: list[float], other: str, since_other: list[float]) -> None:
    load = os.getloadavg()[0]
    print(
        f"{what}: kill → first alert {fmt(since_kill)}; {other} → first alert "
        f"{fmt(since_other)} (runs {len(since_kill)}, load {load:.1f})"
    )


def fmt(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.2f} s, max {max(xs):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("BDG_BENCH_PG_URL"))
    args = parser.parse_args()
    keys = new_key_spec("c1")
    configure(CaseConfig(keys=keys))
    with tempfile.TemporaryDirectory() as tmp, FakeZalo() as zalo:
        for chat in ("agency", OFFICER_CHAT):
            zalo.add_chat(chat)
        log = Path(tmp) / "bots.log"
        base = {
            **os.environ,
            "ZALO_BOT_TOKEN": zalo.token,
            "ZALO_API_URL": zalo.url,
            "BDG_CASE_KEYS": keys,
            "BDG_LOG_LEVEL": "WARNING",
        }
        url = f"sqlite+aiosqlite:///{tmp}/crash.sqlite3"
        commune = prepare(url, None)
        run_sqlite(args.runs, {**base, "DATABASE_URL": url}, zalo, commune, log)
        if args.pg:
            pg = args.pg.replace("postgresql://", "postgresql+asyncpg://", 1)
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            commune = prepare(pg, schema)
            env = {**base, "DATABASE_URL": pg, "BDG_DB_SCHEMA": schema}
            run_pg(args.runs, env, zalo, commune, log)
        print(f"(bot logs: {log.stat().st_size if log.exists() else 0} bytes)")


if __name__ == "__main__":
    main()
