"""A webhook flood against a real ``bdg serve`` process: N officers (50) send M updates (2,000)
in S seconds (30) to ``POST /telegram/webhook``, and the HTTP answer times are printed
(p50 / p99 / max), with how long the replies took to reach the Telegram stand-in.

    .venv/bin/python bench/webhook_flood.py
    .venv/bin/python bench/webhook_flood.py --users 50 --updates 2000 --seconds 30
    BDG_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/webhook_flood.py
    BDG_BENCH_PG_URL=… .venv/bin/python bench/webhook_flood.py --workers 2   # PostgreSQL: 1, then 2

``--workers 2`` runs the PostgreSQL flood once with one ``bdg serve`` and once with two on the
same database, each update posted to one of them at random (a load balancer without session
affinity; a chat's updates still one after another).

The officers are registered beforehand (in this process, on the same database) and each has
the annual report open; during the flood each sends the report's answers in order (then
"/baocao" again), its updates one after another as Telegram delivers one chat's updates, the
officers at once, at the scheduled rate overall (open loop: a slow answer does not slow the
schedule of the others). The stand-in runs in a thread of this process and answers the bot's
Bot API calls; ``bdg serve`` runs with its production rate limiter, so the replies leave
within Telegram's budget (30 messages/s) and their lag is printed separately. Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench.common import commune_code, flat_province  # noqa: E402
from db.engine import Database  # noqa: E402
from handlers.dispatch import Dispatcher  # noqa: E402
from handlers.registration import new_invite  # noqa: E402
from kernel.clock import to_utc  # noqa: E402
from kernel.messages import Incoming  # noqa: E402
from kernel.settings import Services  # noqa: E402
from tests.answers import ANSWERS  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.processes import TEST_CASE_KEYS, Bot, bot_env, free_port  # noqa: E402

SECRET = "bench_webhook-secret-0123456789"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
FIRST_USER = 7_000_000


async def prepare(url: str, schema: str | None, users: int) -> None:
    """Officers registered on the Telegram channel, each with the annual report open."""
    db = Database(url, schema)
    await db.upgrade()
    await flat_province(db, users)
    start = to_utc(datetime(2026, 11, 25, 9, 0), "Asia/Ho_Chi_Minh")
    d = Dispatcher(db, Services(), clock=lambda: start)
    for i in range(users):
        uid = str(FIRST_USER + i)
        code = await new_invite(db, commune_code(i), now=start)
        for line in (f"/start {code}", f"Cán bộ {i}", "Công chức", "/baocao"):
            await d.handle(Incoming("telegram", uid, uid, text=line))
    await db.dispose()


def update(update_id: int, user: int, message_id: int, text: str) -> bytes:
    who = {"id": user, "is_bot": False, "first_name": "Cán bộ", "language_code": "vi"}
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": user, "type": "private", "first_name": "Cán bộ"},
                "from": who,
                "text": text,
            },
        }
    ).encode()


async def flood(ports: list[int], users: int, updates: int, seconds: float) -> list[float]:
    texts = [answer for answer, _ in ANSWERS.values()] + ["/baocao"]
    per_user = updates // users
    interval = seconds / per_user  # each officer's pace; the officers are spread across it
    latencies: list[float] = []
    urls = [f"http://127.0.0.1:{port}/telegram/webhook" for port in ports]
    headers = {HEADER: SECRET, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        t0 = time.perf_counter()

        async def officer(i: int) -> None:
            user = FIRST_USER + i
            for n in range(per_user):
                due = t0 + interval * (n + i / users)
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                body = update(1 + i * per_user + n, user, 1000 + n, texts[n % len(texts)])
                sent = time.perf_counter()
                url = random.choice(urls)
                response = await http.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - sent)
                assert response.status_code == 200, response.status_code

        await asyncio.gather(*(officer(i) for i in range(users)))
    return latencies


def replies_sent(tg: FakeTelegram) -> int:
    return sum(1 for c in tg.calls_to("sendMessage") if c.ok)


async def run(
    tg: FakeTelegram, config: dict[str, Any], args: argparse.Namespace, workers: int = 1
) -> None:
    tmp = Path(config["tmp"])
    await prepare(config["url"], config["schema"], args.users)
    for i in range(args.users):
        tg.register_chat(FIRST_USER + i, first_name="Cán bộ")
    ports = [free_port() for _ in range(workers)]
    bots = []
    for port in ports:
        env = bot_env(
            config,
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.url,
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            BDG_PORT=str(port),
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            BDG_CASE_KEYS=TEST_CASE_KEYS,
        )
        env["BDG_LOG_LEVEL"] = "WARNING"
        bots.append(Bot("serve", env, tmp / f"serve-{port}.log"))
    try:
        for port, bot in zip(ports, bots, strict=True):
            await bot.wait_healthy(port)
        before = replies_sent(tg)
        t0 = time.perf_counter()
        latencies = await flood(ports, args.users, args.updates, args.seconds)
        flood_end = time.perf_counter()
        expected = len(latencies)  # at least one reply per update
        for _ in range(600):  # the replies leave at Telegram's pace: up to 2 minutes more
            if replies_sent(tg) - before >= expected:
                break
            await asyncio.sleep(0.2)
        last = time.perf_counter()
        q = statistics.quantiles(latencies, n=100)
        load = os.getloadavg()[0]
        name = config["name"] + (f" ×{workers}" if workers > 1 else "")
        print(
            f"{name:<14} {len(latencies):>7} {q[49] * 1000:>7.1f} {q[98] * 1000:>7.1f} "
            f"{max(latencies) * 1000:>7.1f} {flood_end - t0:>7.1f} {last - t0:>9.1f} "
            f"{replies_sent(tg) - before:>7} {load:>5.2f}"
        )
        for bot in bots:
            bot.terminate()
    finally:
        for bot in bots:
            bot.ensure_dead()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument(
        "--workers", type=int, default=1, help="PostgreSQL: also with this many bdg serve"
    )
    args = ap.parse_args()
    print(f"{args.updates} updates from {args.users} officers in {args.seconds:.0f} s")
    print(
        f"{'database':<14} {'updates':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'flood s':>7} {'replies s':>9} {'replies':>7} {'load':>5}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        configs: list[dict[str, Any]] = [
            {
                "name": "SQLite",
                "url": f"sqlite+aiosqlite:///{tmp}/flood.sqlite3",
                "schema": None,
                "tmp": tmp,
            }
        ]
        pg = os.environ.get("BDG_BENCH_PG_URL")
        if pg:
            schema = f"flood_{uuid.uuid4().hex[:8]}"
            configs.append({"name": "PostgreSQL", "url": pg, "schema": schema, "tmp": tmp})
            if args.workers > 1:  # SQLite serves one process
                schema = f"flood_{uuid.uuid4().hex[:8]}"
                configs.append(
                    {
                        "name": "PostgreSQL",
                        "url": pg,
                        "schema": schema,
                        "tmp": tmp,
                        "workers": args.workers,
                    }
                )
        for config in configs:
            with FakeTelegram() as tg:
                asyncio.run(run(tg, config, args, config.get("workers", 1)))
            if config["schema"]:
                asyncio.run(drop(config["url"], config["schema"]))


async def drop(url: str, schema: str) -> None:
    db = Database(url, schema)
    async with db.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await db.dispose()


if __name__ == "__main__":
    main()
