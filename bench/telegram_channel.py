"""End-to-end step latency and throughput through the loopback Telegram Bot API, for N
concurrent simulated officers, next to a bare python-telegram-bot echo bot on the same
stand-in in the same run.

    .venv/bin/python bench/telegram_channel.py --officers 20
    .venv/bin/python bench/telegram_channel.py --officers 20 --with-limiter   # + AIORateLimiter run
    BDG_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/telegram_channel.py

A step is one thing an officer does (a message or a button tap) until the bot's answer reaches
the stand-in: for the bot, registration by deep link, /baocao, every question of the annual
report (buttons for yes/no, choices, multiple choices and skips, numbers typed) and the submit
tap; for the echo bot, the same number of text messages, each echoed. The TelegramChannel runs
in-process with its own polling loop, on SQLite (and PostgreSQL when BDG_BENCH_PG_URL is set).
The stand-in runs in a thread of the same process, so both bots share its cost. By default
both run without a rate limiter (Telegram's 30 messages/s would otherwise be the figure);
``--with-limiter`` adds a run of the channel with AIORateLimiter, as it runs in production.
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    ContextTypes,
    MessageHandler,
    filters,
)

from bench.common import commune_code, flat_province  # noqa: E402
from bot.app import App  # noqa: E402
from bot.telegram.channel import TelegramChannel  # noqa: E402
from db.engine import Database  # noqa: E402
from handlers.dispatch import Dispatcher  # noqa: E402
from handlers.registration import new_invite  # noqa: E402
from kernel.clock import to_utc  # noqa: E402
from kernel.settings import (
    Services,  # noqa: E402
    Settings,  # noqa: E402
)
from services.forms.engine import load_form  # noqa: E402
from tests.answers import ANSWERS  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

FIRST_USER = 7_000_000
QUESTION = re.compile(r"Câu \d+/\d+: (.+)")


# --------------------------------------------------------------------------------------------
# The stand-in, observed: every message the bot sends or edits reaches the officer's inbox
# --------------------------------------------------------------------------------------------


@dataclass
class Seen:
    kind: str  # send | edit
    message: dict[str, Any]


class ObservedTelegram(FakeTelegram):
    """FakeTelegram that hands every recorded send/edit to the benchmark's event loop."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.inboxes: dict[int, asyncio.Queue[Seen]] = {}

    def _record_send(self, chat: Any, method: str, message: dict[str, Any]) -> None:
        super()._record_send(chat, method, message)
        self._notify(chat.id, "send", message)

    def _record_edit(self, chat: Any, method: str, message: dict[str, Any]) -> None:
        super()._record_edit(chat, method, message)
        self._notify(chat.id, "edit", message)

    def _notify(self, chat_id: int, kind: str, message: dict[str, Any]) -> None:
        inbox = self.inboxes.get(chat_id)
        if self.loop is not None and inbox is not None:
            self.loop.call_soon_threadsafe(inbox.put_nowait, Seen(kind, dict(message)))


def keys_of(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [
        str(b["callback_data"])
        for row in markup.get("inline_keyboard", [])
        for b in row
        if "callback_data" in b
    ]


@dataclass
class Officer:
    tg: ObservedTelegram
    user_id: int
    latencies: list[float]
    inbox: asyncio.Queue[Seen] = field(default_factory=asyncio.Queue)
    question: dict[str, Any] = field(default_factory=dict)

    async def step(
        self, act: Callable[[], dict[str, Any]], done: Callable[[Seen], bool]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        act()
        while True:
            seen = await asyncio.wait_for(self.inbox.get(), 60)
            if done(seen):
                self.latencies.append(time.perf_counter() - started)
                if seen.kind == "send" and keys_of(seen.message):
                    self.question = seen.message
                return seen.message

    async def say(self, text: str, expect: str) -> dict[str, Any]:
        pushed: dict[str, Any] = {}

        def act() -> dict[str, Any]:
            pushed.update(self.tg.push_message(self.user_id, text)["message"])
            return pushed

        def done(seen: Seen) -> bool:
            m = seen.message
            return (
                seen.kind == "send"
                and m["message_id"] > pushed["message_id"]
                and expect in (m.get("text") or "")
            )

        return await self.step(act, done)

    async def tap(self, data: str, expect: str | None) -> dict[str, Any]:
        """Tap a button of the pending question; ``expect`` None = wait for the question to
        be edited in place (a multiple-choice toggle)."""
        mid = self.question["message_id"]

        def done(seen: Seen) -> bool:
            m = seen.message
            if expect is None:
                return seen.kind == "edit" and m["message_id"] == mid
            return seen.kind == "send" and m["message_id"] > mid and expect in (m.get("text") or "")

        return await self.step(lambda: self.tg.push_callback(self.user_id, mid, data), done)


# --------------------------------------------------------------------------------------------
# The bot under test: TelegramChannel + dispatcher + database
# --------------------------------------------------------------------------------------------


LABELS = {q.text("vi"): qid for qid, q in load_form("bdg_report").by_id.items()}


def current_qid(message: dict[str, Any]) -> str | None:
    for line in (message.get("text") or "").splitlines():
        m = QUESTION.match(line)
        if m:
            return LABELS.get(m.group(1))
    return None


async def report_officer(officer: Officer, code: str) -> None:
    await officer.say(f"/start {code.replace('-', '')}", "Họ và tên")
    await officer.say("Cán bộ thử", "Chức vụ")
    await officer.say("Công chức", "/baocao")
    message = await officer.say("/baocao", "Câu 1/")
    while (qid := current_qid(message)) is not None:
        typed, value = ANSWERS[qid]
        keys = keys_of(message)
        if isinstance(value, bool) and "yes" in keys:
            message = await officer.tap("yes" if value else "no", "Đã lưu")
        elif isinstance(value, str) and value in keys:
            message = await officer.tap(value, "Đã lưu")
        elif isinstance(value, list) and "__done__" in keys:
            for key in value:
                await officer.tap(key, None)
            message = await officer.tap("__done__", "Đã lưu")
        elif value is None and "__skip__" in keys:
            message = await officer.tap("__skip__", "Đã lưu")
        else:
            message = await officer.say(typed, "Đã lưu")
    assert "submit" in keys_of(message), (
        f"expected the summary, got: {(message.get('text') or '')[-300:]!r}"
    )
    await officer.tap("submit", "Số tham chiếu")


async def run_channel(
    url: str, schema: str | None, n: int, rate_limit: bool
) -> tuple[list[float], float, int]:
    db = Database(url, schema)
    await db.upgrade()
    await flat_province(db, n)
    now = to_utc(datetime(2026, 11, 25, 9, 0), "Asia/Ho_Chi_Minh")
    codes = [await new_invite(db, commune_code(i), now=now) for i in range(n)]
    latencies: list[float] = []
    with ObservedTelegram() as tg:
        tg.loop = asyncio.get_running_loop()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.url,
        )
        app = App(settings, db, Dispatcher(db, Services(), clock=lambda: now), lambda: now)
        channel = TelegramChannel(app, rate_limit=rate_limit)
        await channel.start(webhook=False)
        stop = asyncio.Event()
        polling = asyncio.create_task(channel.run_polling(stop))
        officers = []
        for i in range(n):
            tg.inboxes[FIRST_USER + i] = asyncio.Queue()
            officers.append(Officer(tg, FIRST_USER + i, latencies, tg.inboxes[FIRST_USER + i]))
        started = time.perf_counter()
        await asyncio.gather(*(report_officer(o, c) for o, c in zip(officers, codes, strict=True)))
        wall = time.perf_counter() - started
        stop.set()
        await polling
        await channel.stop()
    async with db.session() as s:
        submitted = (
            await s.exec(text("SELECT count(*) FROM report WHERE status='submitted'"))  # type: ignore[call-overload]
        ).one()[0]
    if schema:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await db.dispose()
    return latencies, wall, int(submitted)


# --------------------------------------------------------------------------------------------
# The baseline: a bare python-telegram-bot echo bot
# --------------------------------------------------------------------------------------------


async def run_echo(n: int, steps: int) -> tuple[list[float], float]:
    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.text
        await update.effective_message.reply_text(update.effective_message.text)

    latencies: list[float] = []
    with ObservedTelegram() as tg:
        tg.loop = asyncio.get_running_loop()
        app = Application.builder().token(tg.token).base_url(tg.api_url).build()
        app.add_handler(MessageHandler(filters.TEXT, echo))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=30)

            async def user(i: int) -> None:
                officer = Officer(tg, FIRST_USER + i, latencies, tg.inboxes[FIRST_USER + i])
                for k in range(steps):
                    await officer.say(f"bước {k} của {i}", f"bước {k} của {i}")

            for i in range(n):
                tg.inboxes[FIRST_USER + i] = asyncio.Queue()
            started = time.perf_counter()
            await asyncio.gather(*(user(i) for i in range(n)))
            wall = time.perf_counter() - started
            await app.updater.stop()
            await app.stop()
    return latencies, wall


# --------------------------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    steps: int
    wall: float
    p50: float
    p99: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.steps / self.wall


def figures(name: str, latencies: list[float], wall: float, note: str = "") -> Figures:
    q = statistics.quantiles(latencies, n=100)
    return Figures(name, len(latencies), wall, q[49] * 1000, q[98] * 1000, note)


def show(rows: list[Figures]) -> None:
    print(f"{'':<42} {'steps':>6} {'steps/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for r in rows:
        print(f"{r.name:<42} {r.steps:>6} {r.rate:>8.1f} {r.p50:>7.1f} {r.p99:>7.1f}  {r.note}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--officers", type=int, default=20)
    ap.add_argument("--with-limiter", action="store_true", help="also run with AIORateLimiter")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    n = args.officers
    targets: list[tuple[str, str, str | None]] = []
    rows: list[Figures] = []
    with tempfile.TemporaryDirectory() as tmp:
        targets.append(("SQLite", f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", None))
        pg = os.environ.get("BDG_BENCH_PG_URL")
        if pg:
            targets.append(("PostgreSQL", pg, f"bench_{uuid.uuid4().hex[:8]}"))
        print(
            f"{n} concurrent officers; bot: register by deep link + full annual report + "
            "submit; echo: as many text messages"
        )
        channel_rows = []
        for i, (name, url, schema) in enumerate(targets):
            if name == "SQLite":
                url = f"sqlite+aiosqlite:///{tmp}/bench{i}.sqlite3"
            lat, wall, submitted = asyncio.run(run_channel(url, schema, n, rate_limit=False))
            channel_rows.append(
                figures(f"TelegramChannel, {name}", lat, wall, f"{submitted}/{n} submitted")
            )
        per_officer = channel_rows[0].steps // n
        lat, wall = asyncio.run(run_echo(n, per_officer))
        echo = figures("bare PTB echo bot (Application, polling)", lat, wall)
        rows = [echo, *channel_rows]
        if args.with_limiter:
            name, url, schema = targets[0]
            url = f"sqlite+aiosqlite:///{tmp}/bench_limited.sqlite3"
            lat, wall, submitted = asyncio.run(run_channel(url, schema, n, rate_limit=True))
            rows.append(
                figures(
                    f"TelegramChannel + AIORateLimiter, {name}",
                    lat,
                    wall,
                    f"{submitted}/{n} submitted",
                )
            )
    show(rows)
    for r in rows[1:]:
        print(
            f"{r.name}: p50 {r.p50 / echo.p50:.1f}x, p99 {r.p99 / echo.p99:.1f}x the echo bot's; "
            f"throughput {r.rate / echo.rate:.2f}x"
        )


if __name__ == "__main__":
    main()
