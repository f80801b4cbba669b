"""Two Telegram workers (two channels, as two `bdg serve` processes would have) on one database
behind the loopback Bot API, each update of the one chat handed to the worker the test names,
as a load balancer would: the keyboards one worker sent are known to the other (issue 13).

On PostgreSQL this is the real setting. On SQLite (one process in production) the same tests
run with the memory cache off, which checks the SQLite statements; the cache itself is checked
by a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlmodel import select
from telegram import Update

from bot.telegram.channel import TelegramChannel
from bot.telegram.keyboards import ChatViews, Keyboard
from bot.telegram.render import hashed
from db.engine import Database
from db.telegram import TelegramChatView
from handlers.context import Ctx
from handlers.router import Router
from kernel.messages import SELECTED_MARK, Choice, Reply
from tests.chat import Clock
from tests.fakes.telegram_api import FakeTelegram
from tests.schema import migration_diff
from tests.telegram_user import keys_of
from tests.test_telegram_channel import make_channel

USER = 5550077
LONG_KEY = "unit:" + "Phường Bắc Hồng Lĩnh " * 4  # ~90 bytes: goes out hashed
YES_NO = [Choice("yes", "Có"), Choice("no", "Không")]
OPTIONS = [("a", "Loa"), ("b", "Họp"), ("c", "Tờ rơi")]


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


def two_questions_router(said: list[str]) -> Router:
    """/hai asks two yes/no questions; /chon offers a long key (no menu kept, so only the
    channel can map its hash back); /nhieu is a multiple choice that toggles in place."""
    routes = Router()
    selected: list[str] = []

    @routes.command("hai", help=None, roles=("public",))
    async def ask(ctx: Ctx, _args: str) -> None:
        ctx.set_flow("q1")
        ctx.say_text("Câu A?", choices=YES_NO)
        ctx.remember_menu(YES_NO)

    @routes.flow("q1")
    async def first(ctx: Ctx) -> None:
        said.append(f"A={ctx.inc.option}")
        ctx.set_flow("q2")
        ctx.say_text("Câu B?", choices=YES_NO)
        ctx.remember_menu(YES_NO)

    @routes.flow("q2")
    async def second(ctx: Ctx) -> None:
        said.append(f"B={ctx.inc.option}")
        ctx.clear_flow()
        ctx.say_text(f"Xong: {ctx.inc.option}")

    @routes.command("chon", help=None, roles=("public",))
    async def choose(ctx: Ctx, _args: str) -> None:
        ctx.set_flow("pick")
        ctx.say_text("Đơn vị nào?", choices=[Choice(LONG_KEY, "Bắc Hồng Lĩnh")])

    @routes.flow("pick")
    async def picked(ctx: Ctx) -> None:
        said.append(f"pick={ctx.inc.option}")
        ctx.clear_flow()
        ctx.say_text("Đã chọn")

    @routes.command("nhieu", help=None, roles=("public",))
    async def many(ctx: Ctx, _args: str) -> None:
        selected.clear()
        ctx.set_flow("many")
        _offer(ctx, selected)

    @routes.flow("many")
    async def toggle(ctx: Ctx) -> None:
        option = ctx.inc.option or ""
        if option == "__done__":
            said.append("many=" + ",".join(selected))
            ctx.clear_flow()
            ctx.say_text("Đã lưu")
            return
        if option in selected:
            selected.remove(option)
        else:
            selected.append(option)
        _offer(ctx, selected)

    return routes


def _offer(ctx: Ctx, selected: list[str]) -> None:
    choices = [Choice(k, (SELECTED_MARK if k in selected else "") + label) for k, label in OPTIONS]
    choices.append(Choice("__done__", "Xong"))
    ctx.say_text("Chọn các kênh:", choices=choices)
    ctx.remember_menu(choices)


class Workers:
    """Worker ``a`` and worker ``b``: channels on one database and one Bot API, each with its
    own view store (on SQLite without the cache: two processes would not share one)."""

    def __init__(self, tg: FakeTelegram, db: Database, clock: Clock) -> None:
        self.tg = tg
        self.said: list[str] = []
        routes = two_questions_router(self.said)
        self.a, self.b = (
            make_channel(tg, db, clock, routes, views=ChatViews(db, cache=False)) for _ in range(2)
        )

    async def on(self, worker: TelegramChannel, update: dict[str, Any]) -> None:
        """Hand one update to ``worker`` (as its webhook would) and wait for its replies."""
        job = await worker.handle(Update.de_json(update, worker.bot))
        if job is not None:
            worker._after_commit(job)
        await worker._sender.drain()
        await asyncio.gather(*worker._tasks)

    async def say(self, worker: TelegramChannel, text: str) -> None:
        await self.on(worker, self.tg.push_message(USER, text))

    async def tap(
        self, worker: TelegramChannel, message_id: int, data: str, *, strict: bool = True
    ) -> None:
        await self.on(worker, self.tg.push_callback(USER, message_id, data, strict=strict))

    def message(self, text: str) -> dict[str, Any]:
        """The bot's latest message starting with ``text``, as the person sees it now."""
        return next(m for m in reversed(self.tg.messages(USER)) if m["text"].startswith(text))


@pytest.fixture
async def workers(tg: FakeTelegram, demo_db: Database, clock: Clock) -> AsyncIterator[Workers]:
    pair = Workers(tg, demo_db, clock)
    await pair.a.start(webhook=False)
    await pair.b.start(webhook=False)
    yield pair
    await pair.a.stop()
    await pair.b.stop()


async def test_a_tap_reaching_the_other_worker_is_accepted_and_an_old_one_refused(
    workers: Workers, tg: FakeTelegram
) -> None:
    a, b = workers.a, workers.b
    await workers.say(a, "/hai")
    question_a = workers.message("Câu A?")
    # Tapped on worker B, which did not send the question: accepted and shown as answered.
    await workers.tap(b, question_a["message_id"], "yes")
    assert workers.said == ["A=yes"]
    shown = workers.message("Câu A?")
    assert shown["text"] == "Câu A?\n→ Có" and "reply_markup" not in shown
    question_b = workers.message("Câu B?")
    assert keys_of(question_b) == ["yes", "no"]
    # A client still showing question A's keyboard sends "Không" to worker A, which sent
    # question A but not question B: outdated, not an answer to question B.
    sent = len(tg.sent_texts(USER))
    await workers.tap(a, question_a["message_id"], "no", strict=False)
    assert "câu hỏi cũ" in tg.callback_answers[-1]["text"]
    assert workers.said == ["A=yes"] and len(tg.sent_texts(USER)) == sent
    await workers.tap(b, question_a["message_id"], "no", strict=False)
    assert "câu hỏi cũ" in tg.callback_answers[-1]["text"]
    assert workers.said == ["A=yes"]
    await workers.tap(a, question_b["message_id"], "no")
    assert workers.said == ["A=yes", "B=no"]


async def test_an_answer_on_one_worker_retires_the_keyboards_the_other_sent(
    workers: Workers, tg: FakeTelegram
) -> None:
    a, b = workers.a, workers.b
    await workers.say(a, "/hai")
    # The outbox of worker A sends a reminder with buttons meanwhile.
    await a.send(str(USER), Reply("Nhắc hạn", choices=[Choice("open", "Mở báo cáo")]))
    assert keys_of(workers.message("Nhắc hạn")) == ["open"]
    await workers.say(b, "có")  # typed on worker B: answers question A
    assert workers.said == ["A=yes"]
    reminder, question_a = workers.message("Nhắc hạn"), workers.message("Câu A?")
    assert "reply_markup" not in reminder  # edited off by worker B
    assert question_a["text"] == "Câu A?\n→ Có" and "reply_markup" not in question_a
    assert keys_of(workers.message("Câu B?")) == ["yes", "no"]


async def test_a_multiple_choice_toggled_on_both_workers_shows_every_option_chosen(
    workers: Workers, tg: FakeTelegram
) -> None:
    a, b = workers.a, workers.b
    await workers.say(a, "/nhieu")
    question = workers.message("Chọn các kênh:")
    mid = question["message_id"]
    await workers.tap(a, mid, "a")
    await workers.tap(b, mid, "c")
    rows = workers.message("Chọn các kênh:")["reply_markup"]["inline_keyboard"]
    labels = [button["text"] for row in rows for button in row]
    assert labels[:3] == [SELECTED_MARK + "Loa", "Họp", SELECTED_MARK + "Tờ rơi"]
    await workers.tap(a, mid, "__done__")  # worker A's own copy of the keyboard is old
    assert workers.said == ["many=a,c"]
    shown = workers.message("Chọn các kênh:")
    assert shown["text"] == "Chọn các kênh:\n→ Loa, Tờ rơi" and "reply_markup" not in shown
    assert len([t for t in tg.sent_texts(USER) if t.startswith("Chọn")]) == 1  # in place


async def test_a_hashed_long_key_sent_by_one_worker_resolves_on_the_other(
    workers: Workers, tg: FakeTelegram
) -> None:
    await workers.say(workers.a, "/chon")
    question = workers.message("Đơn vị nào?")
    assert keys_of(question) == [hashed(LONG_KEY)]
    await workers.tap(workers.b, question["message_id"], hashed(LONG_KEY))
    assert workers.said == [f"pick={LONG_KEY}"]
    assert "text" not in tg.callback_answers[-1]  # not "outdated"


async def test_keyboards_added_by_two_workers_at_once_are_all_kept(demo_db: Database) -> None:
    """The add is one merging upsert: concurrent adds (and a retire) lose nothing."""
    stores = [ChatViews(demo_db, cache=False) for _ in range(2)]
    chat = 4242

    def board(n: int) -> Keyboard:
        return Keyboard(n, f"Câu {n}", [("yes", "Có")], n % 2 == 0, {f"#h{n}": f"key{n}"})

    await asyncio.gather(*(stores[n % 2].add(chat, n, [board(n)]) for n in range(1, 21)))
    view = await stores[0].get(chat)
    assert view is not None and sorted(view.keyboards) == list(range(1, 21))
    assert view.newest == 20 and view.keyboards[7] == board(7)
    assert view.key_of("#h7", 3) == "key7"
    taken, _ = await asyncio.gather(stores[1].take(chat), stores[0].add(chat, 0, [board(30)]))
    left = await stores[1].get(chat)
    assert left is not None
    # The add ran before the take (taken with the rest) or after it (left): never lost.
    assert sorted([k.message_id for k in taken] + list(left.keyboards)) == [*range(1, 21), 30]
    assert left.newest == 20


async def test_the_view_survives_a_restart_and_the_cache_is_only_on_sqlite(
    tg: FakeTelegram, demo_db: Database, clock: Clock, db_config: dict[str, str | None]
) -> None:
    assert ChatViews(demo_db).cache is (db_config["backend"] == "sqlite")
    said: list[str] = []
    routes = two_questions_router(said)
    first = make_channel(tg, demo_db, clock, routes)
    pair = Workers(tg, demo_db, clock)  # only for its helpers
    await first.start(webhook=False)
    await pair.say(first, "/hai")
    question_a = pair.message("Câu A?")
    await pair.say(first, "có")
    await first.stop()
    restarted = make_channel(tg, demo_db, clock, routes)  # a new process: nothing in memory
    await restarted.start(webhook=False)
    try:
        await pair.tap(restarted, question_a["message_id"], "no", strict=False)
        assert "câu hỏi cũ" in tg.callback_answers[-1]["text"]
        assert said == ["A=yes"]  # not taken as the answer to question B
    finally:
        await restarted.stop()
    async with demo_db.session() as s:
        row = (await s.exec(select(TelegramChatView))).one()
    assert row.chat_id == str(USER) and list(row.keyboards) == [
        str(pair.message("Câu B?")["message_id"])
    ]
    [stored] = row.keyboards.values()
    assert "Câu" not in stored["html"] and stored["buttons"] == [["yes", "Có"], ["no", "Không"]]


async def test_the_migration_matches_the_table_and_a_chat_without_a_row_is_unknown(
    demo_db: Database,
) -> None:
    assert await migration_diff(demo_db, lambda name: name == "telegramchatview") == []
    # A chat from before the table (no row): nothing known, taps are dispatched as after a
    # restart, and retiring finds nothing to retire.
    views = ChatViews(demo_db)
    assert await views.get(USER) is None
    assert await views.take(USER) == []


async def test_a_question_text_is_stored_encrypted_and_a_lost_key_keeps_the_buttons(
    demo_db: Database,
) -> None:
    from db.crypto import Keyring, new_key_spec

    chat, board = 4343, Keyboard(9, "Tóm tắt: <b>bí mật</b>", [("send", "Gửi")])
    await ChatViews(demo_db, cache=False).add(chat, 9, [board])
    async with demo_db.session() as s:
        row = (await s.exec(select(TelegramChatView))).one()
    assert "bí mật" not in str(row.keyboards)
    view = await ChatViews(demo_db, cache=False).get(chat)
    assert view is not None and view.keyboards[9] == board
    other = ChatViews(demo_db, cache=False, keyring=Keyring.parse(new_key_spec("zz")))
    view = await other.get(chat)
    assert view is not None and view.keyboards[9].html == ""
    assert view.keyboards[9].buttons == [("send", "Gửi")] and not view.is_stale(9)
