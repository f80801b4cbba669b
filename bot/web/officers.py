"""Officers and invites (admins, as the chat's ``/canbo`` and ``/moi``): the active officers
of the subtree and their channels; a new invite with its QR code; deactivating an officer.

The same functions as the chat: ``handlers.registration.create_invite`` (``/moi``, ``bdg
invite``), ``services.officers`` (``/canbo``). The same audit actions: ``desk.officers``,
``desk.invite`` (target ``unit:<code>``, detail ``role=…``), ``desk.deactivate``.

An invite's code is shown once, on the answer to the POST that made it (no-store, never in a
URL); only its hash is stored. The QR code of a Telegram invite opens the bot's deep link
``https://t.me/<bot>?start=<code>``; Zalo has no deep link that carries a start parameter, so
its QR code carries the text ``/start <code>`` that the new officer sends to the bot. The QR
images are ``data:`` SVGs drawn by segno (pure Python; the CSP allows ``img-src data:``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.web.auth import audit_as, form_fields
from bot.web.templating import page
from db import queries
from db.models import Officer, Unit
from handlers.registration import ROLES, create_invite
from kernel.clock import to_local
from kernel.i18n import t
from services import officers as officer_service
from services import scope as services_scope
from services.scope import Scope
from services.websessions import Who

if TYPE_CHECKING:
    from bot.app import App

ACTION_LIST = "desk.officers"
ACTION_INVITE = "desk.invite"
ACTION_OFF = "desk.deactivate"
NOT_ADMIN = "not an admin"
OUTSIDE = "outside subtree"


def qr(data: str) -> str:
    # Loaded when an invite is made, not at every start of ``bdg serve``.
    import segno

    return str(segno.make(data, error="m").svg_data_uri(scale=5, border=2))


async def admin_scope(s: AsyncSession, who: Who) -> Scope | None:
    """The admin's scope, or None (audited "not an admin", as the chat's admin commands)."""
    if who.officer.role != "admin":
        return None
    return await services_scope.scope_of(s, who.officer, who.unit)


def _refused(who: Who) -> Response:
    lang = who.session.lang
    return page("error.html", lang, 403, who=who, message=t(lang, "web.admins_only"))


def list_page(app: App):  # type: ignore[no-untyped-def]
    """``GET /web/officers``: the officers of the subtree, their channels, the invite form."""

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        scope = await admin_scope(s, who)
        if scope is None:
            audit_as(s, now, who, ACTION_LIST, outcome="refused", detail=NOT_ADMIN)
            return _refused(who)
        rows = await officer_service.active_in(s, scope.root)
        channels = await officer_service.channels_of(s, [o.id for o, _ in rows if o.id])
        audit_as(s, now, who, ACTION_LIST, f"unit:{scope.root.code}")
        done = request.query_params.get("done")
        return page(
            "officers.html",
            who.session.lang,
            who=who,
            root=scope.root,
            rows=[(o, u, channels.get(o.id or 0, [])) for o, u in rows],
            roles=ROLES,
            done=done if done in ("revoked",) else "",
        )

    return handler


def invite_page(app: App):  # type: ignore[no-untyped-def]
    """``POST /web/officers/invite`` (``unit``, ``role``): one invite code, with QR codes."""
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        lang = who.session.lang
        scope = await admin_scope(s, who)
        if scope is None:
            audit_as(s, now, who, ACTION_INVITE, outcome="refused", detail=NOT_ADMIN)
            return _refused(who)
        form = await form_fields(request)
        code_word = form.get("unit", "").strip()[:32]
        role = form.get("role", "officer")
        unit = await queries.unit_by_code(s, code_word) if code_word else None
        if unit is None or role not in ROLES:
            message = t(lang, "admin.unit_unknown", code=code_word or "?")
            return page("error.html", lang, 400, who=who, message=message, back="/web/officers")
        if not scope.holds(unit):
            target = f"unit:{unit.code}"
            audit_as(s, now, who, ACTION_INVITE, target, outcome="refused", detail=OUTSIDE)
            return page("error.html", lang, 403, who=who, message=t(lang, "web.outside_scope"))
        days = services.invite_days
        code = await create_invite(s, unit, role=role, days=days, now=now)
        audit_as(s, now, who, ACTION_INVITE, f"unit:{unit.code}", detail=f"role={role}")
        link = (
            f"https://t.me/{services.bot_username}?start={code.replace('-', '')}"
            if services.bot_username
            else None
        )
        return page(
            "invite.html",
            lang,
            who=who,
            unit=unit,
            code=code,
            role=t(lang, f"admin.role_{role}"),
            until=(to_local(now, services.timezone) + timedelta(days=days)).strftime("%d/%m/%Y"),
            link=link,
            qr_telegram=qr(link) if link else None,
            qr_zalo=qr(f"/start {code}"),
        )

    return handler


def revoke_page(app: App):  # type: ignore[no-untyped-def]
    """``POST /web/officers/revoke`` (``officer``; ``confirm=yes`` to do it): first a
    confirmation, as the chat asks "Đồng ý / Không"."""

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        lang = who.session.lang
        scope = await admin_scope(s, who)
        if scope is None:
            audit_as(s, now, who, ACTION_OFF, outcome="refused", detail=NOT_ADMIN)
            return _refused(who)
        form = await form_fields(request)
        ident = form.get("officer", "")
        officer = await s.get(Officer, int(ident)) if ident.isdigit() else None
        unit = await s.get(Unit, officer.unit_id) if officer else None
        if officer is None or unit is None or not officer.active:
            message = t(lang, "admin.canbo_unknown", id=ident[:12] or "?")
            return page("error.html", lang, 400, who=who, message=message, back="/web/officers")
        target = f"officer:{officer.id}"
        if not scope.holds(unit):
            audit_as(s, now, who, ACTION_OFF, target, outcome="refused", detail=OUTSIDE)
            return page("error.html", lang, 403, who=who, message=t(lang, "web.outside_scope"))
        if officer.id == who.officer.id:
            message = t(lang, "admin.canbo_not_self")
            return page("error.html", lang, 400, who=who, message=message, back="/web/officers")
        if form.get("confirm") != "yes":
            return page("revoke.html", lang, who=who, officer=officer, unit=unit)
        accounts = await officer_service.deactivate(s, officer)
        audit_as(s, now, who, ACTION_OFF, target, detail=f"accounts={accounts}")
        return RedirectResponse("/web/officers?done=revoked", status_code=303)

    return handler
