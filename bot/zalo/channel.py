"""The Zalo channel: Zalo Bot Platform events in, plain-text replies out.

    Zalo event ──parse_event──> ZaloEvent ──to_incoming──> Incoming ──Dispatcher.handle──>
    Outcome (committed) ──render_plain + split_text──> sendMessage, one chunk at a time

Polling (``bdg run``) long-polls getUpdates with :func:`bot.zalo.client.poll_forever`; the
webhook (``bdg serve``) is ``POST /zalo/webhook``. Either way the event's ``message_id`` is the
dedupe key, stored in the same transaction as the event's effects, so a redelivered event
changes nothing. The webhook answers 200 only after that transaction has committed: a process
that dies earlier makes Zalo deliver again instead of losing the message.

Zalo has no buttons, no message editing and no file upload: choices are rendered as a numbered
list (``render_plain``), answered by number or by the words, and a reply that carries files
gets a short note instead. Replies longer than 2,000 characters are split at line boundaries.

Logs name events by ``message_id`` and errors by type and code; message texts never appear.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.render import render_plain
from bot.webhooks import ChatSender, WebhookRefused, read_json_update
from bot.zalo.client import (
    MalformedEvent,
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
from kernel.channel import (
    ZALO,
    Capabilities,
    Rejected,
    RetryLater,
    SendError,
    Transient,
    Unreachable,
    reply_with_retries,
)
from kernel.i18n import t
from kernel.messages import Incoming, Outcome, Reply
from kernel.text import clean_incoming

log = logging.getLogger("bdg.zalo")

CHANNEL = "zalo"
WEBHOOK_PATH = "/zalo/webhook"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
# A text event is a few KB at most; anything much larger is not from Zalo.
MAX_BODY_BYTES = 64 * 1024
# ProcessedUpdate.key holds 128 characters; longer ids are hashed to fit.
_MAX_ID_IN_KEY = 100
# Retries of one chunk of an interactive reply (seconds before each retry).
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0)
# A rate limit asking to wait longer than this is not waited for by an interactive reply.
MAX_RETRY_AFTER = 30.0
DEFAULT_RETRY_AFTER = 1.0


# --------------------------------------------------------------------------------------------
# Events → Incoming
# --------------------------------------------------------------------------------------------


def dedupe_key(message_id: str) -> str:
    """``zalo:<message_id>``; very long ids (never seen) are hashed to fit the key column."""
    if len(message_id) > _MAX_ID_IN_KEY:
        message_id = "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    return f"{CHANNEL}:{message_id}"


def media_kind(event: ZaloEvent) -> str | None:
    """None for a text message; else ``image``, ``sticker`` or ``unsupported``.

    Event names seen in the platform's documentation: ``message.text.received``,
    ``message.image.received``, ``message.sticker.received``, ``message.unsupported.received``
    (e.g. a text containing a link). Unknown names with a text are read as text; without one
    they are answered as unsupported, so the user is never met with silence.
    """
    name = event.event_name.lower()
    if ".text." in name and event.text is not None:
        return None
    if ".unsupported." in name:
        return "unsupported"
    if ".image." in name or event.photo_url is not None:
        return "image"
    if ".sticker." in name or event.sticker is not None:
        return "sticker"
    return None if event.text is not None else "unsupported"


def to_incoming(event: ZaloEvent, lang: str | None = None) -> Incoming:
    media = media_kind(event)
    # Seen: "PRIVATE"; group chats are assumed to say "GROUP" (bots are private-only now).
    group = "GROUP" in (event.chat_type or "").upper()
    return clean_incoming(
        Incoming(
            channel=CHANNEL,
            chat_id=event.chat_id,
            user_id=event.user_id,
            text=event.text if media is None else None,
            dedupe_key=dedupe_key(event.message_id),
            lang=lang,
            chat_type="group" if group else "private",
            display_name=event.display_name,
            media=media,
        )
    )


# --------------------------------------------------------------------------------------------
# Client errors → channel errors
# --------------------------------------------------------------------------------------------


def _blocked(exc: ZaloError) -> bool:
    text = exc.description.lower()
    return exc.code == 403 or "block" in text or "forbidden" in text


def to_send_error(exc: ZaloError) -> SendError:
    """Map a client error to what the outbox understands (the detail never holds the text)."""
    detail = f"zalo {exc.method or 'call'} error {exc.code}: {type(exc).__name__}"
    if isinstance(exc, ZaloRateLimited):
        return RetryLater(
            exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_AFTER, detail
        )
    if _blocked(exc):
        return Unreachable(detail)
    if isinstance(exc, ZaloServerError | ZaloNetworkError | ZaloTimeout):
        return Transient(detail)
    if isinstance(exc, ZaloUnauthorized):
        # The token, not the recipient, is wrong: keep the message for when it is fixed.
        return Transient(detail + " (check ZALO_BOT_TOKEN)")
    if isinstance(exc, ZaloBadRequest):
        return Rejected(detail)
    if exc.code is None or exc.code >= 500:
        return Transient(detail)
    return Rejected(detail)


# --------------------------------------------------------------------------------------------
# The channel
# --------------------------------------------------------------------------------------------


class ZaloChannel:
    """Serves one Zalo bot for the process (``bot.runner`` builds it when ZALO_BOT_TOKEN is
    set). ``client``, ``retry_delays`` and ``sleep`` can be replaced in tests."""

    name = CHANNEL
    capabilities: Capabilities

    def __init__(
        self,
        app: App,
        *,
        client: ZaloClient | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        poll_timeout: int = 30,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        settings = app.settings
        self.app = app
        self.capabilities = app.dispatcher.services.channels.get(CHANNEL, ZALO)
        if client is None:
            if not settings.zalo_bot_token:
                raise ValueError("ZALO_BOT_TOKEN is not set")
            client = ZaloClient(settings.zalo_bot_token, settings.zalo_api_url)
        self.client = client
        self.secret = settings.zalo_webhook_secret or ""
        self.lang = settings.locale
        self.retry_delays = retry_delays
        self.poll_timeout = poll_timeout
        self._sleep = sleep
        # Webhook mode sends replies after answering Zalo, each chat's in order.
        self._sender = ChatSender()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, webhook: bool) -> None:
        """Check the token (getMe), then set the webhook (``bdg serve``) or delete it so that
        getUpdates works (``bdg run``)."""
        try:
            me = await self.client.get_me()
        except ZaloUnauthorized:
            raise RuntimeError("Zalo rejected ZALO_BOT_TOKEN (getMe answered 401)") from None
        log.info("Zalo bot %s (%s)", me.get("account_name") or "?", me.get("id") or "?")
        if not webhook:
            await self.client.delete_webhook()
            return
        public_url = (self.app.settings.public_url or "").rstrip("/")
        if not public_url:
            raise RuntimeError("bdg serve with Zalo needs PUBLIC_URL (the https root of the bot)")
        if not 8 <= len(self.secret) <= 256:
            raise RuntimeError(
                "bdg serve with Zalo needs ZALO_WEBHOOK_SECRET (8 to 256 characters)"
            )
        await self.client.set_webhook(public_url + WEBHOOK_PATH, self.secret)
        log.info("Zalo webhook set to %s%s", public_url, WEBHOOK_PATH)

    async def run_polling(self, stop: asyncio.Event) -> None:
        await poll_forever(self.client, self._on_polled, stop=stop, timeout=self.poll_timeout)

    async def stop(self) -> None:
        await self._sender.drain()
        await self.client.close()

    # -- incoming --------------------------------------------------------------------------

    async def process(self, event: ZaloEvent) -> Outcome | None:
        """Dispatch one event (committed when this returns); None when it is ignored."""
        if event.is_bot:
            return None
        return await self.app.dispatcher.handle(to_incoming(event, self.lang))

    async def _on_polled(self, event: ZaloEvent) -> None:
        outcome = await self.process(event)
        if outcome is not None:
            await self.deliver(event.chat_id, outcome.replies, event.message_id)

    def web_routes(self) -> list[BaseRoute]:
        return [Route(WEBHOOK_PATH, self._webhook, methods=["POST"])]

    async def _webhook(self, request: Request) -> JSONResponse:
        try:
            data = await read_json_update(
                request, secret=self.secret, header=SECRET_HEADER, max_bytes=MAX_BODY_BYTES
            )
        except WebhookRefused as refused:
            return JSONResponse({"ok": False, "error": refused.reason}, status_code=refused.status)
        try:
            event = parse_event(data)
        except MalformedEvent as exc:
            log.warning("Zalo webhook: refused a malformed message event (%s)", exc)
            return JSONResponse({"ok": False, "error": "malformed event"}, status_code=400)
        except ValueError as exc:
            # Valid JSON that is not a message event (a kind we do not know): delivering it
            # again would not help, so it is acknowledged and skipped.
            log.warning("Zalo webhook: ignored an event that is not a message (%s)", exc)
            return JSONResponse({"ok": True, "ignored": True})
        outcome = await self.process(event)
        if outcome is not None and outcome.replies:
            replies = outcome.replies
            self._sender.later(
                event.chat_id, lambda: self.deliver(event.chat_id, replies, event.message_id)
            )
        return JSONResponse({"ok": True})

    # -- outgoing --------------------------------------------------------------------------

    def render(self, reply: Reply) -> list[str]:
        """The texts to send for one reply, each 1..2000 characters."""
        texts = [render_plain(reply, self.lang)]
        if reply.files:
            names = ", ".join(name for name, _data, _kind in reply.files)
            texts.append(
                t(
                    reply.lang or self.lang,
                    "zalo.files_unavailable",
                    n=len(reply.files),
                    names=names,
                )
            )
        return [chunk for text in texts for chunk in split_text(text, self.capabilities.max_text)]

    async def _send_chunk(self, chat_id: str, text: str) -> str:
        try:
            result = await self.client.send_message(chat_id, text)
        except ZaloError as exc:
            raise to_send_error(exc) from None
        return str(result.get("message_id", ""))

    async def send(self, chat_id: str, reply: Reply) -> list[str]:
        """Send one reply (split under 2,000 characters); one attempt per chunk. Raises
        ``RetryLater``, ``Transient``, ``Unreachable`` or ``Rejected`` (for the outbox; chunks
        sent before a failure are not sent again by this call)."""
        return [await self._send_chunk(chat_id, chunk) for chunk in self.render(reply)]

    async def deliver(self, chat_id: str, replies: list[Reply], message_id: str = "") -> bool:
        """Send the replies to a user's message, retrying transient failures of each chunk a
        few times with backoff. Gives up (logged without the text) on a refusal or when the
        retries are spent; True when everything was sent."""
        for reply in replies:
            for chunk in self.render(reply):
                if not await self._send_with_retries(chat_id, chunk, message_id):
                    return False
        return True

    async def _send_with_retries(self, chat_id: str, text: str, message_id: str) -> bool:
        async def attempt() -> bool:
            await self._send_chunk(chat_id, text)
            return True

        sent = await reply_with_retries(
            attempt,
            what=f"Zalo reply to message {message_id}",
            delays=self.retry_delays,
            sleep=self._sleep,
            log=log,
            max_retry_after=MAX_RETRY_AFTER,
        )
        return sent is True
