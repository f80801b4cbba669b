"""The Zalo Official Account channel: signed webhook events in, OA messages out.

    POST /zalo-oa/webhook ──signature, staleness──> OAEvent ──> Incoming ──Dispatcher.handle──>
    Outcome (committed) ──render_plain + split──> consultation messages (+ up to N buttons)

Outbox rows go through :meth:`ZaloOAChannel.send_outbox`, which knows the consultation window:
inside it a consultation message, outside it the configured transaction template, or a ZNS
message to an officer's phone given with consent; otherwise ``Unreachable`` (the outbox marks
the account and the agency's digest says so). A case reporter is never written to first.

The OA pushes events only (no polling): the channel needs ``bdg serve``. Logs name events by
their msg_id and errors by code; message texts never appear.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.render import render_plain, to_plain
from bot.webhooks import ChatSender, WebhookRefused, read_signed_update
from bot.zalo.client import split_text
from bot.zalo_oa.client import (
    Button,
    OAAuthError,
    OABadRequest,
    OAClient,
    OAError,
    OANotFollower,
    OAOutsideWindow,
    OARateLimited,
    OAServerError,
    OATemplateRefused,
    OATokenInvalid,
)
from bot.zalo_oa.tokens import TokenStore, TokenUnavailable
from db.crypto import Keyring
from db.models import ChannelAccount, Unit
from db.zalo_oa import ZaloOAUser, oa_user, touch_user
from kernel.channel import (
    ZALO_OA,
    Capabilities,
    OutboxItem,
    Rejected,
    RetryLater,
    SendError,
    Transient,
    Unreachable,
    reply_with_retries,
)
from kernel.clock import utcnow
from kernel.i18n import t
from kernel.messages import Incoming, Outcome, Reply
from kernel.settings import ZaloOASettings
from scheduler.budget import is_slot_taken
from services.cases.config import keyring as case_keyring

log = logging.getLogger("bdg.zalo_oa")

CHANNEL = "zalo_oa"
WEBHOOK_PATH = "/zalo-oa/webhook"
SIGNATURE_HEADER = "X-ZEvent-Signature"
MAX_BODY_BYTES = 64 * 1024
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0)
# Set while an outbox row is sent: whether its first API call has used the slot the outbox
# took for it (``scheduler.budget``); its further calls are charged like replies.
_ROW_SLOT: ContextVar[list[bool] | None] = ContextVar("zalo_oa_row_slot", default=None)
MEDIA_EVENTS = {
    "user_send_image": "image",
    "user_send_gif": "image",
    "user_send_sticker": "sticker",
}


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OAEvent:
    name: str
    user_id: str
    at: datetime  # the platform's timestamp
    msg_id: str | None = None
    text: str | None = None
    phone: str | None = None  # user_submit_info


def signature_ok(
    body: bytes, data: dict[str, Any], header: str | None, app_id: str, key: str
) -> bool:
    """``X-ZEvent-Signature`` = ``mac=`` + sha256(app_id + body + timestamp + OA secret key)."""
    if not header or not key:
        return False
    given = header.strip()
    if given.startswith("mac="):
        given = given[4:]
    timestamp = str(data.get("timestamp", ""))
    expected = hashlib.sha256(
        app_id.encode() + body + timestamp.encode() + key.encode()
    ).hexdigest()
    return hmac.compare_digest(given.lower().encode(), expected.encode())


def fresh(data: dict[str, Any], max_age: float, now: float | None = None) -> bool:
    """The event's timestamp (milliseconds) is within ``max_age`` seconds of now."""
    try:
        stamp = int(str(data.get("timestamp", ""))) / 1000
    except ValueError:
        return False
    return abs((now if now is not None else time.time()) - stamp) <= max_age


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None


def parse_event(data: dict[str, Any]) -> OAEvent | None:
    """The event a user caused, or None for an event this channel does not read."""
    name = str(data.get("event_name") or "")
    stamp = datetime.fromtimestamp(int(str(data.get("timestamp"))) / 1000, UTC)
    if name in ("follow", "unfollow"):
        follower = data.get("follower") or {}
        user = _str(follower.get("id")) if isinstance(follower, dict) else None
        return OAEvent(name, user, stamp) if user else None
    sender = data.get("sender") or {}
    user = _str(sender.get("id")) if isinstance(sender, dict) else None
    if user is None:
        return None
    if name == "user_submit_info":
        info = data.get("info") or {}
        phone = _str(info.get("phone")) if isinstance(info, dict) else None
        return OAEvent(name, user, stamp, phone=phone)
    if not name.startswith("user_send_"):
        return None
    message = data.get("message") or {}
    if not isinstance(message, dict):
        return None
    text = message.get("text") if isinstance(message.get("text"), str) else None
    msg_id = (
        _str(message.get("msg_id"))
        or hashlib.sha256(f"{user}:{data.get('timestamp')}".encode()).hexdigest()[:40]
    )
    return OAEvent(name, user, stamp, msg_id=msg_id, text=text)


def to_incoming(event: OAEvent, lang: str) -> Incoming:
    text_event = event.name == "user_send_text" and event.text is not None
    media = None if text_event else MEDIA_EVENTS.get(event.name, "unsupported")
    return Incoming(
        channel=CHANNEL,
        chat_id=event.user_id,
        user_id=event.user_id,
        text=event.text if text_event else None,
        dedupe_key=f"{CHANNEL}:{event.msg_id}",
        lang=lang,
        chat_type="private",
        media=media,
    )


def to_send_error(exc: OAError) -> SendError:
    detail = f"zalo_oa {exc.path or 'call'} error {exc.code}: {type(exc).__name__}"
    if isinstance(exc, OARateLimited):
        return RetryLater(1.0, detail)
    if isinstance(exc, OANotFollower | OAOutsideWindow):
        return Unreachable(detail)
    if isinstance(exc, OATemplateRefused | OABadRequest):
        return Rejected(detail)
    return Transient(detail)  # token trouble, server errors, unknown codes


# --------------------------------------------------------------------------------------------
# The channel
# --------------------------------------------------------------------------------------------


class ZaloOAChannel:
    """One OA for the process (``bot.runner`` builds it when ZALO_OA_APP_ID and
    ZALO_OA_SECRET_KEY are set). ``client``, ``keyring`` and ``now`` can be replaced in tests."""

    name = CHANNEL
    capabilities: Capabilities

    def __init__(
        self,
        app: App,
        *,
        client: OAClient | None = None,
        keyring: Keyring | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.app = app
        self.cfg: ZaloOASettings = app.settings.zalo_oa
        cfg = self.cfg
        if not cfg.app_id or not cfg.secret_key:
            raise ValueError("ZALO_OA_APP_ID and ZALO_OA_SECRET_KEY are needed")
        caps = app.dispatcher.services.channels.get(CHANNEL, ZALO_OA)
        self.capabilities = replace(caps, max_text=cfg.max_text)
        self.client = client or OAClient(
            app_id=cfg.app_id,
            secret_key=cfg.secret_key,
            api_url=cfg.api_url,
            oauth_url=cfg.oauth_url,
            zns_url=cfg.zns_url,
        )
        self.keyring = keyring or case_keyring()
        self.tokens = TokenStore(app.db, self.client, self.keyring, margin=cfg.refresh_margin)
        self.lang = app.settings.locale
        self.retry_delays = retry_delays
        self.now = now  # wall time: the window is the platform's
        self._sender = ChatSender()
        # One limiter, the outbox's send budget (``scheduler.budget``, shared by every worker
        # on PostgreSQL), as for Telegram (``bot.telegram.budget``): the outbox waits for a
        # slot before each row and the row's first API call uses it; every other message
        # (a reply to a person, a row's second call: a template after the platform closed
        # the window, a retry with a renewed token) is charged to the budget as it goes out,
        # without waiting, and the outbox slows down by as much. Set by the runner
        # (``use_budget``); until then, and without a scheduler, nothing is counted.
        self._charge: Callable[[str], None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, webhook: bool) -> None:
        try:
            await self.tokens.seed(self.cfg.refresh_token)
            info = await self._call(lambda token: self.client.oa_info(token))
        except TokenUnavailable as exc:
            raise RuntimeError(str(exc)) from None
        except OAAuthError as exc:
            raise RuntimeError(
                f"Zalo OA refused the stored refresh token ({exc.code}): set a new "
                "ZALO_OA_REFRESH_TOKEN or run `bdg zalo-oa login`"
            ) from None
        log.info("Zalo OA %s (%s)", info.get("name") or "?", info.get("oa_id") or "?")
        if not webhook:
            log.warning("Zalo OA pushes events only: run `bdg serve` to receive them")

    async def run_polling(self, stop: asyncio.Event) -> None:
        await stop.wait()  # nothing to poll; outgoing messages still work

    async def stop(self) -> None:
        await self._sender.drain()
        await self.client.close()

    def use_budget(self, charge: Callable[[str], None]) -> None:
        """Count this channel's messages in the outbox's send budget (``bot.runner``)."""
        self._charge = charge

    def _count(self, chat_id: str | None) -> None:
        """A message to ``chat_id`` goes out now: an outbox row's first one uses the slot the
        outbox took for it; any other is charged to the budget (never waits)."""
        if chat_id is None:
            return  # not a message (the OA's own information)
        row = _ROW_SLOT.get()
        if row is not None and not row[0]:
            row[0] = True
            return
        if self._charge is not None:
            self._charge(chat_id)

    async def _call(self, fn: Callable[[str], Any], chat_id: str | None = None) -> Any:
        """Call the API with the current access token; a token refused as invalid is
        refreshed (by one process, see TokenStore) and the call made once more. A call that
        sends a message names its chat: it counts in the send budget."""
        token = await self.tokens.access_token()
        self._count(chat_id)
        try:
            return await fn(token)
        except OATokenInvalid:
            token = await self.tokens.refresh(stale=token)
            self._count(chat_id)
            return await fn(token)

    # -- incoming --------------------------------------------------------------------------

    def web_routes(self) -> list[BaseRoute]:
        return [Route(WEBHOOK_PATH, self._webhook, methods=["POST"])]

    def _verify(self, request: Request) -> Callable[[bytes, dict[str, Any]], bool]:
        header = request.headers.get(SIGNATURE_HEADER)

        def verify(body: bytes, data: dict[str, Any]) -> bool:
            return signature_ok(
                body, data, header, self.cfg.app_id or "", self.cfg.signing_key
            ) and fresh(data, self.cfg.webhook_max_age)

        return verify

    async def _webhook(self, request: Request) -> JSONResponse:
        try:
            data = await read_signed_update(
                request, verify=self._verify(request), max_bytes=MAX_BODY_BYTES
            )
        except WebhookRefused as refused:
            return JSONResponse({"error": -1, "message": refused.reason}, refused.status)
        try:
            event = parse_event(data)
        except (TypeError, ValueError):
            event = None
        if event is None:
            return JSONResponse({"error": 0, "message": "ignored"})
        outcome = await self.process(event)
        if outcome is not None and outcome.replies:
            replies = outcome.replies
            self._sender.later(
                event.user_id, lambda: self.deliver(event.user_id, replies, event.msg_id or "")
            )
        return JSONResponse({"error": 0, "message": "ok"})

    async def process(self, event: OAEvent) -> Outcome | None:
        """Record the interaction (it opens the window), then dispatch a message event."""
        async with self.app.db.session() as s:
            if event.name == "unfollow":
                await touch_user(s, event.user_id, event.at, followed=False)
                return None
            await touch_user(s, event.user_id, event.at)
            if event.name == "user_submit_info" and event.phone:
                user = await oa_user(s, event.user_id)
                if user is not None:
                    # The user sent the number through the OA's request form, which states
                    # what it is for: that is the consent ZNS reminders need.
                    user.phone = self.keyring.encrypt(event.phone, f"zalooauser:{user.user_id}")
                    user.zns_consent = True
                    s.add(user)
        if event.msg_id is None:
            return None
        return await self.app.dispatcher.handle(to_incoming(event, self.lang))

    # -- outgoing: replies -----------------------------------------------------------------

    def render(self, reply: Reply) -> list[tuple[str, list[Button]]]:
        """The messages for one reply: texts up to ZALO_OA_MAX_TEXT characters; the last one
        carries the buttons when the choices fit (a tap sends the number, like typing it)."""
        texts = [render_plain(reply, self.lang)]
        if reply.files:
            names = ", ".join(name for name, _data, _kind in reply.files)
            texts.append(
                t(
                    reply.lang or self.lang,
                    "zalo_oa.files_unavailable",
                    n=len(reply.files),
                    names=names,
                )
            )
        chunks = [c for text in texts for c in split_text(text, self.capabilities.max_text)]
        buttons: list[Button] = []
        if reply.choices and len(reply.choices) <= self.cfg.max_buttons:
            for i, choice in enumerate(reply.choices, 1):
                label = to_plain(choice.shown)
                payload = str(i) if reply.numbered else (choice.alias or to_plain(choice.label))
                buttons.append(Button(label[: self.cfg.button_title], payload))
        return [(c, buttons if i == len(chunks) - 1 else []) for i, c in enumerate(chunks)]

    async def _send_cs(self, user_id: str, text: str, buttons: list[Button]) -> str:
        try:
            result: str = await self._call(
                lambda token: self.client.send_cs(token, user_id, text, buttons), user_id
            )
        except OAError as exc:
            raise to_send_error(exc) from None
        return result

    async def send(self, chat_id: str, reply: Reply) -> list[str]:
        """Consultation messages (inside the window); one attempt per message."""
        return [await self._send_cs(chat_id, text, b) for text, b in self.render(reply)]

    async def deliver(self, chat_id: str, replies: list[Reply], msg_id: str = "") -> bool:
        for reply in replies:
            for text, buttons in self.render(reply):

                async def attempt(text: str = text, buttons: list[Button] = buttons) -> bool:
                    await self._send_cs(chat_id, text, buttons)
                    return True

                sent = await reply_with_retries(
                    attempt, what=f"Zalo OA reply to {msg_id}", delays=self.retry_delays, log=log
                )
                if sent is not True:
                    return False
        return True

    # -- outgoing: the outbox and the window -------------------------------------------------

    async def send_outbox(self, item: OutboxItem, reply: Reply) -> list[str]:
        """Inside the window a consultation message; outside it a template (officers only);
        else ``Unreachable``. Raises the kernel's SendError kinds."""
        async with self.app.db.session() as s:
            user = await oa_user(s, item.chat_id)
            account = await s.get(ChannelAccount, item.account_id) if item.account_id else None
            unit = await s.get(Unit, item.unit_id) if item.unit_id else None
            phone = (
                self.keyring.decrypt(user.phone, f"zalooauser:{user.user_id}")
                if user is not None and user.phone and user.zns_consent
                else None
            )
        # Sent by the outbox, the row has its slot (``slot_taken``); called otherwise, each of
        # its messages is charged.
        token = _ROW_SLOT.set([not is_slot_taken()])
        try:
            return await self._route(item, reply, user, account, unit, phone)
        finally:
            _ROW_SLOT.reset(token)

    async def _route(
        self,
        item: OutboxItem,
        reply: Reply,
        user: ZaloOAUser | None,
        account: ChannelAccount | None,
        unit: Unit | None,
        phone: str | None,
    ) -> list[str]:
        window = timedelta(hours=self.cfg.window_hours)
        last = user.last_interaction_at if user is not None else None
        if last is not None and last > self.now() - window and (user is None or user.followed):
            try:
                return await self.send(item.chat_id, reply)
            except Unreachable:
                pass  # the platform's clock says the window closed: fall through
        if account is None or account.officer_id is None:
            # A case reporter (or anyone who is not an officer) is never written to first.
            raise Unreachable("zalo_oa: outside the window; not an officer")
        fields = self.template_fields(item, unit.name if unit else "", account.lang)
        return await self._send_template(item, fields, phone)

    def template_fields(self, item: OutboxItem, unit_name: str, lang: str) -> dict[str, str]:
        """The reminder's fields for a template: what, for which unit and period, which day.
        Never a free text (a case notice carries only what its kind says)."""
        parts = (item.batch or "").split(":")
        period = parts[1] if item.kind == "reminder" and len(parts) > 2 else ""
        return {
            "kind": t(lang, f"zalo_oa.kind.{item.kind}")
            if item.kind in ("reminder", "alert", "digest", "announcement", "case")
            else item.kind,
            "unit": unit_name[:100],
            "period": period,
            "date": item.not_before.astimezone(UTC).date().isoformat(),
        }

    async def _send_template(
        self, item: OutboxItem, fields: dict[str, str], phone: str | None
    ) -> list[str]:
        cfg = self.cfg
        if cfg.transaction_template:
            template = cfg.transaction_template
            try:
                return [
                    await self._call(
                        lambda tok: self.client.send_transaction(
                            tok, item.chat_id, template, fields
                        ),
                        item.chat_id,
                    )
                ]
            except OANotFollower:
                pass  # a ZNS to the phone may still reach them
            except OAError as exc:
                raise to_send_error(exc) from None
        if cfg.zns_template and phone:
            zns = cfg.zns_template
            try:
                return [
                    await self._call(
                        lambda tok: self.client.send_zns(tok, phone, zns, fields, item.key[:64]),
                        item.chat_id,
                    )
                ]
            except OAError as exc:
                raise to_send_error(exc) from None
        raise Unreachable("zalo_oa: outside the window; no template can reach this account")


__all__ = [
    "CHANNEL",
    "OAEvent",
    "OAServerError",
    "ZaloOAChannel",
    "fresh",
    "parse_event",
    "signature_ok",
    "to_incoming",
]
