"""Sign-in and sign-out of the web desk.

``GET /web/login/<token>`` only shows a button: messengers fetch links to draw previews, and
a preview must not use up a single-use link. ``POST /web/login`` uses the token and sets the
session cookie (HttpOnly, SameSite=Lax, Secure when PUBLIC_URL is https, path /web).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.web.templating import page
from db.models import AuditLog, ChannelAccount
from db.web import WebLogin
from services import websessions
from services.websessions import Who

if TYPE_CHECKING:
    from bot.app import App

COOKIE = "bdg_web"
ACTION_LOGIN = "webdesk.login"
ACTION_LOGOUT = "webdesk.logout"
ACTION_CSRF = "webdesk.csrf"

# A page answers a Response, or a function that builds it after the transaction ends (slow
# work such as building a file must not hold the database).
Later = Callable[[], Awaitable[Response]]
Page = Callable[[Request, AsyncSession, Who], Awaitable[Response | Later]]


def audit_as(
    s: AsyncSession,
    now: datetime,
    who: Who,
    action: str,
    target: str | None = None,
    *,
    outcome: str = "ok",
    detail: str | None = None,
) -> None:
    """An audit row of a signed-in request: the officer and the messenger account whose
    /web link opened the session, as the chat's rows carry the account of the message."""
    audit(
        s,
        now,
        who.officer.id,
        action,
        target,
        outcome=outcome,
        detail=detail,
        account_id=who.session.account_id,
    )


def audit(
    s: AsyncSession,
    now: datetime,
    officer_id: int | None,
    action: str,
    target: str | None = None,
    *,
    outcome: str = "ok",
    detail: str | None = None,
    account_id: int | None = None,
) -> None:
    s.add(
        AuditLog(
            at=now,
            officer_id=officer_id,
            account_id=account_id,
            action=action,
            target=target,
            outcome=outcome,
            detail=detail,
        )
    )


MAX_FORM_BYTES = 16 * 1024


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a url-encoded form (the desk's forms post nothing else; a larger body
    or another encoding reads as an empty form, which every handler refuses)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v for k, v in pairs}


def secure_cookies(app: App) -> bool:
    return (app.settings.public_url or "").lower().startswith("https://")


def lang_of(request: Request) -> str:
    """Pages before sign-in are Vietnamese (office browsers are often set to English); a
    visitor who asked for English through ``?lang=en`` gets English."""
    return "en" if request.query_params.get("lang") == "en" else "vi"


def refused(request: Request, status: int = 410) -> Response:
    return page("refused.html", lang_of(request), status_code=status)


async def login_form(app: App, request: Request) -> Response:
    token = request.path_params["token"]
    async with app.db.session() as s:
        login = (
            await s.exec(select(WebLogin).where(WebLogin.token_hash == websessions.digest(token)))
        ).first()
    now = app.clock()
    if login is None or login.used_at is not None or login.expires_at <= now:
        return refused(request)
    async with app.db.session() as s:
        account = await s.get(ChannelAccount, login.account_id)
    # The language of the chat that asked for the link.
    return page("login.html", account.lang if account else lang_of(request), token=token)


async def login(app: App, request: Request) -> Response:
    token = (await form_fields(request)).get("token", "")
    now = app.clock()
    async with app.db.session() as s:
        try:
            done = await websessions.redeem_login(s, token, now)
        except websessions.LoginRefused as no:
            audit(s, now, no.officer_id, ACTION_LOGIN, outcome="refused", detail=no.reason)
            return refused(request)
        audit(s, now, done.officer_id, ACTION_LOGIN, account_id=done.account_id)
        old = request.cookies.get(COOKIE)
        if old:
            await websessions.end(s, old, now)
    response = RedirectResponse("/web/overview", status_code=303)
    response.set_cookie(
        COOKIE,
        done.sid,
        max_age=websessions.MAX_HOURS * 3600,
        path="/web",
        httponly=True,
        secure=secure_cookies(app),
        samesite="lax",
    )
    return response


async def logout(app: App, request: Request) -> Response:
    form = await form_fields(request)
    sid = request.cookies.get(COOKIE) or ""
    now = app.clock()
    async with app.db.session() as s:
        who = await websessions.current(s, sid, now)
        if who is None:
            return RedirectResponse("/web/signed-out", status_code=303)
        if not websessions.csrf_ok(sid, form.get("csrf")):
            audit_as(s, now, who, ACTION_CSRF, "logout", outcome="refused")
            return refused(request, 403)
        await websessions.end(s, sid, now)
        audit_as(s, now, who, ACTION_LOGOUT)
    response = RedirectResponse("/web/signed-out", status_code=303)
    response.delete_cookie(COOKIE, path="/web")
    return response


async def signed_out(app: App, request: Request) -> Response:
    return page("signed_out.html", lang_of(request))


def signed_in(
    app: App, handler: Page, *, form: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a page: no live session → the signed-out page; a form without its CSRF token →
    403 (audited). The handler runs in one transaction with the session's officer."""

    async def endpoint(request: Request) -> Response:
        sid = request.cookies.get(COOKIE)
        now = app.clock()
        async with app.db.session() as s:
            who = await websessions.current(s, sid, now)
            if who is None:
                return RedirectResponse("/web/signed-out", status_code=303)
            if form:
                sent = (await form_fields(request)).get("csrf")
                if not websessions.csrf_ok(who.sid, sent):
                    audit_as(s, now, who, ACTION_CSRF, request.url.path, outcome="refused")
                    return refused(request, 403)
            result = await handler(request, s, who)
        return result if isinstance(result, Response) else await result()

    return endpoint
