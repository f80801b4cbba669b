"""/lich for an admin: the usual calendar, then the deadline overrides of the subtree and a way
to set one (through the reminders feature's ``services.overrides.set_override``).

    /lich → deadlines …  + "Hạn riêng cho Tỉnh Hà Tĩnh: chọn báo cáo"  [1] [2]
    1     → "Hạn nộp mới (dd/mm/yyyy)?"   27/11/2026 → "Lý do?"   KH 12/KH-UBND → "Đã đặt …"

The override is set on the admin's subtree root, so it applies to every unit below it unless
a unit nearer to it has its own. An officer's /lich is unchanged.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from handlers.admin.common import Scope, period_title, require_admin
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes, welcome
from handlers.state import DeadlineState
from kernel.calendar import Calendar, ReportPeriod
from kernel.messages import Choice
from services import local_calendar, overrides, periods
from services.forms.parsers import ParseError, is_number, is_skip, parse_text

FLOW = "admin_deadline"
CLEAR = "clear"
MAX_REASON = 300


routes = Routes()


async def overrides_for_admins(ctx: Ctx, _args: str) -> None:
    """After /lich: an admin also sees the subtree's overrides and may set one."""
    if ctx.officer is not None and ctx.officer.role == "admin":
        await offer(ctx)


async def offer(ctx: Ctx) -> None:
    """List the subtree's overrides and offer to set one for an upcoming report."""
    scope = await require_admin(ctx, "desk.deadline")
    if scope is None:
        return
    cal = periods.calendar(ctx.services)
    lines = await _existing_lines(ctx, scope, cal)
    upcoming = [
        p
        for y in (ctx.today.year, ctx.today.year + 1)
        for p in cal.periods(y)
        if p.lock >= ctx.today
    ][:3]
    if not upcoming:
        return
    choices = [
        Choice(
            f"dl:{p.year}:{p.kind}", ctx.t("admin.dl_choice", report=_lower(period_title(ctx, p)))
        )
        for p in upcoming
    ]
    choices += _rule_choices(ctx, cal, upcoming)
    lines += await _rule_lines(ctx, scope, cal)
    lines.append(ctx.t("admin.dl_offer", unit=scope.root.name))
    ctx.start_flow(DeadlineState(step="pick", root_id=scope.root.id))
    ctx.say_text("\n".join(lines), choices=choices)
    ctx.remember_menu(choices)


async def _existing_lines(ctx: Ctx, scope: Scope, cal: Calendar) -> list[str]:
    existing = await overrides.list_overrides(ctx.s, unit=scope.root, year=None)
    current = [(o, u) for o, u in existing if o.year >= ctx.today.year - 1]
    if not current:
        return []
    lines = [ctx.t("admin.dl_existing", unit=scope.root.name)]
    for o, u in current:
        label = next((p for p in cal.periods(o.year) if p.kind == o.kind), None)
        lines.append(
            ctx.t(
                "admin.dl_existing_line",
                report=period_title(ctx, label) if label else f"{o.kind} {o.year}",
                due=ctx.fmt_date(o.due),
                unit=u.name,
            )
        )
    return lines


@routes.flow(FLOW, roles=("admin",), audit="desk.deadline")
async def deadline_flow(ctx: Ctx) -> None:
    """Pick the report, type the date, give a reason."""
    scope = await require_admin(ctx, "desk.deadline")
    st = ctx.flow_state(DeadlineState)
    if scope is None or st.root_id != scope.root.id:
        ctx.clear_flow()
        return
    step = st.step
    if step == "pick" and (ctx.inc.option or "").startswith("rl:"):
        _rule_picked(ctx, scope, st)
    elif step == "pick":
        await _picked(ctx, scope, st)
    elif step == "rule_date":
        await _rule_dated(ctx, scope, st)
    elif step == "rule_reason":
        await _rule_reasoned(ctx, scope, st)
    elif step == "date":
        await _dated(ctx, scope, st)
    else:
        await _reasoned(ctx, scope, st)


async def _picked(ctx: Ctx, scope: Scope, st: DeadlineState) -> None:
    parts = (ctx.inc.option or "").split(":")
    found = (
        [p for p in periods.calendar(ctx.services).periods(int(parts[1])) if p.kind == parts[2]]
        if len(parts) == 3 and parts[0] == "dl" and is_number(parts[1])
        else []
    )
    if not found:
        await _leave(ctx)
        return
    period = found[0]
    ctx.save_state(
        st.model_copy(
            update={
                "step": "date",
                "year": int(parts[1]),
                "kind": parts[2],
                "period": period.period,
            }
        )
    )
    choices = [Choice(CLEAR, ctx.t("admin.dl_clear"))]
    ctx.say(
        "admin.dl_ask_date",
        report=period_title(ctx, period),
        unit=scope.root.name,
        nominal=ctx.fmt_date(period.nominal_due),
        choices=choices,
    )
    ctx.remember_menu(choices)


async def _dated(ctx: Ctx, scope: Scope, st: DeadlineState) -> None:
    year, kind = int(st.year or 0), str(st.kind)
    if ctx.inc.option == CLEAR:
        officer_id = ctx.officer.id if ctx.officer else None
        n = await overrides.clear_override(ctx.s, scope.root, year, kind, officer_id, now=ctx.now)
        ctx.clear_flow()
        ctx.say("admin.dl_cleared" if n else "admin.dl_nothing_to_clear", unit=scope.root.name)
        return
    try:
        overrides.validate(periods.calendar(ctx.services), year, kind, ctx.inc.text or "", None)
    except ValueError as e:
        ctx.say(getattr(e, "key", "admin.dl_bad_date"), **getattr(e, "params", {}))
        return
    ctx.save_state(st.model_copy(update={"step": "reason", "due": (ctx.inc.text or "").strip()}))
    ctx.say("admin.dl_ask_reason")


def _reason(ctx: Ctx) -> tuple[bool, str | None]:
    """The optional reason typed (None when skipped); False, after saying why, when it
    cannot be taken (the question stays, nothing typed before is lost)."""
    text = ctx.inc.text or ""
    if is_skip(text):
        return True, None
    try:
        return True, parse_text(text, MAX_REASON)
    except ParseError as e:
        ctx.say(e.key, **e.params)
        return False, None


async def _reasoned(ctx: Ctx, scope: Scope, st: DeadlineState) -> None:
    year, kind = int(st.year or 0), str(st.kind)
    cal = periods.calendar(ctx.services)
    ok, reason = _reason(ctx)
    if not ok:
        return
    try:
        row = await overrides.set_override(
            ctx.s,
            scope.root,
            year,
            kind,
            str(st.due),
            ctx.officer.id if ctx.officer else None,
            reason,
            cal=cal,
            source="chat",
            now=ctx.now,
        )
    except ValueError as e:
        ctx.save_state(st.model_copy(update={"step": "date"}))
        ctx.say(getattr(e, "key", "admin.dl_bad_date"), **getattr(e, "params", {}))
        return
    ctx.clear_flow()
    period = await periods.period_by_id(
        ctx.s, ctx.services, scope.root, _period_id(cal, year, kind)
    )
    due: date = row.due
    ctx.say(
        "admin.dl_done" if period.due == due else "admin.dl_done_moved",
        report=period_title(ctx, period),
        unit=scope.root.name,
        due=ctx.fmt_date(due),
        effective=ctx.fmt_date(period.due),
    )


# -- recurring rules (services.local_calendar) ------------------------------------------------


def _rule_choices(ctx: Ctx, cal: Calendar, upcoming: list[ReportPeriod]) -> list[Choice]:
    """ "Every year" choices for the kinds of the upcoming reports: the units' deadline, and
    the agency's own compilation for the level above."""
    kinds = list(dict.fromkeys(p.kind for p in upcoming))
    label = {p.kind: _lower(p.text(ctx.lang)) for p in upcoming}
    return [
        Choice(f"rl:{k}:{step}", ctx.t(f"admin.rule_choice_{step}", report=label[k]))
        for step in local_calendar.STEPS
        for k in kinds
    ]


async def _rule_lines(ctx: Ctx, scope: Scope, cal: Calendar) -> list[str]:
    """The recurring rules that reach the subtree, and this year's compilation status."""
    rows = await local_calendar.list_rules(ctx.s, unit=scope.root)
    lines = [ctx.t("admin.rule_existing", unit=scope.root.name)] if rows else []
    labels = {r.id: r.label for r in cal.spec.reports}
    for r, u in rows:
        report = (labels.get(r.kind) or {}).get(ctx.lang) or labels.get(r.kind, {}).get("vi", "")
        lines.append(
            ctx.t(
                f"admin.rule_line_{r.step}",
                report=_lower(report),
                dm=f"{r.day:02d}/{r.month:02d}",
                since=r.since_year,
                unit=u.name,
            )
        )
    for y in (ctx.today.year - 1, ctx.today.year):
        for st in await local_calendar.steps_of(ctx.s, cal, scope.root, y):
            if st.period.lock < ctx.today:
                continue
            mark = await local_calendar.compilation_of(ctx.s, st.unit_id, st.period.period)
            lines.append(
                ctx.t(
                    "admin.rule_compiled" if mark else "admin.rule_not_compiled",
                    report=period_title(ctx, st.period),
                    due=ctx.fmt_date(st.period.due),
                    at=ctx.fmt_date(mark.at.date()) if mark else "",
                )
            )
    return lines


def _rule_picked(ctx: Ctx, scope: Scope, st: DeadlineState) -> None:
    parts = (ctx.inc.option or "").split(":")
    cal = periods.calendar(ctx.services)
    if len(parts) != 3 or parts[1] not in cal.report_kinds or parts[2] not in local_calendar.STEPS:
        ctx.clear_flow()
        return
    kind, step = parts[1], parts[2]
    # From the first year whose report is not locked yet: a rule set in December for the
    # annual report applies to this year's report already.
    since = next(p.year for p in cal.periods(ctx.today.year) if p.kind == kind)
    if next(p for p in cal.periods(since) if p.kind == kind).lock < ctx.today:
        since += 1
    ctx.save_state(
        st.model_copy(update={"step": "rule_date", "kind": kind, "rule_step": step, "since": since})
    )
    report = next(p for p in cal.periods(since) if p.kind == kind)
    choices = [Choice(CLEAR, ctx.t("admin.rule_clear"))]
    ctx.say(
        f"admin.rule_ask_{step}",
        report=_lower(report.text(ctx.lang)),
        unit=scope.root.name,
        since=since,
        nominal=report.nominal_due.strftime("%d/%m"),
        choices=choices,
    )
    ctx.remember_menu(choices)


async def _rule_dated(ctx: Ctx, scope: Scope, st: DeadlineState) -> None:
    kind, step = str(st.kind), str(st.rule_step)
    if ctx.inc.option == CLEAR:
        officer_id = ctx.officer.id if ctx.officer else None
        n = await local_calendar.clear_rules(ctx.s, scope.root, kind, step, officer_id, now=ctx.now)
        ctx.clear_flow()
        ctx.say("admin.rule_cleared" if n else "admin.dl_nothing_to_clear", unit=scope.root.name)
        return
    try:
        local_calendar.validate_rule(
            periods.calendar(ctx.services), kind, step, ctx.inc.text or "", st.since
        )
    except local_calendar.RuleError as e:
        ctx.say_text(ctx.t(e.key, **e.params))
        return
    ctx.save_state(
        st.model_copy(update={"step": "rule_reason", "due": (ctx.inc.text or "").strip()})
    )
    ctx.say("admin.dl_ask_reason")


async def _rule_reasoned(ctx: Ctx, scope: Scope, st: DeadlineState) -> None:
    cal = periods.calendar(ctx.services)
    ok, reason = _reason(ctx)
    if not ok:
        return
    kind, step, since = str(st.kind), str(st.rule_step), int(st.since or 0)
    row = await local_calendar.set_rule(
        ctx.s,
        scope.root,
        kind,
        step,
        str(st.due),
        since,
        ctx.officer.id if ctx.officer else None,
        reason,
        cal=cal,
        source="chat",
        now=ctx.now,
    )
    ctx.clear_flow()
    first = cal.move_due(local_calendar.rule_date(cal, kind, row.day, row.month, since))
    ctx.say(
        f"admin.rule_done_{step}",
        report=_lower(next(p for p in cal.periods(since) if p.kind == kind).text(ctx.lang)),
        unit=scope.root.name,
        dm=f"{row.day:02d}/{row.month:02d}",
        since=since,
        first=ctx.fmt_date(first),
    )


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _period_id(cal: Any, year: int, kind: str) -> str:
    return next(p.period for p in cal.periods(year) if p.kind == kind)


async def _leave(ctx: Ctx) -> None:
    """Something other than a choice: leave the offer and treat the message as usual."""
    ctx.clear_flow()
    text = (ctx.inc.text or "").strip()
    parsed = ctx.router.parse_command(text) if text else None
    if parsed is not None:
        await ctx.router.run_command(ctx, *parsed)
        return
    await welcome(ctx)


def register(router: Router, deps: Deps) -> None:
    """The override flow, and the overrides under /lich for admins (so /lich must be
    registered first: ``handlers.features`` lists the info feature before the admin desk)."""
    router.include(routes)
    router.follow("lich", overrides_for_admins)
