"""Async client for the Zalo Bot Platform HTTP API (2025).

The platform is Telegram-like: ``POST {base_url}/bot{token}/{method}`` with a JSON body, answered
by a JSON envelope ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": ..., "description": ...}``. Errors may arrive with HTTP status 200,
so the envelope is always checked and the HTTP status is never trusted on its own.

IDs (user, chat and message ids) are hex-like strings and are kept as strings everywhere.

Secrets: the bot token is part of every request URL. Error messages produced here never contain
the token or message text. Note that httpx itself logs request URLs (including the token) at
INFO level on the ``httpx`` logger; keep that logger at WARNING or above in production.

Sending is never retried automatically: ``sendMessage`` is not idempotent, so retry policy is the
caller's decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import unicodedata
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

from kernel.text import MAX_ID_LENGTH, MAX_KEY_LENGTH, check_id

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_TEXT_LENGTH",
    "ZaloBadRequest",
    "ZaloClient",
    "ZaloError",
    "ZaloEvent",
    "ZaloNetworkError",
    "ZaloRateLimited",
    "ZaloServerError",
    "ZaloTimeout",
    "ZaloUnauthorized",
    "parse_event",
    "poll_forever",
    "split_text",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://bot-api.zaloplatforms.com"
MAX_TEXT_LENGTH = 2000
# Empty long polls that come back faster than this are spaced out so a server that ignores the
# long-poll timeout cannot make the loop spin.
_MIN_EMPTY_POLL_INTERVAL = 1.0


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ZaloError(Exception):
    """An error answer from the platform (or a failure to get a usable answer).

    ``code`` is the platform's ``error_code`` (or the HTTP status when the body was not a usable
    envelope; None for transport errors). ``description`` is the platform's text with the token
    redacted. ``method`` is the API method that failed.
    """

    def __init__(self, code: int | None, description: str, *, method: str | None = None) -> None:
        self.code = code
        self.description = description
        self.method = method
        super().__init__(code, description)

    def __str__(self) -> str:
        where = f"Zalo {self.method}" if self.method else "Zalo"
        code = f" error {self.code}" if self.code is not None else " error"
        return f"{where}:{code}: {self.description}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, description={self.description!r}, "
            f"method={self.method!r})"
        )


class ZaloUnauthorized(ZaloError):
    """401: the bot token is wrong or revoked."""


class ZaloRateLimited(ZaloError):
    """429 or a quota error. ``retry_after`` is the platform's hint in seconds, if it gave one."""

    def __init__(
        self,
        code: int | None,
        description: str,
        *,
        method: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, description, method=method)
        self.retry_after = retry_after


class ZaloTimeout(ZaloError):
    """408 from a method other than getUpdates (for getUpdates it just means "no update")."""


class ZaloBadRequest(ZaloError):
    """400: invalid parameters (unknown chat, text too long, ...)."""


class ZaloServerError(ZaloError):
    """5xx, or an answer that is not a valid JSON envelope."""


class ZaloNetworkError(ZaloError):
    """Transport failure (connection refused, reset, HTTP timeout, ...). ``code`` is None."""


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZaloEvent:
    """One incoming event (an "update").

    ``date`` is the platform's timestamp in milliseconds (0 if missing). ``text`` is None for
    non-text events. ``raw`` is the bare event object as received.
    """

    event_name: str
    message_id: str
    chat_id: str
    user_id: str
    display_name: str | None
    text: str | None
    chat_type: str | None
    date: int
    raw: dict[str, Any] = field(compare=False, hash=False, repr=False)
    is_bot: bool = False
    photo_url: str | None = None
    caption: str | None = None
    sticker: str | None = None


def _id_field(container: dict[str, Any], key: str, what: str, limit: int = MAX_ID_LENGTH) -> str:
    value = container.get(key)
    # Integers are tolerated (converted verbatim) but never produced: IDs are strings.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"event has no valid {what}")
    text = str(value)
    if not text:
        raise ValueError(f"event has an empty {what}")
    # Stored in 64-character columns: refused here the same on SQLite and PostgreSQL.
    check_id(text, what, limit)
    return text


def _optional_str(container: dict[str, Any], key: str) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"event field {key!r} is not a string")
    return value


def _unwrap_event(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("event body is not a JSON object")
    if "message" not in body and "ok" in body:
        # Wrapped form: {"ok": true, "result": {event}}.
        if body.get("ok") is not True:
            raise ValueError("event envelope is not ok")
        inner = body.get("result")
        if not isinstance(inner, dict):
            raise ValueError("event envelope has no result object")
        body = inner
    return body


class MalformedEvent(ValueError):
    """A message event (it has an event name and a message object) whose fields are broken:
    a missing or over-long id, a date that is not a number, a text that is not a string. The
    webhook answers 400: unlike an event of a kind we do not take, it is a faulty request."""


def parse_event(body: dict[str, Any]) -> ZaloEvent:
    """Parse an event in either the wrapped (``{"ok": true, "result": {...}}``) or bare form.

    Raises ValueError when the body is not a message event (a kind this bot does not take),
    ``MalformedEvent`` when it is one with broken fields. IDs stay strings.
    """
    event = _unwrap_event(body)
    event_name = event.get("event_name")
    if not isinstance(event_name, str) or not event_name:
        raise ValueError("event has no event_name")
    message = event.get("message")
    if not isinstance(message, dict):
        raise ValueError("event has no message object")
    try:
        return _message_event(event, event_name, message)
    except ValueError as exc:  # InvalidIncoming (an id the columns cannot hold) is one too
        raise MalformedEvent(str(exc)) from None


def _message_event(event: dict[str, Any], event_name: str, message: dict[str, Any]) -> ZaloEvent:
    chat = message.get("chat")
    if not isinstance(chat, dict):
        raise ValueError("event has no chat object")
    sender = message.get("from")
    if not isinstance(sender, dict):
        raise ValueError("event has no sender object")
    date = message.get("date", 0)
    if isinstance(date, bool) or not isinstance(date, int | float):
        raise ValueError("event date is not a number")
    is_bot = sender.get("is_bot", False)
    display_name = _optional_str(sender, "display_name")
    if display_name is None:
        display_name = _optional_str(sender, "name")
    return ZaloEvent(
        event_name=event_name,
        message_id=_id_field(message, "message_id", "message id", MAX_KEY_LENGTH - 8),
        chat_id=_id_field(chat, "id", "chat id"),
        user_id=_id_field(sender, "id", "sender id"),
        display_name=display_name,
        text=_optional_str(message, "text"),
        chat_type=_optional_str(chat, "chat_type"),
        date=int(date),
        raw=event,
        is_bot=is_bot is True,
        photo_url=_optional_str(message, "photo"),
        caption=_optional_str(message, "caption"),
        sticker=_optional_str(message, "sticker"),
    )


# --------------------------------------------------------------------------------------------
# Text splitting
# --------------------------------------------------------------------------------------------


def _hard_cut(text: str, limit: int) -> int:
    """Cut position <= limit that does not separate a base character from combining marks."""
    cut = limit
    while cut > 1 and unicodedata.combining(text[cut]):
        cut -= 1
    return cut


def split_text(text: str, limit: int = MAX_TEXT_LENGTH) -> list[str]:
    """Split ``text`` into chunks of 1..``limit`` characters.

    Chunks end at line boundaries when possible (as many whole lines per chunk as fit); a single
    line longer than ``limit`` is split at whitespace, and a run of more than ``limit``
    non-whitespace characters is cut hard. Chunks are stripped of surrounding whitespace, so
    whitespace at the cuts is dropped and whitespace-only input gives ``[]``; all non-whitespace
    content is kept, in order.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        if len(rest) <= limit:
            chunks.append(rest)
            break
        window = rest[: limit + 1]
        cut = window.rfind("\n")
        if cut <= 0:
            cut = next((i for i in range(limit, 0, -1) if window[i].isspace()), 0)
        if cut <= 0:
            cut = _hard_cut(rest, limit)
        chunk = rest[:cut].rstrip()
        if chunk:
            chunks.append(chunk)
        rest = rest[cut:].lstrip()
    return chunks


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


def _parse_retry_after(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if seconds != seconds or seconds < 0 or seconds == float("inf"):  # NaN / negative / inf
        return None
    return seconds


class ZaloClient:
    """Async client for one Zalo bot.

    Pass ``http`` to share an ``httpx.AsyncClient`` (it is then not closed by :meth:`close`).
    ``timeout`` is the per-request timeout in seconds; long polls get a longer read timeout.
    """

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10,
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("a Zalo bot token is required")
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._timeout = float(timeout)
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=self._timeout)
        # getUpdates is specified to return one event, but if a result ever holds several they
        # are handed out one per call instead of being dropped.
        self._pending: deque[ZaloEvent] = deque()

    def __repr__(self) -> str:
        return f"ZaloClient(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url

    async def close(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    async def _call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        http_timeout: httpx.Timeout | None = None,
    ) -> Any:
        """POST one API call and return the envelope's ``result``; raise a ZaloError otherwise."""
        url = f"{self._base_url}/bot{self._token}/{method}"
        try:
            response = await self._http.post(
                url,
                json=params or {},
                timeout=http_timeout if http_timeout is not None else httpx.Timeout(self._timeout),
            )
        except httpx.TransportError as exc:
            detail = self._redact(str(exc)) or "no detail"
            # `from None`: the httpx exception carries the request URL, which holds the token.
            raise ZaloNetworkError(None, f"{type(exc).__name__}: {detail}", method=method) from None
        return self._check(method, response)

    def _check(self, method: str, response: httpx.Response) -> Any:
        status = response.status_code
        try:
            envelope = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            envelope = None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("ok"), bool):
            description = f"invalid answer (HTTP {status}, not a JSON envelope)"
            if status == 401:
                raise ZaloUnauthorized(status, description, method=method)
            if status == 429:
                raise ZaloRateLimited(
                    status,
                    description,
                    method=method,
                    retry_after=_parse_retry_after(response.headers.get("Retry-After")),
                )
            raise ZaloServerError(status, description, method=method)
        if envelope["ok"] is True:
            if 200 <= status < 300:
                return envelope.get("result")
            raise ZaloServerError(status, f"ok envelope with HTTP {status}", method=method)
        raise self._error(method, envelope, response)

    def _error(self, method: str, envelope: dict[str, Any], response: httpx.Response) -> ZaloError:
        raw_code = envelope.get("error_code")
        code: int | None
        if isinstance(raw_code, int) and not isinstance(raw_code, bool):
            code = raw_code
        elif isinstance(raw_code, str) and raw_code.strip().lstrip("-").isdigit():
            code = int(raw_code)
        else:
            code = response.status_code if response.status_code >= 400 else None
        raw_description = envelope.get("description")
        description = self._redact(str(raw_description)) if raw_description else "no description"
        parameters = envelope.get("parameters")
        retry_after = None
        if isinstance(parameters, dict):
            retry_after = _parse_retry_after(parameters.get("retry_after"))
        if retry_after is None:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        if code == 401:
            return ZaloUnauthorized(code, description, method=method)
        if code == 429 or "quota" in description.lower():
            return ZaloRateLimited(code, description, method=method, retry_after=retry_after)
        if code == 408:
            return ZaloTimeout(code, description, method=method)
        if code == 400:
            return ZaloBadRequest(code, description, method=method)
        if code is not None and 500 <= code < 600:
            return ZaloServerError(code, description, method=method)
        return ZaloError(code, description, method=method)

    @staticmethod
    def _as_dict(result: Any) -> dict[str, Any]:
        if isinstance(result, dict):
            return result
        if result is None:
            return {}
        return {"result": result}

    @staticmethod
    def _require_chat_id(chat_id: str) -> None:
        if not isinstance(chat_id, str) or not chat_id:
            raise ValueError("chat_id must be a non-empty string")

    # -- API methods -------------------------------------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        return self._as_dict(await self._call("getMe"))

    # The parameter mirrors the platform's `timeout` (long-poll seconds), hence the noqa.
    async def get_updates(self, timeout: int = 30) -> ZaloEvent | None:  # noqa: ASYNC109
        """Long-poll for one event; None when none arrived within ``timeout`` seconds.

        There is no offset: every event is returned once, and the caller must deduplicate on
        ``message_id`` (redeliveries keep the same id). Raises ValueError if the platform
        returned something that is not an event (that event is consumed and lost).
        """
        if self._pending:
            return self._pending.popleft()
        if timeout < 0:
            raise ValueError("timeout must be >= 0")
        # The HTTP read must outlast the long poll: allow the normal timeout on top of it.
        http_timeout = httpx.Timeout(self._timeout, read=timeout + max(self._timeout, 1.0))
        try:
            result = await self._call(
                "getUpdates", {"timeout": str(timeout)}, http_timeout=http_timeout
            )
        except ZaloTimeout:
            return None
        if result is None or result == {} or result == []:
            return None
        if isinstance(result, list):
            events = [parse_event(item) for item in result]
            self._pending.extend(events[1:])
            return events[0]
        return parse_event(result)

    async def set_webhook(self, url: str, secret_token: str) -> dict[str, Any]:
        return self._as_dict(
            await self._call("setWebhook", {"url": url, "secret_token": secret_token})
        )

    async def delete_webhook(self) -> dict[str, Any]:
        return self._as_dict(await self._call("deleteWebhook"))

    async def get_webhook_info(self) -> dict[str, Any]:
        return self._as_dict(await self._call("getWebhookInfo"))

    async def send_message(self, chat_id: str, text: str) -> dict[str, Any]:
        """Send a text of 1..2000 characters (use :func:`split_text` for longer ones)."""
        self._require_chat_id(chat_id)
        if not isinstance(text, str):
            raise TypeError("text must be a string")
        if not 1 <= len(text) <= MAX_TEXT_LENGTH:
            raise ValueError(f"text must be 1..{MAX_TEXT_LENGTH} characters long, got {len(text)}")
        return self._as_dict(await self._call("sendMessage", {"chat_id": chat_id, "text": text}))

    async def send_photo(
        self, chat_id: str, photo_url: str, caption: str | None = None
    ) -> dict[str, Any]:
        self._require_chat_id(chat_id)
        if not isinstance(photo_url, str) or not photo_url:
            raise ValueError("photo_url must be a non-empty string")
        params: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption is not None:
            params["caption"] = caption
        return self._as_dict(await self._call("sendPhoto", params))

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> dict[str, Any]:
        self._require_chat_id(chat_id)
        return self._as_dict(
            await self._call("sendChatAction", {"chat_id": chat_id, "action": action})
        )


# --------------------------------------------------------------------------------------------
# Polling
# --------------------------------------------------------------------------------------------


async def _sleep_or_stop(delay: float, stop: asyncio.Event) -> None:
    if delay <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay)


async def _poll_once(
    client: ZaloClient, poll_timeout: int, stop: asyncio.Event
) -> ZaloEvent | None:
    """One get_updates call that is abandoned as soon as ``stop`` is set."""
    poll = asyncio.ensure_future(client.get_updates(timeout=poll_timeout))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({poll, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not poll.done():
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
    if poll.cancelled():
        return None
    return poll.result()


def _failed_poll_delay(
    exc: Exception, failures: int, backoff_initial: float, backoff_max: float
) -> float:
    """How long to wait after a failed getUpdates (logged without contents): the platform's
    retry_after for a rate limit when given, exponential backoff with jitter otherwise, and the
    minimum poll interval after an unusable event."""
    base = min(backoff_max, backoff_initial * 2 ** min(failures - 1, 30))
    backoff = min(backoff_max, base * random.uniform(1.0, 1.25))
    if isinstance(exc, ZaloRateLimited):
        delay = exc.retry_after if exc.retry_after is not None else backoff
        logger.warning("Zalo getUpdates rate limited; waiting %.1f s", delay)
        return delay
    if isinstance(exc, ZaloError):
        logger.warning("Zalo getUpdates failed (%s); retrying in %.1f s", exc, backoff)
        return backoff
    logger.warning("Zalo getUpdates returned an unusable event: %s", exc)
    return _MIN_EMPTY_POLL_INTERVAL


async def poll_forever(
    client: ZaloClient,
    handle: Callable[[ZaloEvent], Awaitable[None]],
    *,
    stop: asyncio.Event,
    timeout: int = 30,  # noqa: ASYNC109 - long-poll seconds passed to getUpdates
    backoff_max: float = 60,
    backoff_initial: float = 1.0,
) -> None:
    """Long-poll ``client`` and await ``handle(event)`` for each event until ``stop`` is set.

    Deduplication is NOT done here: getUpdates has no offset and the platform may deliver the
    same message twice, so ``handle`` must dedupe on ``event.message_id`` (the bot does that in
    the same database transaction that stores the message).

    Failures never make the loop spin: network errors, server errors and unexpected API errors
    back off exponentially with jitter (``backoff_initial`` seconds doubling up to
    ``backoff_max``); rate limits wait ``retry_after`` when the platform gave it, else back off
    the same way; empty polls that return early are spaced out. A wrong token
    (:class:`ZaloUnauthorized`) is re-raised, since retrying cannot help. Exceptions from
    ``handle`` are logged and the loop continues. When ``stop`` is set, a pending long poll is
    abandoned (an event the platform hands out in that instant may be lost) and the function
    returns; a running ``handle`` call is allowed to finish.
    """
    if timeout < 0:
        raise ValueError("timeout must be >= 0")
    if backoff_initial <= 0 or backoff_max < backoff_initial:
        raise ValueError("need 0 < backoff_initial <= backoff_max")
    loop = asyncio.get_running_loop()
    failures = 0
    while not stop.is_set():
        started = loop.time()
        try:
            event = await _poll_once(client, timeout, stop)
        except ZaloUnauthorized:
            logger.error("Zalo polling stopped: the bot token was rejected")
            raise
        except (ZaloError, ValueError) as exc:
            failures += 1
            delay = _failed_poll_delay(exc, failures, backoff_initial, backoff_max)
            await _sleep_or_stop(
                delay - (loop.time() - started) * isinstance(exc, ValueError), stop
            )
            continue
        failures = 0
        if stop.is_set():
            if event is not None:
                # Already consumed from the platform: handle it rather than drop it.
                await _handle_safely(handle, event)
            return
        if event is None:
            await _sleep_or_stop(_MIN_EMPTY_POLL_INTERVAL - (loop.time() - started), stop)
            continue
        await _handle_safely(handle, event)


async def _handle_safely(handle: Callable[[ZaloEvent], Awaitable[None]], event: ZaloEvent) -> None:
    try:
        await handle(event)
    except Exception:
        logger.exception(
            "Zalo event handler failed (event %s, message %s)", event.event_name, event.message_id
        )
