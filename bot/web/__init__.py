"""The web side served by ``bdg serve``: messenger webhooks, health, downloads, the web desk.

``/metrics`` is the Prometheus exposition (``kernel.metrics``); the database-backed gauges
are read at each scrape. Keep it off the public internet: deploy/Caddyfile does not proxy it.

Each channel contributes its routes (``Channel.web_routes``); features that serve files add
theirs through ``extra_routes``. Keep handlers thin: they parse, dispatch, answer. Every
response carries the security headers (``bot.web.security``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.web.security import SecurityHeaders
from db.stats import refresh_gauges
from kernel import metrics

log = logging.getLogger("bdg.web")


def create_web_app(app: App, routes: Sequence[BaseRoute] = ()) -> Starlette:
    async def healthz(_request: Request) -> JSONResponse:
        try:
            async with app.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - health must answer, not raise
            return JSONResponse({"ok": False, "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    async def metrics_endpoint(_request: Request) -> Response:
        try:
            async with app.db.session() as s:
                await refresh_gauges(s, app.clock())
        except Exception as exc:  # noqa: BLE001 - the process metrics still answer
            log.warning("metrics: database gauges not read: %s", type(exc).__name__)
        return Response(metrics.generate_latest(), media_type=metrics.CONTENT_TYPE)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/metrics", metrics_endpoint), *routes],
        middleware=[Middleware(SecurityHeaders)],
    )
