"""Short commands that answer at once: /lich, /trangthai, /trogiup, /huy."""

from __future__ import annotations

from db import queries
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from handlers.state import LanguageState
from kernel.calendar import Event
from kernel.i18n import LANGS
from kernel.messages import Choice
from services import local_calendar, periods
from services.scope import example_codes, scope_of

routes = Routes()


@routes.command("huy", help="help.huy", roles=("public", "officer"), aliases=("cancel",), order=90)
async def cancel(ctx: Ctx, _args: str) -> None:
    """/huy: leave the running conversation; a report draft stays saved."""
    flow = ctx.conv.flow
    ctx.clear_flow()
    if flow == "report":
        ctx.say("report.paused")
    elif flow:
        ctx.say("cancel.done")
    else:
        ctx.say("cancel.nothing")


@routes.command(
    "lich", help="help.lich", roles=("officer",), aliases=("calendar",), order=20, read_only=True
)
async def calendar_cmd(ctx: Ctx, _args: str) -> None:
    """/lich: the unit's upcoming deadlines and Action Months, with days left; under a report
    deadline, the local rule that set it; last, where a deadline on a day off goes."""
    assert ctx.unit is not None  # the router lets only officers in
    cal = periods.calendar(ctx.services)
    lines = [ctx.t("lich.title", unit=ctx.unit.name)]
    why: dict[str, local_calendar.Applied] = {}
    events: list[Event] = []
    for y in (ctx.today.year, ctx.today.year + 1):
        ov = await periods.overrides_for(ctx.s, ctx.unit, y, cal)
        events += [e for e in cal.events(y, ov) if e.end >= ctx.today]
        applied = await local_calendar.explain(ctx.s, cal, ctx.unit, y)
        why.update((p.period, applied[p.kind]) for p in cal.periods(y, ov))
    for e in sorted(events, key=lambda e: e.start)[:6]:
        lines.append(_event_line(ctx, e))
        if e.id in why and why[e.id].origin != "calendar":
            lines.append(_origin_line(ctx, why[e.id]))
    lines.append(ctx.t(f"lich.day_off_{cal.due_rule}"))
    ctx.say_text("\n".join(lines))


def _event_line(ctx: Ctx, e: Event) -> str:
    if e.start == e.end:
        days = (e.start - ctx.today).days
        when = ctx.t("lich.days_left", n=days) if days else ctx.t("days.today")
        return ctx.t("lich.deadline", label=e.text(ctx.lang), date=ctx.fmt_date(e.start), when=when)
    key = "lich.running" if e.start <= ctx.today else "lich.month"
    return ctx.t(
        key,
        label=e.text(ctx.lang),
        start=ctx.fmt_date(e.start),
        end=ctx.fmt_date(e.end),
        n=(e.start - ctx.today).days,
    )


def _origin_line(ctx: Ctx, a: local_calendar.Applied) -> str:
    """Which local rule set a deadline: a recurring rule or a one-year override."""
    unit = a.unit.name if a.unit is not None else "?"
    if a.origin == "rule" and a.nominal is not None:
        return ctx.t("lich.by_rule", unit=unit, dm=a.nominal.strftime("%d/%m"), since=a.since_year)
    assert a.nominal is not None
    return ctx.t("lich.by_override", unit=unit, date=ctx.fmt_date(a.nominal), year=a.year)


@routes.command(
    "trangthai", help="help.trangthai", roles=("officer",), aliases=("status",), order=30
)
async def status_cmd(ctx: Ctx, _args: str) -> None:
    """/trangthai: the unit's report status for each period of this year and the last."""
    assert ctx.unit is not None and ctx.unit.id is not None  # officers only (router)
    cal = periods.calendar(ctx.services)
    lines = [ctx.t("status.title", unit=ctx.unit.name)]
    for year in (ctx.today.year - 1, ctx.today.year):
        ov = await periods.overrides_for(ctx.s, ctx.unit, year)
        for p in cal.periods(year, ov):
            if p.opens > ctx.today:
                continue
            report = await queries.report_for(ctx.s, ctx.unit.id, p.period)
            label = f"{p.text(ctx.lang)} {p.year}"
            if report is None or (report.status == "draft" and report.version == 0):
                answered = len(await queries.report_values(ctx.s, report.id or 0)) if report else 0
                key = "status.draft" if answered else "status.not_started"
                if periods.is_locked(report, p, ctx.today, ctx.now):
                    key = "status.missed"
                lines.append(ctx.t(key, label=label, due=ctx.fmt_date(p.due), n=answered))
            else:
                version = await queries.latest_version(ctx.s, report.id or 0)
                key = "status.submitted" if report.status == "submitted" else "status.revising"
                lines.append(
                    ctx.t(
                        key,
                        label=label,
                        version=report.version,
                        ref=version.reference if version else "",
                        time=ctx.fmt_date(version.submitted_at) if version else "",
                    )
                )
    ctx.say_text("\n".join(lines))


@routes.command(
    "trogiup",
    help="help.trogiup",
    roles=("public", "officer"),
    aliases=("help", "giupdo"),
    order=99,
    read_only=True,
)
async def help_cmd(ctx: Ctx, _args: str) -> None:
    """/trogiup: the commands this user can use."""
    roles = {"public"}
    if ctx.officer is not None:
        roles |= {"officer", ctx.officer.role}
    lines = [ctx.t("help.title")]
    # An admin's examples name units of their own scope, not the demo province's.
    codes = await _example_codes(ctx) if "admin" in roles else ["", ""]
    for cmd in ctx.router.visible_commands(roles):
        assert cmd.help is not None
        lines.append(f"/{cmd.name} — {ctx.t(cmd.help, code1=codes[0], code2=codes[1])}")
    ctx.say_text("\n".join(lines))


async def _example_codes(ctx: Ctx) -> list[str]:
    assert ctx.officer is not None and ctx.unit is not None
    scope = await scope_of(ctx.s, ctx.officer, ctx.unit)
    return await example_codes(ctx.s, scope.root)


@routes.command(
    "ngonngu",
    help="help.ngonngu",
    roles=("public", "officer"),
    aliases=("language", "lang"),
    order=95,
)
async def language_cmd(ctx: Ctx, args: str) -> None:
    """/ngonngu [vi|en]: choose the language of the bot's messages."""
    choice = args.strip().lower()[:2]
    if choice in LANGS:
        _set_lang(ctx, choice)
        return
    choices = [Choice("vi", "Tiếng Việt"), Choice("en", "English")]
    ctx.start_flow(LanguageState())
    ctx.say("lang.ask", choices=choices)
    ctx.remember_menu(choices)


@routes.flow("language")
async def language_flow(ctx: Ctx) -> None:
    if ctx.inc.option in LANGS:
        ctx.clear_flow()
        _set_lang(ctx, ctx.inc.option)
        return
    ctx.say("lang.ask", choices=[Choice("vi", "Tiếng Việt"), Choice("en", "English")])


def _set_lang(ctx: Ctx, lang: str) -> None:
    ctx.account.lang = lang
    ctx.say("lang.set")


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
