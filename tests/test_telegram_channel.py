"""The Telegram channel in-process against the loopback Bot API: buttons and edits, typed
answers, outdated buttons, multiple choice, escaping, groups, media, errors of send(), the
command menu and the webhook endpoint's rules."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.app import App
from bot.telegram.channel import SECRET_HEADER, WEBHOOK_PATH, TelegramChannel, make_bot
from bot.telegram.render import MAX_CALLBACK_BYTES, hashed
from bot.web import create_web_app
from db.engine import Database
from db.models import ProcessedUpdate
from handlers.context import Ctx
from handlers.dispatch import Dispatcher
from handlers.registration import new_invite
from handlers.router import Router
from kernel.channel import Rejected, RetryLater, Transient, Unreachable
from kernel.messages import Choice, Reply
from kernel.settings import Services, Settings
from tests.answers import current_question
from tests.chat import Clock
from tests.fakes.telegram_api import Call, FakeTelegram
from tests.telegram_user import TelegramUser, keys_of
from tests.test_fake_telegram import PNG
from tests.test_report_flow import stored

USER = 5550001
SECRET = "test-secret_123"


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


async def no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


def make_channel(
    tg: FakeTelegram,
    db: Database,
    clock: Clock,
    routes: Router | None = None,
    *,
    url: str | None = None,
    **kw: Any,
) -> TelegramChannel:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_API_URL=url or tg.url,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        PUBLIC_URL="http://127.0.0.1:9",
    )
    dispatcher = (
        Dispatcher(db, Services(), clock=clock, routes=routes)
        if routes is not None
        else Dispatcher(db, Services(), clock=clock)
    )
    app = App(settings, db, dispatcher, clock)
    return TelegramChannel(app, poll_timeout=1, sleep=no_sleep, **kw)


class Polling:
    """A channel polling in the background for the duration of a test."""

    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TelegramChannel:
        await self.channel.start(webhook=False)
        self.task = asyncio.create_task(self.channel.run_polling(self.stop))
        return self.channel

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 10)
        await self.channel.stop()


@pytest.fixture
async def channel(
    tg: FakeTelegram, demo_db: Database, clock: Clock
) -> AsyncIterator[TelegramChannel]:
    async with Polling(make_channel(tg, demo_db, clock)) as ch:
        yield ch


async def register(user: TelegramUser, db: Database, clock: Clock, name: str = "Lan") -> None:
    code = await new_invite(db, "28303", now=clock())
    await user.say(f"/start {code.replace('-', '')}", "Họ và tên")
    await user.say(name, "Chức vụ")
    await user.say("Công chức", "/baocao")


def callback_datas(calls: list[Call]) -> list[str]:
    """Every callback_data the bot put on a button."""
    out = []
    for call in calls:
        markup = call.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        out += keys_of({"reply_markup": markup})
    return out


def no_failed_calls(tg: FakeTelegram) -> None:
    """Every request succeeded, except long polls cut off when a channel stopped (the
    stand-in records those as 499, or as 500 when the body was still being read)."""
    failed = [
        (c.method, c.status, c.description)
        for c in tg.calls
        if not c.ok and not (c.method == "getUpdates" and c.status in (499, 500))
    ]
    assert failed == []


# -- conversations ----------------------------------------------------------------------------


async def test_user_input_shown_back_is_escaped(
    tg: FakeTelegram, channel: TelegramChannel, demo_db: Database, clock: Clock
) -> None:
    user = TelegramUser(tg, USER)
    await register(user, demo_db, clock, name="<b>Lan & Co</b>")
    done = next(m for m in tg.messages(USER) if "Đăng ký xong" in (m.get("text") or ""))
    assert "Đăng ký xong: <b>Lan & Co</b>, Xã Thạch Lạc" in done["text"]
    assert not done.get("entities")  # the user's tags are text, not formatting
    sent = [c.params["text"] for c in tg.calls_to("sendMessage") if c.ok]
    assert any("&lt;b&gt;Lan &amp; Co&lt;/b&gt;" in text for text in sent)
    no_failed_calls(tg)


async def test_taps_edit_the_question_and_typed_answers_retire_buttons(
    tg: FakeTelegram, channel: TelegramChannel, demo_db: Database, clock: Clock
) -> None:
    user = TelegramUser(tg, USER)
    await register(user, demo_db, clock)
    first = await user.say("/baocao", "Câu 1/")
    assert keys_of(first) == ["yes", "no"]
    assert first["reply_markup"]["inline_keyboard"] == [
        [{"text": "Có", "callback_data": "yes"}, {"text": "Không", "callback_data": "no"}]
    ]
    await user.tap("yes", "Câu 2/")
    [answer] = [a for a in tg.callback_answers]
    assert "text" not in answer  # the tap is answered silently
    q1 = next(m for m in tg.messages(USER) if m["message_id"] == first["message_id"])
    assert q1["text"].endswith("\n→ Có") and "reply_markup" not in q1
    assert q1["entities"][-1]["type"] == "bold"  # the answer is bold
    # Question 2 (optional date) has a "skip" button; a typed answer removes it.
    q2 = user.question()
    assert keys_of(q2) == ["__skip__"]
    await user.say("12/03/2026", "Câu 3/")
    q2_now = next(m for m in tg.messages(USER) if m["message_id"] == q2["message_id"])
    assert "reply_markup" not in q2_now and "→" not in q2_now["text"]
    # Question 3 (a choice) answered by typing its number: shown as if tapped.
    q3 = user.question()
    assert keys_of(q3) == ["full_time", "part_time", "none"]
    await user.say("2", "Câu 4/")
    q3_now = next(m for m in tg.messages(USER) if m["message_id"] == q3["message_id"])
    assert q3_now["text"].endswith("→ Kiêm nhiệm") and "reply_markup" not in q3_now
    _, values = await stored(demo_db, "2026")
    assert values == {"plan_issued": True, "plan_date": "2026-03-12", "focal_point": "part_time"}
    no_failed_calls(tg)


async def test_a_button_of_an_answered_question_is_outdated(
    tg: FakeTelegram, channel: TelegramChannel, demo_db: Database, clock: Clock
) -> None:
    user = TelegramUser(tg, USER)
    await register(user, demo_db, clock)
    await user.say("/baocao", "Câu 1/")
    q1 = user.question()
    await user.say("có", "Câu 2/")  # typed; the buttons of question 1 are gone
    assert keys_of(next(m for m in tg.messages(USER) if m["message_id"] == q1["message_id"])) == []
    sent = len(tg.sent_texts(USER))
    # A client that still shows the old keyboard sends the tap anyway.
    tg.push_callback(USER, q1["message_id"], "no", strict=False)
    await tg.await_until(lambda: len(tg.callback_answers) == 1)
    assert "câu hỏi cũ" in tg.callback_answers[0]["text"]
    assert len(tg.sent_texts(USER)) == sent  # nothing dispatched, nothing said
    _, values = await stored(demo_db, "2026")
    assert values == {"plan_issued": True}
    assert await current_question(demo_db, "telegram", str(USER)) == "plan_date"


async def test_multiple_choice_toggles_in_place(
    tg: FakeTelegram, channel: TelegramChannel, demo_db: Database, clock: Clock
) -> None:
    user = TelegramUser(tg, USER)
    await register(user, demo_db, clock)
    await user.say("/baocao", "Câu 1/")
    await user.answer_until(demo_db, stop_after="comm_participants")
    question = user.question()
    assert keys_of(question)[-2:] == ["__done__", "__skip__"]
    sent, calls = len(tg.sent_texts(USER)), len(tg.calls)
    await user.answer("comm_channels")  # taps "loudspeaker", "meetings", then "done"
    edits = [c for c in tg.calls[calls:] if c.method == "editMessageReplyMarkup"]
    assert [c.params["message_id"] for c in edits] == [question["message_id"]] * 2
    assert all(c.ok and "reply_markup" in c.params for c in edits)  # one per toggle
    assert len(tg.sent_texts(USER)) == sent + 1  # the next question only
    answered = next(m for m in tg.messages(USER) if m["message_id"] == question["message_id"])
    assert answered["text"].endswith("→ Loa truyền thanh, Họp thôn, tổ dân phố")
    _, values = await stored(demo_db, "2026")
    assert values["comm_channels"] == ["loudspeaker", "meetings"]


async def test_group_chat_is_told_to_write_privately(
    tg: FakeTelegram, channel: TelegramChannel
) -> None:
    tg.push_message(USER, "/baocao@bdg_test_bot", chat_id=-100777, chat_type="supergroup")
    message = await tg.await_for_text("nhắn riêng", chat_id=-100777)
    assert "Báo cáo chỉ làm trong tin nhắn riêng" in message["text"]


async def test_photo_gets_a_request_to_type(tg: FakeTelegram, channel: TelegramChannel) -> None:
    photo = [{"file_id": "AgAC-x", "file_unique_id": "x", "width": 1, "height": 1}]
    tg.push_message(USER, "", extra={"photo": photo}, language_code="en")
    message = await tg.await_for_text("type", chat_id=USER)
    assert message["text"] == "Only text messages are read here. Please type your answer."


async def test_an_internal_error_is_told_in_the_users_language_and_logged_without_text(
    tg: FakeTelegram,
    channel: TelegramChannel,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*_args: Any) -> None:
        raise ValueError("secret answer 12 30 from the user")

    monkeypatch.setattr(channel, "_option", broken)  # fails in the channel's own code
    caplog.set_level(logging.DEBUG)
    tg.push_message(USER, "/start")
    await tg.await_for_text("Xin chào", chat_id=USER)
    message = tg.messages(USER)[-1]
    tg.push_callback(USER, message["message_id"], keys_of(message)[0], strict=False)
    reply = await tg.await_for_text("vẫn được lưu", chat_id=USER)
    assert "Xin lỗi" in reply["text"]
    # What the bot's side logs (its own loggers, PTB, the HTTP client; not the stand-in's).
    ours = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("bdg", "telegram", "httpx", "httpcore"))
    ]
    assert any("ValueError at" in line for line in ours)
    assert not any("12 30" in line or "Xin" in line or tg.token in line for line in ours)


# -- send() for the outbox ----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_send_maps_bot_api_errors(tg: FakeTelegram, demo_db: Database, clock: Clock) -> None:
    channel = make_channel(tg, demo_db, clock)
    await channel.start(webhook=False)
    try:
        tg.push_message(USER, "hi")
        assert len(await channel.send(str(USER), Reply("<b>Nhắc</b> hạn"))) == 1
        tg.inject("sendMessage", status=429, retry_after=7)
        with pytest.raises(RetryLater) as rate:
            await channel.send(str(USER), Reply("a"))
        assert rate.value.retry_after == 7
        tg.inject("sendMessage", status=502)
        with pytest.raises(Transient):
            await channel.send(str(USER), Reply("b"))
        tg.inject("sendMessage", status=500)
        with pytest.raises(Transient):
            await channel.send(str(USER), Reply("c"))
        tg.block_user(USER)
        with pytest.raises(Unreachable):
            await channel.send(str(USER), Reply("d"))
        tg.unblock_user(USER)
        with pytest.raises(Unreachable):  # 400 "chat not found": nobody to send to
            await channel.send("424242", Reply("e"))
        tg.inject("sendMessage", status=400)
        with pytest.raises(Rejected):
            await channel.send(str(USER), Reply("f"))
        assert tg.sent_texts(USER) == ["Nhắc hạn"]
    finally:
        await channel.stop()
    # Nobody listening: a network error is transient.
    tg.stop()
    with pytest.raises(Transient):
        await channel.send(str(USER), Reply("g"))


async def test_send_splits_long_texts_and_uploads_files(
    tg: FakeTelegram, demo_db: Database, clock: Clock
) -> None:
    channel = make_channel(tg, demo_db, clock)
    await channel.start(webhook=False)
    try:
        tg.push_message(USER, "hi")
        long_text = "\n".join(f"{i}. Chỉ tiêu số {i}: <b>{i * 7}</b>" for i in range(250))
        reply = Reply(
            long_text,
            choices=[Choice("submit", "Gửi"), Choice("x" * 80, "Dài")],
            files=[("báo cáo.xlsx", b"PK\x03\x04 data", "document"), ("chart.png", PNG, "photo")],
        )
        ids = await channel.send(str(USER), reply)
        assert len(ids) == 4  # two text chunks, a document, a photo
        texts = tg.sent_texts(USER)
        assert len(texts) == 2 and all(len(t) <= 4096 for t in texts)
        assert texts[0].startswith("0. Chỉ tiêu") and texts[1].endswith("1743")
        last = tg.messages(USER)[-3]
        assert keys_of(last) == ["submit", hashed("x" * 80)]
        files = tg.sent_files(USER)
        assert [(f.kind, f.filename, f.data) for f in files] == [
            ("document", "báo cáo.xlsx", b"PK\x03\x04 data"),
            ("photo", "chart.png", PNG),
        ]
        assert all(len(d.encode()) <= MAX_CALLBACK_BYTES for d in callback_datas(tg.calls))
        no_failed_calls(tg)
    finally:
        await channel.stop()


async def test_interactive_replies_survive_a_transient_failure(
    tg: FakeTelegram, channel: TelegramChannel
) -> None:
    tg.inject("sendMessage", status=502)
    tg.push_message(USER, "/trogiup")
    message = await tg.await_for_text("/trogiup", chat_id=USER)
    assert message["text"].startswith("Các lệnh")
    assert [c.status for c in tg.calls_to("sendMessage")] == [502, 200]


# -- long keys, command menu --------------------------------------------------------------------


LONG_KEY = "unit:" + "Phường Bắc Hồng Lĩnh " * 4  # ~90 bytes


def picking_router() -> Router:
    routes = Router()

    @routes.command("chon", help=None, roles=("public",))
    async def choose(ctx: Ctx, _args: str) -> None:
        choices = [Choice(LONG_KEY, "Bắc Hồng Lĩnh"), Choice("other", "Khác")]
        ctx.set_flow("pick")
        ctx.say_text("Đơn vị nào?", choices=choices)
        ctx.remember_menu(choices)

    @routes.flow("pick")
    async def picked(ctx: Ctx) -> None:
        ctx.clear_flow()
        ctx.say_text(f"Đã chọn khoá dài {len(ctx.inc.option or '')} ký tự")

    return routes


async def test_a_long_choice_key_goes_out_hashed_and_comes_back_also_after_restart(
    tg: FakeTelegram, demo_db: Database, clock: Clock
) -> None:
    routes = picking_router()
    user = TelegramUser(tg, USER)
    async with Polling(make_channel(tg, demo_db, clock, routes)):
        question = await user.say("/chon", "Đơn vị nào?")
        assert keys_of(question) == [hashed(LONG_KEY), "other"]
        await user.tap(hashed(LONG_KEY), f"khoá dài {len(LONG_KEY)} ký tự")
        question = await user.say("/chon", "Đơn vị nào?")
    # A new process knows nothing of the hash: the menu stored in the conversation maps it.
    async with Polling(make_channel(tg, demo_db, clock, routes)):
        await user.tap(hashed(LONG_KEY), f"khoá dài {len(LONG_KEY)} ký tự")
    # The question, known to the new process only from the tap, still shows the answer.
    shown = next(m for m in tg.messages(USER) if m["message_id"] == question["message_id"])
    assert shown["text"] == "Đơn vị nào?\n→ Bắc Hồng Lĩnh" and "reply_markup" not in shown
    no_failed_calls(tg)


async def test_command_menu_in_vietnamese_and_english(
    tg: FakeTelegram, channel: TelegramChannel
) -> None:
    default = {c["command"]: c["description"] for c in tg.commands()}
    english = {c["command"]: c["description"] for c in tg.commands(language_code="en")}
    assert default["baocao"] == "làm hoặc tiếp tục báo cáo kỳ này"
    assert english["baocao"] == "fill in or continue this period's report"
    assert {"start", "baocao", "lich", "trangthai", "huy", "trogiup"} <= set(default)
    assert set(default) == set(english)
    assert tg.calls_to("deleteWebhook")[-1].ok


# -- webhook rules ------------------------------------------------------------------------------


async def test_webhook_rules(tg: FakeTelegram, demo_db: Database, clock: Clock) -> None:
    channel = make_channel(tg, demo_db, clock)
    await channel.start(webhook=True)
    assert tg.webhook_url == "http://127.0.0.1:9" + WEBHOOK_PATH
    assert tg.calls_to("setWebhook")[-1].params["secret_token"] == SECRET
    web = create_web_app(channel.app, channel.web_routes())
    update = tg.push_message(USER, "/trogiup")
    body = json.dumps(update).encode()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://bot"
        ) as http:

            async def post(content: bytes, headers: dict[str, str]) -> int:
                response = await http.post(WEBHOOK_PATH, content=content, headers=headers)
                return response.status_code

            ok = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
            assert await post(body, {SECRET_HEADER: "wrong-secret"}) == 403
            assert await post(body, {SECRET_HEADER: SECRET + "x"}) == 403
            assert await post(body, {}) == 403
            assert await post(b"{not json", ok) == 400
            assert await post(b"[1, 2]", ok) == 400
            assert await post(b'{"update_id": 1, "x": "' + b"a" * 300_000 + b'"}', ok) == 413
            assert await count_keys(demo_db) == 0  # nothing changed so far
            assert await post(body, ok) == 200
            assert await post(body, ok) == 200  # delivered again: processed once
            assert (await http.get("/healthz")).json() == {"ok": True, "database": "ok"}
        await tg.await_for_text("Các lệnh", chat_id=USER)
        await channel.stop()  # waits for the replies being sent
        assert len(tg.sent_texts(USER)) == 1
        assert await count_keys(demo_db) == 1
    finally:
        await channel.stop()


async def count_keys(db: Database) -> int:
    async with db.session() as s:
        query = select(func.count()).where(col(ProcessedUpdate.key).startswith("telegram:"))
        return int((await s.exec(query)).one())


# -- start-up -----------------------------------------------------------------------------------


async def test_start_refuses_a_wrong_token_and_a_webhook_without_secret(
    tg: FakeTelegram, demo_db: Database, clock: Clock
) -> None:
    channel = make_channel(tg, demo_db, clock)
    channel.bot = make_bot("999:WRONG-token", tg.url)
    with pytest.raises(RuntimeError, match="TELEGRAM_BOT_TOKEN"):
        await channel.start(webhook=False)
    await channel.stop()
    channel = make_channel(tg, demo_db, clock)
    channel.secret = "has spaces"
    with pytest.raises(RuntimeError, match="TELEGRAM_WEBHOOK_SECRET"):
        await channel.start(webhook=True)
    await channel.stop()
    assert tg.calls_to("setWebhook") == []


async def test_an_unreachable_bot_api_is_waited_for(demo_db: Database, clock: Clock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    later = FakeTelegram(port=port)
    # Nothing listens on the port yet.
    channel = make_channel(later, demo_db, clock, url=f"http://127.0.0.1:{port}")
    await channel.start(webhook=False)  # logs a warning, does not raise
    stop = asyncio.Event()
    polling = asyncio.create_task(channel.run_polling(stop))
    await asyncio.sleep(0.3)
    with later:
        later.push_message(USER, "/trogiup")
        await later.await_for_text("Các lệnh", chat_id=USER, timeout=15)
        stop.set()
        await asyncio.wait_for(polling, 10)
        await channel.stop()
    assert [c.method for c in later.calls][:2] == ["getMe", "setMyCommands"]


async def test_after_a_restart_the_pending_question_still_takes_taps_a_reminder_or_not(
    tg: FakeTelegram, demo_db: Database, clock: Clock
) -> None:
    user = TelegramUser(tg, USER)
    async with Polling(make_channel(tg, demo_db, clock)):
        await register(user, demo_db, clock)
        question = await user.say("/baocao", "Câu 1/")
    async with Polling(make_channel(tg, demo_db, clock)) as restarted:
        await restarted.send(str(USER), Reply("⏰ <b>Nhắc hạn</b> báo cáo năm"))  # the outbox
        await user.tap("yes", "Câu 2/", message_id=question["message_id"])
        # Now the bot has answered here: the same old keyboard is outdated.
        tg.push_callback(USER, question["message_id"], "no", strict=False)
        await tg.await_until(lambda: len(tg.callback_answers) == 2)
        assert "câu hỏi cũ" in tg.callback_answers[-1]["text"]
    _, values = await stored(demo_db, "2026")
    assert values == {"plan_issued": True}
