"""Process wiring: settings → database (migrated) → dispatcher."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.logs import configure_logging
from db.crypto import CryptoError, Keyring
from db.engine import Database
from handlers.dispatch import Dispatcher
from kernel.channel import STANDARD, Capabilities
from kernel.clock import to_utc, utcnow
from kernel.i18n import t
from kernel.settings import Services, Settings
from scheduler.service import UrgentJob
from services.cases.config import KEY_FILE, CaseConfig, configure
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
        files_secret=settings.files_secret,
        mail=settings.smtp.enabled,
        doc_symbol=settings.doc_symbol,
        channels=channel_capabilities(settings),
    )


@dataclass
class App:
    settings: Settings
    db: Database
    dispatcher: Dispatcher
    clock: Callable[[], datetime]


class StartupRefused(Exception):
    """A setting this process cannot run with; the message is one line for the operator."""


def check_case_keys(settings: Settings) -> CaseConfig:
    """The cases' configuration, with its keys checked before anything starts.

    A malformed BDG_CASE_KEYS (not ``id:base64``, bad base64, not 32 bytes, an id twice)
    stops the process: it would otherwise fail every case report. Without BDG_CASE_KEYS only
    the embedded SQLite setup (one process, ``bot.single``) may generate a key, kept next to
    its database file so every working directory finds the same one; PostgreSQL (several
    processes, several machines) refuses to start."""
    lang = settings.locale
    if settings.case_keys:
        try:
            Keyring.parse(settings.case_keys)
        except CryptoError as exc:
            raise StartupRefused(t(lang, "startup.case_keys_invalid", reason=str(exc))) from None
        key_file = None
    else:
        url = make_url(settings.database_url)
        if not url.get_backend_name().startswith("sqlite"):
            raise StartupRefused(t(lang, "startup.case_keys_required"))
        key_file = _local_key_file(url.database)
    cfg = CaseConfig(
        escalate_minutes=settings.case_escalate_minutes,
        retention_months=settings.case_retention_months,
        keys=settings.case_keys or None,
    )
    return replace(cfg, key_file=key_file) if key_file is not None else cfg


def _local_key_file(database: str | None) -> Path | None:
    """The generated key of an SQLite database: ``case.key`` beside the file. A key that an
    earlier version generated in ``./data`` keeps being used while the new place is empty."""
    if not database or database == ":memory:":
        return None
    beside = Path(database).parent / KEY_FILE.name
    if not beside.exists() and KEY_FILE.exists() and KEY_FILE.resolve() != beside.resolve():
        return KEY_FILE
    return beside


async def open_app(settings: Settings) -> App:
    configure(check_case_keys(settings))
    configure_logging(settings.log_level, settings.log_format)
    db = Database(settings.database_url, settings.db_schema)
    await db.upgrade()
    clock = make_clock(settings)
    return App(settings, db, Dispatcher(db, make_services(settings), clock=clock), clock)
