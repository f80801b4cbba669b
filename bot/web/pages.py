"""The desk's pages: the overview of a period, a unit's page and the compiled files.

They read through the same functions as the chat desk (``compile.data.gather`` for
/tinhhinh's rates, ``compile.build.render`` and ``admin_may_compile`` for /tonghop's files)
and audit every read like it. Nothing a page shows depends on a URL the user could change to
reach outside their scope: every unit is checked against the session's scope.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from bot.web.auth import Later, audit_as
from bot.web.templating import page
from compile.build import FORMATS, admin_may_compile, render
from compile.data import (
    Compilation,
    UnitStatus,
    default_period,
    fmt_int,
    fmt_pct,
    gather,
)
from db import queries
from db.models import Officer, Report, ReportVersion, Unit
from kernel.calendar import PERIOD_RE
from kernel.clock import to_local
from kernel.i18n import t
from services import periods, unit_view
from services import scope as services_scope
from services.forms.engine import form_id_for_unit, load_form
from services.forms.parsers import fold
from services.scope import Scope
from services.websessions import Who

if TYPE_CHECKING:
    from bot.app import App

ACTION_OVERVIEW = "webdesk.overview"
ACTION_UNIT = "webdesk.unit"
ACTION_FILES = "webdesk.compile"
STATUSES = ("on_time", "late", "missing")
SORTS = ("name", "code", "status", "date", "version")
CHARTS = ("status", "violence", "participants")


async def scope_of(s: AsyncSession, who: Who) -> Scope:
    """The officer's scope as every chat command computes it (``services.scope``): an
    admin's subtree (the standing agency's province), or an officer's own unit."""
    return await services_scope.scope_of(s, who.officer, who.unit)


def status_of(u: UnitStatus) -> str:
    if not u.submitted:
        return "missing"
    return "on_time" if u.on_time else "late"


@dataclass
class Level:
    kind: str
    expected: int
    submitted: int
    on_time: int

    @property
    def reporting_rate(self) -> str:
        return fmt_pct(self.submitted / self.expected if self.expected else None)

    @property
    def on_time_rate(self) -> str:
        return fmt_pct(self.on_time / self.expected if self.expected else None)


def levels(c: Compilation) -> list[Level]:
    """Reporting and on-time rates per kind of unit (commune, ward, department …)."""
    out: dict[str, Level] = {}
    for u in c.units:
        lv = out.setdefault(u.kind, Level(u.kind, 0, 0, 0))
        lv.expected += 1
        lv.submitted += u.submitted
        lv.on_time += u.on_time
    return sorted(out.values(), key=lambda lv: -lv.expected)


def _period_word(request: Request, default: str) -> str | None:
    word = (request.query_params.get("period") or default).strip().upper()
    return word if PERIOD_RE.match(word) else None


def period_choices(today: date) -> list[str]:
    return [p for y in (today.year, today.year - 1) for p in (str(y), f"{y}S1")]


def _sort_key(sort: str, folded: dict[int, str]) -> Any:
    """The key of a sort; names compare without accents (folded once per page)."""
    order = {"on_time": 0, "late": 1, "missing": 2}
    keys: dict[str, Any] = {
        "name": lambda u: (folded[u.id], u.code),
        "code": lambda u: u.code,
        "status": lambda u: (order[status_of(u)], folded[u.id]),
        "date": lambda u: (u.submitted_at is None, u.submitted_at or 0, folded[u.id]),
        "version": lambda u: (-u.version, folded[u.id]),
    }
    return keys[sort]


def _row_html(
    u: UnitStatus, folded: str, labels: dict[str, Markup], period: str, tz: ZoneInfo
) -> str:
    st = status_of(u)
    local = u.submitted_at.astimezone(tz) if u.submitted_at else None
    code, name, f = escape(u.code), escape(u.name), escape(folded)
    officer = escape(u.officers[0].name) if u.officers else ""
    more = f" (+{len(u.officers) - 1})" if len(u.officers) > 1 else ""
    href = escape(quote(u.code, safe=""))
    return (
        f'<tr data-status="{st}" data-fold="{f} {escape(u.code.lower())}" '
        f'data-code="{code}" data-date="{local.isoformat() if local else ""}" '
        f'data-version="{u.version or ""}"><td>{code}</td>'
        f'<td><a href="/web/unit/{href}?period={period}">{name}</a></td>'
        f'<td><span class="st st-{st}">{labels[st]}</span></td>'
        f"<td>{local.strftime('%d/%m/%Y') if local else ''}</td>"
        f'<td class="num">{u.version or ""}</td><td>{officer}{more}</td></tr>'
    )


def table_rows(c: Compilation, request: Request, lang: str) -> tuple[Markup, int, dict[str, str]]:
    """The units of the table, filtered by status and accent-free search, sorted; written
    as HTML here rather than by the template (every field escaped): a province's 3,321 rows
    through Jinja's attribute lookups were most of the page's time."""
    q = request.query_params
    status = q.get("status") or ""
    status = status if status in STATUSES else ""
    sort = q.get("sort") or ""
    sort = sort if sort in SORTS else "status"
    desc = q.get("dir") == "desc"
    search = fold(q.get("q") or "")[:80]
    folded = {u.id: fold(u.name) for u in c.units}
    units = [
        u
        for u in c.units
        if (not status or status_of(u) == status)
        and (not search or search in folded[u.id] or search in u.code.lower())
    ]
    units.sort(key=_sort_key(sort, folded), reverse=desc)
    labels = {st: escape(t(lang, f"web.st_{st}")) for st in STATUSES}
    period = escape(request.query_params.get("period") or c.period.period)
    tz = ZoneInfo(c.timezone)
    out = [_row_html(u, folded[u.id], labels, period, tz) for u in units]
    filters = {
        "status": status,
        "sort": sort,
        "dir": "desc" if desc else "asc",
        "q": q.get("q") or "",
    }
    return Markup("\n".join(out)), len(out), filters


def overview_page(app: App):  # type: ignore[no-untyped-def]
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        today = to_local(now, services.timezone).date()
        lang = who.session.lang
        scope = await scope_of(s, who)
        word = _period_word(request, default_period(services, today))
        if word is None:
            return page("error.html", lang, 400, who=who, message=t(lang, "web.bad_period"))
        try:
            c = await gather(
                s, scope.root, word, services=services, now=now, agency=scope.agency, values=False
            )
        except ValueError:
            return page("error.html", lang, 404, who=who, message=t(lang, "web.bad_period"))
        audit_as(s, now, who, ACTION_OVERVIEW, f"{scope.root.code}:{word}")
        rows, shown, filters = table_rows(c, request, lang)
        return page(
            "overview.html",
            lang,
            who=who,
            c=c,
            period=word,
            periods=period_choices(today),
            title=f"{c.period.text(lang)} {c.period.year}",
            due=c.period.due.strftime("%d/%m/%Y"),
            submitted=fmt_int(len(c.submitted)),
            expected=fmt_int(c.expected),
            on_time=fmt_int(c.on_time_count),
            reporting_rate=fmt_pct(c.reporting_rate),
            on_time_rate=fmt_pct(c.on_time_rate),
            levels=levels(c),
            rows=rows,
            shown=shown,
            filters=filters,
            statuses=STATUSES,
            can_compile=who.officer.role == "admin",
            charts=CHARTS,
        )

    return handler


async def _versions(s: AsyncSession, unit: Unit, period: str) -> list[tuple[ReportVersion, str]]:
    rows = (
        await s.exec(
            select(ReportVersion, Officer.full_name)
            .join(Report, col(Report.id) == col(ReportVersion.report_id))
            .outerjoin(Officer, col(Officer.id) == col(ReportVersion.submitted_by))
            .where(Report.unit_id == unit.id, Report.period == period)
            .order_by(col(ReportVersion.version).desc())
        )
    ).all()
    return [(v, name or "") for v, name in rows]


def _values(form: Any, values: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """Each answered question: its section, label, and the sex split when it has one."""
    out = []
    for q in form.questions:
        if q.id not in values:
            continue
        v = values[q.id]
        split = q.type == "sex_count" and isinstance(v, dict)
        out.append(
            {
                "section": form.section_of[q.id].title.get(lang)
                or form.section_of[q.id].title.get("vi", ""),
                "label": q.label.get(lang) or q.label.get("vi", ""),
                "m": v.get("m") if split else None,
                "f": v.get("f") if split else None,
                "total": (v.get("m", 0) + v.get("f", 0)) if split else None,
                "text": "" if split else form.format_value(q, v, lang),
            }
        )
    return out


SCOPE = "outside scope"


def unit_page(app: App):  # type: ignore[no-untyped-def]
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        lang = who.session.lang
        code = request.path_params["code"]
        unit = await queries.unit_by_code(s, code)
        scope = await scope_of(s, who)
        if unit is None or not scope.holds(unit):
            # Unknown and outside look the same: a URL must not reveal which codes exist.
            target = f"unit:{code[:32]}"
            audit_as(s, now, who, ACTION_UNIT, target, outcome="refused", detail=SCOPE)
            return page("error.html", lang, 403, who=who, message=t(lang, "web.outside_scope"))
        today = to_local(now, services.timezone).date()
        word = _period_word(request, default_period(services, today))
        if word is None:
            return page("error.html", lang, 400, who=who, message=t(lang, "web.bad_period"))
        try:
            period = await periods.period_by_id(s, services, unit, word)
        except ValueError:
            return page("error.html", lang, 404, who=who, message=t(lang, "web.bad_period"))
        audit_as(s, now, who, ACTION_UNIT, f"{unit.code}:{word}")
        done = request.query_params.get("done") or ""
        return page(
            "unit.html",
            lang,
            who=who,
            unit=unit,
            kind=t(lang, f"admin.kind_{unit.kind}"),
            period=word,
            periods=period_choices(today),
            title=f"{period.text(lang)} {period.year}",
            due=period.due.strftime("%d/%m/%Y"),
            lock_date=period.lock.strftime("%d/%m/%Y"),
            done=done if done in LOCK_OUTCOMES else "",
            **await _unit_details(s, services, unit, period, lang, now),
        )

    return handler


LOCK_OUTCOMES = (
    "not_reporting",
    "not_locked_yet",
    "unlocked",
    "unlocked_early",
    "locked",
    "lock_by_calendar",
)


async def _unit_details(
    s: AsyncSession, services: Any, unit: Unit, period: Any, lang: str, now: Any
) -> dict[str, Any]:
    """Values of the latest version, the versions with their changes, the reminders, the
    officers, and whether the report is locked."""
    assert unit.id is not None
    word = period.period
    versions = await _versions(s, unit, word)
    officers = (
        await s.exec(
            select(Officer).where(Officer.unit_id == unit.id, col(Officer.active).is_(True))
        )
    ).all()
    report = await queries.report_for(s, unit.id, word)
    # The form the unit's report was started on (departments answer their own form).
    form_id = (report.form_id if report else None) or form_id_for_unit(
        period.form_id, unit.kind, unit.code, services.form_dir
    )
    form = load_form(form_id, services.form_dir)
    latest = versions[0][0] if versions else None
    tz = services.timezone
    today = to_local(now, tz).date()
    return {
        "values": _values(form, dict(latest.values), lang) if latest else [],
        "versions": _version_rows(versions, tz),
        "changes": unit_view.version_changes(form, [v for v, _ in versions], lang),
        "reminders": [
            (to_local(r.at, tz).strftime("%H:%M %d/%m/%Y"), r)
            for r in await unit_view.reminders(s, unit.id, word)
        ],
        "officers": officers,
        "locked": periods.is_locked(report, period, today, now),
        "unlocked_until": to_local(report.unlocked_until, tz).strftime("%H:%M %d/%m/%Y")
        if report and report.unlocked_until and report.unlocked_until > now
        else "",
    }


def _version_rows(versions: list[Any], tz: str) -> list[dict[str, Any]]:
    return [
        {
            "version": v.version,
            "reference": v.reference,
            "at": to_local(v.submitted_at, tz).strftime("%H:%M %d/%m/%Y"),
            "by": by,
        }
        for v, by in versions
    ]


def files_page(app: App):  # type: ignore[no-untyped-def]
    """``GET /web/files/<fmt>?period=&unit=&chart=``: a compiled file, for admins of the
    subtree only (``admin_may_compile``, the rule of /tonghop and of signed download links)."""
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response | Later:
        now = app.clock()
        lang = who.session.lang
        fmt = request.path_params["fmt"]
        q = request.query_params
        unit = await queries.unit_by_code(s, q.get("unit") or "")
        allowed = (
            await admin_may_compile(s, who.officer.id, unit.id if unit else None)
            if fmt in FORMATS
            else None
        )
        chart = q.get("chart") if q.get("chart") in CHARTS else None
        if unit is None or allowed is None:
            audit_as(
                s,
                now,
                who,
                ACTION_FILES,
                f"unit:{(q.get('unit') or '')[:32]}",
                outcome="refused",
                detail="outside scope",
            )
            return page("error.html", lang, 403, who=who, message=t(lang, "web.outside_scope"))
        today = to_local(now, services.timezone).date()
        word = _period_word(request, default_period(services, today))
        try:
            if word is None:
                raise ValueError(word)
            c = await gather(s, allowed[0], word, services=services, now=now, agency=allowed[1])
        except ValueError:
            return page("error.html", lang, 404, who=who, message=t(lang, "web.bad_period"))
        audit_as(s, now, who, ACTION_FILES, f"{unit.code}:{word}:{fmt}")
        one_chart = chart or ("status" if fmt == "png" else None)

        async def build() -> Response:
            # Compiled documents are Vietnamese administrative documents, as from /tonghop.
            files = await asyncio.to_thread(
                render, c, fmt, lang="vi", form_dir=services.form_dir, chart=one_chart
            )
            f = files[0]
            return Response(
                f.data,
                media_type=f.media_type,
                headers={
                    "Content-Disposition": f"attachment; filename*=UTF-8''{quote(f.name)}",
                    "Cache-Control": "private, no-store",
                },
            )

        return build

    return handler
