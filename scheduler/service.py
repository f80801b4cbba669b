"""The background service started by ``bdg run`` / ``bdg serve`` (see ``bot.runner``):
APScheduler runs the planner every 15 minutes and once at start, and the outbox dispatcher
sends what was planned (and anything else written to the outbox, such as announcements).

The planner (and the urgent and maintenance jobs) run only in the process holding the
scheduler lock (``scheduler.lock``); the others try again at every tick and take over when the
holder goes away. The outbox dispatcher runs in every worker on PostgreSQL (they share the rows
and one rate budget, see ``scheduler.dispatcher``); on SQLite in the lock holder.

APScheduler's default ``misfire_grace_time`` is one second: a tick that starts a little late
(a busy event loop, a suspended machine) would be skipped. Ticks here may run up to most of
an interval late and piled-up runs are coalesced into one. A bot that was down at 08:00
catches up at its first tick that day anyway, because each tick plans everything due today
that is not in the outbox yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlmodel.ext.asyncio.session import AsyncSession

from db.engine import Database, is_sqlite
from kernel import metrics
from kernel.calendar import load_calendar
from kernel.channel import Channel
from kernel.clock import utcnow
from kernel.settings import SchedulerSettings
from scheduler.budget import Budget
from scheduler.dispatcher import OutboxDispatcher
from scheduler.lock import SchedulerLock, make_lock
from scheduler.maintenance import MaintenanceResult, run_maintenance
from scheduler.planner import PlanResult, plan, remember_start_menu, stale_rows
from scheduler.recipients import RecipientCache

log = logging.getLogger("bdg.scheduler")

# How often the holder renews its lock and the others try to take it over: after a crash
# another worker (PostgreSQL) or the restarted process (SQLite) sends within this time.
LOCK_RENEW_SECONDS = 5
# Other features' periodic work, run under the scheduler lock every ``urgent_tick_seconds``:
# ``async def fn(s: AsyncSession, now: datetime) -> int`` (outbox rows written). Case escalation
# counts in minutes, so it cannot wait for the 15-minute planner. The composition root passes
# the functions themselves (imported, never looked up by name), so a missing one fails at start.
UrgentJob = Callable[[AsyncSession, datetime], Awaitable[int]]
STOP_GRACE_SECONDS = 10.0


def planner_trigger(minutes: int, tz: ZoneInfo) -> CronTrigger:
    """Every ``minutes`` (1..60) from the top of the hour; 60 is once an hour (cron's
    ``*/60`` is out of the minute field's range and APScheduler refuses it)."""
    return CronTrigger(minute="0" if minutes >= 60 else f"*/{minutes}", timezone=tz)


class SchedulerService:
    def __init__(
        self,
        db: Database,
        channels: dict[str, Channel],
        *,
        clock: Callable[[], datetime] = utcnow,
        timezone: str = "Asia/Ho_Chi_Minh",
        calendar_file: str | None = None,
        settings: SchedulerSettings | None = None,
        lock: SchedulerLock | None = None,
        urgent_jobs: Sequence[UrgentJob] = (),
        budget: Budget | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.timezone = timezone
        self.calendar_file = calendar_file
        self.settings = settings or SchedulerSettings()
        self.lock = lock or make_lock(db)
        self.urgent_jobs = tuple(urgent_jobs)
        self.dispatcher = OutboxDispatcher(
            db,
            channels,
            clock=clock,
            settings=self.settings,
            stale=stale_rows,
            on_sent=remember_start_menu,
            budget=budget,
        )
        self.scheduler = AsyncIOScheduler(timezone=ZoneInfo(timezone))
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        # The planner's recipients between ticks; re-read when an officer or an account
        # changed, in whichever process (scheduler.recipients).
        self.recipients = RecipientCache()

    async def tick(self) -> PlanResult | None:
        """One planner run (under the lock); wakes the dispatcher when it wrote rows."""
        try:
            if not await self.lock.acquire():
                return None
            with metrics.PLANNER_TICK_SECONDS.time():
                async with self.db.session() as s:
                    result = await plan(
                        s,
                        self.clock(),
                        cal=load_calendar(self.calendar_file),
                        tz=self.timezone,
                        cache=self.recipients,
                    )
        except Exception as exc:  # noqa: BLE001 - log and try again at the next tick
            log.error("planner tick failed: %s", type(exc).__name__)
            return None
        self.ticks += 1
        if result.written:
            log.info(
                "planned %d messages (%d reminders, %d alerts, %d digests)",
                result.written,
                result.count("reminder"),
                result.count("alert"),
                result.count("digest"),
            )
            self.dispatcher.wakeup.set()
        return result

    async def urgent(self) -> int:
        """Run the other features' urgent jobs once (under the lock)."""
        written = 0
        try:
            if not await self.lock.acquire():
                return 0
        except Exception as exc:  # noqa: BLE001
            log.error("scheduler lock failed: %s", type(exc).__name__)
            return 0
        for fn in self.urgent_jobs:
            try:
                async with self.db.session() as s:
                    written += int(await fn(s, self.clock()) or 0)
            except Exception as exc:  # noqa: BLE001 - log and try again at the next run
                log.error("%s.%s failed: %s", fn.__module__, fn.__name__, type(exc).__name__)
        if written:
            self.dispatcher.wakeup.set()
        return written

    async def maintenance(self) -> MaintenanceResult | None:
        """The daily maintenance (``scheduler.maintenance``), under the lock: once across
        workers."""
        try:
            if not await self.lock.acquire():
                return None
        except Exception as exc:  # noqa: BLE001
            log.error("scheduler lock failed: %s", type(exc).__name__)
            return None
        return await run_maintenance(
            self.db, self.clock(), processed_keep_days=self.settings.processed_keep_days
        )

    async def _renew(self) -> None:
        """Keep the lock, or take it over from a holder that is gone; the dispatcher starts
        on the pending rows at once after a takeover."""
        held = self.lock.held
        try:
            await self.lock.acquire()
        except Exception as exc:  # noqa: BLE001
            log.error("scheduler lock renewal failed: %s", type(exc).__name__)
            return
        if self.lock.held and not held:
            log.info("scheduler lock taken")
            self.dispatcher.wakeup.set()

    async def start(self) -> None:
        tz = ZoneInfo(self.timezone)
        minutes = self.settings.tick_minutes
        self.scheduler.add_job(
            self.tick,
            planner_trigger(minutes, tz),
            id="planner",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(minutes * 60 - 60, 30),
            next_run_time=datetime.now(tz),  # once at start, then on the quarter hours
        )
        self.scheduler.add_job(
            self.urgent,
            "interval",
            seconds=self.settings.urgent_tick_seconds,
            id="urgent",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=self.settings.urgent_tick_seconds,
            next_run_time=datetime.now(tz),
        )
        # Five past the hour, away from the planner's quarter-hour ticks; a process that was
        # down at that time runs it when it comes back within the hour.
        self.scheduler.add_job(
            self.maintenance,
            CronTrigger(hour=self.settings.maintenance_hour, minute=5, timezone=tz),
            id="maintenance",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        self.scheduler.add_job(
            self._renew,
            "interval",
            seconds=LOCK_RENEW_SECONDS,
            id="scheduler-lock",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=LOCK_RENEW_SECONDS,
        )
        self.scheduler.start()
        # SQLite: the lock holder only (bdg remind may plan beside the bot). PostgreSQL: every
        # worker sends; claims keep them off each other's rows.
        shared = not is_sqlite(self.db.url)
        self._task = asyncio.create_task(
            self.dispatcher.run(self._stop, may_run=lambda: shared or self.lock.held)
        )
        log.info("scheduler started (planner every %d min, %s)", minutes, self.timezone)

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        self._stop.set()
        self.dispatcher.stop()
        if self._task is not None:
            # Sends in flight finish (a few seconds at most); a retry waiting longer is
            # abandoned: its row is still pending and goes out after the restart.
            done, _ = await asyncio.wait({self._task}, timeout=STOP_GRACE_SECONDS)
            if not done:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.dispatcher.budget.close()
        await self.lock.release()
