"""``bdg units import|list|email``: the unit tree from a province's file (``db.unit_file``)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlmodel import select

from bot.app import App
from bot.cli.common import run_async
from bot.cli.errors import cli_lang
from db import queries
from db.models import Unit
from db.unit_file import HISTORICAL_KINDS, UnitFile, UnitFileError, read_file
from db.units import ImportPlan, import_units, plan_import
from kernel.errors import UserError
from kernel.i18n import t
from kernel.settings import get_settings
from services import mail

DELIMITERS = {",": ",", ";": ";", "\t": "tab"}


def register(main: click.Group) -> None:
    main.add_command(units)


@click.group()
def units() -> None:
    """The unit tree."""


def _changes(plan: ImportPlan, lang: str) -> list[str]:
    lines = []
    for c in plan.changes:
        if c.created:
            continue
        diff = "; ".join(
            f"{name}: {old or '—'} → {new or '—'}" for name, (old, new) in c.fields.items()
        )
        lines.append(t(lang, "units.plan_update", code=c.code, name=c.name, changes=diff))
    return lines


@units.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only show what would change.")
def units_import(file: Path, dry_run: bool) -> None:
    """Load units from a CSV file: code,name,parent_code,kind[,reports] (or mã,tên,mã cấp
    trên,loại[,báo cáo]); UTF-8, Windows-1258 or UTF-16; comma, semicolon or tab. Kinds:
    tỉnh/province, thành phố/city, sở/department, cơ quan thường trực/agency, xã/commune,
    phường/ward, đặc khu/special zone, thôn/village; huyện/district and thị trấn/town are
    historical. Existing units keep their officers; a moved unit's subtree moves with it."""
    lang = get_settings().locale
    parsed: UnitFile = read_file(file)
    click.echo(
        t(
            lang,
            "units.read",
            n=len(parsed.rows),
            encoding=parsed.encoding,
            delimiter=DELIMITERS.get(parsed.delimiter, parsed.delimiter),
        )
    )
    historical = sum(1 for r in parsed.rows if r["kind"] in HISTORICAL_KINDS)

    async def go(app: App) -> ImportPlan:
        async with app.db.session() as s:
            plan = await plan_import(s, parsed.rows, parsed.lines)
            if not dry_run:
                await import_units(s, parsed.rows, parsed.lines)
            return plan

    try:
        plan = run_async(go)
    except UnitFileError as e:
        click.echo(t(lang, "units.file_errors", path=file, n=len(e.errors)), err=True)
        raise
    if dry_run:
        for c in plan.changes:
            if c.created:
                row = next(r for r in parsed.rows if r["code"] == c.code)
                click.echo(t(lang, "units.plan_create", code=c.code, name=c.name, kind=row["kind"]))
    if dry_run or len(plan.changes) - plan.created <= 50:
        for line in _changes(plan, lang):
            click.echo(line)
    if historical:
        click.echo(t(lang, "units.historical", n=historical))
    click.echo(
        t(
            lang,
            "units.plan_summary",
            verb=t(lang, "units.verb_dry" if dry_run else "units.verb_done"),
            created=plan.created,
            updated=plan.updated,
            unchanged=plan.unchanged,
            kept=plan.kept,
        )
    )


@units.command("list")
def units_list() -> None:
    """Print the unit tree."""

    async def go(app: App) -> list[Unit]:
        async with app.db.session() as s:
            return list((await s.exec(select(Unit).order_by(Unit.path))).all())

    for u in run_async(go):
        depth = u.path.count("/") - 2
        click.echo(
            f"{'  ' * depth}{u.code}  {u.name}  [{u.kind}{'' if u.reports else ', no report'}]"
        )


@units.command("email")
@click.argument("code")
@click.argument("addresses", nargs=-1)
@click.option("--clear", is_flag=True, help="Remove the unit's addresses.")
def units_email(code: str, addresses: tuple[str, ...], clear: bool) -> None:
    """Show or set (replacing) the e-mail addresses of a unit: they receive the reports
    submitted by the units below it and the compilations made for it (docs/admin.md)."""

    async def go(app: App) -> tuple[Unit, list[str], bool]:
        async with app.db.session() as s:
            unit = await queries.unit_by_code(s, code)
            if unit is None:
                raise UserError("cli.unknown_unit", code=code)
            assert unit.id is not None
            if not addresses and not clear:
                return unit, await mail.addresses(s, unit.id), app.settings.smtp.enabled
            try:
                got = await mail.set_addresses(s, unit, addresses, now=app.clock())
            except mail.MailError as e:
                raise UserError(e.key, **e.params) from None
            return unit, got, app.settings.smtp.enabled

    unit, got, enabled = run_async(go)
    lang = cli_lang()
    shown = ", ".join(got) if got else t(lang, "cli.email_none")
    click.echo(t(lang, "cli.email_list", code=unit.code, unit=unit.name, addresses=shown))
    if got and not enabled:
        click.echo(t(lang, "cli.email_off"))
