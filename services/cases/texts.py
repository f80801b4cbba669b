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
from db.cases import Case, DutyEntry, duty_roster
from db.models import Unit
from kernel.clock import to_local
from kernel.i18n import t
from services.cases.config import config
from services.cases.hotlines import Hotline, in_office_hours, load_hotlines, next_office_opening

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


def hotlines() -> tuple[Hotline, ...]:
    path = config().hotlines_file
    return load_hotlines(str(path) if path else None)


def _terms(lang: str, h: Hotline) -> str:
    parts = [t(lang, "case.hotline_free" if h.free else "case.hotline_charged")]
    if h.hours:
        parts.append(t(lang, "case.hotline_247") if h.hours == "24/7" else escape(h.hours))
    return ", ".join(parts)


def numbers(lang: str) -> str:
    """The national numbers in full, from the hotline data: number, who answers, free or
    charged, hours."""
    lines = [t(lang, "case.numbers_title")]
    for h in hotlines():
        lines.append(
            t(
                lang,
                "case.hotline_line",
                number=escape(h.number),
                name=escape(h.name_in(lang)),
                terms=_terms(lang, h),
            )
        )
    return "\n".join(lines)


def numbers_line(lang: str) -> str:
    """The national numbers on one line (above every question of the intake)."""
    items = " · ".join(
        f"<b>{escape(h.number)}</b> {escape(h.name_in(lang, short=True))}" for h in hotlines()
    )
    return t(lang, "case.numbers_line_data", items=items)


async def roster_phones(s: AsyncSession, unit: Unit | None) -> list[DutyEntry]:
    """Roster entries of the unit with a number to call (roles, not names)."""
    if unit is None or unit.id is None:
        return []
    return [e for e in await duty_roster(s, unit.id) if e.phone]


def role_label(lang: str, role: str) -> str:
    return t(lang, f"case.role.{role}")


async def emergency_block(s: AsyncSession, lang: str, unit: Unit | None) -> str:
    """The national numbers, then the local ones when the place is known: the unit's duty
    numbers and trusted addresses, and the roster's numbers by role."""
    lines = [numbers(lang)]
    local = await duty_contacts(s, unit)
    if local is not None:
        where, text = local
        lines.append(t(lang, "case.numbers_local", unit=escape(where.name), numbers=escape(text)))
    phones = await roster_phones(s, unit)
    if phones:
        if local is None and unit is not None:
            lines.append(t(lang, "case.numbers_local", unit=escape(unit.name), numbers=""))
        for e in phones:
            lines.append(f"📞 <b>{escape(e.phone or '')}</b> — {role_label(lang, e.role)}")
    return "\n".join(lines)


def told_line(lang: str, roles: list[str]) -> str:
    """Who was told, by role, or that nobody could be reached and what to do instead."""
    if not roles:
        return t(lang, "case.told_nobody")
    names = ", ".join(role_label(lang, r) for r in roles)
    return t(lang, "case.told", roles=names)


def privacy(lang: str, *, child: bool = False) -> str:
    """The short privacy notice (Law 91/2025, Decree 356/2025) said before the first personal
    detail: who receives the data, why, how long it is kept, how to have it deleted; for a
    child reporter, what happens without a parent's consent."""
    text = t(lang, "case.privacy", months=config().retention_months)
    if child:
        text += "\n" + privacy_child(lang)
    return text


def privacy_child(lang: str) -> str:
    """For a child reporter: reporting without a parent's consent, and what happens."""
    return t(lang, "case.privacy_child")


def alerted_now(lang: str, case: Case, roles: list[str]) -> str:
    """Told to the reporter when the case went out during the intake (``routing.on_answer``):
    the code and who was told, by role."""
    return t(lang, "case.alerted_now", code=case.code or "") + "\n" + told_line(lang, roles)


def after_hours(lang: str, now: datetime) -> str | None:
    """Outside office hours: the bot is not an emergency line, and when an officer will
    likely read the report. None within office hours."""
    cfg = config()
    local = to_local(now, cfg.timezone).replace(tzinfo=None)
    if in_office_hours(local, cfg.office_hours):
        return None
    opening = next_office_opening(local, cfg.office_hours)
    return t(lang, "case.after_hours", time=opening.strftime("%H:%M %d/%m/%Y"))


def receipt(
    lang: str,
    *,
    code: str,
    time: str,
    roles: list[str],
    block: str,
    now: datetime,
    acknowledged: bool = False,
) -> str:
    """The one message a reporter gets on sending: the code, who was told (or that nobody
    could be), what to do at night, the numbers, how to see the status and leave no trace."""
    parts = [t(lang, "case.receipt_head", code=code, time=time)]
    if acknowledged:
        parts.append(t(lang, "case.receipt_taken"))
    parts.append(told_line(lang, roles))
    late = after_hours(lang, now)
    if late:
        parts.append(late)
    parts.append(block)
    parts.append(t(lang, "case.receipt_after", code=code))
    return "\n\n".join(parts)


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
    if not case.urgent or case.alerted_at is None:
        return None
    return case.alerted_at + timedelta(minutes=minutes)


def child_due(case: Case) -> datetime | None:
    if not case.child or case.alerted_at is None:
        return None
    return case.alerted_at + CHILD_CLOCK


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
    out += no_contact_lines(lang, case, now, tz)
    return out


NC_CLOCK = timedelta(hours=12)  # Law 13/2022, art. 25: the chair decides within 12 hours


def no_contact_lines(lang: str, case: Case, now: datetime, tz: str) -> list[str]:
    """The no-contact order's clock: waiting for a decision (time left or overdue), in force
    until, ended, or refused."""
    if case.nc_requested_at is None:
        return []
    if case.nc_decided_at is None:
        due = case.nc_requested_at + NC_CLOCK
        if now < due:
            return [
                t(
                    lang,
                    "case.clock_nc_left",
                    left=duration(lang, due - now),
                    time=fmt_time(due, tz),
                )
            ]
        return [t(lang, "case.clock_nc_over", over=duration(lang, now - due))]
    if case.nc_decision == "granted" and case.nc_until is not None:
        key = "case.clock_nc_until" if now < case.nc_until else "case.clock_nc_ended"
        return [t(lang, key, time=fmt_time(case.nc_until, tz))]
    return [t(lang, "case.clock_nc_refused", time=fmt_time(case.nc_decided_at, tz))]


def alert(lang: str, key: str, case: Case, unit: Unit, **extra: object) -> str:
    """An outbox alert: only the code, the commune, the urgency and the age group."""
    return t(
        lang,
        key,
        code=case.code or "",
        unit=escape(unit.name),
        urgency=t(lang, "case.urgency_high" if case.urgent else "case.urgency_normal"),
        age=label(lang, "age", case.age_group or "unknown"),
        **extra,
    )
