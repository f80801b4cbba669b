"""The Zalo channel in-process against the loopback Zalo Bot API: events become Incoming,
replies become numbered plain text split under 2,000 characters, send errors map to the
channel errors, transient failures are retried, and the webhook checks its secret."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.app import App
from bot.web import create_web_app
from bot.zalo.channel import (
    SECRET_HEADER,
    WEBHOOK_PATH,
    ZaloChannel,
    dedupe_key,
    to_incoming,
)
from bot.zalo.client import MAX_TEXT_LENGTH, ZaloClient, parse_event
from db.engine import Database
from db.models import ChannelAccount, ProcessedUpdate
from handlers.dispatch import Dispatcher
from kernel.channel import Rejected, RetryLater, SendError, Transient, Unreachable
from kernel.messages import Choice, Reply
from kernel.settings import Settings
from services.privacy import dedupe_digest
from tests.answers import ANSWERS, current_question
from tests.chat import Chat, Clock
from tests.fakes.zalo_api import FakeZalo
from tests.test_report_flow import stored

USER = "7f3a9c0e51b2d4a6"
SECRET = "s3cret-webhook-token"


def no_delayed_ack(fake: FakeZalo) -> FakeZalo:
    """The stand-in binds its socket with proto 0, so asyncio does not set TCP_NODELAY on the
    connections it accepts and every call waits ~40 ms for a delayed ACK. Accepted sockets
    inherit the listener's option: this makes a whole report through it ~4x faster."""
    listener = fake._sock
    assert listener is not None
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return fake


@pytest.fixture(scope="module")
def zalo_server() -> Iterator[FakeZalo]:
    with FakeZalo() as fake:
        yield no_delayed_ack(fake)


@pytest.fixture
def zalo(zalo_server: FakeZalo) -> FakeZalo:
    zalo_server.reset()
    return zalo_server


@pytest.fixture
def app(zalo: FakeZalo, demo_db: Database, dispatcher: Dispatcher, clock: Clock) -> App:
    settings = Settings(
        ZALO_BOT_TOKEN=zalo.token,
        ZALO_API_URL=zalo.url,
        ZALO_WEBHOOK_SECRET=SECRET,
        PUBLIC_URL="http://127.0.0.1:9",
        DATABASE_URL=demo_db.url,
    )
    return App(settings, demo_db, dispatcher, clock)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def channel(app: App, sleeps: list[float]) -> AsyncIterator[ZaloChannel]:
    async def no_wait(delay: float) -> None:
        sleeps.append(delay)

    ch = ZaloChannel(app, poll_timeout=1, sleep=no_wait)
    yield ch
    await ch.stop()


@pytest.fixture
async def polling(channel: ZaloChannel) -> AsyncIterator[ZaloChannel]:
    stop = asyncio.Event()
    task = asyncio.create_task(channel.run_polling(stop))
    yield channel
    stop.set()
    await task


async def say(zalo: FakeZalo, text: str, expect: str, user: str = USER) -> str:
    """Push a text and wait for the bot's answer containing ``expect``."""
    start = len(zalo.sent_texts(user))
    zalo.push_text(user, text)
    return await zalo.await_for_text(expect, user, start=start)


async def count(db: Database, model: Any) -> int:
    async with db.session() as s:
        return int((await s.exec(select(func.count()).select_from(model))).one())


# --- events → Incoming ----------------------------------------------------------------------


def _event(event_name: str, **message: Any) -> dict[str, Any]:
    return {
        "event_name": event_name,
        "message": {
            "from": {"id": "00ab", "display_name": "Lan", "is_bot": False},
            "chat": {"id": "00cd", "chat_type": "PRIVATE"},
            "message_id": "0009f",
            "date": 1764050400000,
            **message,
        },
    }


def test_to_incoming_keeps_string_ids_and_maps_event_kinds() -> None:
    inc = to_incoming(parse_event(_event("message.text.received", text="12 30")), "vi")
    assert (inc.channel, inc.user_id, inc.chat_id) == ("zalo", "00ab", "00cd")
    assert inc.text == "12 30" and inc.media is None and inc.dedupe_key == "zalo:0009f"
    assert inc.chat_type == "private" and inc.display_name == "Lan"
    image = to_incoming(parse_event(_event("message.image.received", photo="https://x/a.jpg")))
    assert image.media == "image" and image.text is None
    sticker = to_incoming(parse_event(_event("message.sticker.received", sticker="abc")))
    assert sticker.media == "sticker"
    link = to_incoming(parse_event(_event("message.unsupported.received", text="xem http://x")))
    assert link.media == "unsupported" and link.text is None
    unknown = to_incoming(parse_event(_event("message.voice.received")))
    assert unknown.media == "unsupported"
    group = _event("message.text.received", text="/baocao")
    group["message"]["chat"]["chat_type"] = "GROUP"
    assert to_incoming(parse_event(group)).chat_type == "group"


def test_dedupe_key_fits_the_column() -> None:
    assert dedupe_key("a" * 32) == "zalo:" + "a" * 32
    long_key = dedupe_key("f" * 500)
    assert len(long_key) <= 128 and long_key != dedupe_key("f" * 499)


# --- conversations through polling ------------------------------------------------------------


async def test_new_user_gets_numbered_menu(zalo: FakeZalo, polling: ZaloChannel) -> None:
    out = await say(zalo, "xin chào", "Xin chào")
    # The menu grows with features; the officer's entry is one of its numbered lines.
    assert re.search(r"^  1\. ", out, re.M)
    assert re.search(r"^  \d+\. Tôi là cán bộ, có mã mời$", out, re.M)
    assert "<b>" not in out and "&" not in out


async def test_registration_and_numbered_choice_over_zalo(
    zalo: FakeZalo, polling: ZaloChannel, demo_db: Database, clock: Clock
) -> None:
    from handlers.registration import new_invite

    code = await new_invite(demo_db, "28303", now=clock())
    await say(zalo, f"/start {code}", "Họ và tên")
    await say(zalo, "Nguyễn Thị Lan", "Chức vụ")
    await say(zalo, "Công chức VH-XH", "Đăng ký xong: Nguyễn Thị Lan, Xã Thạch Lạc")
    out = await say(zalo, "/baocao", "Câu 1/")
    assert "  1. Có" in out and "  2. Không" in out  # yes/no as a numbered list
    out = await say(zalo, "1", "Câu 2/")
    assert "Đã lưu: Có" in out
    _, values = await stored(demo_db, "2026")
    assert values == {"plan_issued": True}


async def test_image_sticker_and_link_get_a_polite_answer_and_the_question_again(
    zalo: FakeZalo, polling: ZaloChannel, dispatcher: Dispatcher, demo_db: Database
) -> None:
    chat = Chat(dispatcher, user=USER, channel="zalo")
    await chat.register(demo_db)
    await chat.send("/baocao")
    zalo.push_image(USER, "https://example.org/a.jpg", caption="ảnh")
    await zalo.await_for_text("chỉ đọc tin nhắn chữ", USER)
    await zalo.await_for_text("Câu 1/", USER)  # and the question is put again
    start = len(zalo.sent_texts(USER))
    zalo.push_sticker(USER)
    await zalo.await_for_text("chỉ đọc tin nhắn chữ", USER, start=start)
    start = len(zalo.sent_texts(USER))
    zalo.push_unsupported(USER)
    out = await zalo.await_for_text("đường link", USER, start=start)
    assert "không kèm link" in out
    await zalo.await_for_text("Câu 1/", USER, start=start + 1)
    assert await current_question(demo_db, "zalo", USER) == "plan_issued"


async def test_redelivered_message_is_processed_once(
    zalo: FakeZalo, polling: ZaloChannel, dispatcher: Dispatcher, demo_db: Database
) -> None:
    chat = Chat(dispatcher, user=USER, channel="zalo")
    await chat.register(demo_db)
    await chat.send("/baocao")
    await say(zalo, "có", "Câu 2/")
    event = zalo.redeliver_last()
    before = len(zalo.sent_texts(USER))
    # Polling is sequential: once /lich is answered, the redelivery was handled before it.
    await say(zalo, "/lich", "Báo cáo tổng kết năm")
    assert len(zalo.sent_texts(USER)) == before + 1
    assert await current_question(demo_db, "zalo", USER) == "plan_date"
    async with demo_db.session() as s:
        key = dedupe_digest(dedupe_key(event["message"]["message_id"]))
        assert await s.get(ProcessedUpdate, key) is not None


async def test_long_summary_is_split_under_2000_at_line_boundaries(
    zalo: FakeZalo, polling: ZaloChannel, dispatcher: Dispatcher, demo_db: Database
) -> None:
    chat = Chat(dispatcher, user=USER, channel="zalo")
    await chat.register(demo_db)
    await chat.send("/baocao")
    while (qid := await current_question(demo_db, "zalo", USER)) != "recommendations":
        assert qid
        await chat.send(ANSWERS[qid][0])
    start = len(zalo.sent_texts(USER))
    zalo.push_text(USER, "-")
    await zalo.await_for_text("«để sau»", USER, start=start)
    chunks = zalo.sent_texts(USER)[start:]
    assert len(chunks) >= 2 and sum(len(c) for c in chunks) > 2500
    assert all(1 <= len(c) <= MAX_TEXT_LENGTH for c in chunks)
    assert chunks[0].startswith("✓ Đã lưu") and "Xem lại" in chunks[0]
    # Every numbered summary line arrives whole, once, in order.
    numbered = [line for c in chunks for line in c.splitlines() if re.match(r"\d+\. ", line)]
    assert [int(line.split(".")[0]) for line in numbered] == list(range(1, len(numbered) + 1))
    assert all(re.fullmatch(r"\d+\. .+: \S.*", line) for line in numbered)
    assert len(numbered) > 40


def test_render_splits_long_text_exactly_at_lines(app: App) -> None:
    ch = ZaloChannel(app)
    lines = [f"{i:03d}. " + "Số liệu tách giới nam nữ " * 4 for i in range(60)]
    text = "\n".join(line.strip() for line in lines)
    chunks = ch.render(Reply(text))
    assert len(chunks) >= 3 and all(len(c) <= MAX_TEXT_LENGTH for c in chunks)
    assert "\n".join(chunks) == text
    numbered = ch.render(Reply("Chọn:", choices=[Choice("a", "<b>Một</b>"), Choice("b", "Hai")]))
    assert numbered == ["Chọn:\n\n  1. Một\n  2. Hai\n(Gõ số từ 1 đến 2)"]


async def test_group_chat_is_told_to_write_privately(zalo: FakeZalo, polling: ZaloChannel) -> None:
    event = {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": USER, "display_name": "Lan", "is_bot": False},
            "chat": {"id": "group-1", "chat_type": "GROUP"},
            "message_id": "ab12",
            "date": 1,
            "text": "/baocao",
        },
    }
    zalo.push_event(event)
    await zalo.await_for_text("tin nhắn riêng", "group-1")


# --- sending: errors, retries, files -------------------------------------------------------


@pytest.mark.parametrize(
    ("inject", "expected"),
    [
        ({"error_code": 429, "retry_after": 7}, RetryLater),
        ({"error_code": 500}, Transient),
        ({"error_code": 503, "http_status": 503}, Transient),
        (
            {"error_code": 502, "http_status": 502, "raw_body": b"<html>Bad Gateway</html>"},
            Transient,
        ),
        ({"error_code": 403, "description": "Forbidden: user blocked the bot"}, Unreachable),
        ({"error_code": 400, "description": "Bad Request: invalid text"}, Rejected),
        ({"error_code": 401}, Transient),
    ],
)
async def test_send_maps_ok_false_to_channel_errors(
    zalo: FakeZalo, channel: ZaloChannel, inject: dict[str, Any], expected: type[SendError]
) -> None:
    zalo.add_chat(USER)
    zalo.inject("sendMessage", **inject)
    with pytest.raises(expected) as info:
        await channel.send(USER, Reply("Nhắc hạn nộp báo cáo"))
    assert "Nhắc hạn nộp" not in str(info.value)
    if expected is RetryLater:
        assert isinstance(info.value, RetryLater) and info.value.retry_after == 7
    assert zalo.sent == []  # an ok:false answer was never taken for success
    assert await channel.send(USER, Reply("Nhắc hạn nộp báo cáo")) != []


async def test_send_to_unknown_chat_is_rejected_and_network_error_is_transient(
    app: App, channel: ZaloChannel
) -> None:
    with pytest.raises(Rejected):
        await channel.send("never-wrote", Reply("xin chào"))
    dead = ZaloChannel(app, client=ZaloClient("t", "http://127.0.0.1:9", timeout=2))
    with pytest.raises(Transient):
        await dead.send(USER, Reply("xin chào"))
    await dead.stop()


async def test_interactive_reply_retries_transient_errors_then_succeeds(
    zalo: FakeZalo, polling: ZaloChannel, sleeps: list[float]
) -> None:
    zalo.inject("sendMessage", error_code=500, times=2)
    zalo.inject("sendMessage", error_code=429, retry_after=3, times=1)
    await say(zalo, "xin chào", "Xin chào")
    calls = zalo.calls_to("sendMessage")
    assert [c.error_code for c in calls] == [500, 500, 429, None]
    assert len({c.params["text"] for c in calls}) == 1
    assert sleeps[:2] == [0.5, 1.0] and sleeps[2] >= 3


async def test_interactive_reply_gives_up_and_logs_without_text(
    zalo: FakeZalo, polling: ZaloChannel, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    zalo.inject("sendMessage", error_code=500, times=None)
    caplog.set_level(logging.WARNING, logger="bdg.zalo")
    event = zalo.push_text(USER, "xin chào bí mật")
    for _ in range(500):
        if len(zalo.calls_to("sendMessage")) >= 4 and "not sent" in caplog.text:
            break
        await asyncio.sleep(0.01)
    assert len(zalo.calls_to("sendMessage")) == 4  # first try + 3 retries, then it gives up
    assert "not sent after 4 attempts" in caplog.text
    assert event["message"]["message_id"] in caplog.text
    assert "bí mật" not in caplog.text and "Xin chào" not in caplog.text
    assert zalo.sent == []
    zalo.clear_faults()
    await say(zalo, "/trogiup", "Các lệnh")  # the loop goes on


async def test_reply_with_files_sends_a_note_instead(zalo: FakeZalo, channel: ZaloChannel) -> None:
    zalo.add_chat(USER)
    reply = Reply("Bảng tổng hợp đã xong.", files=[("tong-hop-2026.xlsx", b"PK..", "xlsx")])
    ids = await channel.send(USER, reply)
    assert len(ids) == 2
    texts = zalo.sent_texts(USER)
    assert texts[0] == "Bảng tổng hợp đã xong."
    assert "Zalo không nhận tệp" in texts[1] and "tong-hop-2026.xlsx" in texts[1]
    assert zalo.sent_photos() == []


# --- start ------------------------------------------------------------------------------------


async def test_start_sets_or_deletes_the_webhook(
    zalo: FakeZalo, app: App, channel: ZaloChannel
) -> None:
    await channel.start(webhook=True)
    assert zalo.webhook_url == "http://127.0.0.1:9" + WEBHOOK_PATH
    assert zalo.calls_to("setWebhook")[-1].params["secret_token"] == SECRET
    await channel.start(webhook=False)
    assert zalo.webhook_url is None
    app.settings.zalo_webhook_secret = None
    no_secret = ZaloChannel(app)
    with pytest.raises(RuntimeError, match="ZALO_WEBHOOK_SECRET"):
        await no_secret.start(webhook=True)
    await no_secret.stop()
    app.settings.zalo_bot_token = "wrong-token"
    wrong_token = ZaloChannel(app)
    with pytest.raises(RuntimeError, match="ZALO_BOT_TOKEN"):
        await wrong_token.start(webhook=False)
    await wrong_token.stop()


# --- the webhook --------------------------------------------------------------------------


@pytest.fixture
async def web(app: App, channel: ZaloChannel) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_web_app(app, channel.web_routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        yield client


def _text_event(text: str, message_id: str) -> dict[str, Any]:
    return {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": USER, "display_name": "Lan", "is_bot": False},
            "chat": {"id": USER, "chat_type": "PRIVATE"},
            "message_id": message_id,
            "date": 1764050400000,
            "text": text,
        },
    }


async def test_webhook_wrong_or_missing_secret_is_403_and_changes_nothing(
    zalo: FakeZalo, web: httpx.AsyncClient, demo_db: Database
) -> None:
    zalo.add_chat(USER)
    body = {"ok": True, "result": _text_event("/trogiup", "m1")}
    for headers in ({SECRET_HEADER: "wrong-secret-token"}, {}, {SECRET_HEADER: SECRET + "x"}):
        res = await web.post(WEBHOOK_PATH, json=body, headers=headers)
        assert res.status_code == 403
    assert await count(demo_db, ProcessedUpdate) == 0
    assert await count(demo_db, ChannelAccount) == 0
    assert zalo.calls_to("sendMessage") == []


async def test_webhook_refuses_non_json_and_large_bodies(web: httpx.AsyncClient) -> None:
    headers = {SECRET_HEADER: SECRET}
    res = await web.post(WEBHOOK_PATH, content=b"not json{", headers=headers)
    assert res.status_code == 400
    res = await web.post(WEBHOOK_PATH, content=b"[1, 2]", headers=headers)
    assert res.status_code == 400
    big = json.dumps(_text_event("x" * 100_000, "m2")).encode()
    res = await web.post(WEBHOOK_PATH, content=big, headers=headers)
    assert res.status_code == 413
    res = await web.post(WEBHOOK_PATH, json={"event_name": "user.follow"}, headers=headers)
    assert res.status_code == 200 and res.json()["ignored"] is True


async def test_webhook_refuses_malformed_message_events_with_400(
    zalo: FakeZalo, web: httpx.AsyncClient, demo_db: Database
) -> None:
    """A message event with broken fields is a faulty request (400), the same on SQLite and
    PostgreSQL, and nothing is stored; only an event of a kind we do not take is 200."""
    headers = {SECRET_HEADER: SECRET}
    long_id = _text_event("hi", "m1")
    long_id["message"]["from"]["id"] = "9" * 65
    long_id["message"]["chat"]["id"] = "9" * 65
    bad_date = _text_event("hi", "m2")
    bad_date["message"]["date"] = "yesterday"
    bad_text = _text_event("hi", "m3")
    bad_text["message"]["text"] = {"nested": True}
    no_id = _text_event("hi", "m4")
    del no_id["message"]["message_id"]
    for event in (long_id, bad_date, bad_text, no_id):
        res = await web.post(WEBHOOK_PATH, json=event, headers=headers)
        assert res.status_code == 400, event
        assert res.json()["ok"] is False
    assert await count(demo_db, ProcessedUpdate) == 0
    assert await count(demo_db, ChannelAccount) == 0
    assert zalo.calls_to("sendMessage") == []


async def test_webhook_accepts_both_shapes_and_processes_a_message_once(
    zalo: FakeZalo, web: httpx.AsyncClient, demo_db: Database
) -> None:
    zalo.add_chat(USER)
    headers = {SECRET_HEADER: SECRET}
    wrapped = {"ok": True, "result": _text_event("xin chào", "m10")}
    res = await web.post(WEBHOOK_PATH, json=wrapped, headers=headers)
    assert res.status_code == 200 and res.json() == {"ok": True}
    await zalo.await_for_text("Xin chào", USER)
    res = await web.post(WEBHOOK_PATH, json=_text_event("/trogiup", "m11"), headers=headers)
    assert res.status_code == 200
    await zalo.await_for_text("Các lệnh", USER)
    # The same event again (Zalo redelivers): answered 200, nothing processed or sent.
    res = await web.post(WEBHOOK_PATH, json=_text_event("/trogiup", "m11"), headers=headers)
    assert res.status_code == 200
    # Replies of a chat go out in order: one to the redelivery would come before this one.
    res = await web.post(WEBHOOK_PATH, json=_text_event("/lich", "m12"), headers=headers)
    await zalo.await_for_text("dành cho cán bộ", USER, start=2)
    assert len(zalo.sent_texts(USER)) == 3
    assert await count(demo_db, ProcessedUpdate) == 3


async def test_webhook_without_configured_secret_refuses_everything(
    app: App, zalo: FakeZalo
) -> None:
    app.settings.zalo_webhook_secret = None
    ch = ZaloChannel(app)
    transport = httpx.ASGITransport(app=create_web_app(app, ch.web_routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        res = await client.post(WEBHOOK_PATH, json=_text_event("hi", "m1"), headers={})
        assert res.status_code == 403
        res = await client.post(
            WEBHOOK_PATH, json=_text_event("hi", "m1"), headers={SECRET_HEADER: ""}
        )
        assert res.status_code == 403
    await ch.stop()


# --- bdg zalo info ----------------------------------------------------------------------------


def test_cli_info_shows_bot_and_webhook_without_the_token(
    zalo: FakeZalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from bot.cli import main
    from kernel.settings import get_settings

    monkeypatch.setenv("ZALO_BOT_TOKEN", zalo.token)
    monkeypatch.setenv("ZALO_API_URL", zalo.url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["zalo", "info"])
        assert result.exit_code == 0, result.output
        assert f"Bot: bot.FakeZalo (id {zalo.bot_id})" in result.output
        assert "Webhook: none" in result.output and zalo.token not in result.output
        monkeypatch.setenv("ZALO_BOT_TOKEN", "wrong-token")
        get_settings.cache_clear()
        result = CliRunner().invoke(main, ["zalo", "info"])
        assert result.exit_code == 1 and "401" in result.output
        assert "wrong-token" not in result.output
    finally:
        get_settings.cache_clear()
