"""Tests of the Zalo Bot API client (bot/zalo/client.py) against the loopback fake."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.zalo.client import (
    ZaloBadRequest,
    ZaloClient,
    ZaloError,
    ZaloEvent,
    ZaloNetworkError,
    ZaloRateLimited,
    ZaloServerError,
    ZaloTimeout,
    ZaloUnauthorized,
    parse_event,
    poll_forever,
    split_text,
)
from tests.fakes.zalo_api import SECRET_HEADER, FakeZalo

USER = "0a1b2c3d4e5f"


@pytest.fixture(scope="module")
def zalo_server() -> Iterator[FakeZalo]:
    with FakeZalo() as fake:
        yield fake


@pytest.fixture
def zalo(zalo_server: FakeZalo) -> FakeZalo:
    """The shared fake, reset to a blank state for each test."""
    zalo_server.reset()
    return zalo_server


@pytest.fixture
async def client(zalo: FakeZalo) -> AsyncIterator[ZaloClient]:
    async with ZaloClient(zalo.token, zalo.url, timeout=5) as zalo_client:
        yield zalo_client


def _free_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- basic calls ----------------------------------------------------------------------------


async def test_get_me(zalo: FakeZalo, client: ZaloClient) -> None:
    me = await client.get_me()
    assert me["id"] == zalo.bot_id
    assert isinstance(me["id"], str)
    assert [call.method for call in zalo.calls] == ["getMe"]


async def test_long_poll_returns_event_pushed_from_another_thread(
    zalo: FakeZalo, client: ZaloClient
) -> None:
    timer = threading.Timer(0.3, zalo.push_text, args=(USER, "xin chào"))
    started = time.monotonic()
    timer.start()
    try:
        event = await client.get_updates(timeout=5)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    assert event is not None
    assert 0.25 <= elapsed < 3
    assert event.event_name == "message.text.received"
    assert event.text == "xin chào"
    assert event.chat_id == USER and event.user_id == USER
    assert event.display_name == "Cán bộ Test"
    assert event.chat_type == "PRIVATE"
    assert isinstance(event.message_id, str) and event.message_id
    assert isinstance(event.date, int) and event.date > 0


async def test_long_poll_returns_none_on_408(zalo: FakeZalo, client: ZaloClient) -> None:
    started = time.monotonic()
    assert await client.get_updates(timeout=1) is None
    assert time.monotonic() - started >= 0.9
    assert zalo.calls_to("getUpdates")[0].error_code == 408


async def test_get_updates_returns_one_event_per_call_and_redeliveries(
    zalo: FakeZalo, client: ZaloClient
) -> None:
    first = zalo.push_text(USER, "một")
    zalo.push_image(USER, "https://example.org/a.jpg", caption="ảnh")
    zalo.push_sticker(USER)
    zalo.push_unsupported(USER)
    zalo.redeliver_last()
    events = [await client.get_updates(timeout=1) for _ in range(5)]
    assert all(event is not None for event in events)
    e = [event for event in events if event is not None]
    assert e[0].text == "một" and e[0].message_id == first["message"]["message_id"]
    assert e[1].event_name == "message.image.received"
    assert e[1].photo_url == "https://example.org/a.jpg" and e[1].caption == "ảnh"
    assert e[1].text is None
    assert e[2].event_name == "message.sticker.received" and e[2].sticker
    assert e[3].event_name == "message.unsupported.received" and e[3].text is None
    # Redelivery keeps the message_id: deduplication is up to the caller.
    assert e[4].message_id == e[3].message_id
    assert await client.get_updates(timeout=0) is None


async def test_cancelled_long_poll_does_not_eat_the_next_event(
    zalo: FakeZalo, client: ZaloClient
) -> None:
    async with ZaloClient(zalo.token, zalo.url) as other:
        poll = asyncio.create_task(other.get_updates(timeout=10))
        await asyncio.sleep(0.2)
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll
    await asyncio.sleep(0.1)
    pushed = zalo.push_text(USER, "đừng mất")
    event = await client.get_updates(timeout=2)
    assert event is not None and event.message_id == pushed["message"]["message_id"]


async def test_send_message_ok(zalo: FakeZalo, client: ZaloClient) -> None:
    zalo.push_text(USER, "xin chào")
    result = await client.send_message(USER, "Chào anh/chị!")
    assert isinstance(result["message_id"], str) and result["message_id"]
    assert isinstance(result["date"], int)
    assert await zalo.await_for_text("Chào anh", chat_id=USER, timeout=2) == "Chào anh/chị!"
    assert zalo.sent_texts(USER) == ["Chào anh/chị!"]
    assert zalo.calls_to("sendMessage")[0].params == {"chat_id": USER, "text": "Chào anh/chị!"}


async def test_send_photo_and_chat_action(zalo: FakeZalo, client: ZaloClient) -> None:
    zalo.push_text(USER, "xin chào")
    await client.send_chat_action(USER)
    result = await client.send_photo(USER, "https://example.org/chart.png", caption="Biểu đồ")
    assert isinstance(result["message_id"], str)
    [photo] = zalo.sent_photos(USER)
    assert photo.photo == "https://example.org/chart.png" and photo.caption == "Biểu đồ"
    assert zalo.calls_to("sendChatAction")[0].params == {"chat_id": USER, "action": "typing"}


@pytest.mark.parametrize("text", ["", "x" * 2001])
async def test_send_message_refuses_bad_length_locally(
    zalo: FakeZalo, client: ZaloClient, text: str
) -> None:
    with pytest.raises(ValueError) as info:
        await client.send_message(USER, text)
    assert "x" * 20 not in str(info.value)
    assert zalo.calls == []


async def test_send_message_to_unknown_chat_is_bad_request(client: ZaloClient) -> None:
    with pytest.raises(ZaloBadRequest) as info:
        await client.send_message("ffff0000", "bí mật")
    assert info.value.code == 400
    assert "chat not found" in info.value.description
    assert "bí mật" not in str(info.value)


# --- error envelopes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_code", "description", "expected"),
    [
        (401, None, ZaloUnauthorized),
        (400, None, ZaloBadRequest),
        (408, None, ZaloTimeout),
        (429, None, ZaloRateLimited),
        (403, "Daily quota exceeded", ZaloRateLimited),
        (500, None, ZaloServerError),
        (503, None, ZaloServerError),
        (404, None, ZaloError),
    ],
)
async def test_ok_false_with_http_200_raises_typed_error(
    zalo: FakeZalo,
    client: ZaloClient,
    error_code: int,
    description: str | None,
    expected: type[ZaloError],
) -> None:
    zalo.push_text(USER, "hi")
    zalo.inject("sendMessage", error_code=error_code, http_status=200, description=description)
    with pytest.raises(ZaloError) as info:
        await client.send_message(USER, "nội dung riêng tư")
    assert type(info.value) is expected
    assert info.value.code == error_code
    assert info.value.method == "sendMessage"
    for rendered in (str(info.value), repr(info.value)):
        assert zalo.token not in rendered
        assert "nội dung riêng tư" not in rendered
    # The fault was used up: the next call succeeds.
    assert (await client.send_message(USER, "lần hai"))["message_id"]


async def test_wrong_token_is_unauthorized_with_http_200(zalo: FakeZalo) -> None:
    token = "wrong-secret-token-123"
    async with httpx.AsyncClient() as http:
        raw = await http.post(f"{zalo.url}/bot{token}/getMe", json={})
    assert raw.status_code == 200
    assert raw.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    async with ZaloClient(token, zalo.url) as bad:
        with pytest.raises(ZaloUnauthorized) as info:
            await bad.get_me()
    assert token not in str(info.value) and token not in repr(info.value)


async def test_rate_limited_carries_retry_after(zalo: FakeZalo, client: ZaloClient) -> None:
    zalo.inject("getMe", error_code=429, retry_after=3)
    zalo.inject("getMe", error_code=429, http_status=429)
    with pytest.raises(ZaloRateLimited) as info:
        await client.get_me()
    assert info.value.retry_after == 3.0
    with pytest.raises(ZaloRateLimited) as info:
        await client.get_me()
    assert info.value.retry_after is None


@pytest.mark.parametrize("http_status", [500, 502, 200])
async def test_non_json_body_is_server_error(
    zalo: FakeZalo, client: ZaloClient, http_status: int
) -> None:
    zalo.inject("getMe", error_code=500, http_status=http_status, raw_body=b"<html>oops</html>")
    with pytest.raises(ZaloServerError) as info:
        await client.get_me()
    assert info.value.code == http_status


async def test_unknown_method_and_unknown_parameter(zalo: FakeZalo) -> None:
    async with httpx.AsyncClient(base_url=f"{zalo.url}/bot{zalo.token}") as http:
        unknown = (await http.post("/getChatHistory", json={})).json()
        assert unknown["ok"] is False and unknown["error_code"] == 404
        zalo.push_text(USER, "hi")
        extra = await http.post(
            "/sendMessage", json={"chat_id": USER, "text": "hi", "parse_mode": "HTML"}
        )
        assert extra.status_code == 200
        assert extra.json()["ok"] is False and extra.json()["error_code"] == 400
    assert zalo.sent_texts() == []


async def test_network_error_hides_token() -> None:
    token = "network-secret-token"
    async with ZaloClient(token, _free_port_url(), timeout=2) as unreachable:
        with pytest.raises(ZaloNetworkError) as info:
            await unreachable.get_me()
    assert info.value.code is None
    assert info.value.__cause__ is None
    assert token not in str(info.value) and token not in repr(info.value)


# --- webhook --------------------------------------------------------------------------------


class _Receiver:
    """A webhook receiver on a loopback port; answers with the queued statuses, then 200."""

    def __init__(self) -> None:
        self.bodies: list[tuple[dict[str, Any], str | None]] = []
        self.statuses: list[int] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/zalo/webhook"
        app = Starlette(routes=[Route("/zalo/webhook", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])), daemon=True
        )

    async def _hook(self, request: Request) -> Response:
        self.bodies.append((json.loads(await request.body()), request.headers.get(SECRET_HEADER)))
        status = self.statuses.pop(0) if self.statuses else 200
        return JSONResponse({"received": True}, status_code=status)

    def __enter__(self) -> _Receiver:
        self._thread.start()
        while not self._server.started:
            time.sleep(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(5)
        self._sock.close()


async def test_webhook_delivery_shapes_secret_and_redelivery(
    zalo: FakeZalo, client: ZaloClient
) -> None:
    zalo.webhook_retry_delay = 0.05
    with _Receiver() as receiver:
        await client.set_webhook(receiver.url, "s3cret-token")
        assert (await client.get_webhook_info())["url"] == receiver.url
        with pytest.raises(ZaloError) as info:
            await client.get_updates(timeout=0)
        assert info.value.code == 409

        receiver.statuses = [500]
        pushed = zalo.push_text(USER, "qua webhook")
        deliveries = await zalo.await_deliveries(timeout=5)
        assert [d.status for d in deliveries] == [500, 200]
        assert [d.attempt for d in deliveries] == [1, 2]
        (first, secret), (second, _) = receiver.bodies
        assert secret == "s3cret-token"
        assert first == second == {"ok": True, "result": pushed}
        assert parse_event(first).message_id == pushed["message"]["message_id"]

        zalo.webhook_shape = "bare"
        bare = zalo.push_text(USER, "dạng trần")
        await zalo.await_deliveries(timeout=5)
        assert receiver.bodies[-1][0] == bare
        assert parse_event(receiver.bodies[-1][0]).text == "dạng trần"

        status = await zalo.adeliver_raw(b'{"not": "an event"}', {SECRET_HEADER: "wrong"})
        assert status == 200
        assert receiver.bodies[-1] == ({"not": "an event"}, "wrong")

        await client.delete_webhook()
        assert (await client.get_webhook_info())["url"] == ""
        zalo.push_text(USER, "lại polling")
        event = await client.get_updates(timeout=1)
        assert event is not None and event.text == "lại polling"


# --- parse_event ----------------------------------------------------------------------------


def _event(message_id: str = "0123", user: str = "00ab", text: str | None = "xin chào") -> Any:
    message: dict[str, Any] = {
        "from": {"id": user, "display_name": "Nguyễn Văn A", "is_bot": False},
        "chat": {"id": user, "chat_type": "PRIVATE"},
        "message_id": message_id,
        "date": 1750316131602,
    }
    if text is not None:
        message["text"] = text
    return {"event_name": "message.text.received", "message": message}


@pytest.mark.parametrize("wrapped", [False, True])
def test_parse_event_accepts_wrapped_and_bare_and_keeps_string_ids(wrapped: bool) -> None:
    bare = _event()
    body = {"ok": True, "result": bare} if wrapped else bare
    event = parse_event(body)
    assert event == ZaloEvent(
        event_name="message.text.received",
        message_id="0123",
        chat_id="00ab",
        user_id="00ab",
        display_name="Nguyễn Văn A",
        text="xin chào",
        chat_type="PRIVATE",
        date=1750316131602,
        raw=bare,
    )
    assert event.raw == bare


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ok": False, "error_code": 408, "description": "Request timeout"},
        {"ok": True, "result": None},
        {"ok": True, "result": "text"},
        {"event_name": "message.text.received"},
        {"event_name": "", "message": _event()["message"]},
        {"event_name": "message.text.received", "message": {"text": "no ids"}},
        {**_event(), "message": {**_event()["message"], "message_id": None}},
        {**_event(), "message": {**_event()["message"], "message_id": ""}},
        {**_event(), "message": {**_event()["message"], "chat": "00ab"}},
        {**_event(), "message": {**_event()["message"], "text": 5}},
        {**_event(), "message": {**_event()["message"], "date": "yesterday"}},
    ],
)
def test_parse_event_rejects_garbage(body: Any) -> None:
    with pytest.raises(ValueError):
        parse_event(body)


def test_parse_event_rejects_non_dict() -> None:
    with pytest.raises(ValueError):
        parse_event([_event()])  # type: ignore[arg-type]


# --- split_text -----------------------------------------------------------------------------

_CHARS = st.sampled_from(list("abcđêôơưạảãáàễ ữ😀\u0301\t") + ["\n", "\n\n", "  "])
_WORDS = st.text(alphabet=st.sampled_from(list("abcđêạảữ😀")), min_size=1, max_size=30)


def _non_ws(text: str) -> str:
    return "".join(text.split())


@settings(max_examples=300, deadline=None)
@given(st.lists(_CHARS, max_size=300).map("".join), st.integers(min_value=1, max_value=60))
def test_split_text_chunk_sizes_and_content(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(1 <= len(chunk) <= limit for chunk in chunks)
    assert all(chunk.strip() for chunk in chunks)
    assert _non_ws("".join(chunks)) == _non_ws(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=40), st.integers(min_value=30, max_value=120))
def test_split_text_splits_at_newlines_when_lines_fit(lines: list[str], limit: int) -> None:
    text = "\n".join(lines)
    chunks = split_text(text, limit)
    # Whole lines only, in order, packed greedily.
    assert [line for chunk in chunks for line in chunk.split("\n")] == lines
    for current, following in zip(chunks, chunks[1:], strict=False):
        assert len(current) + 1 + len(following.split("\n")[0]) > limit


@settings(max_examples=100, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=40), st.integers(min_value=30, max_value=60))
def test_split_text_long_line_splits_at_words(words: list[str], limit: int) -> None:
    chunks = split_text(" ".join(words), limit)
    assert [word for chunk in chunks for word in chunk.split(" ")] == words


def test_split_text_examples() -> None:
    assert split_text("") == []
    assert split_text(" \n\t ") == []
    assert split_text("xin chào") == ["xin chào"]
    assert split_text("a" * 4500) == ["a" * 2000, "a" * 2000, "a" * 500]
    assert split_text("dòng một\ndòng hai\ndòng ba", 18) == ["dòng một\ndòng hai", "dòng ba"]
    with pytest.raises(ValueError):
        split_text("abc", 0)


# --- poll_forever ---------------------------------------------------------------------------


async def test_poll_forever_handles_events_and_survives_handler_errors(
    zalo: FakeZalo, client: ZaloClient
) -> None:
    stop = asyncio.Event()
    seen: list[str] = []

    async def handle(event: ZaloEvent) -> None:
        seen.append(event.text or "")
        if event.text == "lỗi":
            raise RuntimeError("handler bug")
        if len(seen) == 2:
            stop.set()

    zalo.push_text(USER, "lỗi")
    zalo.push_text(USER, "ổn")
    await asyncio.wait_for(poll_forever(client, handle, stop=stop, timeout=1), timeout=5)
    assert seen == ["lỗi", "ổn"]


async def test_poll_forever_backs_off_on_failing_server(zalo: FakeZalo, client: ZaloClient) -> None:
    zalo.inject("getUpdates", error_code=500, times=None, http_status=500, raw_body=b"down")
    stop = asyncio.Event()
    handled: list[ZaloEvent] = []

    async def handle(event: ZaloEvent) -> None:
        handled.append(event)

    task = asyncio.create_task(poll_forever(client, handle, stop=stop, timeout=1))
    await asyncio.sleep(2.0)
    calls = len(zalo.calls_to("getUpdates"))
    # Backoff 1-1.25 s, then 2-2.5 s: two calls in 2 s; a spinning loop would make thousands.
    assert 2 <= calls <= 3
    assert all(call.error_code == 500 for call in zalo.calls_to("getUpdates"))
    stopped_at = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, timeout=1)
    assert time.monotonic() - stopped_at < 0.5
    assert handled == []


async def test_poll_forever_spaces_out_early_empty_polls(
    zalo: FakeZalo, client: ZaloClient
) -> None:
    # A server that answers 408 at once instead of holding the long poll.
    zalo.inject("getUpdates", error_code=408, times=None)
    stop = asyncio.Event()

    async def handle(event: ZaloEvent) -> None:
        raise AssertionError("no events expected")

    task = asyncio.create_task(poll_forever(client, handle, stop=stop, timeout=30))
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.wait_for(task, timeout=1)
    assert 1 <= len(zalo.calls_to("getUpdates")) <= 3


async def test_poll_forever_honours_retry_after_then_recovers(
    zalo: FakeZalo, client: ZaloClient
) -> None:
    zalo.inject("getUpdates", error_code=429, times=2, retry_after=0.2)
    zalo.push_text(USER, "sau giới hạn")
    stop = asyncio.Event()
    seen: list[ZaloEvent] = []

    async def handle(event: ZaloEvent) -> None:
        seen.append(event)
        stop.set()

    started = time.monotonic()
    await asyncio.wait_for(poll_forever(client, handle, stop=stop, timeout=1), timeout=5)
    assert [event.text for event in seen] == ["sau giới hạn"]
    assert 0.35 <= time.monotonic() - started < 2
    assert [call.error_code for call in zalo.calls_to("getUpdates")] == [429, 429, None]


async def test_poll_forever_stops_during_long_poll(client: ZaloClient) -> None:
    stop = asyncio.Event()

    async def handle(event: ZaloEvent) -> None:
        raise AssertionError("no events expected")

    task = asyncio.create_task(poll_forever(client, handle, stop=stop, timeout=30))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, timeout=1)


async def test_poll_forever_reraises_unauthorized(zalo: FakeZalo) -> None:
    async def handle(event: ZaloEvent) -> None:
        raise AssertionError("no events expected")

    async with ZaloClient("not-the-token", zalo.url) as bad:
        with pytest.raises(ZaloUnauthorized):
            await asyncio.wait_for(
                poll_forever(bad, handle, stop=asyncio.Event(), timeout=1), timeout=5
            )
