"""The report conversation: the officer answers the questions of the current period's report
one by one; every answer is validated, saved at once, and the next question follows. At the
end a numbered summary lets them change any answer, then submit.

    /baocao → "Báo cáo tổng kết năm 2026 — hạn 07/12/2026. Câu 1/30: …"
    12 30   → "✓ Nam 12, nữ 30 — tổng 42.  Câu 2/30: …"
    …       → summary → "gửi" → receipt with a reference number
"""

from __future__ import annotations

from html import escape
from typing import Any

from sqlmodel import select

from db import queries
from db.models import Report, ReportValue, ReportVersion, Unit
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from kernel.calendar import ReportPeriod
from kernel.messages import Choice
from services import periods
from services.forms.engine import COUNT_TYPES, Form, Question, load_form
from services.forms.parsers import ParseError, fold, is_number

NONE = "__none__"  # the whole section had no activity
SKIP = "__skip__"
SUBMIT = "submit"
LATER = "later"
YES = "yes"
NO = "no"
DONE = "__done__"
SUGGEST = "__suggest__"


routes = Routes()


async def _suggestions(ctx: Ctx, period: ReportPeriod) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for sg in ctx.router.suggesters:
        for qid, value in (await sg.values(ctx, period)).items():
            out.setdefault(qid, [value, sg.note, sg.use, sg.alias])
    return out


def form_for(ctx: Ctx, period: ReportPeriod) -> Form:
    return load_form(period.form_id, ctx.services.form_dir)


def form_context(period: ReportPeriod, unit: Unit) -> dict[str, Any]:
    return {"period_type": period.kind, "unit_kind": unit.kind}


async def _open(ctx: Ctx) -> tuple[Report, ReportPeriod, Form, dict[str, Any]]:
    """The report of the running conversation, its period, form and stored values."""
    report = await ctx.s.get(Report, ctx.state["report_id"])
    assert report is not None and ctx.unit is not None
    period = await periods.period_by_id(ctx.s, ctx.services, ctx.unit, report.period)
    values = await queries.report_values(ctx.s, report.id or 0)
    return report, period, form_for(ctx, period), values


async def _agency_name(ctx: Ctx) -> str:
    ancestors = await ctx.ancestors()
    return ancestors[0].name if ancestors else ctx.t("report.standing_agency")


@routes.command("baocao", help="help.baocao", aliases=("report",), order=10)
async def start_report(ctx: Ctx, args: str) -> None:
    """/baocao [period]: open (or resume) the report of the current period."""
    if ctx.officer is None or ctx.unit is None:
        ctx.say("reg.need_officer")
        return
    if not ctx.unit.reports:
        ctx.say("report.unit_not_reporting", unit=ctx.unit.name)
        return
    try:
        period = (
            await periods.period_by_id(ctx.s, ctx.services, ctx.unit, args.strip())
            if args.strip()
            else await periods.current_period(ctx.s, ctx.services, ctx.unit, ctx.today)
        )
    except ValueError:
        ctx.say("report.bad_period", example=f"{ctx.today.year}S1")
        return
    assert ctx.unit.id is not None
    report = await queries.report_for(ctx.s, ctx.unit.id, period.period)
    if periods.is_locked(report, period, ctx.today, ctx.now):
        ctx.say(
            "report.locked",
            period=period.text(ctx.lang),
            date=ctx.fmt_date(period.lock),
            agency=await _agency_name(ctx),
        )
        return
    if report is None:
        report = Report(
            unit_id=ctx.unit.id,
            period=period.period,
            form_id=period.form_id,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        ctx.s.add(report)
        await ctx.s.flush()
    ctx.set_flow("report", report_id=report.id, mode="ask")
    ctx.update_state(suggest=await _suggestions(ctx, period))
    if report.status == "submitted":
        version = await queries.latest_version(ctx.s, report.id or 0)
        ctx.update_state(mode="revise_confirm")
        choices = [Choice(YES, ctx.t("report.revise_yes")), Choice(NO, ctx.t("report.revise_no"))]
        ctx.say(
            "report.already_submitted",
            period=period.text(ctx.lang),
            ref=version.reference if version else "",
            time=ctx.fmt_date(report.submitted_at) if report.submitted_at else "",
            lock=ctx.fmt_date(period.lock),
            choices=choices,
        )
        ctx.remember_menu(choices)
        return
    form = form_for(ctx, period)
    values = await queries.report_values(ctx.s, report.id or 0)
    fctx = form_context(period, ctx.unit)
    total = len(form.relevant_questions({**fctx, **values}))
    days = (period.due - ctx.today).days
    key = "report.resume" if values else "report.intro"
    ctx.say(
        key,
        title=period.text(ctx.lang),
        year=period.year,
        due=ctx.fmt_date(period.due),
        days=_days_text(ctx, days),
        total=total,
        answered=len(values),
    )
    await ask_next(ctx, report, period, form, values)


def _days_text(ctx: Ctx, days: int) -> str:
    if days > 0:
        return ctx.t("days.left", n=days)
    if days == 0:
        return ctx.t("days.today")
    return ctx.t("days.late", n=-days)


async def ask_next(
    ctx: Ctx,
    report: Report,
    period: ReportPeriod,
    form: Form,
    values: dict[str, Any],
    prefix: str = "",
) -> None:
    assert ctx.unit is not None
    q = form.next_unanswered(values, form_context(period, ctx.unit))
    if q is None:
        await show_summary(ctx, report, period, form, values, prefix=prefix)
        return
    ask(ctx, form, q, values, period, prefix=prefix)


def ask(
    ctx: Ctx,
    form: Form,
    q: Question,
    values: dict[str, Any],
    period: ReportPeriod,
    prefix: str = "",
) -> None:
    """Put question ``q``, with its position, hint, how to answer, and its choices."""
    assert ctx.unit is not None
    env = {**form_context(period, ctx.unit), **values}
    relevant = form.relevant_questions(env)
    number = next((i for i, x in enumerate(relevant, 1) if x.id == q.id), len(relevant))
    section = form.section_of[q.id]
    lines = [prefix] if prefix else []
    if section.questions and _first_asked_in_section(form, q, env):
        lines.append(f"<b>{escape(section.text(ctx.lang))}</b>")
    lines.append(ctx.t("report.question", n=number, total=len(relevant), label=q.text(ctx.lang)))
    if q.hint:
        lines.append(f"<i>{escape(q.hint_text(ctx.lang))}</i>")
    lines.append(ctx.t(f"howto.{q.type}"))
    choices: list[Choice] = []
    numbered = True
    if q.type == "yes_no":
        choices = [Choice(YES, ctx.t("value.yes")), Choice(NO, ctx.t("value.no"))]
    elif q.type in ("choice", "multi"):
        selected = ctx.state.get("multi_sel", []) if ctx.state.get("q") == q.id else []
        choices = [Choice(o.key, o.text(ctx.lang), selected=o.key in selected) for o in q.options]
        if q.type == "multi":
            choices.append(Choice(DONE, ctx.t("report.multi_done"), alias=ctx.t("alias.done")))
    else:
        numbered = False
    suggested = ctx.state.get("suggest", {}).get(q.id)
    if suggested is not None and q.id not in values and q.type in COUNT_TYPES:
        value, note, use, alias = suggested
        lines.append(ctx.t(note, value=form.format_value(q, value, ctx.lang)))
        choices.insert(0, Choice(SUGGEST, ctx.t(use), alias=ctx.t(alias)))
    if not q.required:
        lines.append(ctx.t("report.optional"))
        choices.append(Choice(SKIP, ctx.t("report.skip"), alias="-"))
    if section.no_activity and section.questions and _first_asked_in_section(form, q, env):
        choices.append(Choice(NONE, ctx.t("report.section_none"), alias=ctx.t("alias.none")))
    ctx.update_state(mode="ask", q=q.id)
    ctx.say_text("\n".join(lines), choices=choices, numbered=numbered)
    ctx.remember_menu(choices, numbered)


def _first_asked_in_section(form: Form, q: Question, env: dict[str, Any]) -> bool:
    section = form.section_of[q.id]
    first = next((x for x in section.questions if form.is_relevant(x, env)), None)
    return first is not None and first.id == q.id


async def save_value(ctx: Ctx, report: Report, qid: str, value: Any) -> None:
    row = (
        await ctx.s.exec(
            select(ReportValue).where(
                ReportValue.report_id == report.id, ReportValue.question_id == qid
            )
        )
    ).first()
    officer_id = ctx.officer.id if ctx.officer else None
    if row is None:
        ctx.s.add(
            ReportValue(
                report_id=report.id or 0,
                question_id=qid,
                value=value,
                answered_at=ctx.now,
                answered_by=officer_id,
            )
        )
    else:
        row.value = value
        row.answered_at = ctx.now
        row.answered_by = officer_id
    report.updated_at = ctx.now


@routes.flow("report")
async def report_flow(ctx: Ctx) -> None:
    """Every message while a report is open."""
    if ctx.officer is None:
        ctx.clear_flow()
        ctx.say("reg.need_officer")
        return
    report, period, form, values = await _open(ctx)
    mode = ctx.state.get("mode")
    if ctx.reprompt:
        # The user sent something unreadable (a sticker): put the pending step again.
        q = form.by_id.get(ctx.state.get("q") or "")
        if mode == "ask" and q is not None:
            ask(ctx, form, q, values, period)
        elif mode == "summary":
            await show_summary(ctx, report, period, form, values)
        else:
            await ask_next(ctx, report, period, form, values)
        return
    if mode == "revise_confirm":
        await _revise_confirm(ctx, report, period, form, values)
    elif mode == "summary":
        await _summary_answer(ctx, report, period, form, values)
    else:
        await _answer(ctx, report, period, form, values)


async def _answer(
    ctx: Ctx, report: Report, period: ReportPeriod, form: Form, values: dict[str, Any]
) -> None:
    q = form.by_id.get(ctx.state.get("q", ""))
    if q is None:
        await ask_next(ctx, report, period, form, values)
        return
    if periods.is_locked(report, period, ctx.today, ctx.now):
        ctx.clear_flow()
        ctx.say(
            "report.locked",
            period=period.text(ctx.lang),
            date=ctx.fmt_date(period.lock),
            agency=await _agency_name(ctx),
        )
        return
    option, text = ctx.inc.option, ctx.inc.text
    if option == NONE:
        section = form.section_of[q.id]
        for x in section.questions:
            if x.type in COUNT_TYPES:
                values[x.id] = form.zero_value(x)
                await save_value(ctx, report, x.id, values[x.id])
        ack = ctx.t("report.section_none_saved", section=section.text(ctx.lang))
        await ask_next(ctx, report, period, form, values, prefix=ack)
        return
    try:
        if option == SUGGEST and q.id in ctx.state.get("suggest", {}):
            value = ctx.state["suggest"][q.id][0]
        elif option == SKIP:
            value = form.parse(q, "-")
        elif q.type == "multi" and option == DONE:
            value = list(ctx.state.get("multi_sel", []))
            if not value and q.required:
                raise ParseError("err.choose_one")
        elif q.type == "multi" and option is not None and text is None:
            _toggle(ctx, form, q, values, period, option)
            return
        elif q.type == "yes_no" and option in (YES, NO):
            value = option == YES
        elif q.type == "choice" and option is not None and q.option(option):
            value = option
        else:
            value = form.parse(q, text, today=ctx.today)
    except ParseError as e:
        ask(ctx, form, q, values, period, prefix="⚠️ " + ctx.t(e.key, **e.params))
        return
    values[q.id] = value
    await save_value(ctx, report, q.id, value)
    ctx.update_state(multi_sel=[])
    ack = "✓ " + ctx.t("report.saved", value=form.format_value(q, value, ctx.lang))
    await ask_next(ctx, report, period, form, values, prefix=ack)


def _toggle(
    ctx: Ctx, form: Form, q: Question, values: dict[str, Any], period: ReportPeriod, option: str
) -> None:
    """A tapped option of a multiple-choice question toggles it; "Xong" ends the answer."""
    if q.option(option) is None:
        ask(
            ctx,
            form,
            q,
            values,
            period,
            prefix="⚠️ " + ctx.t("err.choice_unknown", n=len(q.options)),
        )
        return
    selected = list(ctx.state.get("multi_sel", []))
    if option in selected:
        selected.remove(option)
    else:
        selected.append(option)
    ctx.update_state(multi_sel=selected)
    ask(ctx, form, q, values, period)


async def show_summary(
    ctx: Ctx,
    report: Report,
    period: ReportPeriod,
    form: Form,
    values: dict[str, Any],
    prefix: str = "",
) -> None:
    assert ctx.unit is not None
    env = {**form_context(period, ctx.unit), **values}
    lines = [prefix, ""] if prefix else []
    lines.append(
        ctx.t(
            "report.summary_title",
            title=period.text(ctx.lang),
            year=period.year,
            unit=ctx.unit.name,
        )
    )
    current = None
    for i, q in enumerate(form.relevant_questions(env), 1):
        section = form.section_of[q.id]
        if section is not current:
            current = section
            lines.append(f"\n<b>{escape(section.text(ctx.lang))}</b>")
        value = escape(form.format_value(q, values.get(q.id), ctx.lang))
        lines.append(f"{i}. {escape(q.text(ctx.lang))}: <b>{value}</b>")
    lines.append("")
    lines.append(ctx.t("report.summary_help"))
    choices = [
        Choice(SUBMIT, ctx.t("report.submit"), alias=ctx.t("alias.submit")),
        Choice(LATER, ctx.t("report.later"), alias=ctx.t("alias.later")),
    ]
    ctx.update_state(mode="summary", q=None)
    ctx.say_text("\n".join(lines), choices=choices, numbered=False)
    ctx.remember_menu(choices, numbered=False)


async def _summary_answer(
    ctx: Ctx, report: Report, period: ReportPeriod, form: Form, values: dict[str, Any]
) -> None:
    assert ctx.unit is not None
    option = ctx.inc.option
    if option == SUBMIT:
        await submit(ctx, report, period, form, values)
        return
    if option == LATER:
        ctx.clear_flow()
        ctx.say("report.paused")
        return
    text = fold(ctx.inc.text or "")
    for word in ("sua", "edit", "cau"):
        text = text.removeprefix(word).strip()
    relevant = form.relevant_questions({**form_context(period, ctx.unit), **values})
    if is_number(text) and 1 <= int(text) <= len(relevant):
        ask(ctx, form, relevant[int(text) - 1], values, period)
        return
    prefix = "⚠️ " + ctx.t("report.summary_bad", n=len(relevant))
    await show_summary(ctx, report, period, form, values, prefix=prefix)


async def submit(
    ctx: Ctx, report: Report, period: ReportPeriod, form: Form, values: dict[str, Any]
) -> None:
    assert ctx.unit is not None and ctx.officer is not None
    if periods.is_locked(report, period, ctx.today, ctx.now):
        ctx.clear_flow()
        ctx.say(
            "report.locked",
            period=period.text(ctx.lang),
            date=ctx.fmt_date(period.lock),
            agency=await _agency_name(ctx),
        )
        return
    fctx = form_context(period, ctx.unit)
    missing = form.next_unanswered(values, fctx)
    if missing is not None:
        await ask_next(ctx, report, period, form, values)
        return
    env = {**fctx, **values}
    relevant = form.relevant_questions(env)
    numbers = {q.id: i for i, q in enumerate(relevant, 1)}
    violations = form.check_rules(values, fctx)
    if violations:
        lines = [ctx.t("report.rules_failed")]
        for v in violations:
            named = ", ".join(
                ctx.t(
                    "report.rule_field",
                    n=numbers[q.id],
                    label=q.text(ctx.lang),
                    value=form.format_value(q, values.get(q.id), ctx.lang),
                )
                for q in v.questions
                if q.id in numbers
            )
            lines.append(f"• {escape(v.rule.text(ctx.lang))}\n  {named}")
        lines.append(ctx.t("report.rules_fix"))
        ctx.say_text("\n".join(lines))
        ctx.remember_menu([], numbered=False)
        ctx.update_state(mode="summary", q=None)
        return
    snapshot = {q.id: values.get(q.id) for q in relevant}
    report.version += 1
    reference = f"BC-{report.period}-{ctx.unit.code}-{report.version}"
    ctx.s.add(
        ReportVersion(
            report_id=report.id or 0,
            version=report.version,
            reference=reference,
            values=snapshot,
            submitted_at=ctx.now,
            submitted_by=ctx.officer.id,
        )
    )
    report.status = "submitted"
    report.submitted_at = ctx.now
    report.updated_at = ctx.now
    ctx.audit("report.submit", target=reference)
    ctx.clear_flow()
    late = (ctx.today - period.due).days
    ctx.say(
        "report.receipt",
        title=period.text(ctx.lang),
        year=period.year,
        ref=reference,
        time=ctx.fmt_date(ctx.now),
        version=report.version,
    )
    ctx.say(
        "report.receipt_late" if late > 0 else "report.receipt_on_time",
        due=ctx.fmt_date(period.due),
        days=late,
        lock=ctx.fmt_date(period.lock),
    )


async def _revise_confirm(
    ctx: Ctx, report: Report, period: ReportPeriod, form: Form, values: dict[str, Any]
) -> None:
    option = ctx.inc.option
    if option == YES:
        report.status = "draft"
        report.updated_at = ctx.now
        ctx.audit("report.revise", target=f"{report.period}:{report.unit_id}")
        await show_summary(
            ctx,
            report,
            period,
            form,
            values,
            prefix=ctx.t("report.revising", version=report.version + 1),
        )
    elif option == NO:
        ctx.clear_flow()
        ctx.say("report.revise_cancelled")
    else:
        choices = [Choice(YES, ctx.t("report.revise_yes")), Choice(NO, ctx.t("report.revise_no"))]
        ctx.say("report.revise_ask", choices=choices)
        ctx.remember_menu(choices)


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
