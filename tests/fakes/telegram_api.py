"""A loopback stand-in for the Telegram Bot API server, for tests.

``FakeTelegram`` serves ``/bot<token>/<method>`` (and ``/file/bot<token>/<path>``) on
``127.0.0.1`` with an ephemeral port, from a background thread with its own event loop, so the
real python-telegram-bot client can talk to it both in-process and from a subprocess::

    with FakeTelegram(token="123:ABC") as tg:
        bot = telegram.Bot("123:ABC", base_url=tg.api_url, base_file_url=tg.file_url)
        # or, for `bdg run`: TELEGRAM_API_URL=tg.url
        tg.push_message(42, "/start")
        ...
        tg.wait_for_text("Xin chào", chat_id=42)

Every request is validated against the machine-readable Bot API schema (see
:mod:`tests.fakes.telegram_spec`): unknown methods get a 404 envelope; unknown, missing or
wrongly typed parameters a 400 envelope. On top of that the server performs the semantic checks
the real one does for the implemented methods (text length, entity parsing for ``parse_mode``,
``callback_data`` size, unknown chats, edits of unknown/unchanged messages, stale callback
queries, webhook/getUpdates conflicts).

Implemented methods: getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo, sendMessage,
editMessageText, editMessageCaption, editMessageReplyMarkup, deleteMessage, answerCallbackQuery,
setMyCommands, getMyCommands, deleteMyCommands, sendChatAction, sendDocument, sendPhoto, getFile,
getChat. Any other method of the schema that returns ``True`` answers ``{"ok":true,"result":true}``
after validation; all remaining methods answer 400 "Bad Request: method <name> is not supported
by FakeTelegram".

Test-side helpers are thread-safe. The blocking ones (``wait_*``, ``deliver_raw``) refuse to run
inside an event loop; coroutines use ``await_*`` / ``adeliver_raw`` instead. ``Call.time`` and
the other recorded times are ``time.monotonic()`` values; Message ``date`` fields use
``time.time()``.

Deliberate deviations from the real server:

* unknown parameters and unknown fields of JSON objects are rejected (Telegram ignores them);
* plain ``http://`` webhook URLs on any port are accepted (Telegram needs HTTPS on 443/80/88/8443);
* inline messages (``inline_message_id``), business connections, rich messages and webhook
  replies (a method call in the webhook response body) are not supported;
* callback queries expire after ``callback_query_timeout`` seconds (15 by default);
* a long poll whose client disconnected is recorded with status 499.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import json
import logging
import mimetypes
import re
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import PurePosixPath
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tests.fakes.loopback import ServerContext, loopback_socket

from .telegram_markup import EntityParseError, parse_text, trim_text, utf16_len
from .telegram_spec import ApiError, ApiSpec, UploadedFile, bad_request, parse_body

__all__ = [
    "ApiError",
    "BotEvent",
    "Call",
    "FakeTelegram",
    "SECRET_HEADER",
    "SentFile",
    "UploadedFile",
    "WaitTimeout",
    "WebhookDelivery",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024

_BOT_PATH = re.compile(r"/bot([^/]*)/([^/]*)")
_FILE_PATH = re.compile(r"/file/bot([^/]*)/(.+)")
_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_PARSE_MODES = ("html", "markdown", "markdownv2")
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_MESSAGE_UPDATE_KEYS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
)
_TOO_OLD_QUERY = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
_GETUPDATES_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
    "running"
)
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
    "the webhook first"
)


# -- public records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request received by the fake server.

    ``params`` holds the validated, coerced parameters (uploaded files as :class:`UploadedFile`)
    or, when validation failed, the raw decoded parameters. ``time`` is ``time.monotonic()`` at
    the moment the response was produced, ``wall_time`` the matching ``time.time()``.
    """

    method: str
    params: dict[str, Any]
    status: int
    time: float
    http_method: str = "POST"
    response: dict[str, Any] = field(default_factory=dict, repr=False)
    wall_time: float = 0.0
    chat_id: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def description(self) -> str | None:
        value = self.response.get("description")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST attempt to the bot's webhook."""

    url: str
    update_id: int | None
    status: int | None  # None when the connection failed
    error: str | None
    time: float  # time.monotonic()
    secret_sent: bool
    raw: bool = False  # sent through deliver_raw()

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class SentFile:
    """A file the bot sent with sendDocument/sendPhoto."""

    chat_id: int
    message_id: int
    kind: str  # "document" | "photo"
    filename: str
    content_type: str
    data: bytes = field(repr=False)
    caption: str | None
    file_id: str


@dataclass(frozen=True)
class BotEvent:
    """A message the bot created ("send"), changed ("edit") or removed ("delete")."""

    kind: str
    method: str
    chat_id: int
    message_id: int
    message: dict[str, Any]
    time: float  # time.monotonic()

    @property
    def text(self) -> str | None:
        value = self.message.get("text", self.message.get("caption"))
        return str(value) if value is not None else None


class WaitTimeout(AssertionError):
    """Raised by the ``wait_*``/``await_*`` helpers when the condition did not come true."""


# -- internal state ---------------------------------------------------------------------------


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    next_message_id: int = 1
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    keyboard: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            result["first_name"] = self.first_name or "Test"
            if self.last_name:
                result["last_name"] = self.last_name
        else:
            result["title"] = self.title or "Test group"
        if self.username:
            result["username"] = self.username
        return result


@dataclass
class _Callback:
    id: str
    chat_id: int | None
    message_id: int | None
    created: float
    answered: bool = False


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    filename: str
    content_type: str
    data: bytes = field(repr=False)
    file_path: str


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None
    has_custom_certificate: bool
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Injection:
    error: ApiError
    remaining: int


@dataclass
class _Poll:
    request: Request
    terminated_by: str | None = None
    client_gone: bool = False


@dataclass
class _Ok:
    result: Any
    description: str | None = None


class _ClientGone(Exception):
    """The long-polling client closed its connection."""


# -- the server -------------------------------------------------------------------------------


class FakeTelegram(ServerContext):
    """Loopback Telegram Bot API server for one bot token. See the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        username: str = "bdg_test_bot",
        first_name: str = "BDG Test Bot",
        spec_path: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_query_timeout: float = 15.0,
        webhook_backoff: tuple[float, float] = (0.1, 2.0),
        webhook_timeout: float = 10.0,
        max_long_poll: float = 50.0,
    ) -> None:
        if not _TOKEN_RE.fullmatch(token):
            raise ValueError(f"not a bot token: {token!r}")
        self.token = token
        self.spec = ApiSpec.load(spec_path)
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._callback_timeout = callback_query_timeout
        self._backoff = webhook_backoff
        self._webhook_timeout = webhook_timeout
        self._max_long_poll = max_long_poll

        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._history: list[BotEvent] = []
        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._blocked: set[int] = set()
        self._pending: list[dict[str, Any]] = []
        self._next_update_id = 100_000 + secrets.randbelow(900_000)
        self._allowed_updates: list[str] | None = None
        self._webhook: _Webhook | None = None
        self._deliveries: list[WebhookDelivery] = []
        self._callbacks: dict[str, _Callback] = {}
        self._callback_answers: list[dict[str, Any]] = []
        self._chat_actions: list[tuple[int, str, float]] = []
        self._commands: dict[tuple[tuple[Any, ...], str], list[dict[str, str]]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._sent_files: list[SentFile] = []
        self._send_log: list[tuple[float, int]] = []
        self._injections: dict[str, list[_Injection]] = {}
        self._rate_per_chat: tuple[int, float] | None = None
        self._rate_overall: tuple[int, float] | None = None
        self._rate_retry_after = 1

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._startup_error: BaseException | None = None
        self._closing = False
        self._stopped = False
        # Created inside the server loop:
        self._poll_event: asyncio.Event | None = None
        self._webhook_event: asyncio.Event | None = None
        self._closing_event: asyncio.Event | None = None
        self._delivery_lock: asyncio.Lock | None = None
        self._http: httpx.AsyncClient | None = None
        self._active_poll: _Poll | None = None

        self._handlers: dict[str, Callable[[dict[str, Any], Request], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendChatAction": self._send_chat_action,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "getFile": self._get_file,
            "getChat": self._get_chat,
        }

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT`` (the bot's ``TELEGRAM_API_URL``)."""
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def api_url(self) -> str:
        """PTB ``base_url``: requests go to ``{api_url}{token}/{method}``."""
        return f"{self.url}/bot"

    @property
    def file_url(self) -> str:
        """PTB ``base_file_url``."""
        return f"{self.url}/file/bot"

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._port

    def start(self) -> Self:
        """Start serving (idempotent); blocks until the socket accepts requests."""
        if self._thread is not None:
            return self
        if self._stopped:
            raise RuntimeError("a stopped FakeTelegram cannot be restarted")
        sock = loopback_socket(self._host, self._requested_port)
        self._port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(sock, ready), name=f"FakeTelegram:{self._port}", daemon=True
        )
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("FakeTelegram did not start within 15 s")
        if self._startup_error is not None:
            raise RuntimeError("FakeTelegram failed to start") from self._startup_error
        log.debug("FakeTelegram listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop the server; pending long polls return an empty result."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._begin_shutdown)
        thread.join(timeout=15)
        if thread.is_alive():  # pragma: no cover - diagnostic only
            log.warning("FakeTelegram thread did not stop in time")

    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve(sock, ready))
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            if not ready.is_set():
                self._startup_error = exc
            else:
                log.exception("FakeTelegram server crashed")
        finally:
            ready.set()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
            sock.close()

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        self._poll_event = asyncio.Event()
        self._webhook_event = asyncio.Event()
        self._closing_event = asyncio.Event()
        self._delivery_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(timeout=self._webhook_timeout, trust_env=False)
        config = uvicorn.Config(
            self._asgi,
            lifespan="off",
            interface="asgi3",
            log_config=None,
            log_level="warning",
            access_log=False,
            http="h11",
            timeout_keep_alive=75,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        worker = asyncio.create_task(self._webhook_worker())
        try:
            # Drive uvicorn's startup/shutdown steps directly: its own serve() loop polls for
            # exit every 100 ms and sleeps on shutdown, which adds ~0.2 s to every test.
            config.load()
            server.lifespan = config.lifespan_class(config)
            await server.startup(sockets=[sock])
            ready.set()
            await self._closing_event.wait()
            await self._shutdown_server(server)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await self._http.aclose()

    @staticmethod
    async def _shutdown_server(server: uvicorn.Server) -> None:
        for listener in server.servers:
            listener.close()
        for connection in list(server.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + 2.0
        while server.server_state.connections and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        for task in list(server.server_state.tasks):
            task.cancel()
        for listener in server.servers:
            await listener.wait_closed()

    def _begin_shutdown(self) -> None:
        self._closing = True
        for event in (self._poll_event, self._webhook_event, self._closing_event):
            if event is not None:
                event.set()

    def _wake(self) -> None:
        """Wake long polls and the webhook worker (callable from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def wake() -> None:
            for event in (self._poll_event, self._webhook_event):
                if event is not None:
                    event.set()

        if self._in_server_thread():
            wake()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake)

    def _in_server_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    # -- HTTP layer ---------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self._dispatch(request)
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        http_method = request.method
        match = _BOT_PATH.fullmatch(path)
        if match is None:
            file_match = _FILE_PATH.fullmatch(path)
            if file_match is not None:
                return self._serve_file(file_match.group(1), file_match.group(2), http_method)
            return self._respond(path, {}, http_method, error=ApiError(404, "Not Found"))
        token, method_name = match.groups()
        method = method_name
        params: dict[str, Any] = {}
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            canonical = self.spec.canonical_method(method_name)
            if canonical is None:
                raise ApiError(404, "Not Found")
            method = canonical
            body = await request.body()
            body_params, files = parse_body(body, request.headers.get("content-type"))
            raw_params = {**dict(request.query_params), **body_params}
            params = {**raw_params, **files}
            params = self.spec.validate_call(canonical, raw_params, files)
            self._check_injection(canonical)
            handler = self._handlers.get(canonical)
            if handler is not None:
                outcome = await handler(params, request)
            elif self.spec.returns(canonical) == ["Boolean"]:
                outcome = True
            else:
                raise bad_request(f"method {canonical} is not supported by FakeTelegram")
        except ApiError as exc:
            return self._respond(method, params, http_method, error=exc)
        except _ClientGone:
            return self._respond(
                method, params, http_method, error=ApiError(499, "Client Closed Request")
            )
        except Exception as exc:  # pragma: no cover - a bug in the fake itself
            log.exception("FakeTelegram failed to handle %s", method)
            return self._respond(
                method, params, http_method, error=ApiError(500, f"Internal Server Error: {exc}")
            )
        if isinstance(outcome, _Ok):
            return self._respond(
                method, params, http_method, result=outcome.result, description=outcome.description
            )
        return self._respond(method, params, http_method, result=outcome)

    def _respond(
        self,
        method: str,
        params: dict[str, Any],
        http_method: str,
        *,
        result: Any = None,
        error: ApiError | None = None,
        description: str | None = None,
    ) -> Response:
        if error is not None:
            status, body = error.status, error.envelope()
        else:
            status, body = 200, {"ok": True, "result": result}
            if description:
                body["description"] = description
        call = Call(
            method=method,
            params=params,
            status=status,
            time=time.monotonic(),
            http_method=http_method,
            response=copy.deepcopy(body),
            wall_time=time.time(),
            chat_id=self._chat_id_of(params),
        )
        with self._lock:
            self._calls.append(call)
        log.debug("%s %s -> %s", method, params, status)
        return Response(
            json.dumps(body, ensure_ascii=False), status_code=status, media_type="application/json"
        )

    def _serve_file(self, token: str, file_path: str, http_method: str) -> Response:
        if token != self.token:
            return self._respond(
                "file", {"path": file_path}, http_method, error=ApiError(401, "Unauthorized")
            )
        with self._lock:
            stored = next((f for f in self._files.values() if f.file_path == file_path), None)
        if stored is None:
            return self._respond(
                "file", {"path": file_path}, http_method, error=ApiError(404, "Not Found")
            )
        with self._lock:
            self._calls.append(
                Call(
                    "file", {"path": file_path}, 200, time.monotonic(), http_method, {}, time.time()
                )
            )
        return Response(stored.data, media_type=stored.content_type)

    def _chat_id_of(self, params: Mapping[str, Any]) -> int | None:
        value = params.get("chat_id")
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            # Ids are 64-bit: a longer digit string names no chat (and int() of one over
            # 4,300 digits raises).
            if re.fullmatch(r"-?\d{1,19}", value.strip()):
                return int(value.strip())
            with self._lock:
                for chat in self._chats.values():
                    if chat.username and f"@{chat.username}".lower() == value.lower():
                        return chat.id
        return None

    # -- helpers shared by handlers -----------------------------------------------------------

    def _check_injection(self, method: str) -> None:
        with self._lock:
            for key in (method, "*"):
                queue = self._injections.get(key)
                if not queue:
                    continue
                injection = queue[0]
                injection.remaining -= 1
                if injection.remaining <= 0:
                    queue.pop(0)
                raise ApiError(
                    injection.error.status, injection.error.description, injection.error.parameters
                )

    def _resolve_chat(self, chat_id: Any) -> _Chat:
        """Find a chat the bot knows; raise "chat not found" otherwise. Caller holds the lock."""
        if isinstance(chat_id, str):
            text = chat_id.strip()
            if re.fullmatch(r"-?\d+", text):
                chat_id = int(text)
            elif text.startswith("@"):
                for chat in self._chats.values():
                    if (
                        chat.type != "private"
                        and chat.username
                        and chat.username.lower() == text[1:].lower()
                    ):
                        return chat
                raise bad_request("chat not found")
            else:
                raise bad_request("chat not found")
        found = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if found is None:
            raise bad_request("chat not found")
        return found

    def _check_reachable(self, chat: _Chat) -> None:
        if chat.id not in self._blocked:
            return
        reason = {
            "private": "bot was blocked by the user",
            "group": "bot was kicked from the group chat",
            "supergroup": "bot was kicked from the supergroup chat",
            "channel": "bot is not a member of the channel chat",
        }.get(chat.type, "bot was blocked by the user")
        raise ApiError(403, f"Forbidden: {reason}")

    def _check_rate(self, chat: _Chat) -> None:
        now = time.monotonic()
        limits = [(self._rate_per_chat, chat.id), (self._rate_overall, None)]
        for limit, only_chat in limits:
            if limit is None:
                continue
            count, window = limit
            recent = [
                t
                for t, cid in self._send_log
                if now - t < window and (only_chat is None or cid == only_chat)
            ]
            if len(recent) >= count:
                retry = self._rate_retry_after
                raise ApiError(
                    429, f"Too Many Requests: retry after {retry}", {"retry_after": retry}
                )

    def _format(
        self,
        text: str,
        parse_mode: str | None,
        entities: list[dict[str, Any]] | None,
        *,
        limit: int,
        too_long: str,
        allow_empty: bool = False,
    ) -> tuple[str, list[dict[str, Any]]]:
        if parse_mode and parse_mode.strip().lower() not in _PARSE_MODES:
            raise bad_request("unsupported parse_mode")
        if entities is not None:
            plain, parsed = trim_text(text, [dict(e) for e in entities])
        else:
            try:
                plain, parsed = parse_text(text, parse_mode)
            except EntityParseError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
        if not plain and not allow_empty:
            raise bad_request("message text is empty")
        if len(plain) > limit:
            raise bad_request(too_long)
        return plain, parsed

    def _check_markup(self, markup: dict[str, Any] | None) -> dict[str, Any] | None:
        if markup is None:
            return None
        if "inline_keyboard" in markup:
            count = 0
            for row in markup["inline_keyboard"]:
                for button in row:
                    count += 1
                    actions = [
                        key
                        for key in button
                        if key not in ("text", "icon_custom_emoji_id", "style")
                    ]
                    if not actions:
                        raise bad_request(
                            "can't parse inline keyboard button: Text buttons are unallowed in "
                            "the inline keyboard"
                        )
                    if "callback_data" in button:
                        size = len(str(button["callback_data"]).encode("utf-8"))
                        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                            raise bad_request("BUTTON_DATA_INVALID")
                    if "url" in button and not str(button["url"]).strip():
                        raise bad_request("BUTTON_URL_INVALID")
            if count > 100:
                raise bad_request("reply markup is too long")
        if "keyboard" in markup:
            for row in markup["keyboard"]:
                for button in row:
                    text = button.get("text") if isinstance(button, dict) else button
                    if not str(text or "").strip():
                        raise bad_request("keyboard button text must be non-empty")
        return markup

    def _new_message(self, chat: _Chat, sender: dict[str, Any] | None) -> dict[str, Any]:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        message: dict[str, Any] = {"message_id": message_id}
        if chat.type == "channel" and sender is None:
            message["sender_chat"] = chat.as_dict()
        elif sender is not None:
            message["from"] = sender
        message["chat"] = chat.as_dict()
        message["date"] = int(time.time())
        return message

    def _bot_sender(self) -> dict[str, Any]:
        user = self.bot_user
        return {k: user[k] for k in ("id", "is_bot", "first_name", "username")}

    def _reply_to(self, chat: _Chat, reply: dict[str, Any] | None) -> dict[str, Any] | None:
        if not reply:
            return None
        target_chat = chat
        if reply.get("chat_id") is not None:
            target_chat = self._resolve_chat(reply["chat_id"])
        original = target_chat.messages.get(reply["message_id"])
        if original is None:
            if reply.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        quoted = copy.deepcopy(original)
        quoted.pop("reply_to_message", None)
        return quoted

    def _apply_keyboard(self, chat: _Chat, markup: dict[str, Any] | None) -> None:
        if markup is None:
            return
        if "keyboard" in markup:
            chat.keyboard = copy.deepcopy(markup)
        elif markup.get("remove_keyboard"):
            chat.keyboard = None

    def _record_send(self, chat: _Chat, method: str, message: dict[str, Any]) -> None:
        now = time.monotonic()
        chat.messages[message["message_id"]] = message
        self._send_log.append((now, chat.id))
        self._history.append(
            BotEvent("send", method, chat.id, message["message_id"], copy.deepcopy(message), now)
        )

    def _record_edit(self, chat: _Chat, method: str, message: dict[str, Any]) -> None:
        message["edit_date"] = int(time.time())
        self._history.append(
            BotEvent(
                "edit",
                method,
                chat.id,
                message["message_id"],
                copy.deepcopy(message),
                time.monotonic(),
            )
        )

    def _editable_message(self, p: dict[str, Any]) -> tuple[_Chat, dict[str, Any]]:
        if "inline_message_id" in p:
            raise bad_request("inline messages are not supported by FakeTelegram")
        if "chat_id" not in p:
            raise bad_request("chat_id is empty")
        if "message_id" not in p:
            raise bad_request("message identifier is not specified")
        chat = self._resolve_chat(p["chat_id"])
        self._check_reachable(chat)
        message = chat.messages.get(p["message_id"])
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id and "sender_chat" not in message:
            raise bad_request("message can't be edited")
        return chat, message

    def _accepts_update(self, update: Mapping[str, Any]) -> bool:
        kind = next((k for k in update if k != "update_id"), None)
        if kind is None:
            return False
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in _DEFAULT_EXCLUDED_UPDATES

    def _store_file(self, kind: str, filename: str, content_type: str, data: bytes) -> _StoredFile:
        prefix = "AgAC" if kind == "photo" else "BQAC"
        suffix = PurePosixPath(filename).suffix or (".jpg" if kind == "photo" else "")
        stored = _StoredFile(
            file_id=f"{prefix}{secrets.token_urlsafe(30)}",
            file_unique_id=f"AQAD{secrets.token_urlsafe(9)}",
            filename=filename,
            content_type=content_type,
            data=data,
            file_path=f"{kind}s/file_{len(self._files)}{suffix}",
        )
        self._files[stored.file_id] = stored
        return stored

    # -- method handlers ----------------------------------------------------------------------

    async def _get_me(self, p: dict[str, Any], request: Request) -> Any:
        return dict(self.bot_user)

    async def _get_updates(self, p: dict[str, Any], request: Request) -> Any:
        assert self._poll_event is not None
        if self._webhook is not None:
            raise ApiError(409, _WEBHOOK_CONFLICT)
        previous = self._active_poll
        if previous is not None:
            # A client that gave up on its long poll (e.g. PTB shutting down and then sending a
            # final confirming getUpdates) is not a competing bot instance.
            if await previous.request.is_disconnected():
                previous.client_gone = True
            else:
                previous.terminated_by = _GETUPDATES_CONFLICT
            self._poll_event.set()
        poll = _Poll(request)
        self._active_poll = poll
        limit = p.get("limit") or 100
        limit = 100 if limit <= 0 else min(limit, 100)
        timeout = max(0.0, min(float(p.get("timeout") or 0), self._max_long_poll))
        with self._lock:
            offset = p.get("offset")
            if offset:
                if offset > 0:
                    self._pending = [u for u in self._pending if u["update_id"] >= offset]
                else:
                    self._pending = self._pending[offset:]
            if "allowed_updates" in p:
                self._allowed_updates = list(p["allowed_updates"])
        deadline = time.monotonic() + timeout
        try:
            while True:
                if poll.client_gone:
                    raise _ClientGone
                if poll.terminated_by is not None:
                    raise ApiError(409, poll.terminated_by)
                self._poll_event.clear()
                with self._lock:
                    batch = copy.deepcopy(self._pending[:limit])
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0 or self._closing:
                    return batch
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poll_event.wait(), min(remaining, 0.25))
                if await request.is_disconnected():
                    raise _ClientGone
        finally:
            if self._active_poll is poll:
                self._active_poll = None

    async def _set_webhook(self, p: dict[str, Any], request: Request) -> Any:
        url = str(p.get("url", "")).strip()
        if not url:
            return await self._delete_webhook(p, request)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None:
            if len(secret) > 256:
                raise bad_request("bad webhook: secret token is too long")
            if not _SECRET_RE.fullmatch(secret):
                raise bad_request("bad webhook: secret token contains unallowed characters")
        max_connections = p.get("max_connections", 40)
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        with self._lock:
            current = self._webhook
            unchanged = (
                current is not None
                and current.url == url
                and current.secret_token == secret
                and current.max_connections == max_connections
                and "allowed_updates" not in p
            )
            if p.get("drop_pending_updates"):
                self._pending.clear()
            if "allowed_updates" in p:
                self._allowed_updates = list(p["allowed_updates"])
            if not unchanged:
                self._webhook = _Webhook(
                    url=url,
                    secret_token=secret,
                    max_connections=max_connections,
                    ip_address=p.get("ip_address"),
                    has_custom_certificate="certificate" in p,
                )
        if self._active_poll is not None:
            self._active_poll.terminated_by = "Conflict: terminated by setWebhook request"
        self._wake()
        return _Ok(True, "Webhook is already set" if unchanged else "Webhook was set")

    async def _delete_webhook(self, p: dict[str, Any], request: Request) -> Any:
        with self._lock:
            existed = self._webhook is not None
            self._webhook = None
            if p.get("drop_pending_updates"):
                self._pending.clear()
        return _Ok(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    async def _get_webhook_info(self, p: dict[str, Any], request: Request) -> Any:
        with self._lock:
            hook = self._webhook
            info: dict[str, Any] = {
                "url": hook.url if hook else "",
                "has_custom_certificate": bool(hook and hook.has_custom_certificate),
                "pending_update_count": len(self._pending),
            }
            if hook is not None:
                info["max_connections"] = hook.max_connections
                if hook.ip_address:
                    info["ip_address"] = hook.ip_address
                if hook.last_error_date is not None:
                    info["last_error_date"] = hook.last_error_date
                    info["last_error_message"] = hook.last_error_message
                if self._allowed_updates:
                    info["allowed_updates"] = list(self._allowed_updates)
        return info

    async def _send_message(self, p: dict[str, Any], request: Request) -> Any:
        text, entities = self._format(
            p["text"],
            p.get("parse_mode"),
            p.get("entities"),
            limit=MAX_TEXT_LENGTH,
            too_long="message is too long",
        )
        markup = self._check_markup(p.get("reply_markup"))
        with self._lock:
            chat = self._resolve_chat(p["chat_id"])
            self._check_reachable(chat)
            self._check_rate(chat)
            reply = self._reply_to(chat, p.get("reply_parameters"))
            message = self._new_message(chat, self._bot_sender())
            if reply is not None:
                message["reply_to_message"] = reply
            message["text"] = text
            if entities:
                message["entities"] = entities
            if markup is not None and "inline_keyboard" in markup:
                message["reply_markup"] = copy.deepcopy(markup)
            self._apply_keyboard(chat, markup)
            self._record_send(chat, "sendMessage", message)
            return copy.deepcopy(message)

    async def _edit_message_text(self, p: dict[str, Any], request: Request) -> Any:
        if "text" not in p:
            raise bad_request("message text is empty")
        text, entities = self._format(
            p["text"],
            p.get("parse_mode"),
            p.get("entities"),
            limit=MAX_TEXT_LENGTH,
            too_long="message is too long",
        )
        markup = self._check_markup(p.get("reply_markup"))
        with self._lock:
            chat, message = self._editable_message(p)
            if "text" not in message:
                raise bad_request("there is no text in the message to edit")
            if (
                message["text"] == text
                and message.get("entities", []) == entities
                and message.get("reply_markup") == markup
            ):
                raise bad_request(_NOT_MODIFIED)
            message["text"] = text
            _set_or_drop(message, "entities", entities or None)
            _set_or_drop(message, "reply_markup", markup)
            self._record_edit(chat, "editMessageText", message)
            return copy.deepcopy(message)

    async def _edit_message_caption(self, p: dict[str, Any], request: Request) -> Any:
        caption, entities = self._format(
            p.get("caption", ""),
            p.get("parse_mode"),
            p.get("caption_entities"),
            limit=MAX_CAPTION_LENGTH,
            too_long="message caption is too long",
            allow_empty=True,
        )
        markup = self._check_markup(p.get("reply_markup"))
        with self._lock:
            chat, message = self._editable_message(p)
            if "text" in message:
                raise bad_request("there is no caption in the message to edit")
            if (
                message.get("caption", "") == caption
                and message.get("caption_entities", []) == entities
                and message.get("reply_markup") == markup
            ):
                raise bad_request(_NOT_MODIFIED)
            _set_or_drop(message, "caption", caption or None)
            _set_or_drop(message, "caption_entities", entities or None)
            _set_or_drop(message, "reply_markup", markup)
            self._record_edit(chat, "editMessageCaption", message)
            return copy.deepcopy(message)

    async def _edit_message_reply_markup(self, p: dict[str, Any], request: Request) -> Any:
        markup = self._check_markup(p.get("reply_markup"))
        with self._lock:
            chat, message = self._editable_message(p)
            if message.get("reply_markup") == markup:
                raise bad_request(_NOT_MODIFIED)
            _set_or_drop(message, "reply_markup", markup)
            self._record_edit(chat, "editMessageReplyMarkup", message)
            return copy.deepcopy(message)

    async def _delete_message(self, p: dict[str, Any], request: Request) -> Any:
        with self._lock:
            chat = self._resolve_chat(p["chat_id"])
            message = chat.messages.pop(p["message_id"], None)
            if message is None:
                raise bad_request("message to delete not found")
            self._history.append(
                BotEvent(
                    "delete", "deleteMessage", chat.id, p["message_id"], message, time.monotonic()
                )
            )
        return True

    async def _answer_callback_query(self, p: dict[str, Any], request: Request) -> Any:
        text = p.get("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        with self._lock:
            query = self._callbacks.get(p["callback_query_id"])
            if (
                query is None
                or query.answered
                or time.monotonic() - query.created > self._callback_timeout
            ):
                raise bad_request(_TOO_OLD_QUERY)
            query.answered = True
            self._callback_answers.append(dict(p))
        return True

    async def _set_my_commands(self, p: dict[str, Any], request: Request) -> Any:
        commands = p["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands specified")
        for command in commands:
            if not _BOT_COMMAND_RE.fullmatch(command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"].strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        with self._lock:
            key = self._commands_key(p)
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        return True

    async def _get_my_commands(self, p: dict[str, Any], request: Request) -> Any:
        with self._lock:
            return copy.deepcopy(self._commands.get(self._commands_key(p), []))

    async def _delete_my_commands(self, p: dict[str, Any], request: Request) -> Any:
        with self._lock:
            self._commands.pop(self._commands_key(p), None)
        return True

    def _commands_key(self, p: Mapping[str, Any]) -> tuple[tuple[Any, ...], str]:
        language = p.get("language_code", "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code specified")
        return _scope_key(p.get("scope"), self._resolve_chat), language

    async def _send_chat_action(self, p: dict[str, Any], request: Request) -> Any:
        if p["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        with self._lock:
            chat = self._resolve_chat(p["chat_id"])
            self._check_reachable(chat)
            self._chat_actions.append((chat.id, p["action"], time.monotonic()))
        return True

    async def _send_document(self, p: dict[str, Any], request: Request) -> Any:
        return await self._send_media(p, "document")

    async def _send_photo(self, p: dict[str, Any], request: Request) -> Any:
        return await self._send_media(p, "photo")

    async def _send_media(self, p: dict[str, Any], kind: str) -> Any:
        caption, entities = self._format(
            p.get("caption", ""),
            p.get("parse_mode"),
            p.get("caption_entities"),
            limit=MAX_CAPTION_LENGTH,
            too_long="message caption is too long",
            allow_empty=True,
        )
        markup = self._check_markup(p.get("reply_markup"))
        media = p[kind]
        size: tuple[int, int] | None = None
        if isinstance(media, UploadedFile):
            if not media.data:
                raise bad_request("file must be non-empty")
            limit = MAX_PHOTO_BYTES if kind == "photo" else MAX_DOCUMENT_BYTES
            if len(media.data) > limit:
                raise ApiError(413, "Request Entity Too Large")
            if kind == "photo":
                size = _image_size(media.data)
                if size is None:
                    raise bad_request("IMAGE_PROCESS_FAILED")
                width, height = size
                if width + height > 10_000 or max(width, height) > 20 * min(width, height):
                    raise bad_request("PHOTO_INVALID_DIMENSIONS")
        with self._lock:
            chat = self._resolve_chat(p["chat_id"])
            self._check_reachable(chat)
            self._check_rate(chat)
            if isinstance(media, UploadedFile):
                content_type = media.content_type
                if content_type == "application/octet-stream":
                    content_type = mimetypes.guess_type(media.filename)[0] or content_type
                stored = self._store_file(kind, media.filename, content_type, media.data)
            elif media in self._files:
                stored = self._files[media]
            elif re.match(r"https?://", media):
                name = PurePosixPath(urlsplit(media).path).name or "file"
                guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
                stored = self._store_file(kind, name, guessed, b"")
            else:
                raise bad_request("wrong file identifier/HTTP URL specified")
            reply = self._reply_to(chat, p.get("reply_parameters"))
            message = self._new_message(chat, self._bot_sender())
            if reply is not None:
                message["reply_to_message"] = reply
            if kind == "photo":
                width, height = size or _image_size(stored.data) or (0, 0)
                message["photo"] = [
                    {
                        "file_id": stored.file_id,
                        "file_unique_id": stored.file_unique_id,
                        "file_size": len(stored.data),
                        "width": width,
                        "height": height,
                    }
                ]
            else:
                message["document"] = {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_name": stored.filename,
                    "mime_type": stored.content_type,
                    "file_size": len(stored.data),
                }
            if caption:
                message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
            if markup is not None and "inline_keyboard" in markup:
                message["reply_markup"] = copy.deepcopy(markup)
            self._apply_keyboard(chat, markup)
            self._record_send(chat, "sendPhoto" if kind == "photo" else "sendDocument", message)
            self._sent_files.append(
                SentFile(
                    chat_id=chat.id,
                    message_id=message["message_id"],
                    kind=kind,
                    filename=stored.filename,
                    content_type=stored.content_type,
                    data=stored.data,
                    caption=caption or None,
                    file_id=stored.file_id,
                )
            )
            return copy.deepcopy(message)

    async def _get_file(self, p: dict[str, Any], request: Request) -> Any:
        with self._lock:
            stored = self._files.get(p["file_id"])
            if stored is None:
                raise bad_request("invalid file_id")
            return {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data),
                "file_path": stored.file_path,
            }

    async def _get_chat(self, p: dict[str, Any], request: Request) -> Any:
        with self._lock:
            chat = self._resolve_chat(p["chat_id"])
            info = chat.as_dict()
        info.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return info

    # -- webhook delivery ---------------------------------------------------------------------

    async def _webhook_worker(self) -> None:
        assert self._webhook_event is not None and self._closing_event is not None
        delay = self._backoff[0]
        while not self._closing:
            self._webhook_event.clear()
            with self._lock:
                hook = self._webhook
                update = copy.deepcopy(self._pending[0]) if hook and self._pending else None
            if hook is None or update is None:
                await self._webhook_event.wait()
                continue
            body = json.dumps(update, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json"}
            if hook.secret_token:
                headers[SECRET_HEADER] = hook.secret_token
            status, error = await self._post(hook.url, body, headers, update["update_id"], False)
            delivered = status is not None and 200 <= status < 300
            with self._lock:
                if delivered:
                    if self._pending and self._pending[0]["update_id"] == update["update_id"]:
                        self._pending.pop(0)
                else:
                    hook.last_error_date = int(time.time())
                    hook.last_error_message = error or _webhook_status_error(status)
            if delivered:
                delay = self._backoff[0]
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing_event.wait(), delay)
            delay = min(delay * 2, self._backoff[1])

    async def _post(
        self, url: str, body: bytes, headers: Mapping[str, str], update_id: int | None, raw: bool
    ) -> tuple[int | None, str | None]:
        assert self._delivery_lock is not None and self._http is not None
        async with self._delivery_lock:
            status: int | None = None
            error: str | None = None
            try:
                response = await self._http.post(url, content=body, headers=dict(headers))
                status = response.status_code
            except httpx.ConnectError:
                error = "Connection refused"
            except httpx.TimeoutException:
                error = "Read timeout expired"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            secret_sent = any(k.lower() == SECRET_HEADER.lower() for k in headers)
            with self._lock:
                self._deliveries.append(
                    WebhookDelivery(
                        url, update_id, status, error, time.monotonic(), secret_sent, raw
                    )
                )
            return status, error

    def deliver_raw(
        self,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        url: str | None = None,
        timeout: float = 30.0,
    ) -> int:
        """POST ``body`` to the webhook (or ``url``) as Telegram would and return the status.

        ``headers=None`` sends ``Content-Type: application/json`` plus the configured secret
        header; an explicit mapping is sent as given (a JSON content type is added if missing).
        Goes through the same sequential delivery lane as regular updates. Blocks the calling
        thread: from a coroutine use :meth:`adeliver_raw`. Raises ``ConnectionError`` when the
        webhook cannot be reached.
        """
        self._require_not_in_loop("deliver_raw", "adeliver_raw")
        future = asyncio.run_coroutine_threadsafe(
            self._deliver_raw(body, headers, url), self._require_loop()
        )
        return future.result(timeout)

    async def adeliver_raw(
        self, body: bytes, headers: Mapping[str, str] | None = None, *, url: str | None = None
    ) -> int:
        """Async variant of :meth:`deliver_raw` (usable from any event loop)."""
        future = asyncio.run_coroutine_threadsafe(
            self._deliver_raw(body, headers, url), self._require_loop()
        )
        return await asyncio.wrap_future(future)

    async def _deliver_raw(
        self, body: bytes, headers: Mapping[str, str] | None, url: str | None
    ) -> int:
        with self._lock:
            hook = self._webhook
        target = url or (hook.url if hook else None)
        if target is None:
            raise ValueError("no webhook is set and no url was given")
        if headers is None:
            sent = {"Content-Type": "application/json"}
            if hook is not None and hook.secret_token:
                sent[SECRET_HEADER] = hook.secret_token
        else:
            sent = dict(headers)
            if not any(k.lower() == "content-type" for k in sent):
                sent["Content-Type"] = "application/json"
        update_id: int | None = None
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            update_id = json.loads(body).get("update_id")
        status, error = await self._post(target, body, sent, update_id, True)
        if status is None:
            raise ConnectionError(error)
        return status

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._stopped:
            raise RuntimeError("FakeTelegram is not running")
        return self._loop

    # -- test-side API: updates ---------------------------------------------------------------

    def push_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        language_code: str | None = "vi",
        username: str | None = None,
        last_name: str | None = None,
        chat_title: str | None = None,
        reply_to_message_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Simulate a user sending ``text``; returns the queued ``message`` update.

        Private chats have ``chat_id == user_id``; group-like chats need ``chat_id``. Bot
        commands anywhere in the text get ``bot_command`` entities. ``extra`` is merged into
        the Message (e.g. ``{"contact": {...}}``); pass ``text=""`` to omit the text.
        """
        if chat_type == "private":
            if chat_id is not None and chat_id != user_id:
                raise ValueError("a private chat's id equals the user's id")
            chat_id = user_id
        elif chat_id is None:
            raise ValueError(f"chat_id is required for chat_type={chat_type!r}")
        with self._lock:
            user = self._register_user(user_id, first_name, last_name, username, language_code)
            chat = self._register_chat(
                chat_id,
                chat_type,
                title=chat_title,
                first_name=first_name,
                last_name=last_name,
                username=username if chat_type == "private" else None,
            )
            message = self._new_message(chat, user)
            if reply_to_message_id is not None:
                original = chat.messages.get(reply_to_message_id)
                if original is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
                quoted = copy.deepcopy(original)
                quoted.pop("reply_to_message", None)
                message["reply_to_message"] = quoted
            if text:
                message["text"] = text
                entities = _command_entities(text)
                if entities:
                    message["entities"] = entities
            if extra:
                message.update(copy.deepcopy(dict(extra)))
            chat.messages[message["message_id"]] = message
            update = self._enqueue({"message": copy.deepcopy(message)})
        self._wake()
        return update

    def push_callback(
        self,
        user_id: int,
        message_id: int,
        data: str,
        *,
        chat_id: int | None = None,
        strict: bool = True,
    ) -> dict[str, Any]:
        """Simulate a press on an inline button of a message the bot sent earlier.

        With ``strict`` (default) the message's current inline keyboard must contain a button
        with this ``callback_data``. The query id is remembered for answerCallbackQuery.
        """
        chat_id = user_id if chat_id is None else chat_id
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                raise ValueError(f"unknown chat {chat_id}")
            message = chat.messages.get(message_id)
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            if message.get("from", {}).get("id") != self.bot_id:
                raise ValueError(f"message {message_id} was not sent by the bot")
            if strict:
                available = _callback_datas(message.get("reply_markup"))
                if data not in available:
                    raise ValueError(
                        f"message {message_id} has no button with callback_data {data!r}; "
                        f"available: {available}"
                    )
            user = self._users.get(user_id) or self._register_user(
                user_id, "Test", None, None, "vi"
            )
            query_id = str(10**18 + secrets.randbelow(9 * 10**18))
            query = {
                "id": query_id,
                "from": copy.deepcopy(user),
                "message": copy.deepcopy(message),
                "chat_instance": str((chat_id * 2654435761) % 10**19),
                "data": data,
            }
            self._callbacks[query_id] = _Callback(query_id, chat_id, message_id, time.monotonic())
            update = self._enqueue({"callback_query": query})
        self._wake()
        return update

    def push_update(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Queue an arbitrary Update (``update_id`` is assigned when missing).

        Chats, users and messages found in it are registered, and a ``callback_query`` id is
        remembered for answerCallbackQuery.
        """
        update = copy.deepcopy(dict(raw))
        with self._lock:
            for key in _MESSAGE_UPDATE_KEYS:
                message = update.get(key)
                if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                    chat = self._register_chat_dict(message["chat"])
                    if isinstance(message.get("from"), dict):
                        self._users.setdefault(message["from"]["id"], dict(message["from"]))
                    if isinstance(message.get("message_id"), int):
                        chat.next_message_id = max(chat.next_message_id, message["message_id"] + 1)
                        if key in ("message", "channel_post", "business_message"):
                            chat.messages.setdefault(message["message_id"], copy.deepcopy(message))
            for key in ("my_chat_member", "chat_member", "chat_join_request"):
                payload = update.get(key)
                if isinstance(payload, dict) and isinstance(payload.get("chat"), dict):
                    self._register_chat_dict(payload["chat"])
            query = update.get("callback_query")
            if isinstance(query, dict) and "id" in query:
                message = query.get("message") or {}
                self._callbacks[str(query["id"])] = _Callback(
                    str(query["id"]),
                    (message.get("chat") or {}).get("id"),
                    message.get("message_id"),
                    time.monotonic(),
                )
            result = self._enqueue(update)
        self._wake()
        return result

    def _enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        """Assign an update_id and queue the update (if allowed). Caller holds the lock."""
        if "update_id" in update:
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        else:
            update = {"update_id": self._next_update_id, **update}
            self._next_update_id += 1
        if self._accepts_update(update):
            self._pending.append(update)
        else:
            log.debug("update %s filtered out by allowed_updates", update["update_id"])
        return copy.deepcopy(update)

    def _register_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return copy.deepcopy(user)

    def _register_chat(
        self,
        chat_id: int,
        chat_type: str,
        *,
        title: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
    ) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = _Chat(id=chat_id, type=chat_type)
            self._chats[chat_id] = chat
        chat.type = chat_type
        if chat_type == "private":
            chat.first_name = first_name or chat.first_name
            chat.last_name = last_name or chat.last_name
        else:
            chat.title = title or chat.title or "Test group"
        chat.username = username or chat.username
        return chat

    def _register_chat_dict(self, data: Mapping[str, Any]) -> _Chat:
        return self._register_chat(
            int(data["id"]),
            str(data.get("type", "private")),
            title=data.get("title"),
            first_name=data.get("first_name"),
            last_name=data.get("last_name"),
            username=data.get("username"),
        )

    def register_chat(
        self,
        chat_id: int,
        *,
        chat_type: str = "private",
        title: str | None = None,
        first_name: str = "Test",
        username: str | None = None,
    ) -> None:
        """Make a chat known to the bot without a message from it (e.g. a channel)."""
        with self._lock:
            self._register_chat(
                chat_id, chat_type, title=title, first_name=first_name, username=username
            )

    # -- test-side API: faults ----------------------------------------------------------------

    def inject(
        self,
        method: str,
        *,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next ``times`` valid calls of ``method`` (``"*"`` = any) fail.

        429 answers "Too Many Requests: retry after N" with ``parameters.retry_after``;
        403 "Forbidden: bot was blocked by the user"; 5xx the matching gateway/server error.
        Injected failures apply after parameter validation and before the method runs.
        """
        if method != "*":
            canonical = self.spec.canonical_method(method)
            if canonical is None:
                raise ValueError(f"unknown Bot API method {method!r}")
            method = canonical
        if times < 1:
            raise ValueError("times must be >= 1")
        parameters: dict[str, Any] | None = None
        if status == 429:
            retry = retry_after if retry_after is not None else 1
            parameters = {"retry_after": retry}
            default = f"Too Many Requests: retry after {retry}"
        elif retry_after is not None:
            parameters = {"retry_after": retry_after}
            default = HTTPStatus(status).phrase
        elif status == 403:
            default = "Forbidden: bot was blocked by the user"
        elif status == 400:
            default = "Bad Request: injected failure"
        elif status == 401:
            default = "Unauthorized"
        elif status == 409:
            default = _GETUPDATES_CONFLICT
        else:
            try:
                default = HTTPStatus(status).phrase
            except ValueError:
                default = f"Error {status}"
        error = ApiError(status, description or default, parameters)
        with self._lock:
            self._injections.setdefault(method, []).append(_Injection(error, times))

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    def block_user(self, chat_id: int) -> None:
        """All sends/edits/chat actions to ``chat_id`` answer 403 (blocked/kicked)."""
        with self._lock:
            self._blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        with self._lock:
            self._blocked.discard(chat_id)

    def set_rate_limit(
        self,
        *,
        per_chat: tuple[int, float] | None = None,
        overall: tuple[int, float] | None = None,
        retry_after: int = 1,
    ) -> None:
        """Enforce ``(count, seconds)`` send limits with 429 answers (``None`` disables)."""
        with self._lock:
            self._rate_per_chat = per_chat
            self._rate_overall = overall
            self._rate_retry_after = retry_after

    # -- test-side API: inspection ------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Snapshot of every request received so far, in completion order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        wanted = method.lower()
        with self._lock:
            return [c for c in self._calls if c.method.lower() == wanted]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    @property
    def events(self) -> list[BotEvent]:
        """Snapshot of messages the bot sent/edited/deleted, in order."""
        with self._lock:
            return list(self._history)

    def mark(self) -> int:
        """A cursor for ``since=``: only events after this point are matched."""
        with self._lock:
            return len(self._history)

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """Texts (as displayed, i.e. after entity parsing) of messages sent with sendMessage."""
        with self._lock:
            return [
                e.message["text"]
                for e in self._history
                if e.kind == "send"
                and "text" in e.message
                and (chat_id is None or e.chat_id == chat_id)
            ]

    def messages(self, chat_id: int, *, include_user: bool = False) -> list[dict[str, Any]]:
        """Current state of the chat's messages (bot's only by default), by message_id."""
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                return []
            return [
                copy.deepcopy(m)
                for _, m in sorted(chat.messages.items())
                if include_user or m.get("from", {}).get("id") == self.bot_id
            ]

    def last_message(self, chat_id: int) -> dict[str, Any] | None:
        found = self.messages(chat_id)
        return found[-1] if found else None

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The custom reply keyboard currently shown in the chat, if any."""
        with self._lock:
            chat = self._chats.get(chat_id)
            return copy.deepcopy(chat.keyboard) if chat else None

    def sent_files(self, chat_id: int | None = None) -> list[SentFile]:
        with self._lock:
            return [f for f in self._sent_files if chat_id is None or f.chat_id == chat_id]

    @property
    def callback_answers(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._callback_answers)

    @property
    def chat_actions(self) -> list[tuple[int, str, float]]:
        with self._lock:
            return list(self._chat_actions)

    def commands(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """Commands stored by setMyCommands for ``scope`` (a BotCommandScope dict)."""
        with self._lock:
            key = (_scope_key(dict(scope) if scope else None, self._resolve_chat), language_code)
            return copy.deepcopy(self._commands.get(key, []))

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed (polling) or acknowledged (webhook)."""
        with self._lock:
            return copy.deepcopy(self._pending)

    @property
    def webhook_url(self) -> str | None:
        with self._lock:
            return self._webhook.url if self._webhook else None

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return list(self._deliveries)

    def send_times(self, chat_id: int | None = None) -> list[float]:
        """``time.monotonic()`` of every successful send* call (optionally for one chat)."""
        with self._lock:
            return [t for t, cid in self._send_log if chat_id is None or cid == chat_id]

    def max_send_rate(self, chat_id: int | None = None, window: float = 1.0) -> int:
        """Largest number of successful sends inside any ``window``-second interval."""
        times = sorted(self.send_times(chat_id))
        best, start = 0, 0
        for end, current in enumerate(times):
            while current - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    # -- test-side API: waiting ---------------------------------------------------------------

    def wait_until(
        self,
        condition: Callable[[], T | None],
        timeout: float = 10.0,
        *,
        interval: float = 0.02,
        message: str | None = None,
    ) -> T:
        """Poll ``condition`` until it returns a truthy value and return it (sync code only)."""
        self._require_not_in_loop("wait_until", "await_until")
        return self._poll_sync(condition, timeout, interval, message or "condition")

    def _poll_sync(
        self, condition: Callable[[], T | None], timeout: float, interval: float, message: str
    ) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise WaitTimeout(self._timeout_message(message, timeout))
            time.sleep(interval)

    async def await_until(
        self,
        condition: Callable[[], T | None],
        timeout: float = 10.0,  # noqa: ASYNC109 - mirrors the sync helper
        *,
        interval: float = 0.02,
        message: str | None = None,
    ) -> T:
        """Async :meth:`wait_until`; usable from any event loop."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise WaitTimeout(self._timeout_message(message or "condition", timeout))
            await asyncio.sleep(interval)

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 10.0,
        *,
        chat_id: int | None = None,
        since: int = 0,
    ) -> dict[str, Any]:
        """Wait until the bot sends or edits a message matching ``predicate``; return it."""
        self._require_not_in_loop("wait_for", "await_for")
        return self._poll_sync(
            lambda: self._find_event(predicate, chat_id, since),
            timeout,
            0.02,
            "a bot message matching the predicate",
        )

    async def await_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - mirrors the sync helper
        *,
        chat_id: int | None = None,
        since: int = 0,
    ) -> dict[str, Any]:
        return await self.await_until(
            lambda: self._find_event(predicate, chat_id, since),
            timeout,
            message="a bot message matching the predicate",
        )

    def wait_for_text(
        self,
        substring: str,
        chat_id: int | None = None,
        timeout: float = 10.0,
        *,
        since: int = 0,
    ) -> dict[str, Any]:
        """Wait until a sent/edited message's text or caption contains ``substring``."""
        self._require_not_in_loop("wait_for_text", "await_for_text")
        return self._poll_sync(
            lambda: self._find_event(_contains(substring), chat_id, since),
            timeout,
            0.02,
            f"a bot message containing {substring!r}",
        )

    async def await_for_text(
        self,
        substring: str,
        chat_id: int | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - mirrors the sync helper
        *,
        since: int = 0,
    ) -> dict[str, Any]:
        return await self.await_until(
            lambda: self._find_event(_contains(substring), chat_id, since),
            timeout,
            message=f"a bot message containing {substring!r}",
        )

    def _find_event(
        self, predicate: Callable[[dict[str, Any]], bool], chat_id: int | None, since: int
    ) -> dict[str, Any] | None:
        for event in self.events[since:]:
            if event.kind == "delete" or (chat_id is not None and event.chat_id != chat_id):
                continue
            if predicate(event.message):
                return copy.deepcopy(event.message)
        return None

    def _timeout_message(self, what: str, timeout: float) -> str:
        recent = [(e.chat_id, e.text) for e in self.events[-10:]]
        failures = [(c.method, c.status, c.description) for c in self.calls if not c.ok][-5:]
        return (
            f"timed out after {timeout:g}s waiting for {what}; last bot messages "
            f"(chat_id, text): {recent}; last failed calls: {failures}"
        )

    def _require_not_in_loop(self, name: str, alternative: str) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        raise RuntimeError(
            f"FakeTelegram.{name}() blocks the thread; inside a coroutine use {alternative}()"
        )


# -- module helpers ---------------------------------------------------------------------------


def _set_or_drop(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = copy.deepcopy(value)


def _contains(substring: str) -> Callable[[dict[str, Any]], bool]:
    def predicate(message: dict[str, Any]) -> bool:
        text = message.get("text", message.get("caption"))
        return isinstance(text, str) and substring in text

    return predicate


def _command_entities(text: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group(0)),
        }
        for match in _COMMAND_RE.finditer(text)
    ]


def _callback_datas(markup: Mapping[str, Any] | None) -> list[str]:
    if not markup:
        return []
    return [
        button["callback_data"]
        for row in markup.get("inline_keyboard", [])
        for button in row
        if "callback_data" in button
    ]


def _scope_key(
    scope: Mapping[str, Any] | None, resolve_chat: Callable[[Any], _Chat]
) -> tuple[Any, ...]:
    if not scope:
        return ("default",)
    kind = scope["type"]
    if kind in ("chat", "chat_administrators"):
        return (kind, resolve_chat(scope["chat_id"]).id)
    if kind == "chat_member":
        return (kind, resolve_chat(scope["chat_id"]).id, scope["user_id"])
    return (kind,)


def _webhook_status_error(status: int | None) -> str:
    if status is None:
        return "Connection failed"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"Wrong response from the webhook: {status} {phrase}"


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a transitive dependency
        return (1, 1)
    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.width), int(image.height)
    except Exception:  # noqa: BLE001 - any decoding failure means "not an image"
        return None
