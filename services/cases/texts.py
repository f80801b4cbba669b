"""What the cases feature shows, built from the catalogs: the emergency numbers, choice labels,
the clocks with time left, and the short alerts that go through the outbox.

Alerts carry only the case code, the commune, the urgency and the age group; every other
answer and every free text stays in the database until an authorised officer asks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession

from db import queries
from db.cases import Case
from db.models import Unit
from kernel.clock import to_local
from kernel.i18n import t

CHILD_CLOCK = timedelta(hours=12)  # Decree 56/2017, art. 26: emergency intervention
CHILD_WARN = timedelta(hours=8)  # a reminder when 4 hours are left

# Choice groups: catalog keys are "case.<group>.<key>".
OPTIONS: dict[str, tuple[str, ...]] = {
    "danger": ("yes", "no"),
    "aff": ("self", "other"),
    "sex": ("f", "m", "unknown"),
    "age": ("u16", "16_17", "18_59", "60p", "unknown"),
    "form": (
        "physical",
        "psychological",
        "economic",
        "sexual",
        "trafficking",
        "child_marriage",
        "forced_marriage",
        "harassment",
        "other",
    ),
    "rel": (
        "partner",
        "ex_partner",
        "parent",
        "child",
        "relative",
        "acquaintance",
        "stranger",
        "unknown",
    ),
    "when": ("ongoing", "today", "week", "month", "older", "unknown"),
    "help": ("health", "shelter", "counselling", "legal", "police", "none"),
    "src": (
        "victim",
        "family",
        "neighbour",
        "village_head",
        "police",
        "school_health",
        "hotline",
        "self",
        "other",
    ),
    "act": (
        "none",
        "emergency",
        "no_contact",
        "health",
        "police",
        "criticism",
        "counselling",
        "other",
    ),
    "anon": ("anon", "contact"),
    "consent": ("yes", "no", "not_asked"),
    "status": ("new", "acknowledged", "verifying", "supporting", "referred", "closed"),
}


def label(lang: str, group: str, key: str | None) -> str:
    if key is None:
        return t(lang, "case.value_none")
    return t(lang, f"case.{group}.{key}")


def labels(lang: str, group: str, keys: list[str]) -> str:
    return ", ".join(label(lang, group, k) for k in keys) if keys else t(lang, "case.value_none")


async def duty_contacts(s: AsyncSession, unit: Unit | None) -> tuple[Unit, str] | None:
    """The duty numbers and trusted addresses of the unit, or of its nearest ancestor that
    has some."""
    if unit is None:
        return None
    for u in [unit, *await queries.ancestors(s, unit)]:
        if u.duty_contacts and u.duty_contacts.strip():
            return u, u.duty_contacts.strip()
    return None


async def emergency_block(s: AsyncSession, lang: str, unit: Unit | None) -> str:
    """The national numbers, then the local ones when the place is known."""
    lines = [t(lang, "case.numbers")]
    local = await duty_contacts(s, unit)
    if local is not None:
        where, text = local
        lines.append(t(lang, "case.numbers_local", unit=escape(where.name), numbers=escape(text)))
    return "\n".join(lines)


def duration(lang: str, delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return t(lang, "case.dur_dh", d=days, h=hours)
    if hours:
        return t(lang, "case.dur_hm", h=hours, m=mins)
    return t(lang, "case.dur_m", m=mins)


def fmt_time(dt: datetime, tz: str) -> str:
    return to_local(dt, tz).strftime("%H:%M %d/%m/%Y")


def ack_due(case: Case, minutes: int) -> datetime | None:
    if not case.urgent or case.submitted_at is None:
        return None
    return case.submitted_at + timedelta(minutes=minutes)


def child_due(case: Case) -> datetime | None:
    if not case.child or case.submitted_at is None:
        return None
    return case.submitted_at + CHILD_CLOCK


def clock_lines(lang: str, case: Case, now: datetime, tz: str, minutes: int) -> list[str]:
    """Each clock of the case with the time left (or overdue, or met)."""
    out: list[str] = []
    due = ack_due(case, minutes)
    if due is not None:
        if case.acknowledged_at is not None:
            out.append(t(lang, "case.clock_ack_met", time=fmt_time(case.acknowledged_at, tz)))
        elif case.status != "closed":
            if now < due:
                out.append(
                    t(lang, "case.clock_ack_left", left=duration(lang, due - now), n=minutes)
                )
            else:
                out.append(t(lang, "case.clock_ack_over", over=duration(lang, now - due)))
    due = child_due(case)
    if due is not None:
        if case.intervened_at is not None:
            out.append(t(lang, "case.clock_child_met", time=fmt_time(case.intervened_at, tz)))
        elif case.status != "closed":
            if now < due:
                out.append(
                    t(
                        lang,
                        "case.clock_child_left",
                        left=duration(lang, due - now),
                        time=fmt_time(due, tz),
                    )
                )
            else:
                out.append(t(lang, "case.clock_child_over", over=duration(lang, now - due)))
    return out


def alert(lang: str, key: str, case: Case, unit: Unit, **extra: object) -> str:
    """An outbox alert: only the code, the commune, the urgency and the age group."""
    return t(
        lang,
        key,
        code=case.code or "",
        unit=escape(unit.name),
        urgency=t(lang, "case.urgency_high" if case.urgent else "case.urgency_normal"),
        age=label(lang, "age", case.age_group),
        **extra,
    )
