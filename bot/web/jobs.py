"""Compiled files with a progress indicator: a whole province's workbook takes seconds, so
the overview's download buttons (with JavaScript) start a job and show its progress; without
JavaScript the same buttons are plain links to ``GET /web/files/<fmt>``.

    POST /web/files/jobs            fmt, unit, period[, chart] → {"job": id} (CSRF; audited
                                    ``webdesk.compile`` as the direct download)
    GET  /web/files/jobs/<id>       {"phase": "gather" | "render" | "done" | "failed",
                                     "done": n, "total": m}
    GET  /web/files/jobs/<id>/file  the file, once

A job reads the database in its own session (``compile.data.gather`` with its progress
callback, unit by unit) and builds the file in a worker thread (``compile.build.render``
with its progress callback). Jobs live in this process's memory only: ``bdg serve`` is one
process; a restart loses running jobs (the page says the download failed and the plain link
still works). A job belongs to the officer who started it; nobody else sees it. Finished jobs
are dropped after ``KEEP_SECONDS``, and an officer runs at most ``MAX_PER_OFFICER`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.web.auth import audit_as, form_fields
from compile.build import FORMATS, OutFile, admin_may_compile, render
from compile.data import default_period, gather
from db import queries
from db.models import Unit
from kernel.calendar import PERIOD_RE
from kernel.clock import to_local
from services.websessions import Who

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("bdg.web")

ACTION_FILES = "webdesk.compile"
CHARTS = ("status", "violence", "participants")
KEEP_SECONDS = 600
MAX_PER_OFFICER = 3
RUNNING = ("gather", "render")


@dataclass
class Job:
    officer_id: int
    phase: str = "gather"
    done: int = 0
    total: int = 0
    file: OutFile | None = None
    started: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None

    def step(self, done: int, total: int) -> None:
        self.done, self.total = done, total


JOBS: dict[str, Job] = {}


def _sweep() -> None:
    old = time.monotonic() - KEEP_SECONDS
    for key in [k for k, j in JOBS.items() if j.started < old]:
        JOBS.pop(key, None)


async def _run(app: App, job: Job, unit_id: int, agency_id: int | None, spec: Spec) -> None:
    services = app.dispatcher.services
    try:
        async with app.db.session() as s:
            unit = await s.get(Unit, unit_id)
            agency = await s.get(Unit, agency_id) if agency_id else None
            assert unit is not None
            c = await gather(
                s,
                unit,
                spec.period,
                services=services,
                now=app.clock(),
                agency=agency,
                progress=job.step,
            )
        job.phase, job.done, job.total = "render", 0, 0
        chart = spec.chart or ("status" if spec.fmt == "png" else None)
        # Compiled documents are Vietnamese administrative documents, as from /tonghop.
        files = await asyncio.to_thread(
            render,
            c,
            spec.fmt,
            lang="vi",
            form_dir=services.form_dir,
            chart=chart,
            progress=job.step,
        )
        job.file, job.phase = files[0], "done"
    except Exception:  # noqa: BLE001 - the page must hear that the job ended
        log.exception("web desk: a compile job failed")
        job.phase = "failed"


@dataclass(frozen=True)
class Spec:
    fmt: str
    period: str
    chart: str | None


def start_page(app: App):  # type: ignore[no-untyped-def]
    """``POST /web/files/jobs``: check as the direct download does, audit, start the job."""
    services = app.dispatcher.services

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        now = app.clock()
        form = await form_fields(request)
        fmt, code = form.get("fmt", ""), form.get("unit", "")
        unit = await queries.unit_by_code(s, code)
        allowed = (
            await admin_may_compile(s, who.officer.id, unit.id if unit else None)
            if fmt in FORMATS
            else None
        )
        if unit is None or allowed is None:
            target = f"unit:{code[:32]}"
            audit_as(s, now, who, ACTION_FILES, target, outcome="refused", detail="outside scope")
            return JSONResponse({"error": "outside scope"}, status_code=403)
        today = to_local(now, services.timezone).date()
        word = (form.get("period") or default_period(services, today)).strip().upper()
        if not PERIOD_RE.match(word):
            return JSONResponse({"error": "period"}, status_code=400)
        _sweep()
        mine = [j for j in JOBS.values() if j.officer_id == who.officer.id and j.phase in RUNNING]
        if len(mine) >= MAX_PER_OFFICER:
            return JSONResponse({"error": "busy"}, status_code=429)
        audit_as(s, now, who, ACTION_FILES, f"{unit.code}:{word}:{fmt}", detail="job")
        chart = form.get("chart") if form.get("chart") in CHARTS else None
        key = secrets.token_urlsafe(16)
        job = JOBS[key] = Job(who.officer.id or 0)
        agency = allowed[1].id if allowed[1] else None
        assert allowed[0].id is not None
        # Started after this request's transaction commits its audit row.
        job.task = asyncio.get_running_loop().create_task(
            _run(app, job, allowed[0].id, agency, Spec(fmt, word, chart))
        )
        return JSONResponse({"job": key}, headers={"Cache-Control": "private, no-store"})

    return handler


def _mine(request: Request, who: Who) -> Job | None:
    job = JOBS.get(request.path_params["job"])
    return job if job is not None and job.officer_id == who.officer.id else None


def status_page(app: App):  # type: ignore[no-untyped-def]
    """``GET /web/files/jobs/<id>``: the job's phase and progress."""

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        job = _mine(request, who)
        if job is None:
            return JSONResponse({"phase": "unknown"}, status_code=404)
        body: dict[str, Any] = {"phase": job.phase, "done": job.done, "total": job.total}
        return JSONResponse(body, headers={"Cache-Control": "private, no-store"})

    return handler


def file_page(app: App):  # type: ignore[no-untyped-def]
    """``GET /web/files/jobs/<id>/file``: the finished file, once."""

    async def handler(request: Request, s: AsyncSession, who: Who) -> Response:
        job = _mine(request, who)
        if job is None or job.file is None:
            return Response(status_code=404)
        JOBS.pop(request.path_params["job"], None)
        f = job.file
        return Response(
            f.data,
            media_type=f.media_type,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(f.name)}",
                "Cache-Control": "private, no-store",
            },
        )

    return handler
