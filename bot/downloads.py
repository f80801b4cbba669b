"""``GET /files/<token>``: the compiled file a signed link stands for (see ``compile.links``).

Answers 403 for a token this server did not sign, 410 once it has expired, 403 when the admin
who asked is no longer an active admin of that subtree, 404 for an unknown period. The file is
built at request time from the latest submitted reports, in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from compile import links
from compile.build import FORMATS, admin_may_compile, render
from compile.data import gather

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("bdg.files")


def routes(app: App) -> list[Route]:
    services = app.dispatcher.services

    async def download(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            claims = links.read_token(token, now=app.clock())
        except links.ExpiredToken:
            return PlainTextResponse("This link has expired; ask the bot again.", 410)
        except links.BadToken:
            return PlainTextResponse("Invalid link.", 403)
        fmt = claims.get("f")
        if fmt not in FORMATS:
            return PlainTextResponse("Invalid link.", 403)
        async with app.db.session() as s:
            allowed = await admin_may_compile(s, claims.get("o"), claims.get("u"))
            if allowed is None:
                return PlainTextResponse("This link is no longer allowed.", 403)
            unit, agency = allowed
            try:
                c = await gather(
                    s,
                    unit,
                    str(claims.get("p")),
                    services=services,
                    now=app.clock(),
                    agency=agency,
                )
            except ValueError:
                return PlainTextResponse("Unknown period.", 404)
        lang = str(claims.get("l") or "vi")
        chart = claims.get("c") if isinstance(claims.get("c"), str) else None
        try:
            files = await asyncio.to_thread(
                render, c, fmt, lang=lang, form_dir=services.form_dir, chart=chart or None
            )
        except ValueError:
            return PlainTextResponse("Invalid link.", 403)
        f = files[0]
        log.info("download %s for officer %s", f.fmt, claims.get("o"))
        return Response(
            f.data,
            media_type=f.media_type,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(f.name)}",
                "Cache-Control": "private, no-store",
            },
        )

    return [Route("/files/{token}", download, methods=["GET"])]
