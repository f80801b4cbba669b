"""The Telegram channel: Bot API updates in, HTML messages with inline keyboards out.

    Update ──to_incoming──> Incoming ──Dispatcher.handle──> Outcome (committed)
           ──answerCallbackQuery, edit the tapped question, render──> sendMessage …

python-telegram-bot does the HTTP client, update parsing and errors; the rate limit is the
outbox's shared send budget (``bot.telegram.budget``: every message and edit is counted there,
PTB's own ``AIORateLimiter`` is not used). Conversation state lives in the database (the
dispatcher), not in PTB's ConversationHandler.

**Polling** (``bdg run``) is a loop of our own over ``getUpdates`` rather than PTB's Updater:
the Updater confirms a batch of updates (the next ``getUpdates`` carries ``offset``) as soon as
it has queued them, before they are handled, so a process killed in between loses them. Here
a batch is handled (committed and answered) before the next ``getUpdates`` confirms it, so a
killed process gets the batch again and the dedupe keys make the repeat a no-op. Updates of
different chats in a batch are handled concurrently; those of one chat in order.

**Webhook** (``bdg serve``): ``POST /telegram/webhook`` checks the secret header in constant
time (403 otherwise, nothing read), refuses non-JSON (400) and bodies over 256 KiB (413), and
answers 200 once the dispatcher's transaction has committed. The replies are sent after the
answer, in order per chat, so a slow Bot API never holds Telegram's delivery queue. A process
that dies before answering gets the update again (the dedupe key makes that harmless); one that
dies between the answer and the send loses those replies, but never an acknowledged answer.
A failed update (the dispatcher rolled back and told the user) is answered 200 too: Telegram
retrying it could apply it after the user already sent it again.

**Buttons**: a tap's callback query is answered as soon as its update has committed (not
behind the chat's earlier replies); the question is edited to show the answer
(``→ <b>label</b>``) without its keyboard, alongside the next question rather than before it
(the chat's messages stay in order; the edit changes an older message), so the chat reads
like a filled form; a
tap that toggles a multiple-choice option only updates the keyboard. A typed answer retires the
question's keyboard the same way. The keyboards still live in a chat are kept in the database
(``bot.telegram.keyboards``: several workers may receive one chat's updates; SQLite keeps a
memory cache in front); a tap on an older one (one the bot has already moved past) is answered
"outdated" and not dispatched, so an old "Có" cannot answer a newer yes/no question, whichever
worker sent it. A chat nothing is known of (no row yet) dispatches its taps until the bot has
answered in that chat again.

Logs name updates by ``update_id`` and errors by type and place; texts never appear, and the
token (part of every Bot API URL) is kept out of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import traceback
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from html import escape
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import (
    BotCommand,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot.app import App
from bot.render import to_plain
from bot.telegram.budget import BudgetLimiter
from bot.telegram.keyboards import ChatView, ChatViews, Keyboard, SentBatch
from bot.telegram.render import (
    MAX_TEXT_LENGTH,
    Chunk,
    button_label,
    buttons,
    is_hashed,
    render,
    utf16_len,
)
from bot.telegram.updates import ALLOWED_UPDATES, CHANNEL, Tap, tap_of, to_incoming, well_formed
from bot.webhooks import ChatSender, WebhookRefused, read_json_update
from kernel.channel import (
    TELEGRAM,
    Capabilities,
    Rejected,
    RetryLater,
    SendError,
    Transient,
    Unreachable,
    reply_with_retries,
)
from kernel.i18n import normalise_lang, t
from kernel.messages import SELECTED_MARK, Outcome, Reply

log = logging.getLogger("bdg.telegram")

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An update is a few KB (a 4,096-character message, the message it quotes, entities).
MAX_BODY_BYTES = 256 * 1024
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
# Retries of one message of an interactive reply (seconds before each retry).
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0)
# A rate limit asking to wait longer than this is not waited for by an interactive reply.
MAX_RETRY_AFTER = 30.0
POLL_TIMEOUT = 30
# Backoff between failed getUpdates / start-up attempts.
BACKOFF = (1.0, 30.0)
MARK = SELECTED_MARK  # how a selected option of a multiple choice is shown

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def retry_after_seconds(exc: RetryAfter) -> float:
    value = getattr(exc, "_retry_after", None)
    if value is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def describe(exc: BaseException) -> str:
    """Type and message of an error with quoted parts removed (a Bot API description may quote
    a bit of the text it refused)."""
    text = re.sub(r'"[^"]*"', '"…"', str(exc))
    text = re.sub(r"\d{5,}:[A-Za-z0-9_-]{20,}", "<token>", text)
    return f"{type(exc).__name__}: {text[:200]}"


_GONE = ("chat not found", "user is deactivated", "bot was kicked", "not enough rights")


def to_send_error(exc: TelegramError) -> SendError:
    """Map a python-telegram-bot error to what the outbox understands."""
    detail = describe(exc)
    if isinstance(exc, RetryAfter):
        return RetryLater(retry_after_seconds(exc), detail)
    if isinstance(exc, Forbidden):
        return Unreachable(detail)
    if isinstance(exc, BadRequest):  # a NetworkError subclass: test it first
        if any(s in exc.message.lower() for s in _GONE):
            return Unreachable(detail)
        return Rejected(detail)
    if isinstance(exc, ChatMigrated):
        return Rejected(detail)
    if isinstance(exc, InvalidToken):
        # The token, not the recipient, is wrong: keep the message for when it is fixed.
        return Transient(detail + " (check TELEGRAM_BOT_TOKEN)")
    return Transient(detail)  # NetworkError, TimedOut, 5xx, Conflict, bad responses


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno}"


# --------------------------------------------------------------------------------------------
# What the channel remembers of a chat
# --------------------------------------------------------------------------------------------


@dataclass
class _Job:
    """What to do on Telegram's side for one update after the dispatcher has committed."""

    chat_id: int
    update_id: int
    lang: str
    tap: Tap | None = None
    stale: bool = False
    outcome: Outcome | None = None


def make_bot(token: str, api_url: str, *, rate_limit: bool = True) -> ExtBot[Any]:
    """The PTB client for ``{api_url}/bot{token}/…``; ``rate_limit`` counts its messages in
    the shared send budget (``BudgetLimiter``)."""
    root = api_url.rstrip("/")
    limiter = BudgetLimiter() if rate_limit else None
    return ExtBot(
        token,
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
        request=HTTPXRequest(
            connection_pool_size=64,
            read_timeout=15.0,
            write_timeout=15.0,
            connect_timeout=10.0,
            pool_timeout=30.0,
            media_write_timeout=60.0,
        ),
        get_updates_request=HTTPXRequest(
            connection_pool_size=2, read_timeout=10.0, connect_timeout=10.0, pool_timeout=10.0
        ),
        rate_limiter=limiter,
    )


# --------------------------------------------------------------------------------------------
# The channel
# --------------------------------------------------------------------------------------------


class TelegramChannel:
    """Serves one Telegram bot for the process (``bot.runner`` builds it when
    TELEGRAM_BOT_TOKEN is set). ``bot``, ``retry_delays`` and ``sleep`` can be replaced in
    tests; ``rate_limit=False`` counts nothing in the send budget (benchmarks). ``views`` is
    where the chats' keyboards are kept (by default the process's database, ``ChatViews``)."""

    name = CHANNEL
    capabilities: Capabilities

    def __init__(
        self,
        app: App,
        *,
        bot: ExtBot[Any] | None = None,
        rate_limit: bool = True,
        poll_timeout: int = POLL_TIMEOUT,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        views: ChatViews | None = None,
    ) -> None:
        settings = app.settings
        self.app = app
        self.capabilities = app.dispatcher.services.channels.get(CHANNEL, TELEGRAM)
        if bot is None:
            if not settings.telegram_bot_token:
                raise ValueError("TELEGRAM_BOT_TOKEN is not set")
            bot = make_bot(
                settings.telegram_bot_token, settings.telegram_api_url, rate_limit=rate_limit
            )
        self.bot = bot
        self.secret = settings.telegram_webhook_secret or ""
        self.lang = normalise_lang(settings.locale)
        self.poll_timeout = poll_timeout
        self.retry_delays = retry_delays
        self._sleep = sleep
        self._ready = False
        self._webhook = False
        self._setup_task: asyncio.Task[None] | None = None
        self._sender = ChatSender()  # each chat's replies in order
        self._tasks: set[asyncio.Task[bool]] = set()  # callback answers in flight
        self.views = views if views is not None else ChatViews(app.db)
        # PTB logs every request's parameters (message texts) at DEBUG; httpx and httpcore log
        # URLs, which contain the token. None of it may reach the log whatever the log level.
        for name, level in (
            ("telegram", logging.INFO),
            ("httpx", logging.WARNING),
            ("httpcore", logging.WARNING),
        ):
            logger = logging.getLogger(name)
            if logger.level < level:  # NOTSET (inherit) included
                logger.setLevel(level)

    def use_budget(self, charge: Callable[[str], None]) -> None:
        """Count this bot's messages and edits in the outbox's send budget (``bot.runner``)."""
        limiter = self.bot.rate_limiter
        if isinstance(limiter, BudgetLimiter):
            limiter.charge = charge

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, webhook: bool) -> None:
        """getMe, the command menu, and setWebhook (``bdg serve``) or deleteWebhook
        (``bdg run``). A wrong token or webhook setting stops the process; an unreachable
        Bot API does not (Telegram is not reachable everywhere): start-up is retried in the
        background and the other channels carry on."""
        self._webhook = webhook
        if webhook:
            self._webhook_url()  # fail early on a missing PUBLIC_URL or secret
        try:
            await self._setup()
        except (InvalidToken, BadRequest):
            raise
        except TelegramError as exc:
            log.warning("Telegram Bot API unreachable at start (%s); retrying", describe(exc))
            if webhook:
                self._setup_task = asyncio.create_task(self._setup_until_ready(None))

    def _webhook_url(self) -> str:
        public_url = (self.app.settings.public_url or "").rstrip("/")
        if not public_url:
            raise RuntimeError("bdg serve with Telegram needs PUBLIC_URL (the https root)")
        if not _SECRET_RE.fullmatch(self.secret):
            raise RuntimeError(
                "bdg serve with Telegram needs TELEGRAM_WEBHOOK_SECRET: 1 to 256 characters "
                "from A-Z, a-z, 0-9, _ and - (use 32 or more random ones)"
            )
        return public_url + WEBHOOK_PATH

    async def _setup(self) -> None:
        try:
            await self.bot.initialize()
        except InvalidToken:
            raise RuntimeError(
                "Telegram rejected TELEGRAM_BOT_TOKEN (getMe answered Unauthorized)"
            ) from None
        me = self.bot.bot
        log.info("Telegram bot @%s (id %s)", me.username, me.id)
        services = self.app.dispatcher.services
        configured = self.app.settings.telegram_bot_username
        if configured and configured.lstrip("@").lower() != (me.username or "").lower():
            log.warning("TELEGRAM_BOT_USERNAME differs from the bot's username (getMe)")
        if not services.bot_username:
            services.bot_username = me.username
        await self._set_commands()
        if self._webhook:
            url = self._webhook_url()
            await self.bot.set_webhook(
                url,
                secret_token=self.secret,
                allowed_updates=list(ALLOWED_UPDATES),
                max_connections=40,
            )
            log.info("Telegram webhook set to %s", url)
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)
        self._ready = True

    async def _set_commands(self) -> None:
        """The command menu: Vietnamese by default, English for English-speaking users."""
        commands = [
            c
            for c in self.app.dispatcher.router.visible_commands({"public", "officer"})
            if c.help and _COMMAND_RE.fullmatch(c.name)
        ][:100]
        for lang, code in (("vi", None), ("en", "en")):
            items = [
                BotCommand(c.name, (button_label(t(lang, c.help or "")))[:256]) for c in commands
            ]
            try:
                await self.bot.set_my_commands(items, language_code=code)
            except BadRequest as exc:  # a cosmetic menu must not stop the bot
                log.error("setMyCommands (%s) refused: %s", lang, describe(exc))

    async def _setup_until_ready(self, stop: asyncio.Event | None) -> None:
        """Retry start-up with backoff until it works or ``stop`` is set. Without ``stop``
        (webhook mode, in the background) a refusal is logged instead of raised."""
        delay = BACKOFF[0]
        while not self._ready and not (stop is not None and stop.is_set()):
            try:
                await self._setup()
                return
            except (InvalidToken, BadRequest, RuntimeError) as exc:
                if stop is not None:
                    raise
                log.error("Telegram start-up refused: %s; Telegram stays off", describe(exc))
                return
            except TelegramError as exc:
                log.warning("Telegram start-up failed (%s); retry in %.0f s", describe(exc), delay)
            if stop is None:
                await asyncio.sleep(delay)
            else:
                await _wait(stop, delay)
            delay = min(delay * 2, BACKOFF[1])

    async def stop(self) -> None:
        if self._setup_task is not None:
            self._setup_task.cancel()
            with contextlib.suppress(BaseException):
                await self._setup_task
        await self._sender.drain()
        with contextlib.suppress(Exception):
            await self.bot.shutdown()

    # -- polling ---------------------------------------------------------------------------

    async def run_polling(self, stop: asyncio.Event) -> None:
        """Long-poll getUpdates until ``stop``; a batch is confirmed only after it was
        handled (see the module docstring)."""
        if not self._ready:
            await self._setup_until_ready(stop)
        offset: int | None = None
        delay = BACKOFF[0]
        while not stop.is_set():
            try:
                updates = await self._get_updates(offset, stop)
            except InvalidToken:
                raise RuntimeError("Telegram rejected TELEGRAM_BOT_TOKEN") from None
            except RetryAfter as exc:
                wait_for = retry_after_seconds(exc)
            except Conflict as exc:
                # Another process polls with this token, or a webhook is set.
                log.error("Telegram getUpdates conflict: %s", describe(exc))
                wait_for = max(delay, 5.0)
            except TelegramError as exc:
                log.warning("Telegram getUpdates failed: %s", describe(exc))
                wait_for = delay
                delay = min(delay * 2, BACKOFF[1])
            else:
                delay = BACKOFF[0]
                if updates is None:
                    break
                if updates:
                    await self.process_batch(list(updates))
                    offset = updates[-1].update_id + 1
                continue
            await _wait(stop, wait_for)
        if offset is not None:
            await self._confirm(offset)

    async def _get_updates(
        self, offset: int | None, stop: asyncio.Event
    ) -> tuple[Update, ...] | None:
        """One long poll; None when ``stop`` was set first (nothing fetched is lost: what the
        poll would have returned is not confirmed)."""
        poll = asyncio.create_task(
            self.bot.get_updates(
                offset=offset, timeout=self.poll_timeout, allowed_updates=list(ALLOWED_UPDATES)
            )
        )
        waiter = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({poll, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not poll.done():
            poll.cancel()
            with contextlib.suppress(BaseException):
                await poll
            return None
        return poll.result()

    async def _confirm(self, offset: int) -> None:
        """Tell Telegram that everything before ``offset`` was handled (on a clean stop)."""
        try:
            await self.bot.get_updates(offset=offset, timeout=0, limit=1)
        except TelegramError as exc:
            log.warning("could not confirm handled Telegram updates: %s", describe(exc))

    async def process_batch(self, updates: list[Update]) -> None:
        """Handle a batch: chats concurrently, each chat's updates in order."""
        by_chat: dict[int, list[Update]] = {}
        for update in updates:
            chat = update.effective_chat
            by_chat.setdefault(chat.id if chat is not None else 0, []).append(update)

        async def run(chat_updates: list[Update]) -> None:
            for update in chat_updates:
                job = await self.handle(update)
                if job is not None:
                    self._after_commit(job)

        # Returns once every update is committed: the next getUpdates goes out at once while
        # the replies are sent, each chat's in order, after their commits.
        await asyncio.gather(*(run(group) for group in by_chat.values()))

    # -- webhook ---------------------------------------------------------------------------

    def web_routes(self) -> list[BaseRoute]:
        return [Route(WEBHOOK_PATH, self._on_webhook, methods=["POST"])]

    async def _on_webhook(self, request: Request) -> Response:
        try:
            data = await read_json_update(
                request, secret=self.secret, header=SECRET_HEADER, max_bytes=MAX_BODY_BYTES
            )
        except WebhookRefused as refused:
            return PlainTextResponse(refused.reason, status_code=refused.status)
        update_id = data.get("update_id")
        if isinstance(update_id, bool) or not isinstance(update_id, int):  # True is an int
            return PlainTextResponse("not an update", status_code=400)
        try:
            update = Update.de_json(data, self.bot)
        except Exception as exc:  # noqa: BLE001 - a delivery again would fail the same way
            log.error("Telegram update %s not parsed: %s", data["update_id"], type(exc).__name__)
            return Response(status_code=200)
        if not well_formed(update):  # ids of the wrong type or size: not from Telegram
            return PlainTextResponse("not an update", status_code=400)
        job = await self.handle(update)
        if job is not None:
            self._after_commit(job)
        return Response(status_code=200)

    # -- incoming --------------------------------------------------------------------------

    async def handle(self, update: Update) -> _Job | None:
        """Dispatch one update (committed when this returns) and say what to send; never
        raises. None when the update is ignored."""
        if not well_formed(update):
            log.warning("Telegram update %s skipped: ids of the wrong type", update.update_id)
            return None
        try:
            return await self._handle(update)
        except Exception as exc:  # noqa: BLE001 - the user gets an answer, the loop goes on
            log.error(
                "Telegram update %s failed: %s at %s",
                update.update_id,
                type(exc).__name__,
                _where(exc),
            )
            chat, user = update.effective_chat, update.effective_user
            if chat is None:
                return None
            lang = normalise_lang(user.language_code if user else None)
            outcome = Outcome(replies=[Reply(t(lang, "err.internal"))], failed=True)
            return _Job(chat.id, update.update_id, lang, tap=tap_of(update), outcome=outcome)

    async def _handle(self, update: Update) -> _Job | None:
        tap = tap_of(update)
        user = update.effective_user
        lang = normalise_lang(user.language_code if user else None)
        if tap is not None:
            query = update.callback_query
            assert query is not None and query.message is not None
            chat_id = query.message.chat.id
            view = await self.views.get(chat_id)  # the one read of this update
            if view is not None and view.is_stale(tap.message_id):
                return _Job(chat_id, update.update_id, lang, tap=tap, stale=True)
            option, token = await self._option(tap, view)
            incoming = to_incoming(update, option=option, option_token=token)
        else:
            if update.callback_query is not None:  # no data or an inline-mode message
                with contextlib.suppress(TelegramError):
                    await self.bot.answer_callback_query(update.callback_query.id)
                return None
            incoming = to_incoming(update)
        if incoming is None:
            return None
        log.debug("Telegram update %s", update.update_id)
        outcome = await self.app.dispatcher.handle(incoming)
        if outcome.stale:
            return _Job(int(incoming.chat_id), update.update_id, lang, tap=tap, stale=True)
        return _Job(int(incoming.chat_id), update.update_id, lang, tap=tap, outcome=outcome)

    async def _option(self, tap: Tap, view: ChatView | None) -> tuple[str | None, str | None]:
        """The choice key of a button's callback data, or (for a hashed long key no worker
        recorded) the token for the dispatcher to map back against the menu it keeps."""
        if not is_hashed(tap.data):
            return tap.data, None
        known = view.key_of(tap.data, tap.message_id) if view is not None else None
        return (known, None) if known is not None else (None, tap.data)

    # -- delivering the outcome ------------------------------------------------------------

    def _after_commit(self, job: _Job) -> None:
        """The update has committed: answer its tap at once (the spinner on the button stops
        without waiting for this chat's earlier replies), and queue the rest behind them."""
        if job.tap is not None:
            note = t(job.lang, "telegram.button_outdated") if job.stale else None
            task = asyncio.create_task(
                self._quietly(self.bot.answer_callback_query(job.tap.query_id, text=note))
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._sender.later(job.chat_id, functools.partial(self._deliver_safely, job))

    async def _deliver_safely(self, job: _Job) -> None:
        try:
            await self.deliver(job)
        except Exception as exc:  # noqa: BLE001 - logged without contents
            log.error(
                "Telegram replies to update %s failed: %s at %s",
                job.update_id,
                type(exc).__name__,
                _where(exc),
            )

    async def deliver(self, job: _Job) -> None:
        """Show the chosen answer in the question and send the replies (the tap itself was
        answered at commit, ``_after_commit``)."""
        if job.stale:
            assert job.tap is not None
            await self.views.drop(job.chat_id, job.tap.message_id)
            await self._quietly(self.bot.edit_message_reply_markup(job.chat_id, job.tap.message_id))
            return
        outcome = job.outcome
        if outcome is None or outcome.duplicate:
            return
        replies = list(outcome.replies)
        edits: list[Awaitable[Any]] = []
        if not outcome.failed:
            replies = await self._settle(job, outcome, replies, edits)
        # The edits of earlier questions run alongside the next question instead of before it
        # (one round trip less per step). What a person relies on stays ordered: this chat's
        # replies go one after another, and the next update's delivery starts only when these
        # edits and sends are done (ChatSender), so its edits see this one's keyboards.
        await asyncio.gather(
            *edits,
            self.send_replies(job.chat_id, replies, update_id=job.update_id, lang=job.lang),
        )

    async def _settle(
        self, job: _Job, outcome: Outcome, replies: list[Reply], edits: list[Awaitable[Any]]
    ) -> list[Reply]:
        """Retire the keyboards the user has moved past: the tapped (or typed-at) question
        shows the chosen answer (the edits are added to ``edits``). Returns the replies still
        to send."""
        tap = job.tap
        seen = _keyboard_of(tap.message) if tap is not None else None
        toggled = _toggled(seen, replies) if seen is not None else None
        # A multiple choice being toggled stays live (in the view) while its keyboard is
        # edited, so a quick next tap on it, on any worker, is not taken as outdated.
        keep = tap.message_id if tap is not None and toggled is not None else None
        retired = await self.views.take(job.chat_id, keep=keep)  # whichever worker sent them
        answered: Keyboard | None = None
        label = outcome.chosen_label
        if tap is not None:
            stored = next((k for k in retired if k.message_id == tap.message_id), None)
            retired = [k for k in retired if k.message_id != tap.message_id]
            answered = stored or seen
            if seen is None and stored is not None:  # the tap did not carry the message
                toggled = _toggled(stored, replies)
            if answered is None:
                await self._quietly(self.bot.edit_message_reply_markup(job.chat_id, tap.message_id))
            elif toggled is not None:
                if await self._toggle(job.chat_id, answered, toggled):
                    replies = []
                else:
                    retired.append(answered)
                answered = None
            else:
                label = _shown_answer(answered, tap.data, label)
        else:
            conversational = [k for k in retired if k.conversational]
            if label and conversational:
                answered = max(conversational, key=lambda k: k.message_id)
                retired = [k for k in retired if k is not answered]
        if answered is not None:
            edits.append(self._show_answer(job.chat_id, answered, label))
        edits.extend(
            self._quietly(self.bot.edit_message_reply_markup(job.chat_id, keyboard.message_id))
            for keyboard in retired
        )
        return replies

    async def _toggle(self, chat_id: int, shown: Keyboard, toggled: Chunk) -> bool:
        """The multiple choice's keyboard edited to show the options now marked; True when it
        was (the view then holds the new buttons), False when it is to be retired."""
        ok = await self._quietly(
            self.bot.edit_message_reply_markup(
                chat_id, shown.message_id, reply_markup=toggled.markup
            )
        )
        if ok:
            still = replace(Keyboard.of(shown.message_id, toggled), html=shown.html)
            await self.views.add(chat_id, 0, [still])
        else:
            await self.views.drop(chat_id, shown.message_id)
        return ok

    async def _show_answer(self, chat_id: int, keyboard: Keyboard, label: str | None) -> None:
        """The question edited to end with ``→ <b>answer</b>``, without its keyboard."""
        # Without a label, or without the text (not decrypted), only the buttons go.
        html = (
            keyboard.html + f"\n→ <b>{escape(button_label(label))}</b>"
            if label and keyboard.html
            else ""
        )
        if html and utf16_len(html) <= MAX_TEXT_LENGTH:
            done = await self._quietly(
                self.bot.edit_message_text(
                    html,
                    chat_id=chat_id,
                    message_id=keyboard.message_id,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            )
            if done:
                return
        await self._quietly(self.bot.edit_message_reply_markup(chat_id, keyboard.message_id))

    async def _quietly(self, call: Awaitable[Any]) -> bool:
        """A cosmetic call (callback answers, edits): failures are logged, not raised."""
        try:
            await call
            return True
        except BadRequest as exc:
            log.debug("Telegram call refused: %s", describe(exc))
        except TelegramError as exc:
            log.warning("Telegram call failed: %s", describe(exc))
        return False

    # -- outgoing --------------------------------------------------------------------------

    async def _send_chunk(self, chat_id: int, chunk: Chunk) -> int:
        """One message; raises a ``SendError``. HTML the Bot API cannot parse (a bug) is sent
        again as plain text rather than not at all."""
        try:
            try:
                message = await self.bot.send_message(
                    chat_id,
                    chunk.html,
                    parse_mode=ParseMode.HTML,
                    reply_markup=chunk.markup,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except BadRequest as exc:
                if "parse entities" not in exc.message.lower():
                    raise
                log.error("Telegram refused our HTML (%s); sent as plain text", describe(exc))
                message = await self.bot.send_message(
                    chat_id, to_plain(chunk.html), reply_markup=chunk.markup
                )
        except TelegramError as exc:
            raise to_send_error(exc) from None
        return message.message_id

    async def _send_file(self, chat_id: int, name: str, data: bytes, kind: str) -> int:
        try:
            message: Message
            if kind == "photo":
                message = await self.bot.send_photo(chat_id, InputFile(data, filename=name))
            else:
                message = await self.bot.send_document(chat_id, InputFile(data, filename=name))
        except TelegramError as exc:
            raise to_send_error(exc) from None
        return message.message_id

    async def send(self, chat_id: str, reply: Reply) -> list[str]:
        """Send one reply (split under 4,096 characters, files after the text); one attempt
        per message. Raises ``RetryLater``, ``Transient``, ``Unreachable`` or ``Rejected``
        (for the outbox; messages sent before a failure are not sent again by this call)."""
        chat = int(chat_id)
        ids: list[str] = []
        batch = SentBatch()
        try:
            for chunk in render(reply):
                message_id = await self._send_chunk(chat, chunk)
                batch.sent(message_id, chunk, conversational=False)
                ids.append(str(message_id))
            for name, data, kind in reply.files:
                ids.append(str(await self._send_file(chat, name, data, kind)))
        finally:  # one write for the reply, also when a later message of it failed
            await self.views.add(chat, batch.newest, batch.keyboards)
        return ids

    async def send_replies(
        self, chat_id: int, replies: list[Reply], *, update_id: int = 0, lang: str | None = None
    ) -> bool:
        """The replies to a user's update, retrying transient failures of each message a few
        times. Gives up (logged without the text) on a refusal or when the retries are spent;
        True when everything was sent. What was sent is recorded with one write."""
        batch = SentBatch()
        try:
            for reply in replies:
                if not await self._send_reply(chat_id, reply, batch, update_id, lang):
                    return False
            return True
        finally:
            await self.views.add(chat_id, batch.newest, batch.keyboards)

    async def _send_reply(
        self, chat_id: int, reply: Reply, batch: SentBatch, update_id: int, lang: str | None
    ) -> bool:
        for chunk in render(reply):
            message_id = await self._retrying(
                functools.partial(self._send_chunk, chat_id, chunk), update_id
            )
            if message_id is None:
                return False
            batch.sent(message_id, chunk, conversational=True)
        for name, data, kind in reply.files:
            message_id = await self._retrying(
                functools.partial(self._send_file, chat_id, name, data, kind), update_id
            )
            if message_id is None:
                note = Reply(t(lang or self.lang, "telegram.file_not_sent", name=escape(name)))
                for chunk in render(note):
                    with contextlib.suppress(SendError):
                        batch.sent(await self._send_chunk(chat_id, chunk), None, True)
                continue
            batch.sent(message_id, None, conversational=True)
        return True

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], update_id: int) -> T | None:
        return await reply_with_retries(
            attempt,
            what=f"Telegram reply to update {update_id}",
            delays=self.retry_delays,
            sleep=self._sleep,
            log=log,
            max_retry_after=MAX_RETRY_AFTER,
        )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _keyboard_of(message: Message | None) -> Keyboard | None:
    """What a tapped message shows, from the callback query itself (after a restart)."""
    if message is None or message.text is None:
        return None
    markup = message.reply_markup
    return Keyboard(
        message.message_id,
        message.text_html,
        buttons(markup if isinstance(markup, InlineKeyboardMarkup) else None),
    )


def _unmarked(label: str) -> str:
    return label.removeprefix(MARK)


def _toggled(shown: Keyboard, replies: list[Reply]) -> Chunk | None:
    """The new keyboard when the reply to a tap only re-asks the same multiple-choice question
    with an option marked or unmarked (same buttons, labels differing by the mark)."""
    if len(replies) != 1 or not replies[0].choices or replies[0].files:
        return None
    chunks = render(replies[0])
    if len(chunks) != 1 or chunks[0].markup is None:
        return None
    new = buttons(chunks[0].markup)
    old = shown.buttons
    if [d for d, _ in new] != [d for d, _ in old] or new == old:
        return None
    if any(_unmarked(a) != _unmarked(b) for (_, a), (_, b) in zip(new, old, strict=True)):
        return None
    return chunks[0]


def _shown_answer(shown: Keyboard, data: str, chosen: str | None) -> str | None:
    """What the question shows as answered: the tapped label, or for the button that ends a
    multiple choice the options marked selected."""
    if chosen is None:
        return None
    labels = dict(shown.buttons)
    marked = [_unmarked(label) for _, label in shown.buttons if label.startswith(MARK)]
    if marked and not labels.get(data, "").startswith(MARK):
        return ", ".join(marked)
    return _unmarked(chosen)
