"""The send budget: how fast messages may go, per channel and per chat, shared by every worker.

One budget is *the* limiter of a channel (python-telegram-bot's ``AIORateLimiter`` is not used:
it counted per process, so two workers sent at twice Telegram's limit, and in series with the
outbox's own limiter every message waited twice). The outbox dispatcher *waits* for a slot
before each send; the channel's interactive replies and edits are *charged* to the same budget
without waiting (a person who just typed gets the answer at once; the outbox slows down by
as much).

Each key (a channel, or a chat of a channel) holds the time its next slot is free. Taking a
slot returns how long to wait for it and moves the key one period on (a generic cell rate
algorithm with a burst of one: slots are evenly spaced, never bunched). A 429 pushes the key
to the end of the pause; a failed attempt gives its slot back.

- ``MemoryBudget``: in the process (SQLite, the single-process embedded setup; tests).
- ``SharedBudget``: in PostgreSQL (table ``ratebudget``), one atomic upsert per slot, on the
  database's clock, so N workers on any hosts share one budget. Charges of interactive sends
  are added up in memory and written together every ``FLUSH_SECONDS`` (one statement).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Protocol

from sqlalchemy import text

from db.engine import Database, is_sqlite

log = logging.getLogger("bdg.outbox")

# Interactive sends are written to the shared budget this often (a bounded overshoot: at
# most one flush interval of replies is unaccounted for when a slot is handed out).
FLUSH_SECONDS = 0.05
# Keys idle this long are forgotten (their next slot is long free).
IDLE_SECONDS = 120.0
PURGE_EVERY_SECONDS = 300.0

# Set while the outbox sends a message whose slot it has already taken: the channel's own
# hook (``Budget.charge`` for interactive sends) must not count it a second time.
_SLOT_TAKEN: ContextVar[bool] = ContextVar("bdg_slot_taken", default=False)


@contextlib.contextmanager
def slot_taken() -> Iterator[None]:
    token = _SLOT_TAKEN.set(True)
    try:
        yield
    finally:
        _SLOT_TAKEN.reset(token)


def is_slot_taken() -> bool:
    return _SLOT_TAKEN.get()


def chat_key(channel: str, chat_id: str) -> str:
    """A chat's budget key: the channel and a short hash of the chat id (the table never holds
    who was written to)."""
    digest = hashlib.blake2b(chat_id.encode(), digest_size=8).hexdigest()
    return f"{channel}:{digest}"


class Budget(Protocol):
    async def take(self, key: str, period: float, after: float = 0.0) -> float:
        """Claim the next slot of ``key`` not before ``after`` seconds from now; returns the
        seconds to wait for it."""

    async def give_back(self, key: str, period: float) -> None:
        """An attempt that failed does not use its slot: the next claimer gets it."""

    async def pause(self, key: str, seconds: float) -> None:
        """No slot of ``key`` before ``seconds`` from now (a 429's retry_after)."""

    def charge(self, key: str, period: float) -> None:
        """A message sent outside the outbox (an interactive reply, an edit) uses a slot now;
        never waits."""

    async def close(self) -> None: ...


class MemoryBudget:
    """The budget of one process (the event loop's clock)."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._purged = 0.0

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _slot(self, key: str, period: float, now: float, after: float = 0.0) -> float:
        slot = max(self._next.get(key, now), now + after)
        self._next[key] = slot + period
        if now - self._purged > PURGE_EVERY_SECONDS:
            self._purged = now
            self._next = {k: v for k, v in self._next.items() if v > now - IDLE_SECONDS}
        return slot

    async def take(self, key: str, period: float, after: float = 0.0) -> float:
        now = self._now()
        return self._slot(key, period, now, after) - now

    async def give_back(self, key: str, period: float) -> None:
        now = self._now()
        if key in self._next:
            self._next[key] = max(self._next[key] - period, now)

    async def pause(self, key: str, seconds: float) -> None:
        until = self._now() + max(seconds, 0.0)
        self._next[key] = max(self._next.get(key, until), until)

    def charge(self, key: str, period: float) -> None:
        self._slot(key, period, self._now())

    async def close(self) -> None:
        return None


_NOW = "extract(epoch from clock_timestamp())"
_TAKE = text(
    f"INSERT INTO ratebudget (key, next_at) VALUES (:key, {_NOW} + :after + :period) "
    f"ON CONFLICT (key) DO UPDATE "
    f"SET next_at = GREATEST(ratebudget.next_at, {_NOW} + :after) + :period "
    f"RETURNING next_at - :period - {_NOW}"
)
_GIVE_BACK = text(
    f"UPDATE ratebudget SET next_at = GREATEST(next_at - :period, {_NOW}) WHERE key = :key"
)
_PAUSE = text(
    f"INSERT INTO ratebudget (key, next_at) VALUES (:key, {_NOW} + :seconds) "
    f"ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(ratebudget.next_at, {_NOW} + :seconds)"
)
# Many keys' charges at once: each key moves ``amount`` seconds on from max(its slot, now).
_CHARGE = text(
    f"INSERT INTO ratebudget (key, next_at) "
    f"SELECT k, {_NOW} + a FROM unnest(CAST(:keys AS VARCHAR[]), CAST(:amounts AS FLOAT8[])) "
    f"AS c(k, a) "
    f"ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(ratebudget.next_at, {_NOW}) "
    f"+ (EXCLUDED.next_at - {_NOW})"
)
_PURGE = text(f"DELETE FROM ratebudget WHERE next_at < {_NOW} - :idle")


class SharedBudget:
    """The budget in PostgreSQL, shared by every worker (each statement autocommits: a slot is
    taken the moment it is handed out, and no transaction holds the row)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._charges: dict[str, float] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._purged = 0.0

    async def _run(self, statement: object, params: dict[str, object]) -> float | None:
        async with self.db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.execute(statement, params)  # type: ignore[call-overload]
            return float(result.scalar()) if result.returns_rows else None

    async def take(self, key: str, period: float, after: float = 0.0) -> float:
        wait = await self._run(_TAKE, {"key": key, "period": period, "after": after})
        await self._purge()
        return max(wait or 0.0, 0.0)

    async def give_back(self, key: str, period: float) -> None:
        await self._run(_GIVE_BACK, {"key": key, "period": period})

    async def pause(self, key: str, seconds: float) -> None:
        await self._run(_PAUSE, {"key": key, "seconds": max(seconds, 0.0)})

    def charge(self, key: str, period: float) -> None:
        self._charges[key] = self._charges.get(key, 0.0) + period
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        charges, self._charges = self._charges, {}
        if not charges:
            return
        keys: Sequence[str] = list(charges)
        try:
            await self._run(_CHARGE, {"keys": keys, "amounts": [charges[k] for k in keys]})
        except Exception as exc:  # noqa: BLE001 - the replies went out; the count is extra
            log.warning("send budget: charges not written (%s)", type(exc).__name__)

    async def _purge(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._purged < PURGE_EVERY_SECONDS:
            return
        self._purged = now
        try:
            await self._run(_PURGE, {"idle": IDLE_SECONDS})
        except Exception as exc:  # noqa: BLE001 - retried at the next interval
            log.warning("send budget: purge failed (%s)", type(exc).__name__)

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        await self.flush()


def make_budget(db: Database) -> Budget:
    """In the process on SQLite (one process serves it), in the database on PostgreSQL."""
    return MemoryBudget() if is_sqlite(db.url) else SharedBudget(db)
