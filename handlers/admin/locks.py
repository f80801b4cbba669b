"""/mokhoa and /khoa: open one unit's report after its lock date, or close it again. The
reason goes to the audit log.

    /mokhoa 28303 2026 Xã xin bổ sung số liệu   → open for 7 days (Report.unlocked_until)
    /khoa 28303 2026 Đã bổ sung xong            → close the opening now

Reports lock by themselves on the calendar's lock date (``services.periods.is_locked``); an
unlock is the only exception to it. /khoa therefore ends an unlock; before the lock date a
report stays open to its unit (the calendar decides), which /khoa says. Without a reason the
bot asks for one. The unit's officers hear of an unlock through the outbox. The moves are
``services.locks``, which the web desk's unit page calls too.
"""

from __future__ import annotations

from typing import Literal

from db.models import Unit
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
from handlers.state import LockState
from kernel.calendar import ReportPeriod
from services import locks, periods
from services.forms.parsers import ParseError, parse_text
from services.scope import example_codes

UNLOCK_DAYS = locks.UNLOCK_DAYS
MAX_REASON = locks.MAX_REASON
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


async def _start(ctx: Ctx, what: Literal["lock", "unlock"], args: str) -> None:
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
        ctx.start_flow(LockState(what=what, unit_id=unit.id, period=period.period))
        ctx.say("admin.lock_ask_reason", unit=unit.name, report=period_title(ctx, period))
        return
    await _apply(ctx, scope, what, unit, period, reason)


@routes.flow(FLOW, roles=("admin",), audit="desk.lock")
async def reason_flow(ctx: Ctx) -> None:
    """The reason for a lock or unlock."""
    st = ctx.flow_state(LockState)
    what = st.what
    scope = await require_admin(ctx, f"desk.{what}")
    if scope is None:
        ctx.clear_flow()
        return
    try:
        reason = parse_text(ctx.inc.text, MAX_REASON)
    except ParseError as e:
        ctx.say(e.key, **e.params)
        return
    unit = await ctx.s.get(Unit, st.unit_id) if st.unit_id is not None else None
    period_id = st.period
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
    """The move (``services.locks``, which the web desk's unit page calls too), audited."""
    if len(reason) > MAX_REASON:
        ctx.say("err.text_too_long", max=MAX_REASON, length=len(reason))
        return
    target = f"{unit.code}:{period.period}"
    title = period_title(ctx, period)
    move = locks.unlock if what == "unlock" else locks.lock
    done = await move(ctx.s, ctx.services, unit, period, ctx.now)
    lock = ctx.fmt_date(period.lock)
    if done.outcome == "not_reporting":
        ctx.say("admin.lock_not_reporting", unit=unit.name)
    elif done.outcome == "not_locked_yet":
        ctx.say("admin.not_locked_yet", unit=unit.name, report=title, lock=lock)
    elif what == "unlock":
        assert done.until is not None
        ctx.audit("desk.unlock", target=target, detail=f"until {done.until.isoformat()}; {reason}")
        until = ctx.fmt_date(done.until)
        ctx.say(f"admin.{done.outcome}", unit=unit.name, report=title, until=until, lock=lock)
    else:
        ctx.audit("desk.lock", target=target, detail=reason)
        if done.outcome == "locked":
            ctx.say("admin.locked", unit=unit.name, report=title)
        else:
            cleared = ctx.t("admin.unlock_cleared") if done.had_unlock else ""
            ctx.say(
                "admin.lock_by_calendar", unit=unit.name, report=title, lock=lock, cleared=cleared
            )


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
