"""Process wiring: settings → database (migrated) → dispatcher."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.logs import configure_logging
from db.engine import Database
from handlers.dispatch import Dispatcher
from kernel.channel import STANDARD, Capabilities
from kernel.clock import to_utc, utcnow
from kernel.settings import Services, Settings
from scheduler.service import UrgentJob
from services.cases.routing import escalate_due

# Work that cannot wait for the planner's tick, run by the scheduler every minute. Imported, not
# named: a rename fails at start instead of silently switching escalation off.
URGENT_JOBS: tuple[UrgentJob, ...] = (escalate_due,)


def make_clock(settings: Settings) -> Callable[[], datetime]:
    """The real clock, or one that starts at BDG_FAKE_NOW (local time) and runs from there:
    demos and end-to-end tests can pin "today" to a day of the reporting calendar."""
    if not settings.fake_now:
        return utcnow
    start = to_utc(datetime.fromisoformat(settings.fake_now), settings.timezone)
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


def channel_capabilities(settings: Settings) -> dict[str, Capabilities]:
    """The shipped channels' capabilities with the configured send rates."""
    rates = settings.scheduler.rates()
    return {
        name: replace(caps, rate=rates[name][0], chat_rate=rates[name][1])
        if name in rates
        else caps
        for name, caps in STANDARD.items()
    }


def make_services(settings: Settings) -> Services:
    return Services(
        timezone=settings.timezone,
        default_lang=settings.locale,
        form_dir=str(settings.form_dir) if settings.form_dir else None,
        calendar_file=str(settings.calendar_file) if settings.calendar_file else None,
        invite_days=settings.invite_days,
        bot_username=settings.telegram_bot_username,
        public_url=settings.public_url,
        channels=channel_capabilities(settings),
    )


@dataclass
class App:
    settings: Settings
    db: Database
    dispatcher: Dispatcher
    clock: Callable[[], datetime]


async def open_app(settings: Settings) -> App:
    configure_logging(settings.log_level, settings.log_format)
    db = Database(settings.database_url, settings.db_schema)
    await db.upgrade()
    clock = make_clock(settings)
    return App(settings, db, Dispatcher(db, make_services(settings), clock=clock), clock)
