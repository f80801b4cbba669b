"""Locking and unlocking one unit's report from its page (admins, as the chat's ``/mokhoa``
and ``/khoa``): the same functions (``services.locks``), the same audit rows (``desk.unlock``
with ``until …; reason``, ``desk.lock`` with the reason), the unit's officers told through the
outbox of an unlock. A reason is required, as the chat asks for one."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.web.auth import audit_as, form_fields
from bot.web.officers import admin_scope
from bot.web.templating import page
from db import queries
from kernel.calendar import PERIOD_RE
from kernel.i18n import t
from services import locks, periods
from services.forms.parsers import ParseError, parse_text
from services.websessions import Who

if TYPE_CHECKING:
    from bot.app import App


def lock_page(app: App):  # type: ignore[no-untyped-def]
    """``POST /web/unit/lock`` (``unit``, ``period``, ``what`` = lock | unlock, ``reason``)."""
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        lang = who.session.lang
        form = await form_fields(request)
        what = form.get("what", "")
        action = "desk.unlock" if what == "unlock" else "desk.lock"
        scope = await admin_scope(s, who)
        code = form.get("unit", "").strip()[:32]
        unit = await queries.unit_by_code(s, code) if code else None
        if scope is None or unit is None or not scope.holds(unit):
            detail = "not an admin" if scope is None else "outside subtree"
            audit_as(s, now, who, action, f"unit:{code}", outcome="refused", detail=detail)
            return page("error.html", lang, 403, who=who, message=t(lang, "web.outside_scope"))
        word = form.get("period", "").strip().upper()
        back = f"/web/unit/{quote(unit.code, safe='')}?period={quote(word)}"
        try:
            if what not in ("lock", "unlock") or not PERIOD_RE.match(word):
                raise ParseError("web.bad_form")
            reason = parse_text(form.get("reason", ""), locks.MAX_REASON)
            period = await periods.period_by_id(s, services, unit, word)
        except ParseError as e:
            return page(
                "error.html", lang, 400, who=who, message=t(lang, e.key, **e.params), back=back
            )
        except ValueError:
            return page("error.html", lang, 404, who=who, message=t(lang, "web.bad_period"))
        move = locks.unlock if what == "unlock" else locks.lock
        done = await move(s, services, unit, period, now)
        target = f"{unit.code}:{period.period}"
        if done.until is not None:
            audit_as(
                s, now, who, action, target, detail=f"until {done.until.isoformat()}; {reason}"
            )
        elif done.outcome in ("locked", "lock_by_calendar"):
            audit_as(s, now, who, action, target, detail=reason)
        return RedirectResponse(f"{back}&done={done.outcome}", status_code=303)

    return handler
