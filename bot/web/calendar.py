"""The calendar (everyone signed in, as the chat's ``/lich``) and its local rules (admins):
the upcoming deadlines of the scope's root with the local rule that set each one, the
one-year deadline overrides and the recurring rules that reach the subtree, and forms to set
or clear them on the subtree's root, as the chat's ``/lich`` flow does.

The same functions as the chat and ``bdg deadline``: ``services.overrides.set_override`` /
``clear_override`` and ``services.local_calendar.set_rule`` / ``clear_rules`` (which write
their own audit rows, ``override.*`` and ``rule.*``), plus the desk's ``desk.deadline`` row
with the officer and the account.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.web.auth import audit_as, form_fields
from bot.web.officers import admin_scope
from bot.web.templating import page
from kernel.calendar import Calendar
from kernel.clock import to_local
from kernel.i18n import t
from services import local_calendar, overrides, periods
from services import scope as services_scope
from services.forms.parsers import ParseError, parse_text
from services.websessions import Who

if TYPE_CHECKING:
    from bot.app import App

ACTION = "desk.deadline"
DONE = ("override_set", "override_cleared", "rule_set", "rule_cleared", "nothing")


def first_open_year(cal: Calendar, kind: str, today: date) -> int:
    """The first year whose report of ``kind`` is not locked yet: a rule set in December for
    the annual report applies to this year's report already (the chat's rule)."""
    since = next(p.year for p in cal.periods(today.year) if p.kind == kind)
    if next(p for p in cal.periods(since) if p.kind == kind).lock < today:
        since += 1
    return since


def _fmt(d: date) -> str:
    return d.strftime("%d/%m/%Y")


async def _events(s: AsyncSession, cal: Calendar, root: Any, today: date, lang: str) -> list[Any]:
    """The root's upcoming deadlines and Action Months, with the rule that set a deadline."""
    out = []
    for y in (today.year, today.year + 1):
        ov = await periods.overrides_for(s, root, y, cal)
        applied = await local_calendar.explain(s, cal, root, y)
        why = {p.period: applied[p.kind] for p in cal.periods(y, ov)}
        for e in cal.events(y, ov):
            if e.end < today:
                continue
            a = why.get(e.id)
            origin = a.unit.name if a is not None and a.origin != "calendar" and a.unit else ""
            out.append((e.start, e.text(lang), _fmt(e.start), _fmt(e.end), origin))
    return [x[1:] for x in sorted(out, key=lambda x: x[0])][:12]


def calendar_page(app: App):  # type: ignore[no-untyped-def]
    """``GET /web/calendar``."""
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        lang = who.session.lang
        today = to_local(now, services.timezone).date()
        cal = periods.calendar(services)
        scope = await services_scope.scope_of(s, who.officer, who.unit)
        root = scope.root
        admin = who.officer.role == "admin"
        kinds = {p.kind: p.text(lang) for y in (today.year,) for p in cal.periods(y)}
        done = request.query_params.get("done") or ""
        return page(
            "calendar.html",
            lang,
            who=who,
            root=root,
            admin=admin,
            events=await _events(s, cal, root, today, lang),
            day_off=t(lang, f"lich.day_off_{cal.due_rule}"),
            overrides=[
                (o, u, kinds.get(o.kind, o.kind))
                for o, u in await overrides.list_overrides(s, unit=root)
                if o.year >= today.year - 1
            ]
            if admin
            else [],
            rules=[
                (r, u, kinds.get(r.kind, r.kind))
                for r, u in await local_calendar.list_rules(s, unit=root)
            ]
            if admin
            else [],
            kinds=kinds,
            years=(today.year, today.year + 1),
            steps=local_calendar.STEPS,
            done=done if done in DONE else "",
        )

    return handler


def _error(who: Who, key: str, params: dict[str, Any], status: int = 400) -> Response:
    lang = who.session.lang
    return page(
        "error.html", lang, status, who=who, message=t(lang, key, **params), back="/web/calendar"
    )


def _reason(form: dict[str, str]) -> str | None:
    text = form.get("reason", "").strip()
    return parse_text(text, overrides.MAX_REASON) if text else None


def override_page(app: App):  # type: ignore[no-untyped-def]
    """``POST /web/calendar/override`` (``year``, ``kind``, ``due`` dd/mm/yyyy, ``reason``;
    ``clear=1`` removes it): a one-year deadline for the admin's subtree."""
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        scope = await admin_scope(s, who)
        if scope is None:
            audit_as(s, now, who, ACTION, outcome="refused", detail="not an admin")
            return _error(who, "web.admins_only", {}, 403)
        form = await form_fields(request)
        year = int(form["year"]) if form.get("year", "").isdigit() else 0
        kind = form.get("kind", "")
        target = f"{scope.root.code}:{year}:{kind}"[:128]
        cal = periods.calendar(services)
        if form.get("clear") == "1":
            n = await overrides.clear_override(s, scope.root, year, kind, who.officer.id, now=now)
            audit_as(s, now, who, ACTION, target, detail="clear")
            return RedirectResponse(
                f"/web/calendar?done={'override_cleared' if n else 'nothing'}", status_code=303
            )
        try:
            reason = _reason(form)
            row = await overrides.set_override(
                s,
                scope.root,
                year,
                kind,
                form.get("due", ""),
                who.officer.id,
                reason,
                cal=cal,
                source="web",
                now=now,
            )
        except ParseError as e:
            return _error(who, e.key, e.params)
        except ValueError as e:
            return _error(who, getattr(e, "key", "admin.dl_bad_date"), getattr(e, "params", {}))
        audit_as(s, now, who, ACTION, target, detail=row.due.isoformat())
        return RedirectResponse("/web/calendar?done=override_set", status_code=303)

    return handler


def rule_page(app: App):  # type: ignore[no-untyped-def]
    """``POST /web/calendar/rule`` (``kind``, ``step``, ``dm`` dd/mm, ``reason``; ``clear=1``
    removes the rules of that kind and step set on the subtree's root): every year's date."""
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        scope = await admin_scope(s, who)
        if scope is None:
            audit_as(s, now, who, ACTION, outcome="refused", detail="not an admin")
            return _error(who, "web.admins_only", {}, 403)
        form = await form_fields(request)
        kind, step = form.get("kind", ""), form.get("step", "")
        cal = periods.calendar(services)
        if kind not in cal.report_kinds or step not in local_calendar.STEPS:
            return _error(who, "web.bad_form", {})
        target = f"{scope.root.code}:{kind}:{step}"
        if form.get("clear") == "1":
            n = await local_calendar.clear_rules(s, scope.root, kind, step, who.officer.id, now=now)
            audit_as(s, now, who, ACTION, target, detail="rule clear")
            return RedirectResponse(
                f"/web/calendar?done={'rule_cleared' if n else 'nothing'}", status_code=303
            )
        since = first_open_year(cal, kind, to_local(now, services.timezone).date())
        try:
            reason = _reason(form)
            row = await local_calendar.set_rule(
                s,
                scope.root,
                kind,
                step,
                form.get("dm", ""),
                since,
                who.officer.id,
                reason,
                cal=cal,
                source="web",
                now=now,
            )
        except ParseError as e:
            return _error(who, e.key, e.params)
        except local_calendar.RuleError as e:
            return _error(who, e.key, dict(e.params))
        audit_as(
            s, now, who, ACTION, target, detail=f"rule {row.day:02d}/{row.month:02d} since {since}"
        )
        return RedirectResponse("/web/calendar?done=rule_set", status_code=303)

    return handler
