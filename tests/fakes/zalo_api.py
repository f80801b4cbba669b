"""A loopback stand-in for the Zalo Bot Platform API, for tests.

``FakeZalo`` serves ``/bot{token}/{method}`` on 127.0.0.1 (ephemeral port) from a background
thread running uvicorn + Starlette, so it can be used from sync and async tests alike::

    with FakeZalo() as zalo:
        client = ZaloClient(zalo.token, zalo.url)
        zalo.push_text("a1b2c3", "xin chào")
        ...
        zalo.wait_for_text("Chào")           # sync tests
        await zalo.await_for_text("Chào")    # async tests (never block the event loop)

Behaviour, modelled on the platform:

* Every answer is a JSON envelope. Errors are ``{"ok": false, "error_code", "description"}``
  sent with HTTP status 200, like the real platform does: clients must check ``ok`` and never
  trust the HTTP status. A wrong token gives error_code 401, an unknown method 404, invalid or
  unknown parameters 400. Only injected faults (:meth:`FakeZalo.inject`) use another HTTP status.
* ``getUpdates`` hands out ONE queued event per call, as the bare event object in ``result``,
  waiting up to ``timeout`` seconds (default 0, capped at ``max_long_poll``); when none arrives
  the answer is error_code 408 "Request timeout". There is no offset. While a webhook is set,
  getUpdates fails with error_code 409 (the real code is not documented; this is a guess).
* ``setWebhook`` needs ``url`` (http or https, so loopback receivers work; the platform itself
  requires https) and ``secret_token`` (8..256 characters). Events pushed while a webhook is
  set are POSTed to it, one at a time and in order, with header ``X-Bot-Api-Secret-Token``, in
  the wrapped form ``{"ok": true, "result": event}`` or, with ``webhook_shape = "bare"``, as the
  bare event. A non-2xx answer or a transport error is retried after ``webhook_retry_delay``
  seconds, doubling, up to ``webhook_max_attempts`` attempts; every attempt is recorded in
  ``deliveries``. If the webhook is deleted meanwhile, the event goes to the getUpdates queue.
* ``sendMessage``/``sendPhoto``/``sendChatAction`` need a string ``chat_id`` of a chat that has
  written before (pushed an event, or :meth:`FakeZalo.add_chat`), else 400 "chat not found".

Call times in ``calls`` and ``deliveries`` are ``time.monotonic()`` values.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import json
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Self

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.loopback import QuickServer, ServerContext, loopback_socket

__all__ = ["Call", "Delivery", "FakeZalo", "SentMessage", "SECRET_HEADER"]

SECRET_HEADER = "X-Bot-Api-Secret-Token"
MAX_TEXT_LENGTH = 2000
CHAT_ACTIONS = frozenset({"typing", "upload_photo"})

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request timeout",
    409: "Conflict",
    429: "Too Many Requests: quota exceeded",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_PARAMS: dict[str, frozenset[str]] = {
    "getMe": frozenset(),
    "getUpdates": frozenset({"timeout"}),
    "setWebhook": frozenset({"url", "secret_token"}),
    "deleteWebhook": frozenset(),
    "getWebhookInfo": frozenset(),
    "sendMessage": frozenset({"chat_id", "text"}),
    "sendPhoto": frozenset({"chat_id", "photo", "caption"}),
    "sendChatAction": frozenset({"chat_id", "action"}),
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_id() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake received. ``error_code`` is None when it answered ok."""

    method: str
    params: dict[str, Any]
    time: float
    error_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True, slots=True)
class SentMessage:
    method: str
    chat_id: str
    message_id: str
    date: int
    text: str | None = None
    photo: str | None = None
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook delivery attempt. ``status`` is None on a transport error."""

    message_id: str | None
    url: str
    attempt: int
    status: int | None
    time: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(slots=True)
class _Fault:
    error_code: int
    remaining: int | None
    http_status: int
    description: str | None
    retry_after: float | None
    raw_body: bytes | None


class _ApiError(Exception):
    def __init__(self, code: int, description: str | None = None) -> None:
        super().__init__(code, description)
        self.code = code
        self.description = description or _DEFAULT_DESCRIPTIONS.get(code, "Error")


async def _wait_disconnect(request: Request) -> None:
    """Return when the client of ``request`` has gone away (its body was already read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _envelope_error(code: int, description: str, http_status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error_code": code, "description": description}, status_code=http_status
    )


class FakeZalo(ServerContext):
    """Loopback Zalo Bot API server. See the module docstring for the modelled behaviour."""

    def __init__(self, token: str = "zalo-test-token") -> None:
        self.token = token
        self.bot_id = _new_id()[:16]
        self.url = ""
        self.webhook_shape: Literal["wrapped", "bare"] = "wrapped"
        self.webhook_max_attempts = 5
        self.webhook_retry_delay = 0.1
        self.max_long_poll = 60.0
        self.calls: list[Call] = []
        self.deliveries: list[Delivery] = []
        self._generation = 0

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[dict[str, Any]] = deque()
        self._known_chats: set[str] = set()
        self._sent: list[SentMessage] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._webhook_url: str | None = None
        self._webhook_secret: str | None = None
        self._webhook_updated_at = 0
        self._last_event: dict[str, Any] | None = None
        self._pending_deliveries = 0
        self._closing = False

        self._loop: asyncio.AbstractEventLoop | None = None
        self._signal: asyncio.Event | None = None
        self._delivery_queue: asyncio.Queue[tuple[int, dict[str, Any]]] | None = None
        self._http: httpx.AsyncClient | None = None
        self._server: uvicorn.Server | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                Route("/{path:path}", self._not_found, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            return self
        sock = loopback_socket()
        self._sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = QuickServer(config)
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="FakeZalo", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeZalo server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        thread, server = self._thread, self._server
        if thread is None or server is None:
            return
        with self._lock:
            self._closing = True
        self._notify()
        server.should_exit = True
        thread.join(timeout=10)
        self._thread = None
        self._server = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def reset(self) -> None:
        """Forget all state (calls, chats, queued events, faults, webhook, settings).

        Lets one running server be shared by many tests. Long polls and webhook deliveries
        started before the reset end without touching the new state.
        """
        with self._changed:
            self._generation += 1
            self.calls.clear()
            self.deliveries.clear()
            self._queue.clear()
            self._known_chats.clear()
            self._sent.clear()
            self._faults.clear()
            self._webhook_url = None
            self._webhook_secret = None
            self._webhook_updated_at = 0
            self._last_event = None
            self._pending_deliveries = 0
            self.webhook_shape = "wrapped"
            self.webhook_max_attempts = 5
            self.webhook_retry_delay = 0.1
            self.max_long_poll = 60.0
        self._notify()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        assert self._server is not None and self._sock is not None
        self._loop = asyncio.get_running_loop()
        self._signal = asyncio.Event()
        self._delivery_queue = asyncio.Queue()
        self._http = httpx.AsyncClient(timeout=10)
        worker = asyncio.create_task(self._delivery_worker())
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await self._http.aclose()
            self._loop = None

    # -- wake-ups ------------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake long polls (from any thread) and threads waiting on recorded state."""
        with self._changed:
            self._changed.notify_all()
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(self._wake_pollers)

    def _wake_pollers(self) -> None:
        old, self._signal = self._signal, asyncio.Event()
        if old is not None:
            old.set()

    # -- HTTP ----------------------------------------------------------------------------------

    async def _not_found(self, request: Request) -> Response:
        return _envelope_error(404, "Not Found", http_status=404)

    async def _read_params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                raise _ApiError(400, "Bad Request: invalid JSON body") from None
            if not isinstance(data, dict):
                raise _ApiError(400, "Bad Request: body must be a JSON object")
            params.update(data)
        return params

    def _record(self, method: str, params: dict[str, Any], error_code: int | None) -> None:
        with self._changed:
            self.calls.append(Call(method, params, time.monotonic(), error_code))
            self._changed.notify_all()

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for key in (method, "*"):
                faults = self._faults.get(key)
                if not faults:
                    continue
                fault = faults[0]
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        faults.popleft()
                return fault
        return None

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        params: dict[str, Any] = {}
        try:
            params = await self._read_params(request)
            if request.path_params["token"] != self.token:
                raise _ApiError(401, "Unauthorized")
            if method not in _PARAMS:
                raise _ApiError(404, "Not Found: unknown method")
            fault = self._take_fault(method)
            if fault is not None:
                self._record(method, params, fault.error_code)
                return self._fault_response(fault)
            unknown = sorted(set(params) - _PARAMS[method])
            if unknown:
                raise _ApiError(400, f"Bad Request: unknown parameter {unknown[0]!r}")
            result = await self._dispatch(method, params, request)
        except _ApiError as exc:
            self._record(method, params, exc.code)
            return _envelope_error(exc.code, exc.description)
        self._record(method, params, None)
        return JSONResponse({"ok": True, "result": result})

    def _fault_response(self, fault: _Fault) -> Response:
        if fault.raw_body is not None:
            return Response(fault.raw_body, status_code=fault.http_status, media_type="text/html")
        body: dict[str, Any] = {
            "ok": False,
            "error_code": fault.error_code,
            "description": fault.description
            or _DEFAULT_DESCRIPTIONS.get(fault.error_code, "Error"),
        }
        if fault.retry_after is not None:
            body["parameters"] = {"retry_after": fault.retry_after}
        return JSONResponse(body, status_code=fault.http_status)

    async def _dispatch(self, method: str, params: dict[str, Any], request: Request) -> Any:
        if method == "getMe":
            return {
                "id": self.bot_id,
                "account_name": "bot.FakeZalo",
                "account_type": "BASIC",
                "can_join_groups": False,
            }
        if method == "getUpdates":
            return await self._get_updates(params, request)
        if method == "setWebhook":
            return self._set_webhook(params)
        if method == "deleteWebhook":
            with self._lock:
                self._webhook_url = None
                self._webhook_secret = None
                self._webhook_updated_at = _now_ms()
                return {"url": "", "updated_at": self._webhook_updated_at}
        if method == "getWebhookInfo":
            with self._lock:
                return {"url": self._webhook_url or "", "updated_at": self._webhook_updated_at}
        if method == "sendMessage":
            return self._send(method, params)
        if method == "sendPhoto":
            return self._send(method, params)
        if method == "sendChatAction":
            self._check_chat(params)
            if params.get("action") not in CHAT_ACTIONS:
                raise _ApiError(400, "Bad Request: invalid action")
            return {}
        raise _ApiError(404, "Not Found: unknown method")  # pragma: no cover

    async def _get_updates(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        raw_timeout = params.get("timeout", 0)
        try:
            if isinstance(raw_timeout, bool):
                raise ValueError
            wait = float(raw_timeout)
        except (TypeError, ValueError):
            raise _ApiError(400, "Bad Request: invalid timeout") from None
        if not 0 <= wait < float("inf"):
            raise _ApiError(400, "Bad Request: invalid timeout")
        with self._lock:
            if self._webhook_url is not None:
                raise _ApiError(409, "Conflict: webhook is active, call deleteWebhook first")
            generation = self._generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, self.max_long_poll)
        # A poll whose client has gone away (e.g. a cancelled long poll) must not eat an event.
        gone = asyncio.ensure_future(_wait_disconnect(request))
        try:
            while True:
                signal = self._signal
                with self._lock:
                    stale = self._closing or gone.done() or generation != self._generation
                    if not stale and self._queue:
                        return self._queue.popleft()
                remaining = deadline - loop.time()
                if stale or remaining <= 0 or signal is None:
                    raise _ApiError(408, "Request timeout")
                woken = asyncio.ensure_future(signal.wait())
                await asyncio.wait(
                    {woken, gone}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
        finally:
            gone.cancel()

    def _set_webhook(self, params: dict[str, Any]) -> dict[str, Any]:
        url = params.get("url")
        secret = params.get("secret_token")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise _ApiError(400, "Bad Request: invalid url")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise _ApiError(400, "Bad Request: secret_token must be 8..256 characters")
        with self._lock:
            self._webhook_url = url
            self._webhook_secret = secret
            self._webhook_updated_at = _now_ms()
            pending = list(self._queue)
            self._queue.clear()
        for event in pending:
            self._route(event)
        return {"url": url, "updated_at": self._webhook_updated_at}

    def _check_chat(self, params: dict[str, Any]) -> str:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            raise _ApiError(400, "Bad Request: chat_id must be a string")
        with self._lock:
            if chat_id not in self._known_chats:
                raise _ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._check_chat(params)
        text: str | None = None
        photo: str | None = None
        caption: str | None = None
        if method == "sendMessage":
            text = params.get("text")
            if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT_LENGTH:
                raise _ApiError(400, f"Bad Request: text must be 1..{MAX_TEXT_LENGTH} characters")
        else:
            photo = params.get("photo")
            if not isinstance(photo, str) or not photo.startswith(("https://", "http://")):
                raise _ApiError(400, "Bad Request: photo must be a URL")
            caption = params.get("caption")
            if caption is not None and (
                not isinstance(caption, str) or len(caption) > MAX_TEXT_LENGTH
            ):
                raise _ApiError(400, "Bad Request: invalid caption")
        sent = SentMessage(method, chat_id, _new_id(), _now_ms(), text, photo, caption)
        with self._changed:
            self._sent.append(sent)
            self._changed.notify_all()
        return {"message_id": sent.message_id, "date": sent.date}

    # -- webhook delivery ----------------------------------------------------------------------

    def _route(self, event: dict[str, Any]) -> None:
        """Queue an event for getUpdates, or for webhook delivery when a webhook is set."""
        with self._lock:
            loop, queue = self._loop, self._delivery_queue
            item = (self._generation, event)
            if self._webhook_url is None or loop is None or queue is None:
                self._queue.append(event)
                deliver = False
            else:
                self._pending_deliveries += 1
                deliver = True
        if deliver:
            assert loop is not None and queue is not None
            loop.call_soon_threadsafe(queue.put_nowait, item)
        self._notify()

    async def _delivery_worker(self) -> None:
        assert self._delivery_queue is not None
        while True:
            generation, event = await self._delivery_queue.get()
            try:
                await self._deliver(generation, event)
            finally:
                with self._changed:
                    if generation == self._generation:
                        self._pending_deliveries -= 1
                    self._changed.notify_all()

    async def _deliver(self, generation: int, event: dict[str, Any]) -> None:
        assert self._http is not None
        message = event.get("message")
        message_id = message.get("message_id") if isinstance(message, dict) else None
        delay = self.webhook_retry_delay
        attempts = max(1, self.webhook_max_attempts)
        for attempt in range(1, attempts + 1):
            with self._lock:
                if generation != self._generation:
                    return
                url, secret, shape = self._webhook_url, self._webhook_secret, self.webhook_shape
                if url is None:
                    self._queue.append(event)
            if url is None:
                self._notify()
                return
            body = {"ok": True, "result": event} if shape == "wrapped" else event
            headers = {SECRET_HEADER: secret or "", "Content-Type": "application/json"}
            status: int | None = None
            error: str | None = None
            try:
                response = await self._http.post(
                    url, content=json.dumps(body, ensure_ascii=False).encode(), headers=headers
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            delivery = Delivery(
                str(message_id) if message_id is not None else None,
                url,
                attempt,
                status,
                time.monotonic(),
                error,
            )
            with self._changed:
                if generation != self._generation:
                    return
                self.deliveries.append(delivery)
                self._changed.notify_all()
            if delivery.ok or attempt == attempts:
                return
            await asyncio.sleep(delay)
            delay *= 2

    async def _post_raw(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        assert self._http is not None
        merged = {"Content-Type": "application/json", **headers}
        response = await self._http.post(url, content=body, headers=merged)
        return response.status_code

    def _raw_future(
        self, body: bytes, headers: dict[str, str], url: str | None
    ) -> concurrent.futures.Future[int]:
        with self._lock:
            target = url or self._webhook_url
        loop = self._loop
        if target is None:
            raise RuntimeError("no webhook set and no url given")
        if loop is None:
            raise RuntimeError("FakeZalo is not running")
        return asyncio.run_coroutine_threadsafe(self._post_raw(target, body, headers), loop)

    def deliver_raw(self, body: bytes, headers: dict[str, str], *, url: str | None = None) -> int:
        """POST ``body`` as-is to the webhook (or ``url``) and return the HTTP status.

        Blocks the calling thread; in async tests whose event loop serves the webhook, use
        :meth:`adeliver_raw` instead. ``Content-Type: application/json`` is added unless given.
        """
        future = self._raw_future(body, headers, url)
        result: int = future.result(timeout=30)
        return result

    async def adeliver_raw(
        self, body: bytes, headers: dict[str, str], *, url: str | None = None
    ) -> int:
        """Async variant of :meth:`deliver_raw` that does not block the caller's event loop."""
        future = self._raw_future(body, headers, url)
        result: int = await asyncio.wrap_future(future)
        return result

    # -- test side: faults ---------------------------------------------------------------------

    def inject(
        self,
        method: str,
        *,
        error_code: int,
        times: int | None = 1,
        http_status: int = 200,
        description: str | None = None,
        retry_after: float | None = None,
        raw_body: bytes | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (``"*"``: any method; None: forever).

        The answer is an ok:false envelope with ``error_code`` (and ``parameters.retry_after``
        if given) sent with ``http_status``; with ``raw_body`` that body is sent verbatim
        instead (e.g. an HTML error page from a proxy). Faults apply after the token check.
        """
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        fault = _Fault(error_code, times, http_status, description, retry_after, raw_body)
        with self._lock:
            self._faults.setdefault(method, deque()).append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- test side: incoming events ------------------------------------------------------------

    def add_chat(self, chat_id: str) -> None:
        """Mark ``chat_id`` as a chat that has written to the bot (so sends to it succeed)."""
        with self._lock:
            self._known_chats.add(chat_id)

    def _message(self, user_id: str, display_name: str) -> dict[str, Any]:
        return {
            "from": {"id": user_id, "display_name": display_name, "is_bot": False},
            "chat": {"id": user_id, "chat_type": "PRIVATE"},
            "message_id": _new_id(),
            "date": _now_ms(),
        }

    def push_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Queue (or deliver to the webhook) a bare event; returns a copy of it."""
        event = copy.deepcopy(event)
        message = event.get("message")
        chat = message.get("chat") if isinstance(message, dict) else None
        with self._lock:
            if isinstance(chat, dict) and isinstance(chat.get("id"), str):
                self._known_chats.add(chat["id"])
            self._last_event = event
        self._route(copy.deepcopy(event))
        return copy.deepcopy(event)

    def push_text(
        self, user_id: str, text: str, *, display_name: str = "Cán bộ Test"
    ) -> dict[str, Any]:
        message = self._message(user_id, display_name)
        message["text"] = text
        return self.push_event({"event_name": "message.text.received", "message": message})

    def push_image(
        self,
        user_id: str,
        url: str,
        *,
        caption: str | None = None,
        display_name: str = "Cán bộ Test",
    ) -> dict[str, Any]:
        message = self._message(user_id, display_name)
        message["photo"] = url
        if caption is not None:
            message["caption"] = caption
        return self.push_event({"event_name": "message.image.received", "message": message})

    def push_sticker(
        self,
        user_id: str,
        *,
        sticker: str = "bfe4e3ea8aaf63f13abe",
        display_name: str = "Cán bộ Test",
    ) -> dict[str, Any]:
        message = self._message(user_id, display_name)
        message["sticker"] = sticker
        return self.push_event({"event_name": "message.sticker.received", "message": message})

    def push_unsupported(
        self, user_id: str, *, display_name: str = "Cán bộ Test"
    ) -> dict[str, Any]:
        message = self._message(user_id, display_name)
        return self.push_event({"event_name": "message.unsupported.received", "message": message})

    def redeliver_last(self) -> dict[str, Any]:
        """Push the last pushed event again, unchanged (same message_id)."""
        with self._lock:
            event = self._last_event
        if event is None:
            raise RuntimeError("no event has been pushed yet")
        self._route(copy.deepcopy(event))
        return copy.deepcopy(event)

    # -- test side: inspection -----------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    @property
    def sent(self) -> list[SentMessage]:
        """Successful sendMessage/sendPhoto calls, in order."""
        with self._lock:
            return list(self._sent)

    def sent_texts(self, chat_id: str | None = None) -> list[str]:
        with self._lock:
            return [
                m.text
                for m in self._sent
                if m.text is not None and (chat_id is None or m.chat_id == chat_id)
            ]

    def sent_photos(self, chat_id: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [
                m
                for m in self._sent
                if m.photo is not None and (chat_id is None or m.chat_id == chat_id)
            ]

    @property
    def webhook_url(self) -> str | None:
        with self._lock:
            return self._webhook_url

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._queue)

    def _find_text(self, substring: str, chat_id: str | None, start: int) -> str | None:
        texts = self.sent_texts(chat_id)
        return next((t for t in texts[start:] if substring in t), None)

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout=timeout)

    def wait_for_text(
        self, substring: str, chat_id: str | None = None, timeout: float = 10, *, start: int = 0
    ) -> str:
        """Block until a sent text (from index ``start`` on) contains ``substring``; return it.

        Blocks the calling thread: in async tests use :meth:`await_for_text`.
        """
        found: list[str] = []

        def match() -> bool:
            text = self._find_text(substring, chat_id, start)
            if text is not None:
                found.append(text)
            return text is not None

        if not self._wait(match, timeout):
            raise AssertionError(
                f"no sent text containing {substring!r} within {timeout} s; "
                f"sent: {self.sent_texts(chat_id)!r}"
            )
        return found[0]

    async def await_for_text(
        self,
        substring: str,
        chat_id: str | None = None,
        timeout: float = 10,  # noqa: ASYNC109 - mirrors wait_for_text
        *,
        start: int = 0,
    ) -> str:
        """Async :meth:`wait_for_text`: polls without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            text = self._find_text(substring, chat_id, start)
            if text is not None:
                return text
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no sent text containing {substring!r} within {timeout} s; "
                    f"sent: {self.sent_texts(chat_id)!r}"
                )
            await asyncio.sleep(0.01)

    def wait_deliveries(self, timeout: float = 10) -> list[Delivery]:
        """Block until no webhook delivery is pending; return all delivery attempts."""
        if not self._wait(lambda: self._pending_deliveries == 0, timeout):
            raise AssertionError(f"webhook deliveries still pending after {timeout} s")
        with self._lock:
            return list(self.deliveries)

    async def await_deliveries(self, timeout: float = 10) -> list[Delivery]:  # noqa: ASYNC109
        """Async :meth:`wait_deliveries`."""
        deadline = time.monotonic() + timeout
        while self._pending_deliveries:
            if time.monotonic() >= deadline:
                raise AssertionError(f"webhook deliveries still pending after {timeout} s")
            await asyncio.sleep(0.01)
        with self._lock:
            return list(self.deliveries)
