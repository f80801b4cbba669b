"""The send budget: how fast messages may go, per channel and per chat, shared by every worker.

One budget is *the* limiter of a channel (python-telegram-bot's ``AIORateLimiter`` is not used:
it counted per process, so two workers sent at twice Telegram's limit, and in series with the
outbox's own limiter every message waited twice). The outbox dispatcher *waits* for a slot
before each send; the channel's interactive replies and edits are *charged* to the same budget
without waiting (a person who just typed gets the answer at once; the outbox slows down by
as much).

Each key (a channel, or a chat of a channel) keeps the times of its last ``count`` slots (a
sliding-window log): a new slot is the earliest time at which no ``window`` holds more than
``count`` slots, at least ``spacing`` after the previous one (no bursts). Taking a slot
returns how long to wait for it. A 429 pauses the key; a failed attempt gives its slot back
(it leaves the log, exactly: the platform did not count it, and the next claims may use the
room). With an evenly spaced schedule instead (a cell rate algorithm), a slot given back could
only be reused by putting a 31st message into some second, and every 429 cost a slot.

- ``MemoryBudget``: in the process (SQLite, the single-process embedded setup; tests).
- ``SharedBudget``: in PostgreSQL (table ``ratebudget``), one atomic upsert per slot, on the
  database's clock, so N workers on any hosts share one budget. Charges of interactive sends
  are added up in memory and written together every ``FLUSH_SECONDS`` (one statement).
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text

from db.engine import Database, is_sqlite

log = logging.getLogger("bdg.outbox")

# Interactive sends are written to the shared budget this often (a bounded overshoot: at
# most one flush interval of replies is unaccounted for when a slot is handed out).
FLUSH_SECONDS = 0.05
# Keys idle this long are forgotten (their next slot is long free).
IDLE_SECONDS = 120.0
PURGE_EVERY_SECONDS = 300.0
# How long a reading of the database's clock is trusted (a wall clock stepped by NTP is
# followed within this long).
OFFSET_WINDOW = 10.0
# A key's log keeps twice as many slots as its limit counts: after a slot is given back, the
# one before the oldest counted must still be there (else the window would be checked against
# too short a log and let one message too many through).
KEEP = 2

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


@dataclass(frozen=True)
class Limit:
    """At most ``count`` messages in any ``window`` seconds, each at least ``spacing`` after
    the one before (no bursts)."""

    count: int
    window: float
    spacing: float = 0.0


def chat_key(channel: str, chat_id: str) -> str:
    """A chat's budget key: the channel and a short hash of the chat id (the table never holds
    who was written to)."""
    digest = hashlib.blake2b(chat_id.encode(), digest_size=8).hexdigest()
    return f"{channel}:{digest}"


class Budget(Protocol):
    async def take(self, key: str, limit: Limit, after: float = 0.0) -> tuple[float, float]:
        """Claim the next slot of ``key`` not before ``after`` seconds from now; returns the
        seconds to wait for it and the slot (to give it back)."""

    async def give_back(self, key: str, slot: float) -> None:
        """An attempt that failed does not use its slot: it leaves the key's log, and the
        next claims may go as if it had never been taken."""

    async def pause(self, key: str, seconds: float) -> None:
        """No slot of ``key`` before ``seconds`` from now (a 429's retry_after)."""

    def charge(self, key: str, limit: Limit) -> None:
        """A message sent outside the outbox (an interactive reply, an edit) uses a slot now;
        never waits."""

    async def close(self) -> None: ...


def next_slot(times: list[float], paused: float, limit: Limit, earliest: float) -> float:
    """The earliest time not before ``earliest`` or the pause at which one more message keeps
    ``limit`` (``times``: the key's last slots, in order)."""
    slot = max(earliest, paused)
    if times:
        slot = max(slot, times[-1] + limit.spacing)
    if len(times) >= limit.count:
        slot = max(slot, times[-limit.count] + limit.window)
    return slot


class MemoryBudget:
    """The budget of one process (the event loop's clock)."""

    def __init__(self) -> None:
        self._times: dict[str, list[float]] = {}
        self._paused: dict[str, float] = {}
        self._purged = 0.0

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _add(self, key: str, limit: Limit, slot: float) -> None:
        times = self._times.setdefault(key, [])
        bisect.insort(times, slot)
        del times[: max(len(times) - KEEP * limit.count, 0)]

    def _purge(self, now: float) -> None:
        if now - self._purged > PURGE_EVERY_SECONDS:
            self._purged = now
            self._times = {k: v for k, v in self._times.items() if v and v[-1] > now - IDLE_SECONDS}
            self._paused = {k: v for k, v in self._paused.items() if v > now}

    async def take(self, key: str, limit: Limit, after: float = 0.0) -> tuple[float, float]:
        now = self._now()
        self._purge(now)
        slot = next_slot(self._times.get(key, []), self._paused.get(key, 0.0), limit, now + after)
        self._add(key, limit, slot)
        return slot - now, slot

    async def give_back(self, key: str, slot: float) -> None:
        times = self._times.get(key)
        if times and slot in times:
            times.remove(slot)

    async def pause(self, key: str, seconds: float) -> None:
        until = self._now() + max(seconds, 0.0)
        self._paused[key] = max(self._paused.get(key, until), until)

    def charge(self, key: str, limit: Limit) -> None:
        now = self._now()
        times = self._times.get(key, [])
        self._add(key, limit, max(now, times[-1]) if times else now)

    async def close(self) -> None:
        return None


_NOW = "extract(epoch from clock_timestamp())"
_LAST = "ratebudget.times[cardinality(ratebudget.times)]"
# One slot, atomically, in one statement: a new key is inserted with its first slot; an
# existing one is updated from its row as locked (ON CONFLICT DO UPDATE waits for a concurrent
# writer and sees its version), so two workers never get the same slot.
_SLOT = (
    f"GREATEST({_NOW} + :after, ratebudget.paused, COALESCE({_LAST} + :spacing, 0), "
    f"CASE WHEN cardinality(ratebudget.times) >= :count "
    f"THEN ratebudget.times[cardinality(ratebudget.times) - :count + 1] + :window ELSE 0 END)"
)
_TAKE = text(
    f"INSERT INTO ratebudget (key, times, paused) "
    f"VALUES (:key, ARRAY[{_NOW} + :after], 0) "
    f"ON CONFLICT (key) DO UPDATE SET times = (ratebudget.times || {_SLOT})"
    f"[GREATEST(cardinality(ratebudget.times) + 2 - {KEEP} * :count, 1):] "
    f"RETURNING {_LAST}, {_NOW}"
)
_ADD = text(
    "INSERT INTO ratebudget (key, times, paused) "
    "SELECT k, CAST(ARRAY[] AS FLOAT8[]), 0 FROM unnest(CAST(:keys AS VARCHAR[])) AS k "
    "ON CONFLICT (key) DO NOTHING"
)
_GIVE_BACK = text("UPDATE ratebudget SET times = array_remove(times, :slot) WHERE key = :key")
_PAUSE = text(
    f"UPDATE ratebudget SET paused = GREATEST(paused, {_NOW} + :seconds) WHERE key = :key"
)
# Many keys' charges at once: each charge is a slot at max(now, the key's last slot).
_CHARGE = text(
    f"UPDATE ratebudget AS r SET times = (r.times || array_fill("
    f"GREATEST({_NOW}, COALESCE(r.times[cardinality(r.times)], 0)), ARRAY[c.n]))"
    f"[GREATEST(cardinality(r.times) + c.n + 1 - c.keep, 1):] "
    f"FROM unnest(CAST(:keys AS VARCHAR[]), CAST(:counts AS INT[]), CAST(:keeps AS INT[])) "
    f"AS c(k, n, keep) WHERE r.key = c.k"
)
_PURGE = text(
    f"DELETE FROM ratebudget WHERE paused < {_NOW} "
    f"AND COALESCE(times[cardinality(times)], 0) < {_NOW} - :idle"
)


class SharedBudget:
    """The budget in PostgreSQL, shared by every worker (each statement autocommits: a slot is
    taken the moment it is handed out, and no transaction holds the row)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._charges: dict[str, tuple[int, int]] = {}  # key -> (messages, limit.count)
        self._flusher: asyncio.Task[None] | None = None
        self._purged = 0.0
        self._known: set[str] = set()  # keys whose row exists
        # (loop time, loop clock minus database clock) readings: a sliding-window minimum.
        self._offsets: collections.deque[tuple[float, float]] = collections.deque()

    async def _run(self, statement: Any, params: dict[str, object]) -> Any:
        async with self.db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.execute(statement, params)
            return result.first() if result.returns_rows else None

    async def _ensure(self, keys: Sequence[str]) -> None:
        missing = [k for k in keys if k not in self._known]
        if missing:
            await self._run(_ADD, {"keys": missing})
            self._known.update(missing)
            if len(self._known) > 50_000:
                self._known = set(missing)

    async def take(self, key: str, limit: Limit, after: float = 0.0) -> tuple[float, float]:
        params = {
            "key": key,
            "after": after,
            "spacing": limit.spacing,
            "count": limit.count,
            "window": limit.window,
        }
        row = await self._run(_TAKE, params)
        loop = asyncio.get_running_loop()
        self._observe(loop.time() - float(row[1]))
        await self._purge()
        slot = float(row[0])
        return max(slot + self._offsets[0][1] - loop.time(), 0.0), slot

    def _observe(self, offset: float) -> None:
        """One reading of the loop's clock minus the database's, late by this reply's delay.
        A slot is put on the loop's clock with the smallest reading of the last
        ``OFFSET_WINDOW`` seconds (the least delayed reply: a sliding minimum), the same for
        every slot, so the spacing the budget gave the slots is the spacing of the sends; with
        each reply's own reading, a reply that came late moved its send later, towards the
        next ones (sends bunched, and a second held more than the budget allowed)."""
        now = asyncio.get_running_loop().time()
        window = self._offsets
        while window and window[-1][1] >= offset:
            window.pop()
        window.append((now, offset))
        while window[0][0] < now - OFFSET_WINDOW:
            window.popleft()

    async def give_back(self, key: str, slot: float) -> None:
        await self._run(_GIVE_BACK, {"key": key, "slot": slot})

    async def pause(self, key: str, seconds: float) -> None:
        await self._ensure([key])
        await self._run(_PAUSE, {"key": key, "seconds": max(seconds, 0.0)})

    def charge(self, key: str, limit: Limit) -> None:
        n, _ = self._charges.get(key, (0, limit.count))
        self._charges[key] = (n + 1, limit.count)
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
            await self._ensure(keys)
            await self._run(
                _CHARGE,
                {
                    "keys": keys,
                    "counts": [min(charges[k][0], charges[k][1]) for k in keys],
                    "keeps": [KEEP * charges[k][1] for k in keys],
                },
            )
        except Exception as exc:  # noqa: BLE001 - the replies went out; the count is extra
            log.warning("send budget: charges not written (%s)", type(exc).__name__)

    async def _purge(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._purged < PURGE_EVERY_SECONDS:
            return
        self._purged = now
        try:
            await self._run(_PURGE, {"idle": IDLE_SECONDS})
            self._known.clear()
        except Exception as exc:  # noqa: BLE001 - retried at the next interval
            log.warning("send budget: purge failed (%s)", type(exc).__name__)

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        await self.flush()


def make_budget(db: Database) -> Budget:
    """In the process on SQLite (one process serves it), in the database on PostgreSQL."""
    return MemoryBudget() if is_sqlite(db.url) else SharedBudget(db)
