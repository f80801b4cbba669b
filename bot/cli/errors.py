"""The ``bdg`` command's error boundary: whatever goes wrong in a sub-command ends as one
line on stderr in the operator's language (``BDG_LOCALE``) and a non-zero exit, never a
traceback.

- :class:`kernel.errors.UserError` (bad input, a state to fix) → its catalog message, exit 1
  (or the error's ``exit_code``);
- a unit file's errors (``db.unit_file.UnitFileError``) → one line per error, each with its
  line number;
- click's usage errors (a missing option, a bad value) → one line with a pointer to
  ``--help``, exit 2;
- invalid settings, an unreachable database, unusable case keys → what to check, exit 1;
- anything else → its type and a pointer to BDG_LOG_LEVEL=DEBUG, which logs the traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

import click
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

from db.crypto import CryptoError
from db.unit_file import UnitFileError
from kernel.errors import UserError
from kernel.i18n import normalise_lang, t
from kernel.settings import get_settings
from services.overrides import OverrideError

log = logging.getLogger("bdg.cli")


def cli_lang() -> str:
    """BDG_LOCALE, or Vietnamese when the settings themselves are broken."""
    try:
        return normalise_lang(get_settings().locale)
    except Exception:  # noqa: BLE001 - a broken setting must not hide the real message
        return normalise_lang(None)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(t(cli_lang(), "cli.error", message=message), err=True)
    sys.exit(code)


def user_message(exc: UserError | OverrideError, lang: str) -> str:
    return t(lang, exc.key, **exc.params)


def unit_file_lines(exc: UnitFileError, lang: str) -> list[str]:
    out = []
    for e in exc.errors:
        message = t(lang, e.key, **e.params)
        out.append(t(lang, "units.line", line=e.line, message=message) if e.line else message)
    return out


def _setting_name(exc: ValidationError) -> tuple[str, str]:
    errors = exc.errors()
    if not errors:
        return "?", str(exc)
    loc = errors[0]["loc"] or ("?",)
    return str(loc[-1]), str(errors[0]["msg"])


def handle(exc: BaseException, ctx: click.Context | None = None) -> NoReturn:
    """Turn ``exc`` into one line (or one per unit-file error) and exit."""
    lang = cli_lang()
    if isinstance(exc, click.exceptions.Exit | click.Abort):
        raise exc
    if isinstance(exc, click.UsageError):
        command = exc.ctx.command_path if exc.ctx else "bdg"
        fail(t(lang, "cli.usage", message=exc.format_message(), command=command), 2)
    if isinstance(exc, click.ClickException):
        fail(exc.format_message(), exc.exit_code)
    if isinstance(exc, UserError | OverrideError):
        fail(user_message(exc, lang), getattr(exc, "exit_code", 1))
    if isinstance(exc, UnitFileError):
        if len(exc.errors) == 1 and not exc.errors[0].line:
            fail(unit_file_lines(exc, lang)[0])
        for line in unit_file_lines(exc, lang):
            click.echo(line, err=True)
        sys.exit(1)
    if isinstance(exc, ValidationError):
        name, error = _setting_name(exc)
        fail(t(lang, "cli.bad_setting", name=name, error=error))
    if isinstance(exc, ArgumentError):
        fail(t(lang, "cli.bad_setting", name="DATABASE_URL", error=str(exc)[:200]))
    if isinstance(exc, CryptoError):
        fail(t(lang, "cli.case_keys", error=str(exc)))
    if isinstance(exc, OperationalError | InterfaceError | DBAPIError | ConnectionError):
        orig: Any = getattr(exc, "orig", None) or exc
        fail(t(lang, "cli.db_unreachable", error=type(orig).__name__))
    if isinstance(exc, KeyboardInterrupt):
        click.echo(t(lang, "cli.interrupted"), err=True)
        sys.exit(130)
    log.debug("bdg failed", exc_info=exc)
    fail(t(lang, "cli.unexpected", error=f"{type(exc).__name__}: {exc}"[:300]))


class BoundaryGroup(click.Group):
    """A click group whose sub-commands (parsing included) run inside :func:`handle`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except SystemExit:
            raise
        except BaseException as exc:  # noqa: BLE001 - this is the boundary
            handle(exc, ctx)
