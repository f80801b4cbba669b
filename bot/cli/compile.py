"""``bdg export``: the compiled files of a subtree from the command line.

    bdg export --period 2026 --unit 42 --format xlsx --out out/tong-hop.xlsx
    bdg export --unit 42 --format png --out out/          # three charts into a folder

A progress bar shows on a terminal; piped output gets only the written paths.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import open_app
from compile.build import CHART_SLUGS, FORMATS, OutFile, counts_as_compiled, render
from compile.data import Compilation, default_period, gather
from db import queries
from kernel.clock import to_local
from kernel.errors import UserError
from kernel.settings import get_settings
from services import local_calendar, mail


def output_paths(files: list[OutFile], where: str | Path) -> list[Path]:
    """Where each file goes: into ``where`` when it is a folder (existing, or written with a
    trailing slash), else ``where`` itself (one file) or ``<stem>-<chart><suffix>`` beside it
    (charts)."""
    out = Path(where)
    if out.is_dir() or str(where).endswith(("/", "\\")):
        return [out / f.name for f in files]
    if len(files) == 1 and files[0].chart is None:
        return [out]
    suffix = out.suffix or ".png"
    return [
        out.with_name(f"{out.stem}-{CHART_SLUGS.get(f.chart or '', f.chart)}{suffix}")
        for f in files
    ]


def register(main: click.Group) -> None:
    @main.command("export")
    @click.option("--unit", "unit_code", required=True, help="Code of the subtree's root unit.")
    @click.option(
        "--period", default=None, help="2026S1 or 2026 (default: the report that opened last)."
    )
    @click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
    @click.option(
        "--out",
        type=click.Path(dir_okay=True),
        required=True,
        help="File to write, or a folder (png writes three charts).",
    )
    @click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
    @click.option(
        "--yes", is_flag=True, help="Export even a period not open yet or with no report sent."
    )
    def export(
        unit_code: str, period: str | None, fmt: str, out: str, lang: str, yes: bool
    ) -> None:
        """Compile the latest submitted reports of UNIT's subtree into an XLSX workbook, a DOCX
        draft report or PNG charts (drafts never count). A period that has not opened, or in
        which no unit has reported, needs --yes."""
        files = asyncio.run(_export(unit_code, period, fmt, lang, yes))
        paths = output_paths(files, out)
        for f, path in zip(files, paths, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f.data)
            click.echo(str(path))


async def _check_and_mark(
    s: AsyncSession, c: Compilation, today: date, yes: bool, now: datetime, mail_enabled: bool
) -> None:
    """Refuse a period not open yet or without any report (unless --yes); record the
    agency's compilation when the files count as one (``counts_as_compiled``)."""
    pid = c.period.period
    if not yes and c.period.opens > today:
        raise UserError("cli.export_future", period=pid, opens=c.period.opens.strftime("%d/%m/%Y"))
    if not yes and not c.submitted:
        raise UserError("cli.export_empty", unit=c.root.name, period=pid)
    if counts_as_compiled(c):
        await local_calendar.mark_compiled(s, c.root, pid, None, "export", now=now)
        await mail.compiled(
            s, c.root, c.period, len(c.submitted), c.expected, now, enabled=mail_enabled
        )


async def _export(
    unit_code: str, period: str | None, fmt: str, lang: str, yes: bool = False
) -> list[OutFile]:

    app = await open_app(get_settings())
    services = app.dispatcher.services
    console = Console(stderr=True)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            disable=not console.is_terminal,
            transient=False,
        ) as bar:
            reading = bar.add_task("Reading reports", total=None)
            async with app.db.session() as s:
                unit = await queries.unit_by_code(s, unit_code)
                if unit is None:
                    raise UserError("cli.unknown_unit", code=unit_code)
                now = app.clock()
                today = to_local(now, services.timezone).date()
                pid = period or default_period(services, today)
                try:
                    c = await gather(
                        s,
                        unit,
                        pid,
                        services=services,
                        now=now,
                        progress=lambda i, n: bar.update(reading, completed=i, total=n),
                    )
                except ValueError:
                    raise UserError("cli.unknown_period", period=pid) from None
                await _check_and_mark(s, c, today, yes, now, services.mail)
            writing = bar.add_task(f"Writing {fmt}", total=None)
            files = render(
                c,
                fmt,
                lang=lang,
                form_dir=services.form_dir,
                progress=lambda i, n: bar.update(writing, completed=i, total=n),
            )
            total = bar.tasks[writing].total or 1
            bar.update(writing, completed=total, total=total)
        if console.is_terminal:
            console.print(
                f"{c.root.name} {c.period.period}: {len(c.submitted)}/{c.expected} units submitted",
                highlight=False,
            )
        return files
    finally:
        await app.db.dispose()
