"""The fault table of issue 12, hostile-input half: a real ``bdg serve`` (Telegram and Zalo
webhooks, against the loopback stand-ins) gets malformed and hostile updates, then a few
hundred randomly mutated ones; after each request ``/healthz`` must still answer.

Printed per input: the HTTP status, whether the process is alive and healthy; then, for the
mutated updates, the statuses seen and the count of 5xx answers. The other half of the table
(rows lost or repeated after SIGKILL, time to the first alert after a crash) is
``bench/fanout_crash.py``, ``bench/takeover.py`` and ``bench/crash_alert.py``.

    .venv/bin/python bench/hostile.py [--mutations 300] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db.crypto import new_key_spec  # noqa: E402
from db.engine import Database  # noqa: E402
from db.units import seed_demo  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.fakes.zalo_api import FakeZalo  # noqa: E402
from tests.processes import Bot, free_port  # noqa: E402

TG_PATH, TG_HEADER = "/telegram/webhook", "X-Telegram-Bot-Api-Secret-Token"
ZALO_PATH, ZALO_HEADER = "/zalo/webhook", "X-Bot-Api-Secret-Token"
SECRET = "hostile-bench-secret-0123456789"
USER = 8100200999


def tg_update(update_id: int, text: str = "/trogiup", first_name: str = "Lan") -> dict[str, Any]:
    who = {"id": USER, "is_bot": False, "first_name": first_name}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1764050400,
            "chat": {"id": USER, "type": "private", "first_name": first_name},
            "from": who,
            "text": text,
        },
    }


def zalo_event(message_id: str, text: str = "/trogiup", user: str = "a1b2c3d4") -> dict[str, Any]:
    return {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": user, "display_name": "Lan", "is_bot": False},
            "chat": {"id": user, "chat_type": "PRIVATE"},
            "message_id": message_id,
            "date": 1764050400000,
            "text": text,
        },
    }


def cases() -> list[tuple[str, str, str, bytes, str | None]]:
    """(input, path, header value, body, expected status) — expected None: anything but 5xx."""
    j = lambda v: json.dumps(v).encode()  # noqa: E731
    surrogate = j(tg_update(11, "Nguyen Lan")).replace(b"Nguyen Lan", b"Nguy\\ud800n Lan")
    z_long = zalo_event("z5")
    z_long["message"]["from"]["id"] = z_long["message"]["chat"]["id"] = "9" * 65
    z_date = zalo_event("z6")
    z_date["message"]["date"] = "yesterday"
    bool_id = tg_update(12)
    bool_id["update_id"] = True
    big_chat = tg_update(13)
    big_chat["message"]["chat"]["id"] = 10**30
    return [
        ("Telegram: wrong secret", TG_PATH, "wrong-secret-0000", j(tg_update(1)), "403"),
        ("Telegram: no secret", TG_PATH, "", j(tg_update(2)), "403"),
        ("Telegram: not JSON", TG_PATH, SECRET, b"not json{", "400"),
        ("Telegram: a JSON list", TG_PATH, SECRET, b"[1, 2]", "400"),
        ("Telegram: 300 KB body", TG_PATH, SECRET, j(tg_update(3, "x" * 300_000)), "413"),
        (
            "Telegram: 100,000 nested arrays",
            TG_PATH,
            SECRET,
            b"[" * 100_000 + b"]" * 100_000,
            "400",
        ),
        ("Telegram: update_id true", TG_PATH, SECRET, j(bool_id), "400"),
        ("Telegram: lone surrogate in a name", TG_PATH, SECRET, surrogate, "200"),
        ("Telegram: 5,000-digit number", TG_PATH, SECRET, j(tg_update(14, "9" * 5000)), "200"),
        (
            "Telegram: bidi override in a name",
            TG_PATH,
            SECRET,
            j(tg_update(15, "hi", "\u202eLan\u200b")),
            "200",
        ),
        ("Telegram: chat id 10^30", TG_PATH, SECRET, j(big_chat), None),
        ("Telegram: update without content", TG_PATH, SECRET, j({"update_id": 16}), "200"),
        ("Zalo: wrong secret", ZALO_PATH, "wrong-secret-0000", j(zalo_event("z1")), "403"),
        ("Zalo: not JSON", ZALO_PATH, SECRET, b"{{{", "400"),
        (
            "Zalo: 5,000 nested objects",
            ZALO_PATH,
            SECRET,
            b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
            "400",
        ),
        ("Zalo: 65-character id", ZALO_PATH, SECRET, j(z_long), "400"),
        ("Zalo: date not a number", ZALO_PATH, SECRET, j(z_date), "400"),
        ("Zalo: event of another kind", ZALO_PATH, SECRET, j({"event_name": "user.follow"}), "200"),
        ("Zalo: 5,000-digit number", ZALO_PATH, SECRET, j(zalo_event("z7", "9" * 5000)), "200"),
        (
            "Zalo: SQL in the text",
            ZALO_PATH,
            SECRET,
            j(zalo_event("z8", "'; DROP TABLE unit; --")),
            "200",
        ),
    ]


HOSTILE_VALUES: list[Any] = [
    None,
    True,
    -1,
    0,
    2**63,
    10**40,
    1.5e308,
    "",
    "\u202e",
    "\x00",
    "9" * 5000,
    [],
    {},
    [[[]]],
    {"id": None},
    "a" * 10_000,
]


def mutate(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Replace or delete one field anywhere in ``body`` with a hostile value."""
    body = copy.deepcopy(body)
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append([*path, k])
                walk(v, [*path, k])

    walk(body, [])
    path = rng.choice(paths)
    parent = body
    for k in path[:-1]:
        parent = parent[k]
    if rng.random() < 0.2:
        del parent[path[-1]]
    else:
        parent[path[-1]] = rng.choice(HOSTILE_VALUES)
    return body


async def healthy(http: httpx.AsyncClient, base: str) -> bool:
    try:
        return (await http.get(base + "/healthz", timeout=10)).status_code == 200
    except httpx.TransportError:
        return False


async def attack(base: str, bot: Bot, mutations: int, seed: int) -> tuple[list[str], Counter[str]]:
    lines: list[str] = []
    async with httpx.AsyncClient(timeout=30) as http:
        for name, path, secret, body, expected in cases():
            headers = {"Content-Type": "application/json"}
            if secret:
                headers[TG_HEADER if path == TG_PATH else ZALO_HEADER] = secret
            status = str((await http.post(base + path, content=body, headers=headers)).status_code)
            ok = status == expected if expected else not status.startswith("5")
            alive = bot.proc.poll() is None and await healthy(http, base)
            lines.append(
                f"| {name} | {status} | {'yes' if ok else 'NO'} | {'yes' if alive else 'NO'} |"
            )
        rng = random.Random(seed)
        seen: Counter[str] = Counter()
        for i in range(mutations):
            if i % 2:
                body, path, header = mutate(tg_update(1000 + i), rng), TG_PATH, TG_HEADER
            else:
                body, path, header = mutate(zalo_event(f"m{i}"), rng), ZALO_PATH, ZALO_HEADER
            res = await http.post(
                base + path, content=json.dumps(body).encode(), headers={header: SECRET}
            )
            seen[str(res.status_code)] += 1
            if res.status_code >= 500:
                print(f"  {res.status_code} for {path}: {json.dumps(body)[:300]}")
        seen["alive at the end"] = int(bot.proc.poll() is None and await healthy(http, base))
    return lines, seen


def prepare(url: str, schema: str | None) -> None:
    async def go() -> None:
        db = Database(url, schema)
        await db.upgrade()
        async with db.session() as s:
            await seed_demo(s)
        await db.dispose()

    asyncio.run(go())


def run(label: str, url: str, schema: str | None, mutations: int, tmp: Path) -> None:
    prepare(url, schema)
    with FakeTelegram(username="bdg_bench_bot") as tg, FakeZalo() as zalo:
        port = free_port()
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ZALO_", "BDG_"))
        }
        env.update(
            DATABASE_URL=url,
            BDG_CASE_KEYS=new_key_spec("h1"),
            BDG_PORT=str(port),
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            BDG_LOG_LEVEL="WARNING",
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.url,
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            ZALO_BOT_TOKEN=zalo.token,
            ZALO_API_URL=zalo.url,
            ZALO_WEBHOOK_SECRET=SECRET,
        )
        if schema:
            env["BDG_DB_SCHEMA"] = schema
        bot = Bot("serve", env, tmp / f"serve-{label}.log")
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while not asyncio.run(_up(base)):
                if bot.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("bdg serve did not start:\n" + bot.output()[-3000:])
                time.sleep(0.1)
            lines, seen = asyncio.run(attack(base, bot, mutations, seed=12))
        finally:
            bot.ensure_dead()
    print(f"\n{label} (load {os.getloadavg()[0]:.1f})")
    print("| input | HTTP | as expected | process alive and healthy |\n|---|---|---|---|")
    print("\n".join(lines))
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(seen.items()) if k[0].isdigit())
    fives = sum(v for k, v in seen.items() if k.startswith("5"))
    print(
        f"{mutations} mutated updates: {statuses}; 5xx answers: {fives}; "
        f"alive at the end: {'yes' if seen['alive at the end'] else 'NO'}"
    )


async def _up(base: str) -> bool:
    async with httpx.AsyncClient() as http:
        return await healthy(http, base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutations", type=int, default=300)
    parser.add_argument("--pg", default=os.environ.get("BDG_BENCH_PG_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite+aiosqlite:///{tmp}/hostile.sqlite3", None, args.mutations, Path(tmp))
        if args.pg:
            pg = args.pg.replace("postgresql://", "postgresql+asyncpg://", 1)
            run("PostgreSQL", pg, f"bench_{uuid.uuid4().hex[:8]}", args.mutations, Path(tmp))


if __name__ == "__main__":
    main()
