"""One path for every message: Incoming → one database transaction → replies.

Invariants kept here:
- the dedupe key is inserted in the same transaction as the update's effects, so the same
  update delivered twice changes nothing the second time;
- replies are returned only after the transaction commits (commit, then reply);
- messages of one chat are handled one at a time, in order;
- an error is logged by type and place only (never message contents), the transaction rolls
  back, and the user is told briefly that their earlier answers are kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession

from db import outbox, queries
from db.engine import Database
from db.models import ChannelAccount, Conversation
from handlers.context import Ctx
from handlers.features import build_router
from handlers.lifeline import numbers_reply, wants_numbers
from handlers.router import Deps, Router, welcome
from kernel import calendar, metrics
from kernel.clock import coarse, utcnow
from kernel.i18n import normalise_lang, t
from kernel.messages import Incoming, Menu, Outcome, Reply, resolve_token
from kernel.settings import Services
from services.forms.parsers import fold, is_number
from services.privacy import dedupe_digest

log = logging.getLogger("bdg.dispatch")
READ_KEYS_KEPT = 10000  # far more than a channel redelivers
UNSAVED_KEYS_KEPT = 1000  # read-only keys waiting for a write (the oldest stay in memory only)
_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)


class _Duplicate(Exception):
    pass


class _NeedsWrite(Exception):
    """A step tried as read-only wants to write: it runs again in a write transaction."""


class _Retry(Exception):
    """The transaction lost a race with another worker and should run again."""


class Dispatcher:
    def __init__(
        self,
        db: Database,
        services: Services | None = None,
        clock: Callable[[], datetime] = utcnow,
        routes: Router | None = None,
    ) -> None:
        self.db = db
        self.services = services or Services()
        self.clock = clock
        # The composition root passes the router it built; without one (tests, benchmarks)
        # the same explicit feature list is registered here.
        self.router = routes if routes is not None else build_router(Deps(self.services))
        # Called after a commit that wrote outbox rows (the composition root connects it to
        # the outbox dispatcher's wake-up, so a case alert does not wait for the next poll).
        self.outbox_written: Callable[[], None] | None = None
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        # Dedupe keys of the read-only steps answered lately, and those not stored yet (see
        # _handle_read).
        self._read_keys: OrderedDict[str, datetime] = OrderedDict()
        self._unsaved_keys: dict[str, datetime] = {}
        calendar.warm_up(clock().year)

    def _lock(self, inc: Incoming) -> asyncio.Lock:
        key = (inc.channel, inc.chat_id)
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) > 10000:  # forget idle chats
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def handle(self, inc: Incoming) -> Outcome:
        start = time.perf_counter()
        outcome = await self._handle_locked(inc)
        label = "duplicate" if outcome.duplicate else "error" if outcome.failed else "ok"
        metrics.UPDATES.labels(inc.channel, label).inc()
        metrics.STEP_SECONDS.labels(inc.channel).observe(time.perf_counter() - start)
        return outcome

    async def _handle_locked(self, inc: Incoming) -> Outcome:
        async with self._lock(inc):
            try:
                try:
                    return await self._handle(inc)
                except (DBAPIError, _Retry) as exc:
                    # A pooled connection that died while idle (a database restart), or a race
                    # that another worker won: the whole transaction runs once more (on a fresh
                    # connection) instead of pinging the server before every transaction.
                    if isinstance(exc, DBAPIError) and not exc.connection_invalidated:
                        raise
                    return await self._handle(inc)
            except _Duplicate:
                return Outcome(duplicate=True)
            except Exception as exc:  # noqa: BLE001 - the user must always get an answer
                frames = traceback.extract_tb(exc.__traceback__)
                # The innermost frame of this project's code says most; fall back to the last.
                own = [
                    f
                    for f in frames
                    if _PROJECT_ROOT in f.filename and "site-packages" not in f.filename
                ]
                frame = (own or frames)[-1]
                # Type and place only: exception messages may quote what the user typed.
                log.error(
                    "update failed on %s: %s at %s:%s",
                    inc.channel,
                    type(exc).__name__,
                    frame.filename,
                    frame.lineno,
                )
                apology = Reply(t(normalise_lang(inc.lang), "err.internal"))
                # Someone who may be in danger gets the emergency numbers whatever failed.
                first = [numbers_reply(inc)] if self._wants_numbers(inc) else []
                return Outcome(replies=[*first, apology], failed=True)

    def _wants_numbers(self, inc: Incoming) -> bool:
        try:
            return wants_numbers(inc, self.router)
        except Exception:  # noqa: BLE001 - when unsure, the numbers
            return True

    async def _handle(self, inc: Incoming) -> Outcome:
        if self.db.reads_apart and self._reads_only(inc):
            try:
                return await self._handle_read(inc)
            except _NeedsWrite:
                pass  # nothing was committed: run the step again as a writer
        return await self._handle_write(inc)

    async def _handle_write(self, inc: Incoming) -> Outcome:
        now = self.clock()
        async with self.db.session() as s:
            # The key names the chat: only its keyed hash is stored, at a coarse time. On
            # PostgreSQL the same statement locks the writer's account (see begin_update).
            digest = dedupe_digest(inc.dedupe_key) if inc.dedupe_key else None
            if not await queries.begin_update(
                s, inc.channel, inc.user_id, digest, coarse(now), legacy=inc.dedupe_key
            ):
                raise _Duplicate
            unsaved = dict(self._unsaved_keys)
            if unsaved:  # the keys of read-only steps answered since the last write
                await queries.store_keys(s, unsaved)
            w = await queries.writer(s, inc.channel, inc.user_id)
            account, conv = w.account, w.conv
            if account is None:
                account = ChannelAccount(
                    channel=inc.channel,
                    user_id=inc.user_id,
                    chat_id=inc.chat_id,
                    lang=normalise_lang(inc.lang or self.services.default_lang),
                    created_at=coarse(now),
                )
                s.add(account)
                try:
                    await s.flush()
                except IntegrityError:  # the same person's first message on another worker
                    raise _Retry from None
            elif inc.chat_type == "private":
                if account.chat_id != inc.chat_id:
                    account.chat_id = inc.chat_id
                if account.unreachable:
                    # Someone who writes to the bot can be reached again (they unblocked it).
                    account.unreachable = False
            assert account.id is not None
            if conv is None:
                conv = Conversation(account_id=account.id, state={}, updated_at=coarse(now))
                s.add(conv)
            ctx = self._ctx(s, inc, now, w, account, conv)
            await self.route(ctx)
            wrote = outbox.wrote_outbox(s)
        for key in unsaved:
            self._unsaved_keys.pop(key, None)
        if wrote and self.outbox_written is not None:
            self.outbox_written()
        return Outcome(replies=ctx.replies, chosen_label=ctx.chosen_label, stale=ctx.stale)

    def _reads_only(self, inc: Incoming) -> bool:
        """A command declared read-only (``/trogiup``), typed in a private chat."""
        if inc.chat_type != "private" or inc.option or inc.option_token or not inc.text:
            return False
        parsed = self.router.parse_command(inc.text)
        return parsed is not None and parsed[0].read_only

    async def _handle_read(self, inc: Incoming) -> Outcome:
        """A read-only step on SQLite, in a read transaction: it does not wait for the write
        lock (a long write elsewhere does not hold up /trogiup). Anything that would write (a
        newcomer's account, a changed chat id, a refusal's audit row, a flow begun) raises
        ``_NeedsWrite`` and the step runs again as a writer. Its dedupe key is kept in this
        process's memory (SQLite serves one process, so a second delivery is still a
        duplicate) and stored with the next write transaction, whichever chat it is for; a
        crash before that loses only the key of a step that changed nothing."""
        now = self.clock()
        async with self.db.read_session() as s:
            digest = dedupe_digest(inc.dedupe_key) if inc.dedupe_key else None
            if digest and (
                digest in self._read_keys
                or await queries.was_processed(s, digest, legacy=inc.dedupe_key)
            ):
                raise _Duplicate
            w = await queries.writer(s, inc.channel, inc.user_id)
            account, conv = w.account, w.conv
            if account is None or conv is None or account.unreachable:
                raise _NeedsWrite
            if account.chat_id != inc.chat_id:
                raise _NeedsWrite
            ctx = self._ctx(s, inc, now, w, account, conv)
            try:
                await self.route(ctx)
            except OperationalError as exc:  # PRAGMA query_only refused a write
                raise _NeedsWrite from exc
            if s.new or s.dirty or s.deleted:
                raise _NeedsWrite
        if digest:
            self._read_keys[digest] = coarse(now)
            if len(self._read_keys) > READ_KEYS_KEPT:
                self._read_keys.popitem(last=False)
            self._unsaved_keys[digest] = coarse(now)
            if len(self._unsaved_keys) > UNSAVED_KEYS_KEPT:  # no write for a long while
                del self._unsaved_keys[next(iter(self._unsaved_keys))]
        return Outcome(replies=ctx.replies, chosen_label=ctx.chosen_label, stale=ctx.stale)

    def _ctx(
        self,
        s: AsyncSession,
        inc: Incoming,
        now: datetime,
        w: queries.Writer,
        account: ChannelAccount,
        conv: Conversation,
    ) -> Ctx:
        return Ctx(
            s=s,
            inc=inc,
            account=account,
            conv=conv,
            now=now,
            services=self.services,
            route_table=self.router,
            officer=w.officer,
            unit=w.unit if w.officer is not None else None,
            loaded_report=(w.report, w.values or {}) if w.report is not None else None,
        )

    async def route(self, ctx: Ctx) -> None:
        inc = ctx.inc
        text = (inc.text or "").strip()
        if inc.chat_type != "private":
            await self._group(ctx, text)
            return
        if inc.media and inc.text is None and inc.option is None and inc.option_token is None:
            ctx.say("err.media_unsupported" if inc.media == "unsupported" else "err.media")
            flow = self.router.flows.get(ctx.conv.flow or "")
            if flow is not None:
                ctx.reprompt = True
                await self.router.run_flow(ctx, flow)
            return
        if inc.option is None and inc.option_token is None and text:
            parsed = self.router.parse_command(text)
            if parsed and (text.startswith("/") or ctx.conv.flow is None):
                await self.router.run_command(ctx, *parsed)
                return
        if not self._read_option(ctx, text):
            return
        flow = self.router.flows.get(ctx.conv.flow or "")
        if flow is not None:
            await self.router.run_flow(ctx, flow)
            return
        if ctx.inc.option:
            item = next((m for m in self.router.menu if m.key == ctx.inc.option), None)
            if item is not None:
                await item.handler(ctx, "")
                return
        await welcome(ctx)

    async def _group(self, ctx: Ctx, text: str) -> None:
        """In a group only commands made for groups run; the others point to a private chat."""
        parsed = self.router.parse_command(text) if text.startswith("/") else None
        if parsed and parsed[0].in_groups:
            await self.router.run_command(ctx, *parsed)
        elif parsed:
            ctx.say("group.private_only")

    def _read_option(self, ctx: Ctx, text: str) -> bool:
        """Map a tap, a typed number or a choice's words to the key of the choice offered, and
        remember its label (Telegram edits the question to show it). False for a tapped button
        that matches nothing offered any more (the outcome is then "stale")."""
        inc = ctx.inc
        menu = self._menu_for(ctx)
        option = inc.option
        if option is None and inc.option_token is not None:
            option = resolve_token(inc.option_token, menu.keys())
            if option is None:
                ctx.stale = True
                return False
        if option is None:
            option = _typed_choice(menu, text)
        if option is not None:
            ctx.chosen_label = menu.label(option)
            if option != inc.option:
                ctx.inc = replace(inc, option=option, option_token=None)
        return True

    def _menu_for(self, ctx: Ctx) -> Menu:
        """The menu pending in the conversation, or the first menu for a newcomer."""
        menu = ctx.menu
        if menu.choices:
            return menu
        if ctx.conv.flow is None and ctx.officer is None:
            return self.router.first_menu(ctx)
        return menu


def _typed_choice(menu: Menu, text: str) -> str | None:
    """The key of the choice whose number (on a numbered menu), label or alias was typed."""
    if not menu.choices or not text:
        return None
    if menu.numbered and is_number(text) and 1 <= int(text) <= len(menu.choices):
        return menu.choices[int(text) - 1].key
    folded = fold(text)
    for c in menu.choices:
        if folded == fold(c.label) or (c.alias and folded == fold(c.alias)):
            return c.key
    return None
