"""Time helpers: storage is timezone-aware UTC (SQLModel's UTCDateTime), display is local."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_local(dt: datetime, tz: str) -> datetime:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(ZoneInfo(tz))


def to_utc(dt_local: datetime, tz: str) -> datetime:
    if dt_local.tzinfo is None:
        dt_local = dt_local.replace(tzinfo=ZoneInfo(tz))
    return dt_local.astimezone(UTC)


# Times that belong to a messenger account (its creation, its conversation's last change,
# its processed updates, a citizen's audit rows) are kept to this precision, so a copy of
# the database cannot join them to a case's exact times (services.privacy).
PRIVACY_MINUTES = 15


def coarse(dt: datetime, minutes: int = PRIVACY_MINUTES) -> datetime:
    """``dt`` rounded down to a multiple of ``minutes`` (in UTC, which is what is stored)."""
    moment = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    floored = moment.replace(second=0, microsecond=0)
    return floored.replace(minute=floored.minute - floored.minute % minutes)
