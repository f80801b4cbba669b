"""The cases board: the open cases of the officer's scope, urgent first, with their legal
clocks counting down; a case's details on an explicit click; acknowledge, assign, change the
status, add a note.

Everything goes through the functions the chat's ``/vuviec`` uses (``services.cases.actions``
for the scope rule and the moves, ``services.cases.details`` for what a read shows), so the
history rows, the audit rows (``cases.read``, ``cases.status``, ``cases.note``,
``cases.assign``, with the officer and the account) and the outbox messages are the same.

Nothing that names a case travels in a URL: opening one and every action are POSTs whose
body carries the code, and the pages after an action are reached by a 303 to ``/web/cases``
(so the browser history holds only ``/web/cases``); page titles never name a case. The board
itself shows what the chat's list shows (code, commune, urgency, status, clocks) and no
decrypted text; the description, contact and notes are decrypted only for the POST that
asked for them, and that read is audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.web.auth import audit_as, form_fields
from bot.web.templating import page
from db import cases as store
from db.cases import CLOSED, NEW, STATUSES, Case
from db.models import Officer, Unit
from kernel.i18n import t
from services.cases import actions, details, texts
from services.cases.config import config
from services.cases.parsers import parse_code
from services.scope import scope_of
from services.websessions import Who

if TYPE_CHECKING:
    from bot.app import App

ACTION_BOARD = "webdesk.cases"
ACTIONS = ("ack", "status", "note", "assign")
TAG = re.compile(r"</?(b|i|code)>")


def plain(text: str) -> str:
    """A catalog text written for the chat, without its markup (the page escapes it)."""
    return TAG.sub("", text)


def actor(who: Who, now: datetime) -> actions.Actor:
    return actions.Actor(who.officer, who.unit, who.session.account_id, now)


@dataclass
class Clock:
    text: str
    due: str  # ISO time the countdown runs to ("" when it does not run)


def clocks(v: details.View, case: Case) -> list[Clock]:
    """The chat's clock lines (``texts.clock_lines``); the running ones get their due time,
    which the page's script counts down from the server's now (not the browser's clock)."""
    slots: list[datetime | None] = []  # one per line clock_lines writes, in its order
    ack = texts.ack_due(case, config().escalate_minutes)
    if ack is not None and (case.acknowledged_at is not None or case.status != CLOSED):
        slots.append(ack if case.acknowledged_at is None else None)
    child = texts.child_due(case)
    if child is not None and (case.intervened_at is not None or case.status != CLOSED):
        slots.append(child if case.intervened_at is None else None)
    if case.nc_requested_at is not None:
        running = case.nc_decided_at is None
        slots.append(case.nc_requested_at + texts.NC_CLOCK if running else None)
    out = []
    for i, line in enumerate(details.clocks(v, case)):
        due = slots[i] if i < len(slots) else None
        out.append(Clock(plain(line), due.isoformat() if due else ""))
    return out


def board_page(app: App):  # type: ignore[no-untyped-def]
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        lang = who.session.lang
        v = details.View(lang, services.timezone, now)
        scope = await scope_of(s, who.officer, who.unit)
        found = list(await store.open_cases_in(s, scope.root))
        units = {u.id: u for u in [await s.get(Unit, c.unit_id) for c in found] if u}
        names = {}
        for c in found:
            if c.assigned_to and c.assigned_to not in names:
                o = await s.get(Officer, c.assigned_to)
                names[c.assigned_to] = o.full_name if o else ""
        audit_as(s, now, who, ACTION_BOARD, scope.root.code, detail=f"open:{len(found)}")
        rows = [
            {
                "code": c.code or "",
                "unit": units[c.unit_id].name if c.unit_id in units else "",
                "urgent": c.urgent,
                "urgency": t(lang, "case.urgency_high" if c.urgent else "case.urgency_normal"),
                "status": texts.label(lang, "status", c.status),
                "new": c.status == NEW,
                "assigned": names.get(c.assigned_to or 0, ""),
                "received": v.date(c.alerted_at) if c.alerted_at else "",
                "clocks": clocks(v, c),
            }
            for c in found
        ]
        done = request.query_params.get("done")
        return page(
            "cases.html",
            lang,
            who=who,
            rows=rows,
            root=scope.root,
            now=now.isoformat(),
            done=done if done in ACTIONS else "",
        )

    return handler


async def _find(
    s: AsyncSession, who: Who, now: datetime, code_field: str, action: str
) -> tuple[Case, Unit] | Response:
    """The case the form names, when the officer's scope holds it; else a 403 that says the
    same as for a code that does not exist (audited as the chat audits it)."""
    lang = who.session.lang
    code = parse_code(code_field)
    case = await store.by_code(s, code) if code else None
    found = await actions.authorised(s, actor(who, now), case)
    if found is None:
        # A malformed code is not stored (it could be a typed sentence), as in the chat.
        actions.audit(s, actor(who, now), action, code, outcome="refused", detail="web")
        return page("error.html", lang, 403, who=who, message=t(lang, "web.case_refused"))
    return found


def detail_page(app: App):  # type: ignore[no-untyped-def]
    """``POST /web/cases/open`` (field ``case``): the details, decrypted, audited."""
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        lang = who.session.lang
        form = await form_fields(request)
        found = await _find(s, who, now, form.get("case", ""), "cases.read")
        if isinstance(found, Response):
            return found
        case, unit = found
        actions.audit(s, actor(who, now), "cases.read", case.code, detail="web")
        return page("case.html", lang, who=who, **await _detail(s, lang, services, now, case, unit))

    return handler


async def _detail(
    s: AsyncSession, lang: str, services: Any, now: datetime, case: Case, unit: Unit
) -> dict[str, Any]:
    v = details.View(lang, services.timezone, now)
    ticking = clocks(v, case)
    history = [
        await details.event_text(s, v, case, ev) for ev in await store.events(s, case.id or 0)
    ]
    reporter = None
    if case.reported_by is not None:
        o = await s.get(Officer, case.reported_by)
        reporter = o.full_name if o else None
    return {
        "now": now.isoformat(),
        "case": case,
        "unit": unit,
        # head_lines ends with the clock lines; the page writes those with their countdowns.
        "head": [plain(x) for x in details.head_lines(v, case, unit)][: -len(ticking) or None],
        "clocks": ticking,
        "fields": details.field_pairs(v, case),
        "private": [plain(x) for x in details.private_lines(v, case)],
        "consent": plain(v.t(f"case.detail_consent_{case.consent or 'not_asked'}")),
        "reporter": reporter,
        "history": history,
        "moves": [
            (st, texts.label(lang, "status", st)) for st in STATUSES if st not in (NEW, case.status)
        ],
        "assignable": await actions.assignable(s, unit),
    }


async def _act(
    s: AsyncSession, who: Who, now: datetime, form: dict[str, str], case: Case, unit: Unit
) -> None:
    """One move, by the functions the chat's flow calls; ActionRefused for a bad one."""
    me = actor(who, now)
    action = form.get("action", "")
    if action == "ack":
        await actions.acknowledge(s, me, case, unit)
    elif action == "status":
        note = actions.clean_note(form.get("note"), required=False)
        await actions.change_status(s, me, case, unit, form.get("to", ""), note)
    elif action == "note":
        note = actions.clean_note(form.get("note"), required=True)
        assert note is not None
        actions.add_note(s, me, case, note)
    elif action == "assign":
        officer = form.get("officer", "")
        await actions.assign(s, me, case, unit, int(officer) if officer.isdigit() else 0)
    else:
        raise actions.ActionRefused("case.err.action")


def act_page(app: App):  # type: ignore[no-untyped-def]
    """``POST /web/cases/act`` (fields ``case``, ``action``, ``to``, ``note``, ``officer``)."""

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        lang = who.session.lang
        form = await form_fields(request)
        found = await _find(s, who, now, form.get("case", ""), "cases.update")
        if isinstance(found, Response):
            return found
        case, unit = found
        try:
            await _act(s, who, now, form, case, unit)
        except actions.ActionRefused as no:
            params = dict(no.params)
            if "status" in params:
                params["status"] = texts.label(lang, "status", str(params["status"]))
            return page(
                "error.html",
                lang,
                400,
                who=who,
                message=t(lang, no.key, **params),
                back="/web/cases",
            )
        return RedirectResponse(f"/web/cases?done={form.get('action')}", status_code=303)

    return handler
