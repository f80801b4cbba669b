"""``bdg forms check FILE``: is a form file right? One line per problem, exit 1 if any."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.errors import cli_lang
from kernel.i18n import t
from services.forms.schema import check_file


def register(main: click.Group) -> None:
    main.add_command(forms)


@click.group()
def forms() -> None:
    """Form files (the report questionnaire a province may edit, BDG_FORM_DIR)."""


@forms.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Check FILES and print each problem with the file, question id and field."""
    failed = False
    for path in files:
        errors = check_file(path)
        for line in errors:
            click.echo(line, err=True)
        if errors:
            failed = True
        else:
            click.echo(t(cli_lang(), "cli.file_ok", file=path.name))
    if failed:
        raise SystemExit(1)
