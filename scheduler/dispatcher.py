"""The outbox dispatcher: sends pending outbox rows through the channels, within each
platform's rate limits, and records how each one ended.

- **Rates.** Per channel an overall limit (Telegram 30 messages/s, Zalo 10/s by default;
  an ``aiolimiter`` leaky bucket of capacity one) and a per-chat limit (1/s: one message at a
  time per chat, spaced from the previous send), both paced a small margin below the limit
  so network jitter never pushes the platform's count over it.
- **429.** ``RetryLater(retry_after)`` pauses the whole channel (or only that chat, see
  ``BDG_RETRY_AFTER_SCOPE``) for ``retry_after`` seconds, then the row is tried again.
- **5xx / network.** ``Transient`` retries with exponential backoff (``base · 2^(n-1)``, with
  jitter, capped) until ``max_attempts``; then the row is ``failed``. A retry due later than
  ``max_inline_wait`` is written to the row's ``not_before`` and left to a later pass.
- **403.** ``Unreachable`` marks the channel account unreachable, fails the row, cancels the
  account's other pending rows and records an ``UnreachableNotice`` for the standing
  agency's next digest. ``Rejected`` (400) fails the row at once.
- Every attempt is recorded (``attempts``, ``last_error``: an error type and code, never the
  message text); logs name rows by id only.

**Exactly once, as far as a platform allows.** A row is marked ``sent`` in its own
transaction, committed right after the platform accepted it, and only pending rows are ever
sent, so a restart resumes the pending rows and never repeats a sent one. The one window left
is a crash (or a lost database) *between* the platform's acceptance and that commit: the row is
still pending and will be sent again after the restart: at-least-once for that instant, which
neither Telegram nor Zalo lets a client close (they have no idempotency keys).

Only one process dispatches at a time (the scheduler lock, see ``scheduler.lock``): two
dispatchers could both send a pending row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from aiolimiter import AsyncLimiter
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from db.engine import Database
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

log = logging.getLogger("bdg.outbox")

StaleHook = Callable[[AsyncSession, Sequence[Outbox]], Awaitable[dict[int, str]]]
SentHook = Callable[[AsyncSession, Outbox, datetime], Awaitable[None]]
# Kinds whose rows are dropped when they could not be sent for ``expire_hours``.
EXPIRING = ("reminder", "alert", "digest")
# Kinds sent before any other pending row (a case alert to the officers on duty).
URGENT = ("case",)


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


class ChannelGate:
    """The send limits of one channel: the overall rate (an ``aiolimiter`` leaky bucket of
    capacity one, so sends are evenly spaced and never burst over the limit), the per-chat
    rate (messages to one chat go one at a time, spaced from the previous send), and the
    pauses a 429 asks for."""

    def __init__(
        self,
        rate: float,
        chat_rate: float,
        *,
        margin: float = 0.05,
        concurrency: int = 16,
        scope: str = "channel",
    ) -> None:
        self.rate = rate
        self.chat_rate = chat_rate
        self.limiter = AsyncLimiter(1, 1.0 / (rate * (1.0 - margin)))
        self.chat_period = 1.0 / (chat_rate * (1.0 - margin))
        self.scope = scope
        self.paused_until = 0.0
        self.chat_paused: dict[str, float] = {}
        self.semaphore = asyncio.Semaphore(concurrency)
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._last_sent: dict[str, float] = {}

    def _chat_lock(self, chat_id: str) -> asyncio.Lock:
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            if len(self._chat_locks) > 5000:  # forget idle chats
                now = asyncio.get_running_loop().time()
                self._chat_locks = {k: v for k, v in self._chat_locks.items() if v.locked()}
                self._last_sent = {
                    k: v for k, v in self._last_sent.items() if now - v < self.chat_period
                }
            lock = self._chat_locks[chat_id] = asyncio.Lock()
        return lock

    async def _paused(self, chat_id: str) -> bool:
        loop = asyncio.get_running_loop()
        until = max(self.paused_until, self.chat_paused.get(chat_id, 0.0))
        wait = until - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
            return True
        return False

    @contextlib.asynccontextmanager
    async def turn(self, chat_id: str) -> AsyncIterator[None]:
        """Hold this while sending one message to ``chat_id``."""
        loop = asyncio.get_running_loop()
        async with self._chat_lock(chat_id):
            last = self._last_sent.get(chat_id)
            if last is not None and (wait := last + self.chat_period - loop.time()) > 0:
                await asyncio.sleep(wait)
            while True:
                while await self._paused(chat_id):
                    pass
                await self.limiter.acquire()
                if not await self._paused(chat_id):  # no 429 came in while we queued
                    break
            self._last_sent[chat_id] = loop.time()
            yield

    def pause(self, chat_id: str, seconds: float) -> None:
        until = asyncio.get_running_loop().time() + max(seconds, 0.0)
        if self.scope == "chat":
            self.chat_paused[chat_id] = max(self.chat_paused.get(chat_id, 0.0), until)
        else:
            self.paused_until = max(self.paused_until, until)


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
        page: int = 200,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.channels = channels
        self.clock = clock
        self.settings = settings or SchedulerSettings()
        self.stale = stale
        self.on_sent = on_sent
        self.page = page
        self._sleep = sleep
        self.gates: dict[str, ChannelGate] = {}
        rates = self.settings.rates()
        for name in channels:
            rate, chat_rate = rates.get(name, (self.settings.other_rate, self.settings.other_rate))
            self.gates[name] = ChannelGate(
                rate,
                chat_rate,
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
            raise

    async def _fetch(self, name: str, exclude: set[int], stats: DispatchStats) -> list[Outbox]:
        now = self.clock()
        async with self.db.session() as s:
            rows = list(
                (
                    await s.exec(
                        select(Outbox)
                        .where(
                            col(Outbox.status) == "pending",
                            col(Outbox.channel) == name,
                            col(Outbox.not_before) <= now,
                        )
                        # Urgent kinds first: a case alert never waits behind a fan-out.
                        .order_by(
                            sa.case((col(Outbox.kind).in_(URGENT), 0), else_=1),
                            col(Outbox.not_before),
                            col(Outbox.id),
                        )
                        .limit(self.page + len(exclude))
                    )
                ).all()
            )
            rows = [r for r in rows if r.id not in exclude][: self.page]
            if rows and self.stale is not None:
                drop = await self.stale(s, rows)
                for row_id, reason in drop.items():
                    await s.exec(  # type: ignore[call-overload]
                        update(Outbox)
                        .where(col(Outbox.id) == row_id, col(Outbox.status) == "pending")
                        .values(status="cancelled", last_error=reason)
                    )
                stats.cancelled += len(drop)
                rows = [r for r in rows if r.id not in drop]
        return rows

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
        )
        attempts = row.attempts
        while True:
            attempts += 1
            try:
                async with gate.turn(row.chat_id):
                    await _send(channel, row, reply)
            except Exception as exc:  # noqa: BLE001 - each kind decides: retry, wait or give up
                wait = await self._failed(row, exc, attempts, gate, stats)
                if wait is None:
                    return
                if wait > 0:
                    await self._sleep(wait)
                continue
            await self._sent(row, attempts, stats)
            return

    async def _failed(
        self, row: Outbox, exc: Exception, attempts: int, gate: ChannelGate, stats: DispatchStats
    ) -> float | None:
        """Record a failed attempt. Returns how long to wait before trying again in place
        (0: at once, the gate holds the chat back), or None when this pass is done with the
        row (sent later, or given up)."""
        assert row.id is not None
        if isinstance(exc, RetryLater):
            gate.pause(row.chat_id, exc.retry_after)
            stats.rate_limited += 1
            if attempts >= self.settings.max_attempts * 3:
                await self._give_up(row, attempts, exc, stats, "rate limited")
                return None
            stats.retries += 1
            due = self.clock() + timedelta(seconds=exc.retry_after)
            await self._retry_later(row.id, attempts, _error(exc), due)
            return None if exc.retry_after > self.settings.max_inline_wait else 0.0
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
        await self._retry_later(
            row.id, attempts, _error(exc), self.clock() + timedelta(seconds=delay)
        )
        return None if delay > self.settings.max_inline_wait else delay

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
        values: dict[str, object] = {"status": status, "attempts": attempts, "sent_at": sent_at}
        if status != "sent":  # a row sent after retries keeps its last error, for the record
            values["last_error"] = error
        async with self.db.session() as s:
            await s.exec(  # type: ignore[call-overload]
                update(Outbox)
                .where(col(Outbox.id) == row_id, col(Outbox.status) == "pending")
                .values(**values)
            )

    async def _retry_later(self, row_id: int, attempts: int, error: str, due: datetime) -> None:
        async with self.db.session() as s:
            await s.exec(  # type: ignore[call-overload]
                update(Outbox)
                .where(col(Outbox.id) == row_id, col(Outbox.status) == "pending")
                .values(attempts=attempts, last_error=error, not_before=due)
            )

    async def _unreachable(self, row: Outbox, attempts: int, error: str) -> None:
        now = self.clock()
        async with self.db.session() as s:
            await s.exec(  # type: ignore[call-overload]
                update(Outbox)
                .where(col(Outbox.id) == row.id, col(Outbox.status) == "pending")
                .values(status="failed", attempts=attempts, last_error=error)
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
