"""``bdg db upgrade|backup|restore`` and ``bdg doctor``: running a real installation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from bot import doctor as doctor_mod
from bot.app import App
from bot.cli.common import run_async
from db.backup import backup, restore
from kernel.i18n import t
from kernel.settings import get_settings
from services.cases.config import KEY_FILE


def register(main: click.Group) -> None:
    main.add_command(db)
    main.add_command(doctor)


def _lang() -> str:
    return get_settings().locale


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


@click.group()
def db() -> None:
    """Database maintenance: migrations, backups (docs/deploy.md)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (also done automatically at start)."""

    async def go(app: App) -> None:
        return None

    run_async(go)
    click.echo(t(_lang(), "db.upgrade_done"))


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def db_backup(path: Path, force: bool) -> None:
    """Write a backup of the database to PATH: SQLite's online backup (a copy that opens as a
    database) or pg_dump's custom format (only BDG_DB_SCHEMA when set). Case keys are not in
    it: keep BDG_CASE_KEYS apart."""
    settings = get_settings()
    result = backup(settings.database_url, settings.db_schema, path, force=force)
    lang = settings.locale
    click.echo(
        t(lang, "db.backup_done", backend=result.backend, size=_size(result.size), path=path)
    )
    click.echo(t(lang, "db.backup_keys_note"))
    if not settings.case_keys and KEY_FILE.exists():
        click.echo(t(lang, "db.backup_key_file", path=KEY_FILE))


@db.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already has data.")
def db_restore(path: Path, force: bool) -> None:
    """Restore a backup written by `bdg db backup` into the database of DATABASE_URL (and
    BDG_DB_SCHEMA), which must be empty unless --force; then apply newer migrations. Stop the
    bot first."""
    settings = get_settings()
    result = asyncio.run(restore(settings.database_url, settings.db_schema, path, force=force))
    click.echo(t(settings.locale, "db.restore_done", backend=result.backend, tables=result.tables))


SYMBOLS = {doctor_mod.OK: "✓", doctor_mod.WARN: "!", doctor_mod.FAIL: "✗"}


@click.command()
def doctor() -> None:
    """Check the settings, the database, the messenger tokens and webhooks, and the clock;
    print each finding with its fix; exit 1 when a check failed."""
    settings = get_settings()
    lang = settings.locale
    report = asyncio.run(doctor_mod.diagnose(settings))
    for c in report.checks:
        status = t(lang, f"doctor.{c.status}")
        click.echo(
            f"{SYMBOLS[c.status]} [{status}] {t(lang, c.name)}: {t(lang, c.key, **c.params)}"
        )
        if c.fix and c.status != doctor_mod.OK:
            click.echo("    " + t(lang, "doctor.fix", fix=t(lang, c.fix)))
    warnings = sum(1 for c in report.checks if c.status == doctor_mod.WARN)
    failed = sum(1 for c in report.checks if c.status == doctor_mod.FAIL)
    if failed:
        click.echo(t(lang, "doctor.summary_fail", failed=failed, warnings=warnings), err=True)
        raise SystemExit(1)
    click.echo(t(lang, "doctor.summary_ok", warnings=warnings))
