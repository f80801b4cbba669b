"""From a compilation to files: names, media types, and who may download what."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from compile.data import Compilation
from db.models import Officer, Unit
from services.scope import scope_of

FORMATS = ("xlsx", "docx", "png")
CHART_SLUGS = {"status": "trang-thai", "violence": "bao-luc", "participants": "nguoi-tham-gia"}
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "png": "image/png",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class OutFile:
    name: str
    data: bytes
    fmt: str  # xlsx | docx | png
    chart: str | None = None

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.fmt]

    @property
    def kind(self) -> str:
        """How a channel sends it: "photo" for charts, "document" otherwise."""
        return "photo" if self.fmt == "png" else "document"


def file_name(c: Compilation, fmt: str, chart: str | None = None) -> str:
    tail = f"{c.period.period}-{_UNSAFE.sub('-', c.root.code)}"
    if fmt == "xlsx":
        return f"tong-hop-{tail}.xlsx"
    if fmt == "docx":
        return f"bao-cao-tong-hop-{tail}.docx"
    return f"bieu-do-{CHART_SLUGS.get(chart or '', chart or 'x')}-{tail}.png"


def render(
    c: Compilation,
    fmt: str,
    *,
    lang: str = "vi",
    form_dir: str | None = None,
    chart: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[OutFile]:
    """Build the files of one format (CPU-bound: run it in a worker thread from async code).
    ``png`` gives the three charts, or the one named by ``chart``."""
    if fmt == "xlsx":
        from compile.xlsx import build_xlsx

        return [OutFile(file_name(c, fmt), build_xlsx(c, lang=lang, progress=progress), fmt)]
    if fmt == "docx":
        from compile.docx import build_docx

        return [OutFile(file_name(c, fmt), build_docx(c, lang=lang, progress=progress), fmt)]
    if fmt == "png":
        from compile import charts

        makers: dict[str, Callable[[], bytes]] = {
            "status": lambda: charts.status_chart(c, lang),
            "violence": lambda: charts.violence_chart(c, lang, form_dir),
            "participants": lambda: charts.participants_chart(c, lang, form_dir),
        }
        names = [chart] if chart else list(charts.CHARTS)
        out = []
        for i, name in enumerate(names, 1):
            if name not in makers:
                raise ValueError(f"unknown chart {name!r}")
            out.append(OutFile(file_name(c, fmt, name), makers[name](), fmt, name))
            if progress is not None:
                progress(i, len(names))
        return out
    raise ValueError(f"unknown format {fmt!r}; use one of {FORMATS}")


def counts_as_compiled(c: Compilation) -> bool:
    """Compiled files count as the agency's compilation step (``services.local_calendar``,
    which stops its reminders) once every unit has reported or the units' deadline has
    passed; before that, compiling is a look at the progress and the reminders go on."""
    return not c.missing or c.today > c.period.due


def render_all(c: Compilation, *, lang: str = "vi", form_dir: str | None = None) -> list[OutFile]:
    return [f for fmt in FORMATS for f in render(c, fmt, lang=lang, form_dir=form_dir)]


async def admin_may_compile(
    s: AsyncSession, officer_id: Any, unit_id: Any
) -> tuple[Unit, Unit | None] | None:
    """(unit, agency) when the officer is an active admin whose subtree holds the unit."""
    if not isinstance(officer_id, int) or not isinstance(unit_id, int):
        return None
    officer = await s.get(Officer, officer_id)
    if officer is None or not officer.active or officer.role != "admin":
        return None
    unit = await s.get(Unit, unit_id)
    if unit is None:
        return None
    scope = await scope_of(s, officer)
    if not scope.holds(unit):
        return None
    return unit, scope.agency if unit.id == scope.root.id else None
