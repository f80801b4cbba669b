"""What a tap costs on Telegram's side: the callback query is answered as soon as the update
has committed (not behind the chat's earlier replies), and the edit of the tapped question
goes out alongside the next question, not before it. A chat's replies stay in order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import Chat, Message

from bot.telegram.channel import TelegramChannel, _Job
from bot.telegram.keyboards import Keyboard
from bot.telegram.render import render
from bot.telegram.updates import Tap
from db.engine import Database
from kernel.messages import SELECTED_MARK, Choice, Outcome, Reply
from tests.chat import Clock
from tests.fakes.telegram_api import FakeTelegram
from tests.test_telegram_channel import make_channel

CHAT = 777


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:  # only for the settings; HeldBot answers the calls
        yield fake


class _Message:
    def __init__(self, message_id: int) -> None:
        self.message_id = message_id


class HeldBot:
    """A Bot API stand-in whose sends and edits wait until the test lets them go."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.sends = asyncio.Event()
        self.edits = asyncio.Event()
        self._ids = 100

    async def answer_callback_query(self, query_id: str, **_kw: Any) -> bool:
        self.calls.append(f"answer {query_id}")
        return True

    async def send_message(self, _chat: int, html: str, **_kw: Any) -> _Message:
        self.calls.append(f"send {html}")
        await self.sends.wait()
        self._ids += 1
        return _Message(self._ids)

    async def edit_message_text(self, html: str, **_kw: Any) -> bool:
        self.calls.append("edit")
        await self.edits.wait()
        return True

    async def edit_message_reply_markup(self, *_a: Any, **_kw: Any) -> bool:
        self.calls.append("retire")
        return True

    async def shutdown(self) -> None:
        return None


async def _until(predicate: Any) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("timed out")


async def test_a_tap_is_answered_at_once_and_its_edit_runs_alongside_the_next_question(
    tg: FakeTelegram, demo_db: Database, clock: Clock
) -> None:
    bot = HeldBot()
    channel: TelegramChannel = make_channel(tg, demo_db, clock, bot=bot)
    # The question with its keyboard, as an earlier update left it.
    await channel.views.add(CHAT, 50, [Keyboard(50, "Câu 1?", [("yes", "Có"), ("no", "Không")])])
    # An earlier update's reply still on its way (an apology: it leaves the keyboards alone).
    earlier = _Job(CHAT, 1, "vi", outcome=Outcome(replies=[Reply("một")], failed=True))
    tap = Tap(query_id="q2", data="yes", message_id=50, message=None)
    outcome = Outcome(replies=[Reply("Câu 2?")], chosen_label="Có")
    tapped = _Job(CHAT, 2, "vi", tap=tap, outcome=outcome)
    channel._after_commit(earlier)
    channel._after_commit(tapped)
    try:
        await _check(bot)
    finally:
        bot.sends.set()
        bot.edits.set()
        await channel._sender.drain()
    view = await channel.views.get(CHAT)
    assert view is not None and view.keyboards == {} and view.newest == 102  # both replies sent


async def _check(bot: HeldBot) -> None:
    await _until(lambda: "answer q2" in bot.calls)
    # Answered while the chat's earlier reply is still on its way.
    assert sorted(bot.calls) == ["answer q2", "send một"]
    bot.sends.set()
    # The tapped question's edit is held; the next question goes out regardless.
    await _until(lambda: "send Câu 2?" in bot.calls)
    assert "edit" in bot.calls
    assert bot.calls.index("send một") < bot.calls.index("send Câu 2?")


class HeldMarkupBot(HeldBot):
    """Keyboard edits (a multiple-choice toggle) wait too."""

    async def edit_message_reply_markup(self, *_a: Any, **_kw: Any) -> bool:
        self.calls.append("markup")
        await self.edits.wait()
        return True


async def test_a_multiple_choice_stays_live_while_its_toggle_is_being_shown(
    tg: FakeTelegram, demo_db: Database, clock: Clock
) -> None:
    """Between a toggle and the edit that shows it, the keyboard is still live: a quick next
    tap on it (on this worker or another) is not refused as outdated."""
    bot = HeldMarkupBot()
    channel: TelegramChannel = make_channel(tg, demo_db, clock, bot=bot)
    options = [Choice("a", "Loa"), Choice("b", "Họp"), Choice("__done__", "Xong")]
    [chunk] = render(Reply("Chọn?", choices=options))
    await channel.views.add(CHAT, 60, [Keyboard.of(60, chunk)])
    marked = [Choice("a", SELECTED_MARK + "Loa"), *options[1:]]
    shown = Message(60, datetime.now(UTC), Chat(CHAT, "private"), text="Chọn?")
    shown = Message.de_json({**shown.to_dict(), "reply_markup": chunk.markup.to_dict()}, None)
    tap = Tap(query_id="q1", data="a", message_id=60, message=shown)
    outcome = Outcome(replies=[Reply("Chọn?", choices=marked)], chosen_label="Loa")
    channel._after_commit(_Job(CHAT, 1, "vi", tap=tap, outcome=outcome))
    try:
        await _until(lambda: "markup" in bot.calls)
        view = await channel.views.get(CHAT)
        assert view is not None and not view.is_stale(60)
    finally:
        bot.edits.set()
        await channel._sender.drain()
    view = await channel.views.get(CHAT)
    assert view is not None and [label for _, label in view.keyboards[60].buttons] == [
        SELECTED_MARK + "Loa",
        "Họp",
        "Xong",
    ]
    assert not any(call.startswith("send") for call in bot.calls)  # edited in place
