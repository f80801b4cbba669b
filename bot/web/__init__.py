"""The web side served by ``bdg serve``: messenger webhooks, health, downloads, the web desk.

Each channel contributes its routes (``Channel.web_routes``); features that serve files add
theirs through ``extra_routes``. Keep handlers thin: they parse, dispatch, answer. Every
response carries the security headers (``bot.web.security``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.web.security import SecurityHeaders


def create_web_app(app: App, routes: Sequence[BaseRoute] = ()) -> Starlette:
    async def healthz(_request: Request) -> JSONResponse:
        try:
            async with app.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - health must answer, not raise
            return JSONResponse({"ok": False, "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    return Starlette(
        routes=[Route("/healthz", healthz), *routes], middleware=[Middleware(SecurityHeaders)]
    )
