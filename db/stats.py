"""Numbers read from the database when ``/metrics`` is scraped (``kernel.metrics``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, literal
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.cases import Case
from db.models import ChannelAccount, Outbox, Report
from kernel import metrics
from kernel.clock import utcnow

# Outbox status → the name shown in the metric.
STATUS_NAMES = {"pending": "queued", "sent": "sent", "failed": "failed", "cancelled": "cancelled"}
CASE_ALERT_KIND = "case"


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def refresh_gauges(s: AsyncSession, now: datetime | None = None) -> None:
    """Set the database-backed gauges of ``kernel.metrics``."""
    now = now or utcnow()
    counts = await s.exec(
        select(col(Outbox.channel), col(Outbox.status), func.count()).group_by(
            col(Outbox.channel), col(Outbox.status)
        )
    )
    seen: set[tuple[str, str]] = set()
    for channel, status, n in counts.all():
        name = STATUS_NAMES.get(status, status)
        metrics.OUTBOX.labels(channel, name).set(n)
        seen.add((channel, name))
    # Statuses that have gone to zero since the last scrape.
    for labels in _label_sets(metrics.OUTBOX):
        if labels not in seen:
            metrics.OUTBOX.labels(*labels).set(0)

    unreachable = await s.exec(
        select(col(ChannelAccount.channel), func.count())
        .where(col(ChannelAccount.unreachable).is_(True))
        .group_by(col(ChannelAccount.channel))
    )
    found = dict(unreachable.all())
    for channel in {*found, *(lbl[0] for lbl in _label_sets(metrics.UNREACHABLE))}:
        metrics.UNREACHABLE.labels(channel).set(found.get(channel, 0))

    # Alerts about urgent cases are keyed case:<code>:<event>:acc:<id>.
    oldest = (
        await s.exec(
            select(func.min(Outbox.created_at))
            .select_from(Outbox)
            .join(Case, Outbox.key.like(literal("case:") + Case.code + literal(":%")))  # type: ignore[attr-defined,operator]
            .where(
                col(Outbox.status) == "pending",
                col(Outbox.kind) == CASE_ALERT_KIND,
                col(Case.urgent).is_(True),
            )
        )
    ).first()
    age = (now - _aware(oldest)).total_seconds() if oldest is not None else 0.0
    metrics.URGENT_ALERT_AGE.set(max(age, 0.0))

    year = now.year
    periods = [str(year - 1), f"{year - 1}S1", str(year), f"{year}S1"]
    submitted = await s.exec(
        select(col(Report.period), func.count())
        .where(col(Report.version) > 0, col(Report.period).in_(periods))
        .group_by(col(Report.period))
    )
    by_period = dict(submitted.all())
    for period in periods:
        metrics.REPORTS_SUBMITTED.labels(period).set(by_period.get(period, 0))


def _label_sets(gauge: object) -> list[tuple[str, ...]]:
    """The label values a gauge has been set for (prometheus-client keeps them)."""
    children = getattr(gauge, "_metrics", {})
    return [tuple(k) for k in children]
