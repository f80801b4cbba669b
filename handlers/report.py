"""The report conversation: the officer answers the questions of the current period's report
one by one; every answer is validated, saved at once, and the next question follows. At the
end a numbered summary lets them change any answer, then submit.

    /baocao → "Báo cáo tổng kết năm 2026 — hạn 07/12/2026. Câu 1/30: …"
    12 30   → "✓ Nam 12, nữ 30 — tổng 42.  Câu 2/30: …"
    …       → summary → "gửi" → receipt with a reference number

A thin handler over the form session (services/forms/session.py): it loads the report with
its answers in one query, lets the session decide, saves what was accepted in one upsert, and
renders the session's events.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass
from datetime import date
from html import escape
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select

from db import queries
from db.models import Report, ReportValue, ReportVersion, Unit
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from handlers.state import ReportState
from kernel.calendar import ReportPeriod
from kernel.messages import Choice
from services import mail, periods
from services.forms.engine import Form, Question, form_id_for_unit, load_form
from services.forms.session import (
    DONE,
    NO,
    NONE,
    SKIP,
    SUBMIT,
    SUGGEST,
    YES,
    Accepted,
    Again,
    Answer,
    Ask,
    Event,
    Input,
    Invalid,
    Next,
    Note,
    SectionEmpty,
    Session,
    ShowSummary,
    Submit,
    Summary,
    Violations,
)

LATER = "later"
# The engine's messages in this conversation's words.
MESSAGES = {"err.summary": "report.summary_bad"}

__all__ = ["DONE", "NONE", "SKIP", "SUGGEST", "register", "start_report"]

routes = Routes()


async def _suggestions(ctx: Ctx, period: ReportPeriod) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for sg in ctx.router.suggesters:
        for qid, value in (await sg.values(ctx, period)).items():
            out.setdefault(qid, [value, sg.note, sg.use, sg.alias])
    return out


def form_for(ctx: Ctx, report: Report) -> Form:
    """The form the report was started on (a later change of the unit's form, or of the
    form files' choice, never moves a draft in flight)."""
    return load_form(report.form_id, ctx.services.form_dir)


def new_report(ctx: Ctx, unit: Unit, period: ReportPeriod) -> Report:
    """A report not started yet, on the form the unit answers (by its kind, or its own)."""
    assert unit.id is not None
    form_id = form_id_for_unit(period.form_id, unit.kind, unit.code, ctx.services.form_dir)
    return Report(
        unit_id=unit.id,
        period=period.period,
        form_id=form_id,
        created_at=ctx.now,
        updated_at=ctx.now,
    )


def form_context(period: ReportPeriod, unit: Unit) -> dict[str, Any]:
    return {"period_type": period.kind, "unit_kind": unit.kind}


def _period_state(period: ReportPeriod) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(period).items()}


def _period_from_state(data: dict[str, Any]) -> ReportPeriod:
    dates = ("opens", "nominal_due", "due", "lock")
    fields: dict[str, Any] = {
        k: date.fromisoformat(v) if k in dates else v for k, v in data.items()
    }
    return ReportPeriod(**fields)


async def _agency_name(ctx: Ctx) -> str:
    ancestors = await ctx.ancestors()
    return ancestors[0].name if ancestors else ctx.t("report.standing_agency")


async def _say_locked(ctx: Ctx, period: ReportPeriod) -> None:
    ctx.clear_flow()
    ctx.say(
        "report.locked",
        period=period.text(ctx.lang),
        date=ctx.fmt_date(period.lock),
        agency=await _agency_name(ctx),
    )


# -- loading and saving ----------------------------------------------------------------------
@dataclass
class Open:
    """The report of the running conversation, loaded for one message."""

    report: Report
    period: ReportPeriod
    form: Form
    values: dict[str, Any]

    def session(self, ctx: Ctx, st: ReportState) -> Session:
        assert ctx.unit is not None
        return Session(
            form=self.form,
            context=form_context(self.period, ctx.unit),
            values=self.values,
            today=ctx.today,
            lang=ctx.lang,
            suggestions={qid: s[0] for qid, s in st.suggest.items()},
        )


async def _open(ctx: Ctx, st: ReportState) -> Open:
    """The report with all its answers (read with the writer by the dispatcher, or here in
    one query); the period from the state."""
    loaded = ctx.loaded_report
    if loaded is not None and loaded[0].id == st.report_id:
        report, values = loaded
    else:
        rows = (
            await ctx.s.exec(
                select(Report, ReportValue)
                .outerjoin(ReportValue, col(ReportValue.report_id) == col(Report.id))
                .where(Report.id == st.report_id)
            )
        ).all()
        assert rows
        report = rows[0][0]
        values = {v.question_id: v.value for _, v in rows if v is not None}
    assert ctx.unit is not None
    if st.period is not None:
        period = _period_from_state(st.period)
    else:  # a state saved before periods were kept in it
        period = await periods.period_by_id(ctx.s, ctx.services, ctx.unit, report.period)
        st.period = _period_state(period)
    return Open(report, period, form_for(ctx, report), values)


async def _locked(ctx: Ctx, o: Open) -> bool:
    """Past the lock date? The kept period may be stale (an override moved the deadline
    since): a refusal is checked against the calendar again."""
    if not periods.is_locked(o.report, o.period, ctx.today, ctx.now):
        return False
    assert ctx.unit is not None
    o.period = await periods.period_by_id(ctx.s, ctx.services, ctx.unit, o.report.period)
    return periods.is_locked(o.report, o.period, ctx.today, ctx.now)


@functools.lru_cache(maxsize=64)
def _upsert(pg: bool, n: int) -> Any:
    """INSERT … ON CONFLICT DO UPDATE of ``n`` answers with bound parameters (built once per
    shape: building the statement cost more than running it); on PostgreSQL with the report's
    "last changed" in the same statement (a data-modifying CTE)."""
    table: sa.Table = ReportValue.__table__  # type: ignore[attr-defined]
    names = ("report_id", "question_id", "value", "answered_at", "answered_by")
    rows = [{c: sa.bindparam(f"{c}_{i}", type_=table.c[c].type) for c in names} for i in range(n)]
    stmt = (pg_insert if pg else sqlite_insert)(table).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["report_id", "question_id"],
        set_={
            "value": stmt.excluded.value,
            "answered_at": stmt.excluded.answered_at,
            "answered_by": stmt.excluded.answered_by,
        },
    )
    if not pg:
        return stmt  # SQLite: the reportvalue triggers touch the report (migration 0009)
    reports: sa.Table = Report.__table__  # type: ignore[attr-defined]
    touch = (
        sa.update(reports)
        .where(reports.c.id == sa.bindparam("touch_id", type_=reports.c.id.type))
        .values(updated_at=sa.bindparam("touch_at", type_=reports.c.updated_at.type))
        .returning(reports.c.id)
        .cte("touched")
    )
    return stmt.add_cte(touch)


async def save_values(ctx: Ctx, report: Report, values: dict[str, Any]) -> None:
    """Store answers in one statement (insert, or update the stored answer)."""
    officer_id = ctx.officer.id if ctx.officer else None
    params: dict[str, Any] = {"touch_id": report.id, "touch_at": ctx.now}
    for i, (qid, value) in enumerate(values.items()):
        params[f"report_id_{i}"] = report.id
        params[f"question_id_{i}"] = qid
        params[f"value_{i}"] = value
        params[f"answered_at_{i}"] = ctx.now
        params[f"answered_by_{i}"] = officer_id
    pg = ctx.s.get_bind().dialect.name == "postgresql"
    await ctx.s.exec(_upsert(pg, len(values)), params=params)
    # The database has moved the report's updated_at with the answers (PostgreSQL: the CTE;
    # SQLite: the reportvalue triggers, migration 0009): the loaded row is told, so the ORM
    # does not UPDATE it again at commit.
    set_committed_value(report, "updated_at", ctx.now)


# -- /baocao ---------------------------------------------------------------------------------
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
        await _say_locked(ctx, period)
        return
    if report is None:
        report = new_report(ctx, ctx.unit, period)
        ctx.s.add(report)
        await ctx.s.flush()
    assert report.id is not None
    st = ReportState(
        report_id=report.id, suggest=await _suggestions(ctx, period), period=_period_state(period)
    )
    ctx.start_flow(st)
    if report.status == "submitted":
        await _offer_revision(ctx, report, period, st)
        return
    values = await queries.report_values(ctx.s, report.id)
    o = Open(report, period, form_for(ctx, report), values)
    session = o.session(ctx, st)
    days = (period.due - ctx.today).days
    ctx.say(
        "report.resume" if values else "report.intro",
        title=period.text(ctx.lang),
        year=period.year,
        due=ctx.fmt_date(period.due),
        days=_days_text(ctx, days),
        total=len(session.relevant()),
        answered=len(values),
    )
    await _step(ctx, o, st, session, Next())


async def _offer_revision(ctx: Ctx, report: Report, period: ReportPeriod, st: ReportState) -> None:
    """A submitted report: say when it was sent and ask whether to make a new version."""
    version = await queries.latest_version(ctx.s, report.id or 0)
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
    ctx.save_state(st.model_copy(update={"mode": "revise_confirm"}))


def _days_text(ctx: Ctx, days: int) -> str:
    if days > 0:
        return ctx.t("days.left", n=days)
    if days == 0:
        return ctx.t("days.today")
    return ctx.t("days.late", n=-days)


# -- every message while a report is open ----------------------------------------------------
@routes.flow("report")
async def report_flow(ctx: Ctx) -> None:
    """Every message while a report is open."""
    if ctx.officer is None:
        ctx.clear_flow()
        ctx.say("reg.need_officer")
        return
    st = ctx.flow_state(ReportState)
    o = await _open(ctx, st)
    session = o.session(ctx, st)
    option = ctx.inc.option
    if ctx.reprompt:
        # The user sent something unreadable (a sticker): put the pending step again.
        await _step(ctx, o, st, session, Again())
    elif st.mode == "revise_confirm":
        await _revise_confirm(ctx, o, st, session)
    elif st.mode == "summary" and option == LATER:
        ctx.clear_flow()
        ctx.say("report.paused")
    elif (st.mode == "ask" or option == SUBMIT) and await _locked(ctx, o):
        await _say_locked(ctx, o.period)
    else:
        await _step(ctx, o, st, session, Answer(option, ctx.inc.text))


async def _step(
    ctx: Ctx, o: Open, st: ReportState, session: Session, inp: Input, prefix: str = ""
) -> None:
    """Run the session one step, save what it accepted, say what it decided."""
    pos, events = await session.resume(st.position(), inp)
    accepted: dict[str, Any] = {}
    for ev in events:
        if isinstance(ev, Accepted):
            accepted[ev.question.id] = ev.value
        elif isinstance(ev, SectionEmpty):
            accepted.update(ev.values)
    if accepted:
        await save_values(ctx, o.report, accepted)
    for ev in events:
        prefix = await _render(ctx, o, st, session, ev, prefix)
    if ctx.conv.flow == "report":
        ctx.save_state(st.moved_to(pos))


async def _render(
    ctx: Ctx, o: Open, st: ReportState, session: Session, ev: Event, prefix: str
) -> str:
    """Say one event; returns the line that leads the next message (an acknowledgement)."""
    lang = ctx.lang
    if isinstance(ev, Accepted):
        value = o.form.format_value(ev.question, ev.value, lang)
        return "✓ " + ctx.t("report.saved", value=value)
    if isinstance(ev, SectionEmpty):
        return ctx.t("report.section_none_saved", section=ev.section.text(lang))
    if isinstance(ev, Invalid):
        return "⚠️ " + ctx.t(MESSAGES.get(ev.key, ev.key), **ev.params)
    if isinstance(ev, Note):
        return ctx.t(ev.key, **ev.params)
    if isinstance(ev, Ask):
        _say_question(ctx, o, st, session, ev, prefix)
    elif isinstance(ev, Summary):
        _say_summary(ctx, o, ev, prefix)
    elif isinstance(ev, Violations):
        _say_violations(ctx, o, ev)
    elif isinstance(ev, Submit):
        await submit(ctx, o, ev.values)
    return ""


def _say_question(
    ctx: Ctx, o: Open, st: ReportState, session: Session, ev: Ask, prefix: str
) -> None:
    """Put the question with its position, hint, how to answer, and its choices."""
    q, lang = ev.question, ctx.lang
    lines = [prefix] if prefix else []
    if ev.opens_section:
        lines.append(f"<b>{escape(ev.section.text(lang))}</b>")
    label = q.text(lang, session.env)
    lines.append(ctx.t("report.question", n=ev.number, total=ev.total, label=label))
    if q.has_hint:
        lines.append(f"<i>{escape(q.hint_text(lang))}</i>")
    lines.append(ctx.t(f"howto.{q.type}"))
    choices: list[Choice] = []
    numbered = True
    if q.type == "yes_no":
        choices = [Choice(YES, ctx.t("value.yes")), Choice(NO, ctx.t("value.no"))]
    elif q.type in ("choice", "multi"):
        choices = [
            Choice(op.key, op.text(lang), selected=op.key in ev.selected) for op in ev.options
        ]
        if q.type == "multi":
            choices.append(Choice(DONE, ctx.t("report.multi_done"), alias=ctx.t("alias.done")))
    else:
        numbered = False
    if ev.suggestion is not None:
        _value, note, use, alias = st.suggest[q.id]
        lines.append(ctx.t(note, value=o.form.format_value(q, ev.suggestion, lang)))
        choices.insert(0, Choice(SUGGEST, ctx.t(use), alias=ctx.t(alias)))
    if not q.required:
        lines.append(ctx.t("report.optional"))
        choices.append(Choice(SKIP, ctx.t("report.skip"), alias="-"))
    if ev.offer_none:
        choices.append(Choice(NONE, ctx.t("report.section_none"), alias=ctx.t("alias.none")))
    ctx.say_text("\n".join(lines), choices=choices, numbered=numbered)
    ctx.remember_menu(choices, numbered)


def _line_label(q: Question, lang: str) -> str:
    """What a summary line names before ": value": the indicator ("Quy chế làm việc của Ban
    …"), shorter than the question and not a question; without a colon of its own (a label
    ending in ":" made "… là::")."""
    label = q.indicator_text(lang).rstrip().rstrip(":").rstrip()
    if q.type == "money":  # "Kinh phí (đồng): 15.000.000 đồng" says the unit once
        label = re.sub(r"\s*\([^()]*\)$", "", label)
    return label


def _say_summary(ctx: Ctx, o: Open, ev: Summary, prefix: str) -> None:
    assert ctx.unit is not None
    lang = ctx.lang
    lines = [prefix, ""] if prefix else []
    lines.append(
        ctx.t(
            "report.summary_title",
            title=o.period.text(lang),
            year=o.period.year,
            unit=ctx.unit.name,
        )
    )
    current = None
    for i, q, value in ev.rows:
        section = o.form.section_of[q.id]
        if section is not current:
            current = section
            lines.append(f"\n<b>{escape(section.text(lang))}</b>")
        shown = escape(o.form.format_value(q, value, lang))
        lines.append(f"{i}. {escape(_line_label(q, lang))}: <b>{shown}</b>")
    lines.append("")
    lines.append(ctx.t("report.summary_help"))
    choices = [
        Choice(SUBMIT, ctx.t("report.submit"), alias=ctx.t("alias.submit")),
        Choice(LATER, ctx.t("report.later"), alias=ctx.t("alias.later")),
    ]
    ctx.say_text("\n".join(lines), choices=choices, numbered=False)
    ctx.remember_menu(choices, numbered=False)


def _say_violations(ctx: Ctx, o: Open, ev: Violations) -> None:
    lang = ctx.lang
    lines = [ctx.t("report.rules_failed")]
    for v in ev.violations:
        named = ", ".join(
            ctx.t(
                "report.rule_field",
                n=ev.numbers[q.id],
                label=q.text(lang).rstrip().rstrip(":"),
                value=o.form.format_value(q, o.values.get(q.id), lang),
            )
            for q in v.questions
            if q.id in ev.numbers
        )
        lines.append(f"• {escape(v.rule.text(lang))}\n  {named}")
    lines.append(ctx.t("report.rules_fix"))
    ctx.say_text("\n".join(lines))
    ctx.remember_menu([], numbered=False)


async def submit(ctx: Ctx, o: Open, snapshot: dict[str, Any]) -> None:
    """A new immutable version with a reference number; the receipt says if it was late."""
    assert ctx.unit is not None and ctx.officer is not None
    report, period = o.report, o.period
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
    await mail.report_submitted(
        ctx.s, ctx.unit, period, report.version, reference, ctx.now, enabled=ctx.services.mail
    )
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


async def _revise_confirm(ctx: Ctx, o: Open, st: ReportState, session: Session) -> None:
    option = ctx.inc.option
    if option == YES:
        o.report.status = "draft"
        o.report.updated_at = ctx.now
        ctx.audit("report.revise", target=f"{o.report.period}:{o.report.unit_id}")
        prefix = ctx.t("report.revising", version=o.report.version + 1)
        await _step(ctx, o, st, session, ShowSummary(), prefix)
    elif option == NO:
        ctx.clear_flow()
        ctx.say("report.revise_cancelled")
    else:
        choices = [Choice(YES, ctx.t("report.revise_yes")), Choice(NO, ctx.t("report.revise_no"))]
        ctx.say("report.revise_ask", choices=choices)
        ctx.remember_menu(choices)


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
