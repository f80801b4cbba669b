"""One `bdg serve` worker against two, on one PostgreSQL database, with one shared send budget.

    BDG_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/workers.py [--officers 20] [--fanout 600]

For 1 and then 2 real ``bdg serve`` processes (webhook mode, the scheduler on, default
settings) behind the loopback Telegram Bot API (``tests/fakes/telegram_api.py``, enforcing
Telegram's 30 messages/s with 429s, and 1/s per chat during the fan-out):

- **report steps**: ``--officers`` officers register by deep link and fill in the whole annual
  report at once (``bench/telegram_channel.py``'s officer), every update posted to a worker
  chosen at random (no session affinity: a chat's keyboards live in the database); prints
  steps/s, step p50/p99, the most messages the stand-in took in any second and its 429
  answers. The figure: 2-worker steps/s ÷ 1-worker.
- **fan-out**: ``--fanout`` outbox messages to as many chats, written while the workers run;
  prints the send rate (of the 30/s limit), the busiest second, duplicates and losses, and how
  the rows were split between the workers.

Figures only. The stand-in runs in this process; the workers are separate processes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text  # noqa: E402

from bench.common import commune_code, flat_province  # noqa: E402
from bench.telegram_channel import FIRST_USER, ObservedTelegram, Officer, current_qid  # noqa: E402
from db.crypto import new_key_spec  # noqa: E402
from db.engine import Database  # noqa: E402
from db.models import ChannelAccount  # noqa: E402
from db.outbox import enqueue_many, new_row  # noqa: E402
from handlers.registration import new_invite  # noqa: E402
from kernel.clock import utcnow  # noqa: E402
from tests.answers import ANSWERS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-" + "s" * 32
FANOUT_CHAT = 900_000


class SpreadTelegram(ObservedTelegram):
    """The stand-in, with a load balancer in front of the workers: every update the officers
    produce is POSTed to the webhook of a worker chosen at random (concurrently; the stand-in's
    own webhook delivery is one at a time). A tap may reach the worker that did not send its
    keyboard: keyboards live in the database (``db/telegram.py``)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.workers: list[str] = []
        self.client: httpx.AsyncClient | None = None
        self.posts: set[asyncio.Task[None]] = set()
        self.failed_posts = 0

    def _enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_update_id, **update}
        self._next_update_id += 1
        task = asyncio.get_running_loop().create_task(self._post_update(dict(update)))
        self.posts.add(task)
        task.add_done_callback(self.posts.discard)
        return update

    async def _post_update(self, update: dict[str, Any]) -> None:
        assert self.client is not None
        url = random.choice(self.workers)
        for _ in range(5):
            try:
                r = await self.client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                )
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        self.failed_posts += 1


async def report_typed(officer: Officer, code: str) -> None:
    """Register by deep link, then answer every question of the report by typing (each
    answer a step: the reply, and the edit that retires the question's keyboard)."""
    await officer.say(f"/start {code.replace('-', '')}", "Họ và tên")
    await officer.say("Cán bộ thử", "Chức vụ")
    await officer.say("Công chức", "/baocao")
    message = await officer.say("/baocao", "Câu 1/")
    while (qid := current_qid(message)) is not None:
        message = await officer.say(ANSWERS[qid][0], "Đã lưu")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(url: str, schema: str, tg: SpreadTelegram, port: int, keys: str, log: Path) -> Any:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": url,
        "BDG_DB_SCHEMA": schema,
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_API_URL": tg.url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BDG_HOST": "127.0.0.1",
        "BDG_PORT": str(port),
        "BDG_CASE_KEYS": keys,
        "BDG_LOG_LEVEL": "WARNING",
        "BDG_OUTBOX_POLL": "0.5",
    }
    bdg = str(Path(sys.executable).with_name("bdg"))
    return subprocess.Popen(
        [bdg, "serve"], cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


async def wait_up(port: int, proc: Any, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker on port {port} exited ({proc.returncode})")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise TimeoutError(f"worker on port {port} not up")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


async def fill_fanout(db: Database, count: int) -> None:
    now = utcnow() - timedelta(seconds=1)
    chats = [FANOUT_CHAT + i for i in range(count)]
    async with db.session() as s:
        first = (await s.exec(text("SELECT coalesce(max(id), 0) FROM channelaccount"))).one()[0]  # type: ignore[call-overload]
        await s.exec(
            insert(ChannelAccount),
            params=[
                dict(
                    id=first + i + 1,
                    channel="telegram",
                    user_id=str(c),
                    chat_id=str(c),
                    lang="vi",
                    unreachable=False,
                    created_at=now,
                )
                for i, c in enumerate(chats)
            ],
        )
        await enqueue_many(
            s,
            [
                new_row(
                    key=f"bench-fan:{c}",
                    kind="announcement",
                    channel="telegram",
                    chat_id=str(c),
                    text=f"Thông báo {c}",
                    now=now,
                    account_id=first + i + 1,
                    batch="bench-fan",
                )
                for i, c in enumerate(chats)
            ],
        )


async def run(
    url: str, workers: int, officers: int, fanout: int, tmp: Path, limit: bool = True
) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    db = Database(url, schema)
    await db.upgrade()
    await flat_province(db, officers)
    codes = [await new_invite(db, commune_code(i), now=utcnow()) for i in range(officers)]
    keys = new_key_spec("b1")
    procs: list[Any] = []
    out: dict[str, Any] = {"workers": workers}
    try:
        with SpreadTelegram() as tg:
            tg.loop = asyncio.get_running_loop()
            tg.client = httpx.AsyncClient(timeout=30)
            # A person answering is not a flood: 30/s overall only during the report steps
            # (``--no-limit``: none, to see how the workers scale apart from Telegram's limit).
            if limit:
                tg.set_rate_limit(overall=(30, 1.0), retry_after=1)
            ports = [free_port() for _ in range(workers)]
            for port in ports:
                procs.append(spawn(url, schema, tg, port, keys, tmp / f"worker-{port}.log"))
            for port, proc in zip(ports, procs, strict=True):
                await wait_up(port, proc)
            tg.workers = [f"http://127.0.0.1:{p}/telegram/webhook" for p in ports]
            latencies: list[float] = []
            team = []
            for i in range(officers):
                tg.inboxes[FIRST_USER + i] = asyncio.Queue()
                team.append(Officer(tg, FIRST_USER + i, latencies, tg.inboxes[FIRST_USER + i]))
            mark = len(tg.calls)
            started = time.perf_counter()
            await asyncio.gather(*(report_typed(o, c) for o, c in zip(team, codes, strict=True)))
            wall = time.perf_counter() - started
            calls = tg.calls[mark:]
            out.update(
                steps=len(latencies),
                steps_per_s=len(latencies) / wall,
                p50=pct(latencies, 0.5),
                p99=pct(latencies, 0.99),
                busiest=tg.max_send_rate(),
                refused=sum(1 for c in calls if c.status == 429),
                failed_posts=tg.failed_posts,
            )
            if fanout:
                tg.set_rate_limit(per_chat=(1, 1.0), overall=(30, 1.0), retry_after=1)
                out.update(await fan(db, tg, fanout))
            await tg.client.aclose()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.dispose()
    return out


async def fan(db: Database, tg: SpreadTelegram, count: int) -> dict[str, Any]:
    chats = {FANOUT_CHAT + i for i in range(count)}
    for c in chats:
        tg.register_chat(c, first_name="Cán bộ")
    mark = len(tg.calls)
    await fill_fanout(db, count)
    started = time.perf_counter()
    while True:
        async with db.session() as s:
            left = (
                await s.exec(  # type: ignore[call-overload]
                    text("SELECT count(*) FROM outbox WHERE batch='bench-fan' AND status<>'sent'")
                )
            ).one()[0]
        if not left or time.perf_counter() - started > count / 10 + 60:
            break
        await asyncio.sleep(0.5)
    calls = [c for c in tg.calls[mark:] if c.method == "sendMessage" and c.chat_id in chats]
    ok = sorted(c.time for c in calls if c.ok)
    delivered = Counter(c.chat_id for c in calls if c.ok)
    span = ok[-1] - ok[0] if len(ok) > 1 else 1.0
    busiest, start = 0, 0
    for end, t in enumerate(ok):
        while t - ok[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return dict(
        fan_rate=(len(ok) - 1) / span,
        fan_busiest=busiest,
        fan_refused=sum(1 for c in calls if c.status == 429),
        fan_duplicates=sum(n - 1 for n in delivered.values()),
        fan_lost=len(chats - set(delivered)),
    )


def show(r: dict[str, Any]) -> None:
    print(
        f"  {r['workers']} worker(s): {r['steps']} report steps, {r['steps_per_s']:.1f} steps/s, "
        f"p50 {r['p50'] * 1000:.0f} ms, p99 {r['p99'] * 1000:.0f} ms; stand-in: busiest second "
        f"{r['busiest']} messages, {r['refused']} answered 429; {r['failed_posts']} posts failed"
    )
    if "fan_rate" in r:
        print(
            f"    fan-out: {r['fan_rate']:.1f} msg/s = {r['fan_rate'] / 30:.3f} of 30/s, busiest "
            f"second {r['fan_busiest']}, {r['fan_refused']} answered 429, {r['fan_duplicates']} "
            f"duplicates, {r['fan_lost']} lost"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--officers", type=int, default=20)
    ap.add_argument("--fanout", type=int, default=600)
    ap.add_argument("--pg", default=os.environ.get("BDG_BENCH_PG_URL"))
    ap.add_argument(
        "--no-limit",
        action="store_true",
        help="the stand-in does not enforce 30 messages/s during the report steps",
    )
    args = ap.parse_args()
    if not args.pg:
        sys.exit("set BDG_BENCH_PG_URL (several workers need PostgreSQL)")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("telegram").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for workers in (1, 2):
            r = asyncio.run(
                run(args.pg, workers, args.officers, args.fanout, Path(tmp), not args.no_limit)
            )
            show(r)
            results.append(r)
        ratio = results[1]["steps_per_s"] / results[0]["steps_per_s"]
        print(f"  2 workers ÷ 1: {ratio:.2f}× report steps/s")
        if args.fanout:
            print(f"  fan-out 2 ÷ 1: {results[1]['fan_rate'] / results[0]['fan_rate']:.2f}×")
        print("  load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
