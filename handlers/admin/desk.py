"""/tinhhinh and /tonghop: who has reported, and the compiled files.

/tinhhinh [kỳ] [MÃ]  → reporting rate, on-time rate, then each unit not reported with days
                       late and whom to call (short lines, readable on a phone)
/tonghop [kỳ] [MÃ]   → XLSX + DOCX + 3 PNG charts as files (Telegram, terminal), or signed
                       download links valid 24 hours on Zalo, which cannot send files
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from compile import links
from compile.build import counts_as_compiled, render_all
from compile.data import Compilation, fmt_int, fmt_pct, gather
from db.models import Unit
from handlers.admin.common import (
    Scope,
    days_phrase,
    is_period,
    period_or_default,
    period_title,
    require_admin,
    say_lines,
    unit_in_scope,
)
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from services import local_calendar, mail, periods

ACTION_PROGRESS = "desk.progress"
ACTION_COMPILE = "desk.compile"
MAX_MISSING_LINES = 30
MAIL_LOOKBACK = timedelta(days=60)
DOC_LANG = "vi"  # compiled documents are Vietnamese administrative documents


routes = Routes()


async def _target(ctx: Ctx, scope: Scope, args: str, action: str) -> tuple[Unit, str] | None:
    """The subtree (the admin's, or a unit of it named by code) and the period word."""
    period_word = ""
    root = scope.root
    for word in args.split():
        if is_period(word):
            period_word = word
            continue
        unit = await unit_in_scope(ctx, scope, word, action)
        if unit is None:
            return None
        root = unit
    return root, period_word


async def _compilation(
    ctx: Ctx, args: str, action: str, *, with_values: bool = True
) -> Compilation | None:
    scope = await require_admin(ctx, action)
    if scope is None:
        return None
    target = await _target(ctx, scope, args, action)
    if target is None:
        return None
    root, word = target
    period = await period_or_default(ctx, Scope(root, None), word)
    if period is None:
        return None
    agency = scope.agency if root.id == scope.root.id else None
    # /tinhhinh needs no values (one aggregate query); /tonghop's files do.
    c = await gather(
        ctx.s,
        root,
        period.period,
        services=ctx.services,
        now=ctx.now,
        agency=agency,
        values=with_values,
    )
    ctx.audit(action, target=f"{root.code}:{period.period}")
    if not c.expected:
        ctx.say("admin.no_reporting_units", unit=root.name)
        return None
    return c


@routes.command(
    "tinhhinh",
    help="help.tinhhinh",
    roles=("admin",),
    aliases=("progress",),
    order=52,
    audit=ACTION_PROGRESS,
)
async def progress_cmd(ctx: Ctx, args: str) -> None:
    """/tinhhinh [period] [CODE]: reporting and on-time rates, then the units not reported."""
    c = await _compilation(ctx, args, ACTION_PROGRESS, with_values=False)
    if c is None:
        return
    lines = [
        ctx.t("admin.th_title", report=period_title(ctx, c.period), unit=c.root.name),
        ctx.t("admin.th_due", due=ctx.fmt_date(c.period.due)),
        ctx.t(
            "admin.th_rate",
            submitted=fmt_int(len(c.submitted)),
            expected=fmt_int(c.expected),
            rate=fmt_pct(c.reporting_rate),
        ),
        ctx.t(
            "admin.th_on_time",
            on_time=fmt_int(c.on_time_count),
            expected=fmt_int(c.expected),
            rate=fmt_pct(c.on_time_rate),
        ),
    ]
    lines += await _compilation_lines(ctx, c)
    lines += await _mail_lines(ctx, c)
    missing = sorted(c.missing, key=lambda u: (u.due, u.path))
    if not missing:
        lines.append(ctx.t("admin.th_all_in"))
        say_lines(ctx, lines)
        return
    lines.append("")
    lines.append(ctx.t("admin.th_missing_title", n=fmt_int(len(missing))))
    for u in missing[:MAX_MISSING_LINES]:
        days = days_phrase(ctx, (u.due - ctx.today).days)
        if not u.officers:
            lines.append(ctx.t("admin.th_missing_nobody", unit=u.name, code=u.code, days=days))
            continue
        lines.append(ctx.t("admin.th_missing_line", unit=u.name, code=u.code, days=days))
        o = u.officers[0]
        more = len(u.officers) - 1
        lines.append(
            ctx.t("admin.th_contact", name=o.name, position=o.position)
            + (ctx.t("admin.th_contact_more", n=more) if more else "")
        )
    if len(missing) > MAX_MISSING_LINES:
        lines.append(ctx.t("admin.th_more", n=fmt_int(len(missing) - MAX_MISSING_LINES)))
    say_lines(ctx, lines)


async def _compilation_lines(ctx: Ctx, c: Compilation) -> list[str]:
    """The agency's own compilation step of this period, when a yearly rule sets one."""
    cal = periods.calendar(ctx.services)
    steps = await local_calendar.steps_of(ctx.s, cal, c.root, c.period.year)
    step = next((st for st in steps if st.period.period == c.period.period), None)
    if step is None:
        return []
    mark = await local_calendar.compilation_of(ctx.s, step.unit_id, step.period.period)
    if mark is not None:
        return [
            ctx.t("admin.th_compiled", due=ctx.fmt_date(step.period.due), at=ctx.fmt_date(mark.at))
        ]
    days = days_phrase(ctx, (step.period.due - ctx.today).days)
    return [ctx.t("admin.th_not_compiled", due=ctx.fmt_date(step.period.due), days=days)]


async def _mail_lines(ctx: Ctx, c: Compilation) -> list[str]:
    """E-mails of the subtree's reports that failed or keep failing (last 60 days)."""
    if not ctx.services.mail:
        return []
    failed, retrying, last = await mail.problems(ctx.s, c.root, ctx.now - MAIL_LOOKBACK)
    out = []
    if failed:
        out.append(ctx.t("admin.th_mail_failed", n=failed, error=last or "?"))
    if retrying:
        out.append(ctx.t("admin.th_mail_retrying", n=retrying))
    return out


@routes.command(
    "tonghop",
    help="help.tonghop",
    roles=("admin",),
    aliases=("compile",),
    order=53,
    audit=ACTION_COMPILE,
)
async def compile_cmd(ctx: Ctx, args: str) -> None:
    """/tonghop [period] [CODE]: the compiled XLSX, DOCX and charts of the subtree."""
    c = await _compilation(ctx, args, ACTION_COMPILE)
    if c is None or ctx.officer is None:
        return
    if counts_as_compiled(c):
        await local_calendar.mark_compiled(
            ctx.s, c.root, c.period.period, ctx.officer.id, "tonghop", now=ctx.now
        )
        await mail.compiled(
            ctx.s,
            c.root,
            c.period,
            len(c.submitted),
            c.expected,
            ctx.now,
            enabled=ctx.services.mail,
        )
    head = ctx.t(
        "admin.th_files_head",
        report=period_title(ctx, c.period),
        unit=c.root.name,
        submitted=fmt_int(len(c.submitted)),
        expected=fmt_int(c.expected),
        rate=fmt_pct(c.reporting_rate),
    )
    if not ctx.caps.files:
        _send_links(ctx, c, head)
        return
    files = await asyncio.to_thread(render_all, c, lang=DOC_LANG, form_dir=ctx.services.form_dir)
    reply = ctx.say_text(head + "\n" + ctx.t("admin.th_files_attached", n=len(files)))
    reply.files = [(f.name, f.data, f.kind) for f in files]


def _send_links(ctx: Ctx, c: Compilation, head: str) -> None:
    base = ctx.services.public_url
    if not base:
        ctx.say_text(head)
        ctx.say("admin.th_no_public_url")
        return
    assert ctx.officer is not None
    claims = {"u": c.root.id, "p": c.period.period, "o": ctx.officer.id, "l": DOC_LANG}
    items = [
        ("admin.link_xlsx", {"f": "xlsx"}),
        ("admin.link_docx", {"f": "docx"}),
        ("admin.link_chart_status", {"f": "png", "c": "status"}),
        ("admin.link_chart_violence", {"f": "png", "c": "violence"}),
        ("admin.link_chart_participants", {"f": "png", "c": "participants"}),
    ]
    until = ctx.now + links.VALID_FOR
    lines = [head, ctx.t("admin.th_links_head", until=ctx.fmt_date(until))]
    for key, extra in items:
        signing_key = links.secret(configured=ctx.services.files_secret)
        token = links.make_token({**claims, **extra}, now=ctx.now, key=signing_key)
        lines.append(ctx.t(key, url=links.download_url(base, token)))
    ctx.say_text("\n".join(lines))


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
