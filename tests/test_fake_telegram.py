"""Tests for the loopback Telegram Bot API fake, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import base64
import datetime as dtm
import json
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import telegram
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, CommandHandler, ContextTypes

from tests.fakes.telegram_api import SECRET_HEADER, FakeTelegram, UploadedFile, WaitTimeout

TOKEN = "123456:TEST-TOKEN"
USER = 4242
# 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(TOKEN, base_url=tg.api_url, base_file_url=tg.file_url) as client:
        yield client


@pytest.fixture
async def raw(tg: FakeTelegram) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{tg.api_url}{TOKEN}/") as client:
        yield client


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


# -- basics -----------------------------------------------------------------------------------


async def test_get_me(bot: telegram.Bot, tg: FakeTelegram) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "bdg_test_bot" and me.id == 123456
    assert me.can_join_groups is True
    assert tg.url.startswith("http://127.0.0.1:")
    assert [c.status for c in tg.calls_to("getMe")] == [200, 200]  # initialize() + explicit call


async def test_send_message_to_known_chat(bot: telegram.Bot, tg: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(USER, "chưa ai nhắn")
    tg.push_message(USER, "xin chào", first_name="Lan")
    sent = await bot.send_message(USER, "<b>Chào</b> Lan", parse_mode="HTML")
    assert isinstance(sent, telegram.Message)
    assert sent.message_id == 2  # the user's message was 1
    assert sent.chat.id == USER and sent.chat.first_name == "Lan"
    assert sent.from_user is not None and sent.from_user.id == bot.id
    assert sent.text == "Chào Lan"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 4
    second = await bot.send_message(USER, "lần hai")
    assert second.message_id == 3
    assert tg.sent_texts(USER) == ["Chào Lan", "lần hai"]
    assert tg.calls_to("sendMessage")[1].params == {
        "chat_id": USER,
        "text": "<b>Chào</b> Lan",
        "parse_mode": "HTML",
    }


async def test_wrong_token_is_unauthorized(tg: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with telegram.Bot("999:WRONG", base_url=tg.api_url):
            pass
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{tg.api_url}999:WRONG/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


# -- validation -------------------------------------------------------------------------------


_TEXT_BUTTON = json.dumps({"inline_keyboard": [[{"text": "no action"}]]})
_UNKNOWN_FIELD = json.dumps({"inline_keyboard": [[{"text": "x", "callback_data": "a", "x": 1}]]})


@pytest.mark.parametrize(
    ("kind", "payload", "description"),
    [
        ("json", {"chat_id": USER, "text": "hi", "foo": 1}, "Bad Request: unknown parameter foo"),
        ("form", {"text": "hi"}, "Bad Request: chat_id is empty"),
        ("json", {"chat_id": {"id": 1}, "text": "hi"}, 'wrong type of parameter "chat_id"'),
        ("json", {"chat_id": USER, "text": "hi", "disable_notification": "yes"}, "Boolean"),
        ("json", {"chat_id": USER, "text": " \n "}, "Bad Request: message text is empty"),
        ("json", {"chat_id": USER, "text": "x" * 4097}, "Bad Request: message is too long"),
        ("form", {"chat_id": "1", "text": "hi"}, "Bad Request: chat not found"),
        ("form", {"chat_id": str(USER), "text": "hi", "reply_markup": "{"}, "reply keyboard"),
        ("form", {"chat_id": str(USER), "text": "x", "reply_markup": _TEXT_BUTTON}, "unallowed"),
        ("form", {"chat_id": str(USER), "text": "x", "reply_markup": _UNKNOWN_FIELD}, '"x"'),
        ("json", {"chat_id": USER, "text": "x", "parse_mode": "HTML5"}, "unsupported parse_mode"),
        ("json", {"chat_id": USER, "text": "a <br> b", "parse_mode": "HTML"}, 'tag "br"'),
        ("json", {"chat_id": USER, "text": "<b>a</i>", "parse_mode": "HTML"}, "Unmatched end"),
        ("json", {"chat_id": USER, "text": "<b>a", "parse_mode": "HTML"}, "Can't find end tag"),
        ("json", {"chat_id": USER, "text": "Hi!", "parse_mode": "MarkdownV2"}, "'!' is reserved"),
        ("json", {"chat_id": USER, "text": "*a", "parse_mode": "MarkdownV2"}, "end of Bold"),
        (
            "json",
            {"chat_id": USER, "text": "snake_case", "parse_mode": "Markdown"},
            "byte offset 5",
        ),
    ],
)
async def test_malformed_requests_are_rejected(
    tg: FakeTelegram, raw: httpx.AsyncClient, kind: str, payload: dict[str, Any], description: str
) -> None:
    tg.push_message(USER, "hi")
    if kind == "json":
        response = await raw.post("sendMessage", json=payload)
    else:
        response = await raw.post("sendMessage", data=payload)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["ok"] is False and body["error_code"] == 400
    assert body["description"].startswith("Bad Request: ")
    assert description in body["description"]
    assert tg.calls[-1].status == 400 and tg.sent_texts() == []


async def test_request_encodings_and_unknown_paths(
    tg: FakeTelegram, raw: httpx.AsyncClient
) -> None:
    tg.push_message(USER, "hi")
    by_get = await raw.get("sendMessage", params={"chat_id": USER, "text": "qua GET"})
    by_json = await raw.post("SENDMESSAGE", json={"chat_id": str(USER), "text": "*đậm*"})
    by_form = await raw.post(
        "sendMessage", data={"chat_id": str(USER), "text": "<i>nghiêng</i>", "parse_mode": "html"}
    )
    assert [r.status_code for r in (by_get, by_json, by_form)] == [200, 200, 200]
    assert by_form.json()["result"]["entities"] == [{"type": "italic", "offset": 0, "length": 7}]
    assert tg.sent_texts(USER) == ["qua GET", "*đậm*", "nghiêng"]
    unknown_method = await raw.post("sendMesage", json={})
    assert unknown_method.status_code == 404
    assert unknown_method.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{tg.url}/nothing/here")).status_code == 404
    # A valid spec method the fake does not model: True-returning ones succeed.
    pinned = await raw.post("pinChatMessage", json={"chat_id": USER, "message_id": 1})
    assert pinned.json() == {"ok": True, "result": True}
    copied = await raw.post(
        "copyMessage", json={"chat_id": USER, "from_chat_id": USER, "message_id": 1}
    )
    assert copied.status_code == 400 and "not supported" in copied.json()["description"]


async def test_callback_data_limit_is_in_bytes(bot: telegram.Bot, tg: FakeTelegram) -> None:
    tg.push_message(USER, "/menu")
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="a" * 65)]])
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await bot.send_message(USER, "menu", reply_markup=too_long)
    vietnamese = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="đ" * 33)]])
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await bot.send_message(USER, "menu", reply_markup=vietnamese)
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="a" * 64)]])
    assert (await bot.send_message(USER, "menu", reply_markup=ok)).reply_markup == ok


# -- long polling -----------------------------------------------------------------------------


async def test_long_polling_waits_and_offset_confirms(bot: telegram.Bot, tg: FakeTelegram) -> None:
    timer = threading.Timer(0.3, tg.push_message, args=(USER, "/start"))
    timer.start()
    started = time.monotonic()
    updates = await bot.get_updates(timeout=2)
    elapsed = time.monotonic() - started
    timer.join()
    assert 0.25 <= elapsed < 1.5
    assert len(updates) == 1 and updates[0].message is not None
    assert updates[0].message.text == "/start"
    assert updates[0].message.entities[0].type == "bot_command"
    update_id = updates[0].update_id
    again = await bot.get_updates(timeout=0)  # not confirmed yet
    assert [u.update_id for u in again] == [update_id]
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()
    assert tg.pending_updates() == []
    started = time.monotonic()
    assert await bot.get_updates(offset=update_id + 1, timeout=1) == ()
    assert time.monotonic() - started >= 0.9


async def test_get_updates_conflicts(bot: telegram.Bot, tg: FakeTelegram) -> None:
    # A second bot instance polling with the same token terminates the first long poll.
    async with telegram.Bot(TOKEN, base_url=tg.api_url) as other:
        first = asyncio.create_task(bot.get_updates(timeout=3))
        await tg.await_until(lambda: tg._active_poll is not None)
        second = asyncio.create_task(other.get_updates(timeout=3))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await first
        tg.push_message(USER, "hello")
        assert [u.message.text for u in await second if u.message] == ["hello"]
    assert await bot.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook()
    assert len(await bot.get_updates(timeout=0)) == 1


async def test_ptb_application_polling_end_to_end(tg: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"pong {' '.join(context.args or [])}")

    app = Application.builder().token(TOKEN).base_url(tg.api_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=1))
        tg.push_message(USER, "/start abc")
        message = await tg.await_for_text("pong", chat_id=USER, timeout=5)
        assert message["text"] == "pong abc"
        await app.updater.stop()
        await app.stop()
    assert tg.pending_updates() == []  # PTB confirmed the update on shutdown
    assert all(c.status in (200, 499) for c in tg.calls), [(c.method, c.status) for c in tg.calls]


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_fault_injection(bot: telegram.Bot, tg: FakeTelegram, raw: httpx.AsyncClient) -> None:
    tg.push_message(USER, "hi")
    tg.inject("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "a")
    assert _seconds(caught.value) == 7
    assert tg.calls_to("sendMessage")[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert (await bot.send_message(USER, "b")).text == "b"
    tg.inject("sendMessage", status=502, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(USER, "c")
    tg.block_user(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "d")
    tg.unblock_user(USER)
    tg.set_rate_limit(per_chat=(2, 1.0), retry_after=3)
    await bot.send_message(USER, "e")
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "f")
    assert tg.sent_texts(USER) == ["b", "e"]
    assert tg.max_send_rate(USER, window=1.0) == 2
    # Injected failures apply only to valid requests; invalid ones still get their 400.
    tg.inject("sendMessage", status=500)
    response = await raw.post("sendMessage", json={"chat_id": USER})
    assert response.status_code == 400


# -- edits and callbacks ----------------------------------------------------------------------


async def test_edits_and_callback_queries(bot: telegram.Bot, tg: FakeTelegram) -> None:
    tg.push_message(USER, "/menu")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Có", callback_data="yes")]])
    sent = await bot.send_message(USER, "Chọn", reply_markup=keyboard)
    update = tg.push_callback(USER, sent.message_id, "yes")
    query_id = update["callback_query"]["id"]
    assert update["callback_query"]["message"]["reply_markup"] == keyboard.to_dict()
    assert await bot.answer_callback_query(query_id, text="OK")
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query("1234567890")
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text(
            "Chọn", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard
        )
    edited = await bot.edit_message_text("Đã chọn", chat_id=USER, message_id=sent.message_id)
    assert isinstance(edited, telegram.Message) and edited.edit_date is not None
    [current] = tg.messages(USER)
    assert current["text"] == "Đã chọn" and "reply_markup" not in current
    with pytest.raises(ValueError, match="no button"):
        tg.push_callback(USER, sent.message_id, "yes")
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)
    await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard)
    assert tg.messages(USER)[0]["reply_markup"] == keyboard.to_dict()
    assert [e.kind for e in tg.events] == ["send", "edit", "edit"]


async def test_commands_per_scope_and_language(bot: telegram.Bot, tg: FakeTelegram) -> None:
    tg.push_message(USER, "hi")
    assert await bot.set_my_commands([BotCommand("start", "Bắt đầu")])
    assert await bot.set_my_commands([BotCommand("help", "Help")], language_code="en")
    assert await bot.set_my_commands(
        [BotCommand("admin", "Quản trị")], scope=BotCommandScopeChat(USER)
    )
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert [c.command for c in await bot.get_my_commands(language_code="en")] == ["help"]
    assert tg.commands({"type": "chat", "chat_id": USER}) == [
        {"command": "admin", "description": "Quản trị"}
    ]
    assert await bot.delete_my_commands(language_code="en")
    assert await bot.get_my_commands(language_code="en") == ()
    with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Cmd", "x")])
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.set_my_commands([BotCommand("x", "y")], scope=BotCommandScopeChat(1))


# -- files ------------------------------------------------------------------------------------


async def test_send_document_and_photo_multipart(bot: telegram.Bot, tg: FakeTelegram) -> None:
    tg.push_message(USER, "/baocao")
    payload = b"%PDF-1.4\r\n\x00\xffbinary\r\n--not-a-boundary"
    message = await bot.send_document(
        USER,
        document=payload,
        filename='báo cáo "Q1".pdf',
        caption="Báo cáo <b>quý 1</b>",
        parse_mode="HTML",
    )
    assert message.document is not None and message.caption == "Báo cáo quý 1"
    assert message.document.file_name == 'báo cáo "Q1".pdf'
    assert message.document.file_size == len(payload)
    [sent] = tg.sent_files(USER)
    assert sent.data == payload and sent.kind == "document" and sent.caption == "Báo cáo quý 1"
    call = tg.calls_to("sendDocument")[0]
    assert isinstance(call.params["document"], UploadedFile)
    assert call.params["document"].data == payload
    downloaded = await (await bot.get_file(message.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == payload
    photo = await bot.send_photo(USER, photo=PNG, filename="chart.png")
    assert photo.photo[-1].width == 1 and photo.photo[-1].height == 1
    with pytest.raises(BadRequest, match="(?i)image_process_failed"):
        await bot.send_photo(USER, photo=b"not an image", filename="x.png")
    resent = await bot.send_document(USER, document=message.document.file_id)
    assert resent.document is not None and resent.document.file_name == 'báo cáo "Q1".pdf'


# -- webhook ----------------------------------------------------------------------------------


class _Receiver:
    """A tiny threaded HTTP server standing in for the bot's webhook endpoint."""

    def __init__(self, secret: str, statuses: list[int]) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append((headers, body))
                if headers.get(SECRET_HEADER.lower()) != secret:
                    status = 403
                else:
                    status = statuses.pop(0) if statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/telegram/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_webhook_delivery(bot: telegram.Bot, tg: FakeTelegram) -> None:
    with _Receiver(secret="s3cr3t", statuses=[500]) as receiver:
        assert await bot.set_webhook(url=receiver.url, secret_token="s3cr3t")
        update = tg.push_message(USER, "qua webhook")
        await tg.await_until(lambda: not tg.pending_updates(), timeout=5)
        assert len(receiver.requests) == 2  # 500 first, then redelivered
        for headers, body in receiver.requests:
            assert headers[SECRET_HEADER.lower()] == "s3cr3t"
            assert headers["content-type"] == "application/json"
            assert json.loads(body) == update
        info = await bot.get_webhook_info()
        assert info.url == receiver.url and info.pending_update_count == 0
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )
        duplicate = receiver.requests[-1][1]
        assert await tg.adeliver_raw(duplicate, {SECRET_HEADER: "wrong"}) == 403
        assert await tg.adeliver_raw(duplicate) == 200
        assert [d.status for d in tg.webhook_deliveries] == [500, 200, 403, 200]
        assert [d.secret_sent for d in tg.webhook_deliveries] == [True, True, True, True]
        assert await bot.delete_webhook()
        tg.push_message(USER, "sau khi xoá webhook")
        assert len(receiver.requests) == 4
        assert len(await bot.get_updates(timeout=0)) == 1


# -- sync usage -------------------------------------------------------------------------------


def test_sync_usage_and_wait_helpers() -> None:
    with FakeTelegram(token=TOKEN) as tg:
        tg.push_message(USER, "hi")

        def bot_side() -> None:
            time.sleep(0.2)
            httpx.post(
                f"{tg.api_url}{TOKEN}/sendMessage",
                data={"chat_id": str(USER), "text": "Xin chào *bạn*", "parse_mode": "Markdown"},
            )

        worker = threading.Thread(target=bot_side)
        worker.start()
        message = tg.wait_for_text("Xin chào", chat_id=USER, timeout=5)
        worker.join()
        assert message["text"] == "Xin chào bạn"
        assert message["entities"] == [{"type": "bold", "offset": 9, "length": 3}]
        cursor = tg.mark()
        with pytest.raises(WaitTimeout, match="Xin chào"):
            tg.wait_for_text("Xin chào", timeout=0.1, since=cursor)


async def test_sync_waiters_refuse_to_block_a_running_loop(tg: FakeTelegram) -> None:
    with pytest.raises(RuntimeError, match="await_for"):
        tg.wait_for(lambda m: True, timeout=0.1)
    with pytest.raises(WaitTimeout):
        await tg.await_for(lambda m: True, timeout=0.1)
