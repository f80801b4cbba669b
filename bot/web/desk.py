"""The web desk's routes, added to ``bdg serve`` by ``bot.runner``.

GET  /web/login/<token>   a button that signs in (the link /web gives in the chat)
POST /web/login           uses the token once, sets the session cookie
POST /web/logout          ends the session (CSRF token)
GET  /web/overview        reporting and on-time rates of the scope, the units' table
GET  /web/unit/<code>     a unit's submitted values, versions and officers
GET  /web/files/<fmt>     compiled XLSX / DOCX / PNG of a subtree (admins)
GET  /web/cases           the open cases of the scope with their clocks (no details)
POST /web/cases/open      one case's details, decrypted and audited (code in the body)
POST /web/cases/act       acknowledge, change the status, add a note, assign (code in the body)
GET  /web/officers        the officers of the subtree and their channels (admins)
POST /web/officers/invite a new invite code with its QR codes (admins)
POST /web/officers/revoke deactivate an officer, after a confirmation (admins)
GET  /web/announce        the announcement form and the last ones' delivery counts (admins)
GET  /web/announce/counts those counts as JSON (the page polls them)
POST /web/announce/preview the text as officers will read it, and how many will
POST /web/announce/send   the outbox rows (admins)
POST /web/unit/lock       unlock or lock a unit's report, with a reason (admins)
GET  /web/static/...      the stylesheet and script (no CDN, no inline code)
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.web import announce, auth, cases, locks, officers, pages
from bot.web.templating import STATIC

if TYPE_CHECKING:
    from bot.app import App


def routes(app: App) -> list[BaseRoute]:
    async def home(_request: Request) -> Response:
        return RedirectResponse("/web/overview", status_code=303)

    return [
        Route("/web", home, methods=["GET"]),
        Route("/web/login/{token}", partial(auth.login_form, app), methods=["GET"]),
        Route("/web/login", partial(auth.login, app), methods=["POST"]),
        Route("/web/logout", partial(auth.logout, app), methods=["POST"]),
        Route("/web/signed-out", partial(auth.signed_out, app), methods=["GET"]),
        Route("/web/overview", auth.signed_in(app, pages.overview_page(app)), methods=["GET"]),
        Route("/web/unit/{code}", auth.signed_in(app, pages.unit_page(app)), methods=["GET"]),
        Route("/web/files/{fmt}", auth.signed_in(app, pages.files_page(app)), methods=["GET"]),
        Route("/web/cases", auth.signed_in(app, cases.board_page(app)), methods=["GET"]),
        Route(
            "/web/cases/open",
            auth.signed_in(app, cases.detail_page(app), form=True),
            methods=["POST"],
        ),
        Route(
            "/web/cases/act", auth.signed_in(app, cases.act_page(app), form=True), methods=["POST"]
        ),
        Route("/web/officers", auth.signed_in(app, officers.list_page(app)), methods=["GET"]),
        Route(
            "/web/officers/invite",
            auth.signed_in(app, officers.invite_page(app), form=True),
            methods=["POST"],
        ),
        Route(
            "/web/officers/revoke",
            auth.signed_in(app, officers.revoke_page(app), form=True),
            methods=["POST"],
        ),
        Route("/web/announce", auth.signed_in(app, announce.list_page(app)), methods=["GET"]),
        Route(
            "/web/announce/counts", auth.signed_in(app, announce.counts_page(app)), methods=["GET"]
        ),
        Route(
            "/web/announce/preview",
            auth.signed_in(app, announce.preview_page(app), form=True),
            methods=["POST"],
        ),
        Route(
            "/web/announce/send",
            auth.signed_in(app, announce.send_page(app), form=True),
            methods=["POST"],
        ),
        Route(
            "/web/unit/lock", auth.signed_in(app, locks.lock_page(app), form=True), methods=["POST"]
        ),
        Mount("/web/static", StaticFiles(directory=STATIC), name="web-static"),
    ]
