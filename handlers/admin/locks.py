"""/mokhoa and /khoa: open one unit's report after its lock date, or close it again. The
reason goes to the audit log.

    /mokhoa 28303 2026 Xã xin bổ sung số liệu   → open for 7 days (Report.unlocked_until)
    /khoa 28303 2026 Đã bổ sung xong            → close the opening now

Reports lock by themselves on the calendar's lock date (``services.periods.is_locked``); an
unlock is the only exception to it. /khoa therefore ends an unlock; before the lock date a
report stays open to its unit (the calendar decides), which /khoa says. Without a reason the
bot asks for one. The unit's officers hear of an unlock through the outbox.
"""

from __future__ import annotations

from datetime import timedelta

from db import queries
from db.models import Report, Unit
from db.outbox import enqueue
from handlers.admin.common import (
    Scope,
    is_period,
    period_or_default,
    period_title,
    require_admin,
    unit_in_scope,
)
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from kernel.calendar import ReportPeriod
from kernel.clock import to_local
from kernel.i18n import t
from services import periods
from services.forms.engine import form_id_for_unit
from services.forms.parsers import ParseError, parse_text
from services.scope import example_codes

UNLOCK_DAYS = 7
MAX_REASON = 300
FLOW = "admin_lock"


routes = Routes()


@routes.command(
    "mokhoa",
    help="help.mokhoa",
    roles=("admin",),
    aliases=("unlock",),
    order=55,
    audit="desk.unlock",
)
async def unlock_cmd(ctx: Ctx, args: str) -> None:
    """/mokhoa CODE [period] [reason]: let a unit change its report after the lock date."""
    await _start(ctx, "unlock", args)


@routes.command(
    "khoa", help="help.khoa", roles=("admin",), aliases=("lock",), order=56, audit="desk.lock"
)
async def lock_cmd(ctx: Ctx, args: str) -> None:
    """/khoa CODE [period] [reason]: end an unlock."""
    await _start(ctx, "lock", args)


async def _start(ctx: Ctx, what: str, args: str) -> None:
    action = f"desk.{what}"
    scope = await require_admin(ctx, action)
    if scope is None:
        return
    words = args.split()
    if not words:
        code1, _ = await example_codes(ctx.s, scope.root)
        ctx.say(f"admin.{what}_usage", year=ctx.today.year, code1=code1)
        return
    unit = await unit_in_scope(ctx, scope, words[0], action)
    if unit is None:
        return
    rest = words[1:]
    word = rest.pop(0) if rest and is_period(rest[0]) else ""
    period = await period_or_default(ctx, Scope(unit, None), word)
    if period is None:
        return
    reason = " ".join(rest).strip()
    if not reason:
        ctx.set_flow(FLOW, what=what, unit_id=unit.id, period=period.period)
        ctx.say("admin.lock_ask_reason", unit=unit.name, report=period_title(ctx, period))
        return
    await _apply(ctx, scope, what, unit, period, reason)


@routes.flow(FLOW, roles=("admin",), audit="desk.lock")
async def reason_flow(ctx: Ctx) -> None:
    """The reason for a lock or unlock."""
    what = str(ctx.state.get("what"))
    scope = await require_admin(ctx, f"desk.{what}")
    if scope is None:
        ctx.clear_flow()
        return
    try:
        reason = parse_text(ctx.inc.text, MAX_REASON)
    except ParseError as e:
        ctx.say(e.key, **e.params)
        return
    unit = await ctx.s.get(Unit, ctx.state.get("unit_id"))
    period_id = str(ctx.state.get("period"))
    ctx.clear_flow()
    if unit is None:
        ctx.say("admin.cancelled")
        return
    if not scope.holds(unit):
        ctx.audit(
            f"desk.{what}", target=f"unit:{unit.code}", outcome="refused", detail="outside subtree"
        )
        ctx.say("admin.outside_scope", code=unit.code)
        return
    period = await periods.period_by_id(ctx.s, ctx.services, unit, period_id)
    await _apply(ctx, scope, what, unit, period, reason)


async def _apply(
    ctx: Ctx, scope: Scope, what: str, unit: Unit, period: ReportPeriod, reason: str
) -> None:
    if len(reason) > MAX_REASON:
        ctx.say("err.text_too_long", max=MAX_REASON, length=len(reason))
        return
    if not unit.reports or unit.id is None:
        ctx.say("admin.lock_not_reporting", unit=unit.name)
        return
    report = await queries.report_for(ctx.s, unit.id, period.period)
    target = f"{unit.code}:{period.period}"
    title = period_title(ctx, period)
    if what == "unlock":
        until = ctx.now + timedelta(days=UNLOCK_DAYS)
        if to_local(until, ctx.services.timezone).date() <= period.lock:
            # The calendar keeps it open longer than an unlock would: nothing to do.
            ctx.say(
                "admin.not_locked_yet", unit=unit.name, report=title, lock=ctx.fmt_date(period.lock)
            )
            return
        if report is None:  # nothing started yet: create the working copy to open it
            report = Report(
                unit_id=unit.id,
                period=period.period,
                form_id=_form_id(ctx, unit, period),
                created_at=ctx.now,
                updated_at=ctx.now,
            )
            ctx.s.add(report)
        report.unlocked_until = until
        report.updated_at = ctx.now
        await ctx.s.flush()
        ctx.audit("desk.unlock", target=target, detail=f"until {until.isoformat()}; {reason}")
        await _tell_unit(ctx, unit, report, period)
        key = "admin.unlocked" if ctx.today > period.lock else "admin.unlocked_early"
        ctx.say(
            key,
            unit=unit.name,
            report=title,
            until=ctx.fmt_date(until),
            lock=ctx.fmt_date(period.lock),
        )
        return
    had_unlock = report is not None and report.unlocked_until is not None
    if report is not None and report.unlocked_until is not None:
        report.unlocked_until = None
        report.updated_at = ctx.now
    ctx.audit("desk.lock", target=target, detail=reason)
    if periods.is_locked(report, period, ctx.today, ctx.now):
        ctx.say("admin.locked", unit=unit.name, report=title)
    else:
        ctx.say(
            "admin.lock_by_calendar",
            unit=unit.name,
            report=title,
            lock=ctx.fmt_date(period.lock),
            cleared=ctx.t("admin.unlock_cleared") if had_unlock else "",
        )


def _form_id(ctx: Ctx, unit: Unit, period: ReportPeriod) -> str:
    """The form the unit would start its report on (by its kind, or its own setting)."""
    return form_id_for_unit(period.form_id, unit.kind, unit.code, ctx.services.form_dir)


async def _tell_unit(ctx: Ctx, unit: Unit, report: Report, period: ReportPeriod) -> None:
    """A message to each active officer of the unit that the report is open again."""

    assert unit.id is not None
    stamp = int(ctx.now.timestamp())
    for officer in await queries.unit_officers(ctx.s, unit.id):
        assert officer.id is not None
        for acc in await queries.officer_accounts(ctx.s, officer.id):
            if acc.unreachable:
                continue
            text = t(
                acc.lang,
                "admin.unlock_notice",
                report=f"{period.text(acc.lang)} {period.year}",
                until=ctx.fmt_date(report.unlocked_until) if report.unlocked_until else "",
            )
            await enqueue(
                ctx.s,
                key=f"unlock:{report.id}:{stamp}:acc:{acc.id}",
                account=acc,
                text=text,
                kind="alert",
                now=ctx.now,
                unit_id=unit.id,
            )


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
