"""The outbox dispatcher: sends pending outbox rows through the channels, within each
platform's rate limits, and records how each one ended. Every worker runs one; they share the
rows and one rate budget.

- **Several workers.** A worker *reserves* a page of due rows (``UPDATE … WHERE id IN (SELECT
  … FOR UPDATE SKIP LOCKED)``, setting ``claimed_by``/``claimed_until``), so workers polling
  at the same moment take different rows; then, just before each send, it marks the row
  ``sending`` (committed, with the attempt counted), and ``sent``/``failed``/back to
  ``pending`` after it. Every step is conditional on the row's status and claim, so a row is
  never sent by two workers. On SQLite one process serves the database (``bot.single``).
- **Rates.** One budget per channel and per chat (``scheduler.budget``), shared by all
  workers on PostgreSQL: Telegram 30 messages/s overall, 1/s per chat, 20/min per group;
  Zalo 10/s; each paced ``BDG_RATE_MARGIN`` below the limit. The channels' interactive
  replies and edits are charged to the same budget; python-telegram-bot's limiter is off.
- **429.** ``RetryLater(retry_after)`` pauses the chat it names for ``retry_after`` seconds
  (the whole channel when the error is not tied to a chat, when three chats are refused
  within a second, or with ``BDG_RETRY_AFTER_SCOPE=channel``); the refused attempt gives its
  slot back; the row is tried again when the pause is over.
- **5xx / network.** ``Transient`` retries with exponential backoff (``base · 2^(n-1)``, with
  jitter, capped) until ``max_attempts``; then the row is ``failed``. A retry due later than
  ``max_inline_wait`` is written to the row's ``not_before`` and left to a later pass.
- **403.** ``Unreachable`` marks the channel account unreachable, fails the row, cancels the
  account's other pending rows and records an ``UnreachableNotice`` for the standing
  agency's next digest. ``Rejected`` (400) fails the row at once.
- Every attempt is recorded (``attempts``, ``last_error``: an error type and code, never the
  message text); logs name rows by id only.

**A crash during a send.** A row is marked ``sent`` in its own transaction right after the
platform accepted it, and only pending rows are ever sent, so a restart never repeats a sent
row. A worker that dies *during* a send leaves the row ``sending``: the platform may or may not
have it (Telegram and Zalo have no idempotency keys). When the worker is known gone (a dead
process of this host at once; otherwise its claim runs out after ``SENDING_SECONDS``), such a
row is sent again if it is urgent (a case alert: at-least-once, never lost) and otherwise
marked ``failed`` ("outcome unknown") and not repeated: a reminder's next step reminds again.
So a crash repeats no reminder, and at most the urgent alerts in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from db.engine import Database, is_sqlite
from db.models import ChannelAccount, Officer, Outbox
from db.schedule import UnreachableNotice
from kernel.channel import (
    Channel,
    OutboxSender,
    Rejected,
    RetryLater,
    SendError,
    Unreachable,
)
from kernel.clock import utcnow
from kernel.messages import Choice, Reply
from kernel.settings import SchedulerSettings
from scheduler.budget import Budget, Limit, chat_key, make_budget, slot_taken
from scheduler.lock import holder_id, holder_is_stale

log = logging.getLogger("bdg.outbox")

StaleHook = Callable[[AsyncSession, Sequence[Outbox]], Awaitable[dict[int, str]]]
SentHook = Callable[[AsyncSession, Outbox, datetime], Awaitable[None]]
# Kinds whose rows are dropped when they could not be sent for ``expire_hours``.
EXPIRING = ("reminder", "alert", "digest")
# Kinds sent before any other pending row (a case alert to the officers on duty). These are
# also the kinds sent again when a worker died during their send (see the module docstring).
URGENT = ("case",)
# A worker's claim on the rows waiting in its queue, and on a row whose send is in flight
# (longer than any HTTP timeout of the channels: 15 s read + 15 s write).
RESERVE_SECONDS = 30.0
SENDING_SECONDS = 60.0
# How long before its send slot a message's attempt is recorded (a commit): longer than most
# commits, so the message leaves on its slot; short, so few rows are "sending" at a crash.
LEAD = 0.03
# A send this late for its slot takes a new one instead (below the margin's 31 ms).
LATE = 0.02
UNKNOWN = "outcome unknown: the worker stopped during the send"


@dataclass
class DispatchStats:
    sent: int = 0
    failed: int = 0
    retries: int = 0  # attempts that will be tried again (429, 5xx)
    rate_limited: int = 0  # of which 429
    unreachable: int = 0
    cancelled: int = 0  # stale before sending (submitted, muted, officer inactive)
    expired: int = 0

    def add(self, other: DispatchStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Turn:
    """One message's place in the budget (``ChannelGate.turn``)."""

    gate: ChannelGate
    key: str  # the chat's budget key
    channel_slot: float
    chat_slot: float
    at: float  # loop time of the channel slot
    chat_at: float  # loop time of the chat slot
    pausing: asyncio.Future[None] | None = None  # the chat's pause, written during the send

    async def go(self) -> None:
        """Right before the send: wait for the slot itself. A slot missed by more than
        ``LATE`` (recording the attempt took longer than the lead) is not used late (that
        would put two sends of the log closer at the platform than the limit allows): it is
        given back and a new one taken; the chat's next slot then counts from the send."""
        loop = asyncio.get_running_loop()
        gate = self.gate
        for _ in range(4):  # woken late by a busy event loop: check again after each wait
            late = loop.time() - self.at
            if late < 0:
                await asyncio.sleep(-late)
            elif late > LATE:
                await gate.budget.give_back(gate.name, self.channel_slot)
                wait, self.channel_slot = await gate.budget.take(gate.name, gate.limit)
                self.at = loop.time() + wait
            else:
                break
        if loop.time() - self.chat_at > 0.004:  # the chat's spacing counts from the send
            # Started now and awaited after the send (``done``): a round trip here moved the
            # send off its slot, towards the next ones (a second held more than the budget
            # allowed on PostgreSQL).
            self.pausing = asyncio.ensure_future(
                gate.budget.pause(self.key, gate.chat_limit_of(self.key).window)
            )

    async def done(self) -> None:
        """After the send: the chat's pause has been written (a failure to write it is
        logged; the message went out and must be recorded as sent all the same)."""
        if self.pausing is None:
            return
        try:
            await self.pausing
        except Exception as exc:  # noqa: BLE001 - only the chat's spacing is at stake
            log.warning("send budget: chat pause not written (%s)", type(exc).__name__)

    async def give_back(self) -> None:
        """The slot was not used (the attempt failed, or another worker sent the row)."""
        await self.gate.budget.give_back(self.gate.name, self.channel_slot)


class ChannelGate:
    """The send limits of one channel, kept in the shared budget (``scheduler.budget``): the
    overall rate and each chat's rate (Telegram groups: 20 a minute), each ``margin`` below
    the platform's limit, and the pauses a 429 asks for. In the process: the sends in flight
    (``concurrency``) and one message at a time per chat, in order."""

    def __init__(
        self,
        name: str,
        budget: Budget,
        rate: float,
        chat_rate: float,
        *,
        group_rate: float | None = None,
        margin: float = 0.03,
        concurrency: int = 16,
        scope: str = "chat",
    ) -> None:
        self.name = name
        self.budget = budget
        self.rate = rate
        self.chat_rate = chat_rate
        count = max(1, round(rate))
        # ``count`` messages per ``count / rate`` seconds, stretched by the margin; a message
        # may follow the previous one at half the even spacing, so a slot given back is used.
        self.limit = Limit(count, count / rate / (1.0 - margin), 0.5 / rate)
        self.chat_limit = Limit(1, 1.0 / (chat_rate * (1.0 - margin)))
        self.group_limit = Limit(1, 1.0 / (group_rate * (1.0 - margin))) if group_rate else None
        self.scope = scope
        self.semaphore = asyncio.Semaphore(concurrency)
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._groups: set[str] = set()  # budget keys of group chats seen
        self._refused: list[tuple[float, str]] = []  # recent 429s: (loop time, chat)
        self._attempts: list[float] = []  # loop times of this worker's recent attempts

    def chat_limit_for(self, chat_id: str) -> Limit:
        """Telegram group chats have negative ids and a slower limit."""
        if self.group_limit is not None and chat_id.startswith("-"):
            self._groups.add(chat_key(self.name, chat_id))
            return self.group_limit
        return self.chat_limit

    def chat_limit_of(self, key: str) -> Limit:
        return self.group_limit if self.group_limit and key in self._groups else self.chat_limit

    def _chat_lock(self, chat_id: str) -> asyncio.Lock:
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            if len(self._chat_locks) > 5000:  # forget idle chats
                self._chat_locks = {k: v for k, v in self._chat_locks.items() if v.locked()}
            lock = self._chat_locks[chat_id] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def turn(self, chat_id: str) -> AsyncIterator[Turn]:
        """Hold this while sending one message to ``chat_id``: this process's earlier
        messages to the chat have gone, and the message has a channel slot and a chat slot
        (both shared by every worker), the chat's taken at the channel's: in a fan-out (one
        message per chat) one claim of each, no slot wasted. Woken ``LEAD`` before the slot:
        the attempt is recorded (a commit of varying length) before it, and ``Turn.go``
        sends on the slot, not a commit's jitter after it."""
        key, chat_limit = chat_key(self.name, chat_id), self.chat_limit_for(chat_id)
        loop = asyncio.get_running_loop()
        async with self._chat_lock(chat_id):
            # Each slot is put on the loop's clock the moment it is handed out: the chat's
            # claim after it is another round trip (and maybe a wait for a pooled connection),
            # which must not move the send later than its slot (sends bunched that way, and a
            # second held more than the budget allowed).
            wait, slot = await self.budget.take(self.name, self.limit)
            at = loop.time() + wait
            chat_wait, chat_slot = await self.budget.take(key, chat_limit, after=wait)
            if chat_wait > wait + 0.002:
                # The chat is not free yet: its channel slot goes back; wait for the chat,
                # then for a channel slot, and take the chat's at that one.
                await self.budget.give_back(self.name, slot)
                await asyncio.sleep(chat_wait)
                wait, slot = await self.budget.take(self.name, self.limit)
                at = loop.time() + wait
                await self.budget.give_back(key, chat_slot)
                _, chat_slot = await self.budget.take(
                    key, chat_limit, after=max(at - loop.time(), 0.0)
                )
            wait = max(at - loop.time(), 0.0)
            if wait > LEAD:
                await asyncio.sleep(wait - LEAD)
            yield Turn(self, key, slot, chat_slot, at, at)

    def attempted(self) -> None:
        now = asyncio.get_running_loop().time()
        self._attempts = [t for t in self._attempts if now - t < 1.0] + [now]

    async def rate_limited(self, chat_id: str, exc: RetryLater, turn: Turn | None = None) -> str:
        """A 429: pause the chat it names, or the whole channel when the error is not tied
        to a chat, when the scope setting says so, or when within the last second three chats
        or more and a quarter of this worker's attempts were refused (the bot's overall limit,
        whatever the platform says). An attempt refused for its chat gives its channel slot
        back (the platform did not count it). Returns what was paused."""
        now = asyncio.get_running_loop().time()
        self._refused = [(t, c) for t, c in self._refused if now - t < 1.0] + [(now, chat_id)]
        chats = len({c for _, c in self._refused})
        many = chats >= 3 and chats * 4 >= len([t for t in self._attempts if now - t < 1.0])
        overall = not exc.chat or self.scope == "channel" or many
        if overall:
            await self.budget.pause(self.name, exc.retry_after)
        else:
            await self.budget.pause(chat_key(self.name, chat_id), exc.retry_after)
            if turn is not None:
                await turn.give_back()
        return "channel" if overall else "chat"

    def charge(self, chat_id: str) -> None:
        """A message sent outside the outbox (an interactive reply, an edit) uses a slot."""
        self.budget.charge(self.name, self.limit)
        self.budget.charge(chat_key(self.name, chat_id), self.chat_limit_for(chat_id))


def _error(exc: BaseException) -> str:
    """What goes into ``last_error``: the channel errors' own messages never hold the text;
    anything else is named by its type only."""
    if isinstance(exc, SendError):
        return f"{type(exc).__name__}: {exc}"[:300]
    return type(exc).__name__[:300]


async def _send(channel: Channel, row: Outbox, reply: Reply) -> list[str]:
    """One attempt; a channel that chooses how to send by the row (``OutboxSender``) gets it."""
    if isinstance(channel, OutboxSender):
        return await channel.send_outbox(row, reply)
    return await channel.send(row.chat_id, reply)


class OutboxDispatcher:
    def __init__(
        self,
        db: Database,
        channels: dict[str, Channel],
        *,
        clock: Callable[[], datetime] = utcnow,
        settings: SchedulerSettings | None = None,
        stale: StaleHook | None = None,
        on_sent: SentHook | None = None,
        page: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        budget: Budget | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self.clock = clock
        self.settings = settings or SchedulerSettings()
        self.stale = stale
        self.on_sent = on_sent
        # Rows reserved at a time: enough to keep the sends in flight busy, few enough that
        # another worker finds the rest free.
        self.page = page or 2 * self.settings.concurrency
        self._sleep = sleep
        self.budget = budget or make_budget(db)
        # SQLite's writes go through the session (its in-process write lock).
        self._autocommit = not is_sqlite(db.url)
        self.holder = holder_id()
        # The recipients' languages (account id → "vi"/"en"), read with each page of rows:
        # the text was rendered in it when planned, and a text channel's own words (the
        # numbered-choice hint) must follow it.
        self._langs: dict[int, str] = {}
        self.gates: dict[str, ChannelGate] = {}
        rates = self.settings.rates()
        for name in channels:
            rate, chat_rate = rates.get(name, (self.settings.other_rate, self.settings.other_rate))
            self.gates[name] = ChannelGate(
                name,
                self.budget,
                rate,
                chat_rate,
                group_rate=self.settings.telegram_group_rate if name == "telegram" else None,
                margin=self.settings.rate_margin,
                concurrency=self.settings.concurrency,
                scope=self.settings.retry_after_scope,
            )
        self.wakeup = asyncio.Event()
        self._stopping = False
        # Rows the platform accepted but whose "sent" could not be recorded (a database
        # hiccup): never sent again by this process, recorded at the next pass.
        self._unrecorded: dict[int, tuple[int, datetime]] = {}

    # -- passes ----------------------------------------------------------------------------

    async def run_once(self) -> DispatchStats:
        """Send every row due now (and those that become due while this runs), until none
        is left that can be sent now."""
        stats = DispatchStats()
        await self._record_unrecorded()
        await self._recover()
        stats.expired += await self._expire()
        await asyncio.gather(*(self._drain(name, stats) for name in self.channels))
        if stats.sent or stats.failed or stats.cancelled or stats.expired:
            log.info(
                "outbox: %d sent, %d failed (%d unreachable), %d retries, %d cancelled, %d expired",
                stats.sent,
                stats.failed,
                stats.unreachable,
                stats.retries,
                stats.cancelled,
                stats.expired,
            )
        return stats

    async def run(self, stop: asyncio.Event, may_run: Callable[[], bool] = lambda: True) -> None:
        """Pass after pass until ``stop`` is set; idles ``poll_seconds`` (or until woken)."""
        while not stop.is_set():
            if may_run():
                try:
                    await self.run_once()
                except Exception as exc:  # noqa: BLE001 - keep the loop alive, retry later
                    log.error("outbox pass failed: %s", type(exc).__name__)
            self.wakeup.clear()
            waiters = [
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self.wakeup.wait()),
            ]
            await asyncio.wait(
                waiters, timeout=self.settings.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for w in waiters:
                w.cancel()

    def stop(self) -> None:
        self._stopping = True

    # -- one channel -----------------------------------------------------------------------

    async def _drain(self, name: str, stats: DispatchStats) -> None:
        gate = self.gates[name]
        inflight: dict[int, asyncio.Task[None]] = {}
        try:
            while not self._stopping:
                rows = await self._fetch(name, set(inflight) | set(self._unrecorded), stats)
                for row in rows:
                    assert row.id is not None
                    await gate.semaphore.acquire()
                    task = asyncio.create_task(self._deliver_slot(row, gate, stats))
                    inflight[row.id] = task
                    task.add_done_callback(lambda _t, i=row.id: inflight.pop(i, None))  # type: ignore[misc]
                if not rows:
                    if not inflight:
                        return
                    await asyncio.wait(list(inflight.values()), return_when=asyncio.FIRST_COMPLETED)
            if inflight:
                await asyncio.wait(list(inflight.values()))
        except asyncio.CancelledError:
            for task in list(inflight.values()):
                task.cancel()
            await asyncio.gather(*inflight.values(), return_exceptions=True)
            await self._release(name)
            raise

    def _due(self, name: str, now: datetime, exclude: set[int]) -> sa.Select[Any]:
        """The ids of the rows this worker may reserve: pending, due, and free (nobody's,
        this worker's, or a claim run out), urgent kinds first."""
        free = sa.or_(
            col(Outbox.claimed_by).is_(None),
            col(Outbox.claimed_by) == self.holder,
            col(Outbox.claimed_until) < now,
        )
        query = (
            sa.select(col(Outbox.id))
            .where(
                col(Outbox.status) == "pending",
                col(Outbox.channel) == name,
                col(Outbox.not_before) <= now,
                free,
            )
            # Urgent kinds first: a case alert never waits behind a fan-out.
            .order_by(
                sa.case((col(Outbox.kind).in_(URGENT), 0), else_=1),
                col(Outbox.not_before),
                col(Outbox.id),
            )
            .limit(self.page)
            # PostgreSQL: workers reserving at the same moment take different rows.
            .with_for_update(skip_locked=True)
        )
        if exclude:
            query = query.where(col(Outbox.id).not_in(exclude))
        return query

    async def _fetch(self, name: str, exclude: set[int], stats: DispatchStats) -> list[Outbox]:
        """Reserve the next page of due rows for this worker (one UPDATE … RETURNING over
        ``SELECT … FOR UPDATE SKIP LOCKED``), dropping those that went stale."""
        now = self.clock()
        async with self.db.session() as s:
            reserve = (
                sa.update(Outbox)
                .where(col(Outbox.id).in_(self._due(name, now, exclude).scalar_subquery()))
                .values(
                    claimed_by=self.holder,
                    claimed_until=now + timedelta(seconds=RESERVE_SECONDS),
                )
                .returning(Outbox)
            )
            result = await s.exec(select(Outbox).from_statement(reserve))  # type: ignore[call-overload]
            rows = sorted(
                result.scalars().all(),
                key=lambda r: (r.kind not in URGENT, r.not_before, r.id or 0),
            )
            if rows and self.stale is not None:
                drop = await self.stale(s, rows)
                for row_id, reason in drop.items():
                    await s.exec(  # type: ignore[call-overload]
                        update(Outbox)
                        .where(col(Outbox.id) == row_id, col(Outbox.status) == "pending")
                        .values(status="cancelled", last_error=reason, claimed_by=None)
                    )
                stats.cancelled += len(drop)
                rows = [r for r in rows if r.id not in drop]
            await self._read_langs(s, rows)
        return rows

    async def _read_langs(self, s: AsyncSession, rows: list[Outbox]) -> None:
        # Read again with every page: someone may have switched language (/ngonngu).
        ids = {r.account_id for r in rows if r.account_id is not None}
        if ids:
            found = await s.exec(
                select(ChannelAccount.id, ChannelAccount.lang).where(
                    col(ChannelAccount.id).in_(ids)
                )
            )
            self._langs.update({int(i): lang for i, lang in found.all() if i is not None})

    async def _release(self, name: str) -> None:
        """A stopped pass gives its reserved rows back, and the rows whose send it cancelled
        (the request may have gone: at-least-once, as before there were claims)."""
        try:
            async with self.db.session() as s:
                await s.exec(  # type: ignore[call-overload]
                    update(Outbox)
                    .where(
                        col(Outbox.claimed_by) == self.holder,
                        col(Outbox.channel) == name,
                        col(Outbox.status).in_(("pending", "sending")),
                    )
                    .values(status="pending", claimed_by=None, claimed_until=None)
                )
        except Exception as exc:  # noqa: BLE001 - the claims run out by themselves
            log.warning("outbox claims not released: %s", type(exc).__name__)

    async def _recover(self) -> None:
        """Rows claimed by a worker that is gone (its claim ran out, or it was a process of
        this host that has died). A reservation is simply free again. A send in flight has an
        unknown outcome: an urgent kind (a case alert) is sent again — at-least-once, an alert
        is never lost — any other kind is marked failed and not repeated: a reminder's next
        step reminds again anyway, and a duplicate is what a crash must not cause."""
        now = self.clock()
        async with self.db.session() as s:
            holders = (
                await s.exec(
                    select(col(Outbox.claimed_by))
                    .where(
                        col(Outbox.claimed_by).is_not(None),
                        col(Outbox.status).in_(("pending", "sending")),
                    )
                    .distinct()
                )
            ).all()
            gone = [h for h in holders if h and h != self.holder and holder_is_stale(h)]
            if not gone and not any(h for h in holders if h != self.holder):
                return
            lost = sa.and_(
                col(Outbox.claimed_by) != self.holder,
                sa.or_(col(Outbox.claimed_by).in_(gone), col(Outbox.claimed_until) < now),
            )
            free = dict(claimed_by=None, claimed_until=None)
            await s.exec(  # type: ignore[call-overload]
                update(Outbox)
                .where(col(Outbox.status) == "pending", col(Outbox.claimed_by).in_(gone))
                .values(**free)
            )
            await s.exec(  # type: ignore[call-overload]
                update(Outbox)
                .where(col(Outbox.status) == "sending", col(Outbox.kind).in_(URGENT), lost)
                .values(status="pending", **free)
            )
            result = await s.exec(  # type: ignore[call-overload]
                update(Outbox)
                .where(col(Outbox.status) == "sending", col(Outbox.kind).not_in(URGENT), lost)
                .values(status="failed", last_error=UNKNOWN, **free)
            )
            if result.rowcount:
                log.warning("outbox: %d rows of unknown outcome not sent again", result.rowcount)

    async def _expire(self) -> int:
        limit = self.clock() - timedelta(hours=self.settings.expire_hours)
        async with self.db.session() as s:
            result = await s.exec(  # type: ignore[call-overload]
                update(Outbox)
                .where(
                    col(Outbox.status) == "pending",
                    col(Outbox.kind).in_(EXPIRING),
                    col(Outbox.not_before) < limit,
                )
                .values(status="cancelled", last_error="expired")
            )
            return max(int(result.rowcount or 0), 0)

    async def _deliver_slot(self, row: Outbox, gate: ChannelGate, stats: DispatchStats) -> None:
        try:
            await self.deliver(row, gate, stats)
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not kill the pass
            log.error("outbox row %s: %s while recording", row.id, type(exc).__name__)
        finally:
            gate.semaphore.release()

    # -- one row ---------------------------------------------------------------------------

    def backoff(self, attempts: int) -> float:
        base = self.settings.backoff_base * (2 ** max(attempts - 1, 0))
        return min(base, self.settings.backoff_max) * random.uniform(0.8, 1.2)

    async def deliver(self, row: Outbox, gate: ChannelGate, stats: DispatchStats) -> None:
        assert row.id is not None
        channel = self.channels[row.channel]
        reply = Reply(
            text=row.text,
            choices=[
                Choice(str(c[0]), str(c[1]), c[2] if len(c) > 2 else None) for c in row.choices
            ],
            numbered=row.numbered,
            lang=self._langs.get(row.account_id) if row.account_id is not None else None,
        )
        attempts = row.attempts
        while True:
            failure: Exception | None = None
            async with gate.turn(row.chat_id) as turn:
                # The attempt is recorded before the send: after a crash its outcome is
                # known to be unknown (see ``_recover``), and no other worker takes the row.
                if not await self._begin(row.id, attempts + 1):
                    await turn.give_back()  # another worker has it, or it went stale
                    return
                attempts += 1
                gate.attempted()
                await turn.go()
                try:
                    with slot_taken():
                        await _send(channel, row, reply)
                except Exception as exc:  # noqa: BLE001 - each kind decides below
                    failure = exc
                    if isinstance(exc, RetryLater):
                        await gate.rate_limited(row.chat_id, exc, turn)
                finally:
                    await turn.done()
            if failure is None:
                await self._sent(row, attempts, stats)
                return
            wait = await self._failed(row, failure, attempts, gate, stats)
            if wait is None:
                return
            if wait > 0:
                await self._sleep(wait)

    async def _begin(self, row_id: int, attempts: int) -> bool:
        """Mark the row ``sending`` by this worker (committed): False when it is no longer
        pending or another worker holds it."""
        now = self.clock()
        statement = (
            update(Outbox)
            .where(
                col(Outbox.id) == row_id,
                col(Outbox.status) == "pending",
                sa.or_(
                    col(Outbox.claimed_by).is_(None),
                    col(Outbox.claimed_by) == self.holder,
                    col(Outbox.claimed_until) < now,
                ),
            )
            .values(
                status="sending",
                attempts=attempts,
                claimed_by=self.holder,
                claimed_until=now + timedelta(seconds=SENDING_SECONDS),
            )
        )
        if self._autocommit:  # PostgreSQL: one round trip, not BEGIN, UPDATE, COMMIT
            async with self.db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                return bool((await conn.execute(statement)).rowcount)
        async with self.db.session() as s:
            result = await s.exec(statement)  # type: ignore[call-overload]
            return bool(result.rowcount)

    async def _failed(
        self, row: Outbox, exc: Exception, attempts: int, gate: ChannelGate, stats: DispatchStats
    ) -> float | None:
        """Record a failed attempt. Returns how long to wait before trying again in place
        (0: at once, the gate holds the chat back), or None when this pass is done with the
        row (sent later, or given up)."""
        assert row.id is not None
        if isinstance(exc, RetryLater):
            stats.rate_limited += 1
            if attempts >= self.settings.max_attempts * 3:
                await self._give_up(row, attempts, exc, stats, "rate limited")
                return None
            stats.retries += 1
            due = self.clock() + timedelta(seconds=exc.retry_after)
            inline = exc.retry_after <= self.settings.max_inline_wait
            await self._retry_later(row.id, attempts, _error(exc), due, keep=inline)
            return 0.0 if inline else None  # the budget holds the chat (or channel) back
        if isinstance(exc, Unreachable):
            await self._unreachable(row, attempts, _error(exc))
            stats.failed += 1
            stats.unreachable += 1
            log.warning("outbox row %s (%s): account unreachable", row.id, row.channel)
            return None
        if isinstance(exc, Rejected):
            await self._give_up(row, attempts, exc, stats, f"rejected: {_error(exc)}")
            return None
        if not isinstance(exc, SendError):  # Transient and SendError are expected; others not
            log.error("outbox row %s: channel raised %s", row.id, type(exc).__name__)
        if attempts >= self.settings.max_attempts:
            reason = f"after {attempts} attempts: {type(exc).__name__}"
            await self._give_up(row, attempts, exc, stats, reason)
            return None
        stats.retries += 1
        delay = self.backoff(attempts)
        inline = delay <= self.settings.max_inline_wait
        due = self.clock() + timedelta(seconds=delay)
        await self._retry_later(row.id, attempts, _error(exc), due, keep=inline)
        return delay if inline else None

    async def _give_up(
        self, row: Outbox, attempts: int, exc: Exception, stats: DispatchStats, reason: str
    ) -> None:
        assert row.id is not None
        await self._finish(row.id, "failed", attempts, _error(exc))
        stats.failed += 1
        log.warning("outbox row %s (%s) failed %s", row.id, row.channel, reason)

    async def _sent(self, row: Outbox, attempts: int, stats: DispatchStats) -> None:
        assert row.id is not None
        now = self.clock()
        stats.sent += 1
        try:
            await self._finish(row.id, "sent", attempts, None, sent_at=now)
        except Exception:
            self._unrecorded[row.id] = (attempts, now)
            raise
        if self.on_sent is not None:
            row.attempts = attempts
            try:
                async with self.db.session() as s:
                    await self.on_sent(s, row, now)
            except Exception as exc:  # noqa: BLE001 - the message is out; this is extra
                log.error("outbox row %s: after-send hook %s", row.id, type(exc).__name__)

    # -- recording (each in its own committed transaction) --------------------------------

    async def _record_unrecorded(self) -> None:
        for row_id, (attempts, sent_at) in list(self._unrecorded.items()):
            try:
                await self._finish(row_id, "sent", attempts, None, sent_at=sent_at)
            except Exception as exc:  # noqa: BLE001 - try again at the next pass
                log.error("outbox row %s: still not recorded (%s)", row_id, type(exc).__name__)
                return
            del self._unrecorded[row_id]

    async def _finish(
        self,
        row_id: int,
        status: str,
        attempts: int,
        error: str | None,
        sent_at: datetime | None = None,
    ) -> None:
        values: dict[str, object] = {
            "status": status,
            "attempts": attempts,
            "sent_at": sent_at,
            "claimed_by": None,
            "claimed_until": None,
        }
        if status != "sent":  # a row sent after retries keeps its last error, for the record
            values["last_error"] = error
        # "sent" is recorded even if the claim was given up meanwhile (the message is out).
        done = ("pending", "sending", "failed") if status == "sent" else ("pending", "sending")
        statement = (
            update(Outbox).where(col(Outbox.id) == row_id, col(Outbox.status).in_(done))
        ).values(**values)
        if self._autocommit:
            async with self.db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(statement)
            return
        async with self.db.session() as s:
            await s.exec(statement)  # type: ignore[call-overload]

    async def _retry_later(
        self, row_id: int, attempts: int, error: str, due: datetime, *, keep: bool
    ) -> None:
        """Back to pending, due at ``due``; this worker keeps its claim while it waits in
        place (``keep``), else any worker may send it when it is due."""
        claim: dict[str, object] = {"claimed_by": None, "claimed_until": None}
        if keep:
            claim["claimed_until"] = due + timedelta(seconds=RESERVE_SECONDS)
            claim["claimed_by"] = self.holder
        async with self.db.session() as s:
            await s.exec(  # type: ignore[call-overload]
                update(Outbox)
                .where(col(Outbox.id) == row_id, col(Outbox.status).in_(("pending", "sending")))
                .values(
                    status="pending", attempts=attempts, last_error=error, not_before=due, **claim
                )
            )

    async def _unreachable(self, row: Outbox, attempts: int, error: str) -> None:
        now = self.clock()
        async with self.db.session() as s:
            await s.exec(  # type: ignore[call-overload]
                update(Outbox)
                .where(col(Outbox.id) == row.id, col(Outbox.status).in_(("pending", "sending")))
                .values(
                    status="failed",
                    attempts=attempts,
                    last_error=error,
                    claimed_by=None,
                    claimed_until=None,
                )
            )
            if row.account_id is None:
                return
            account = await s.get(ChannelAccount, row.account_id)
            if account is None:
                return
            first = not account.unreachable
            account.unreachable = True
            await s.exec(  # type: ignore[call-overload]
                update(Outbox)
                .where(
                    col(Outbox.account_id) == row.account_id,
                    col(Outbox.status) == "pending",
                    col(Outbox.id) != row.id,
                )
                .values(status="cancelled", last_error="account unreachable")
            )
            if first:
                officer = await s.get(Officer, account.officer_id) if account.officer_id else None
                s.add(
                    UnreachableNotice(
                        account_id=row.account_id,
                        officer_id=officer.id if officer else None,
                        unit_id=officer.unit_id if officer else row.unit_id,
                        channel=account.channel,
                        at=now,
                    )
                )
