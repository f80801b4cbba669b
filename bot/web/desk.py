"""The web desk's routes, added to ``bdg serve`` by ``bot.runner``.

GET  /web/login/<token>   a button that signs in (the link /web gives in the chat)
POST /web/login           uses the token once, sets the session cookie
POST /web/logout          ends the session (CSRF token)
GET  /web/overview        reporting and on-time rates of the scope, the units' table
GET  /web/unit/<code>     a unit's submitted values, versions and officers
GET  /web/files/<fmt>     compiled XLSX / DOCX / PNG of a subtree (admins)
POST /web/files/jobs      the same file built as a job whose progress the page shows
GET  /web/files/jobs/<id>[/file]  the job's progress; the finished file
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
GET  /web/calendar        upcoming deadlines; the subtree's local deadlines (admins)
POST /web/calendar/override  a one-year deadline for the subtree (admins)
POST /web/calendar/rule   an every-year deadline for the subtree (admins)
GET  /web/static/...      the stylesheet and script (no CDN, no inline code)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.web import announce, auth, calendar, cases, jobs, locks, officers, pages
from bot.web.templating import STATIC

if TYPE_CHECKING:
    from bot.app import App


# Signed-in pages: (path, page factory, method). A POST is a form: it needs the CSRF token.
PAGES: list[tuple[str, Callable[[App], auth.Page], str]] = [
    ("/web/overview", pages.overview_page, "GET"),
    ("/web/unit/{code}", pages.unit_page, "GET"),
    ("/web/files/{fmt}", pages.files_page, "GET"),
    ("/web/files/jobs", jobs.start_page, "POST"),
    ("/web/files/jobs/{job}", jobs.status_page, "GET"),
    ("/web/files/jobs/{job}/file", jobs.file_page, "GET"),
    ("/web/cases", cases.board_page, "GET"),
    ("/web/cases/open", cases.detail_page, "POST"),
    ("/web/cases/act", cases.act_page, "POST"),
    ("/web/officers", officers.list_page, "GET"),
    ("/web/officers/invite", officers.invite_page, "POST"),
    ("/web/officers/revoke", officers.revoke_page, "POST"),
    ("/web/announce", announce.list_page, "GET"),
    ("/web/announce/counts", announce.counts_page, "GET"),
    ("/web/announce/preview", announce.preview_page, "POST"),
    ("/web/announce/send", announce.send_page, "POST"),
    ("/web/unit/lock", locks.lock_page, "POST"),
    ("/web/calendar", calendar.calendar_page, "GET"),
    ("/web/calendar/override", calendar.override_page, "POST"),
    ("/web/calendar/rule", calendar.rule_page, "POST"),
]


def routes(app: App) -> list[BaseRoute]:
    async def home(_request: Request) -> Response:
        return RedirectResponse("/web/overview", status_code=303)

    signed: list[BaseRoute] = [
        Route(path, auth.signed_in(app, make(app), form=method == "POST"), methods=[method])
        for path, make, method in PAGES
    ]
    return [
        Route("/web", home, methods=["GET"]),
        Route("/web/login/{token}", partial(auth.login_form, app), methods=["GET"]),
        Route("/web/login", partial(auth.login, app), methods=["POST"]),
        Route("/web/logout", partial(auth.logout, app), methods=["POST"]),
        Route("/web/signed-out", partial(auth.signed_out, app), methods=["GET"]),
        *signed,
        Mount("/web/static", StaticFiles(directory=STATIC), name="web-static"),
    ]
