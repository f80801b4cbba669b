"""The outbox against the Telegram stand-in, through the real TelegramChannel.send: with
injected 429 (retry_after) and 5xx answers every row is delivered, none twice, and the send
rate never exceeds Telegram's limits (30 messages/s overall, 1/s per chat), which the
stand-in enforces itself with 429 answers."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bot.app import App
from db.engine import Database
from db.models import ChannelAccount
from db.outbox import enqueue
from handlers.dispatch import Dispatcher
from kernel.settings import Settings
from scheduler.dispatcher import OutboxDispatcher
from tests.chat import Clock
from tests.conftest import local
from tests.reminders_support import fast_settings

channel_module = pytest.importorskip("bot.telegram.channel")
fakes = pytest.importorskip("tests.fakes.telegram_api")

# PTB's own str(RetryAfter) warns about a future type change; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:telegram.*")

CHATS = 40
DOUBLE = 6  # chats that get a second message (the per-chat limit applies)


async def test_outbox_through_the_telegram_stand_in(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'tg.sqlite3'}")
    await db.upgrade()
    now = local("2026-12-04T08:00")
    chat_ids = [100000 + i for i in range(CHATS)]
    expected: list[tuple[int, str]] = []
    async with db.session() as s:
        accounts = [
            ChannelAccount(channel="telegram", user_id=str(c), chat_id=str(c)) for c in chat_ids
        ]
        s.add_all(accounts)
        await s.flush()
        for i, acc in enumerate(accounts):
            for j in range(2 if i < DOUBLE else 1):
                text = f"⏰ <b>Nhắc hạn</b> số {i}.{j}"
                await enqueue(
                    s, key=f"tg:{i}:{j}", account=acc, text=text, kind="reminder", now=now
                )
                expected.append((int(acc.chat_id), f"⏰ Nhắc hạn số {i}.{j}"))

    with fakes.FakeTelegram() as tg:
        for c in chat_ids:
            tg.register_chat(c, first_name="Cán bộ")
        tg.set_rate_limit(per_chat=(1, 1.0), overall=(30, 1.0), retry_after=1)
        settings = Settings(TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.url)  # type: ignore[call-arg]
        app = App(settings, db, Dispatcher(db), Clock(now))
        channel = channel_module.TelegramChannel(app)
        dispatcher = OutboxDispatcher(
            db,
            {"telegram": channel},
            clock=Clock(now),
            settings=fast_settings(
                BDG_RATE_TELEGRAM=30, BDG_RATE_TELEGRAM_CHAT=1, BDG_OUTBOX_BACKOFF=0.05
            ),
        )

        async def inject_faults() -> None:
            """A 429 (retry after 1 s) after 8 sends, three 5xx after 16, another 429 after 30."""
            plan = [(8, 429, 1), (16, 502, 3), (30, 429, 1)]
            for after, status, times in plan:
                # The stand-in runs in its own thread: poll its record of sends.
                while len(tg.send_times()) < after:  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
                if status == 429:
                    tg.inject("sendMessage", status=429, retry_after=1, times=times)
                else:
                    tg.inject("sendMessage", status=status, times=times)

        faults = asyncio.create_task(inject_faults())
        stats = await dispatcher.run_once()
        await faults
        await channel.stop()

        calls = tg.calls_to("sendMessage")
        statuses = Counter(c.status for c in calls)
        delivered = Counter((c.chat_id, c.response["result"]["text"]) for c in calls if c.ok)
        max_rate = tg.max_send_rate()
        max_chat_rate = max(tg.max_send_rate(c) for c in chat_ids)
    await db.dispose()

    assert stats.sent == len(expected) and stats.failed == 0
    assert stats.rate_limited == 2 and stats.retries == 5
    assert set(delivered) == set(expected)  # none lost
    assert set(delivered.values()) == {1}  # none twice
    # Only the injected faults: the stand-in's own limits never answered 429.
    assert statuses == {200: len(expected), 429: 2, 502: 3}
    assert max_rate <= 30
    assert max_chat_rate <= 1
