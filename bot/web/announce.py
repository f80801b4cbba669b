"""Announcements (admins, as the chat's ``/thongbao``): write a text, pick the subtree, see
it as the officers will, send it through the outbox, and watch the delivery counts.

The same functions as the chat (``services.announce``) and the same audit row
(``desk.announce``, target the batch, detail ``unit:<code>;n=<rows>``, never the text). The
preview's form carries a fresh announcement id: pressing "Gửi" twice writes the rows once.
The counts on the page refresh by themselves (``GET /web/announce/counts``, JSON, polled by
the page's script every few seconds).
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from bot.web.auth import audit_as, form_fields
from bot.web.officers import admin_scope
from bot.web.templating import page
from compile.data import display_name
from db import queries
from db.models import Unit
from kernel.i18n import t
from services import announce
from services.forms.parsers import ParseError, parse_text
from services.scope import Scope
from services.websessions import Who

if TYPE_CHECKING:
    from bot.app import App

SHOW_LAST = 10
ID = re.compile(r"^[0-9a-f]{12}$")


def _refused(who: Who, status: int = 403, key: str = "web.admins_only", **kw: object) -> Response:
    lang = who.session.lang
    return page(
        "error.html", lang, status, who=who, message=t(lang, key, **kw), back="/web/announce"
    )


async def _subtree(s: AsyncSession, who: Who, scope: Scope, code: str) -> Unit | None:
    """The unit named (the admin's root when empty), when the scope holds it; else None
    (audited as the chat audits a unit outside the subtree)."""
    if not code:
        return scope.root
    unit = await queries.unit_by_code(s, code)
    if unit is None or not scope.holds(unit):
        return None
    return unit


def _agency(scope: Scope) -> str:
    return display_name(scope.agency or scope.root)


def list_page(app: App):  # type: ignore[no-untyped-def]
    """``GET /web/announce``: the form and the last announcements with their counts."""

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        scope = await admin_scope(s, who)
        if scope is None:
            audit_as(s, app.clock(), who, announce.ACTION, outcome="refused", detail="not an admin")
            return _refused(who)
        sent = await announce.last_sent(s, scope.root, SHOW_LAST, subtree=True)
        done = request.query_params.get("done")
        children = (
            await s.exec(select(Unit).where(Unit.parent_id == scope.root.id).order_by(Unit.code))
        ).all()
        return page(
            "announce.html",
            who.session.lang,
            who=who,
            root=scope.root,
            children=children,
            sent=sent,
            max=announce.MAX_TEXT,
            done=done if done == "sent" else "",
        )

    return handler


def counts_page(app: App):  # type: ignore[no-untyped-def]
    """``GET /web/announce/counts``: the last announcements' counts, as JSON."""

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        scope = await admin_scope(s, who)
        if scope is None:
            return JSONResponse({}, status_code=403)
        sent = await announce.last_sent(s, scope.root, SHOW_LAST, subtree=True)
        return JSONResponse(
            {
                a.batch: {
                    "sent": a.sent,
                    "pending": a.pending,
                    "failed": a.failed,
                    "total": a.total,
                }
                for a in sent
            },
            headers={"Cache-Control": "private, no-store"},
        )

    return handler


def preview_page(app: App):  # type: ignore[no-untyped-def]
    """``POST /web/announce/preview`` (``unit``, ``text``): the text as officers will read it
    and how many accounts will get it; a "send" form with a fresh id."""

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        lang = who.session.lang
        scope = await admin_scope(s, who)
        if scope is None:
            audit_as(s, now, who, announce.ACTION, outcome="refused", detail="not an admin")
            return _refused(who)
        form = await form_fields(request)
        code = form.get("unit", "").strip()[:32]
        root = await _subtree(s, who, scope, code)
        if root is None:
            target = f"unit:{code}"
            audit_as(
                s, now, who, announce.ACTION, target, outcome="refused", detail="outside subtree"
            )
            return _refused(who, key="web.outside_scope")
        try:
            text = parse_text(form.get("text", ""), announce.MAX_TEXT)
        except ParseError as e:
            return _refused(who, 400, e.key, **e.params)
        to = await announce.recipients(s, root, who.officer.id)
        return page(
            "announce_preview.html",
            lang,
            who=who,
            root=root,
            text=text,
            # What the officers read: the header and the text (escaped by the page).
            header=re.sub(r"</?b>", "", t(lang, "admin.tb_header", agency=_agency(scope))),
            accounts=len(to),
            officers=len({o.id for _, o in to}),
            units=len({o.unit_id for _, o in to}),
            announce_id=secrets.token_hex(6),
        )

    return handler


def send_page(app: App):  # type: ignore[no-untyped-def]
    """``POST /web/announce/send`` (``unit``, ``text``, ``id``): the outbox rows, audited."""

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        scope = await admin_scope(s, who)
        if scope is None:
            audit_as(s, now, who, announce.ACTION, outcome="refused", detail="not an admin")
            return _refused(who)
        form = await form_fields(request)
        code = form.get("unit", "").strip()[:32]
        root = await _subtree(s, who, scope, code)
        announce_id = form.get("id", "")
        if root is None:
            target = f"unit:{code}"
            audit_as(
                s, now, who, announce.ACTION, target, outcome="refused", detail="outside subtree"
            )
            return _refused(who, key="web.outside_scope")
        try:
            text = parse_text(form.get("text", ""), announce.MAX_TEXT)
        except ParseError as e:
            return _refused(who, 400, e.key, **e.params)
        if not ID.match(announce_id):
            return _refused(who, 400, "web.bad_form")
        n = await announce.send(s, root, _agency(scope), who.officer.id, announce_id, text, now)
        if n:
            target = announce.batch_of(announce_id)
            audit_as(s, now, who, announce.ACTION, target, detail=f"unit:{root.code};n={n}")
        return RedirectResponse("/web/announce?done=sent", status_code=303)

    return handler
