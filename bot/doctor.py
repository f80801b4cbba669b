"""``bdg doctor``: is this installation ready to serve? Each check says ok, a warning or a
failure, with the fix; the command exits non-zero when any check failed.

Checks, in order: settings (time zone, language, case keys outside the embedded SQLite,
PUBLIC_URL over https with the webhook secrets), the database (reachable, migrated), each
messenger token (``getMe`` against the configured API root), its webhook (registered where
``PUBLIC_URL`` says, or absent when polling), and the clock (against the ``Date`` header of
the messenger API). Nothing is changed: the doctor only looks.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosmtplib
import httpx
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from bot.telegram.channel import WEBHOOK_PATH as TELEGRAM_PATH
from bot.zalo.channel import WEBHOOK_PATH as ZALO_PATH
from bot.zalo.client import ZaloClient, ZaloError, ZaloUnauthorized
from db.crypto import CryptoError, Keyring
from db.engine import Database, is_sqlite, normalise_url
from db.migrate import alembic_config
from kernel.i18n import LANGS
from kernel.settings import Settings

OK, WARN, FAIL = "ok", "warn", "fail"
TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
SKEW_WARN_SECONDS = 30.0
SKEW_FAIL_SECONDS = 300.0
HTTP_TIMEOUT = 10.0


@dataclass
class Check:
    name: str  # catalog key of the check's title (doctor.check_*)
    status: str  # ok | warn | fail
    key: str  # catalog key of what was found (doctor.*)
    params: dict[str, object] = field(default_factory=dict)
    fix: str | None = None  # catalog key of the fix (doctor.fix_*)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, *args: Any, **kw: Any) -> Check:
        check = Check(*args, **kw)
        self.checks.append(check)
        return check

    @property
    def failed(self) -> bool:
        return any(c.status == FAIL for c in self.checks)


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def is_public_https(url: str) -> bool:
    """An https URL with a host; plain http only on the loopback interface (the stand-ins of
    the tests, a proxy on the same machine being tried out)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)


def check_settings(settings: Settings, report: Report) -> None:
    try:
        ZoneInfo(settings.timezone)
        report.add("doctor.check_timezone", OK, "doctor.timezone_ok", {"tz": settings.timezone})
    except (ZoneInfoNotFoundError, ValueError):
        report.add(
            "doctor.check_timezone",
            FAIL,
            "doctor.timezone_bad",
            {"tz": settings.timezone},
            "doctor.fix_timezone",
        )
    if settings.locale not in LANGS:
        report.add(
            "doctor.check_locale",
            FAIL,
            "doctor.locale_bad",
            {"locale": settings.locale},
            "doctor.fix_locale",
        )
    _check_keys(settings, report)
    _check_public_url(settings, report)


def _check_keys(settings: Settings, report: Report) -> None:
    embedded = is_sqlite(normalise_url(settings.database_url))
    if settings.case_keys:
        try:
            ring = Keyring.parse(settings.case_keys)
            report.add("doctor.check_case_keys", OK, "doctor.keys_ok", {"ids": ", ".join(ring.ids)})
        except CryptoError as exc:
            report.add(
                "doctor.check_case_keys",
                FAIL,
                "doctor.keys_bad",
                {"error": str(exc)},
                "doctor.fix_keys",
            )
    else:
        report.add(
            "doctor.check_case_keys",
            WARN if embedded else FAIL,
            "doctor.keys_missing",
            {},
            "doctor.fix_keys",
        )
    if settings.fake_now:
        report.add(
            "doctor.check_clock_setting",
            WARN,
            "doctor.fake_now",
            {"now": settings.fake_now},
            "doctor.fix_fake_now",
        )


def _check_public_url(settings: Settings, report: Report) -> None:
    tokens = bool(settings.telegram_bot_token or settings.zalo_bot_token)
    url = settings.public_url
    if not url:
        if tokens:
            report.add(
                "doctor.check_public_url", WARN, "doctor.polling", {}, "doctor.fix_public_url"
            )
        return
    if not is_public_https(url):
        report.add(
            "doctor.check_public_url",
            FAIL,
            "doctor.public_url_not_https",
            {"url": url},
            "doctor.fix_public_url",
        )
    else:
        report.add("doctor.check_public_url", OK, "doctor.public_url_ok", {"url": url})
    if settings.telegram_bot_token and not TELEGRAM_SECRET.match(
        settings.telegram_webhook_secret or ""
    ):
        report.add(
            "doctor.check_secrets",
            FAIL,
            "doctor.secret_missing",
            {"name": "TELEGRAM_WEBHOOK_SECRET"},
            "doctor.fix_secret",
        )
    if settings.zalo_bot_token and not 8 <= len(settings.zalo_webhook_secret or "") <= 256:
        report.add(
            "doctor.check_secrets",
            FAIL,
            "doctor.secret_missing",
            {"name": "ZALO_WEBHOOK_SECRET"},
            "doctor.fix_secret",
        )


@dataclass(frozen=True)
class _Migrations:
    empty: bool  # no revision applied at all
    newer: bool  # the database has revisions this code does not know
    missing: int  # heads of the code the database lacks


def _revisions(conn: Connection) -> _Migrations:
    """Compare the database's version table with the code's migration heads. A head counts
    as applied when it is in the table or something in the table builds on it: once a later
    revision ``depends_on`` a head, Alembic keeps only the later one's row."""
    current = set(MigrationContext.configure(conn).get_current_heads())
    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())
    if current - {rev.revision for rev in script.walk_revisions()}:
        return _Migrations(empty=False, newer=True, missing=0)
    applied = {
        rev.revision for rev in script.revision_map.iterate_revisions(tuple(current), "base")
    }
    return _Migrations(empty=not current, newer=False, missing=len(heads - applied - current))


async def check_database(settings: Settings, report: Report) -> None:
    db = Database(settings.database_url, settings.db_schema)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            found = await conn.run_sync(_revisions)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        report.add(
            "doctor.check_database",
            FAIL,
            "doctor.db_unreachable",
            {"error": type(exc).__name__},
            "doctor.fix_db",
        )
        return
    finally:
        await db.dispose()
    report.add("doctor.check_database", OK, "doctor.db_ok", {"backend": db.engine.dialect.name})
    if found.newer:
        report.add("doctor.check_migrations", FAIL, "doctor.db_newer", {}, "doctor.fix_db_newer")
    elif found.missing:
        report.add(
            "doctor.check_migrations",
            WARN if found.empty else FAIL,
            "doctor.not_migrated",
            {"missing": found.missing},
            "doctor.fix_migrate",
        )
    else:
        report.add("doctor.check_migrations", OK, "doctor.migrated", {})


def _skew(report: Report, api: str, date_header: str | None, sent: float, got: float) -> None:
    try:
        remote = parsedate_to_datetime(date_header or "")
    except (TypeError, ValueError):
        report.add(
            "doctor.check_clock", WARN, "doctor.clock_unknown", {"api": api}, "doctor.fix_clock"
        )
        return
    # The Date header has a one-second resolution: compare with the middle of the request.
    local = datetime.fromtimestamp((sent + got) / 2, UTC)
    skew = (local - remote).total_seconds()
    if abs(skew) <= SKEW_WARN_SECONDS:
        report.add(
            "doctor.check_clock", OK, "doctor.clock_ok", {"api": api, "skew": f"{skew:+.0f}"}
        )
        return
    report.add(
        "doctor.check_clock",
        FAIL if abs(skew) > SKEW_FAIL_SECONDS else WARN,
        "doctor.clock_skew",
        {"api": api, "skew": f"{skew:+.0f}"},
        "doctor.fix_clock",
    )


async def check_telegram(settings: Settings, report: Report, http: httpx.AsyncClient) -> None:
    token = settings.telegram_bot_token
    if not token:
        return
    root = f"{settings.telegram_api_url.rstrip('/')}/bot{token}"
    try:
        sent = time.time()
        res = await http.post(f"{root}/getMe")
        got = time.time()
        body = res.json()
    except (httpx.HTTPError, ValueError) as exc:
        report.add(
            "doctor.check_telegram",
            FAIL,
            "doctor.api_unreachable",
            {"api": settings.telegram_api_url, "error": type(exc).__name__},
            "doctor.fix_api",
        )
        return
    if res.status_code == 401 or not body.get("ok"):
        report.add(
            "doctor.check_telegram",
            FAIL,
            "doctor.token_rejected",
            {"name": "TELEGRAM_BOT_TOKEN", "status": res.status_code},
            "doctor.fix_token",
        )
        return
    me = body.get("result") or {}
    username = me.get("username") or "?"
    report.add("doctor.check_telegram", OK, "doctor.bot_ok", {"bot": f"@{username}"})
    expected = (settings.telegram_bot_username or "").lstrip("@")
    if expected and expected.lower() != str(username).lower():
        report.add(
            "doctor.check_telegram",
            WARN,
            "doctor.username_differs",
            {"expected": expected, "actual": username},
            "doctor.fix_username",
        )
    _skew(report, "Telegram", res.headers.get("date"), sent, got)
    try:
        hook = (await http.post(f"{root}/getWebhookInfo")).json().get("result") or {}
    except (httpx.HTTPError, ValueError):
        return
    _webhook(report, "doctor.check_telegram_webhook", settings, hook, TELEGRAM_PATH)
    if hook.get("last_error_message"):
        report.add(
            "doctor.check_telegram_webhook",
            WARN,
            "doctor.webhook_error",
            {"error": str(hook["last_error_message"])[:200]},
            "doctor.fix_webhook_error",
        )


def _webhook(
    report: Report, name: str, settings: Settings, hook: dict[str, Any], path: str
) -> None:
    actual = str(hook.get("url") or "")
    if settings.public_url:
        expected = settings.public_url.rstrip("/") + path
        if actual == expected:
            report.add(name, OK, "doctor.webhook_ok", {"url": actual})
        else:
            report.add(
                name,
                WARN if not actual else FAIL,
                "doctor.webhook_elsewhere",
                {"expected": expected, "actual": actual or "—"},
                "doctor.fix_webhook",
            )
    elif actual:
        report.add(
            name, WARN, "doctor.webhook_while_polling", {"url": actual}, "doctor.fix_polling"
        )
    else:
        report.add(name, OK, "doctor.webhook_none", {})


async def check_zalo(settings: Settings, report: Report, http: httpx.AsyncClient) -> None:
    token = settings.zalo_bot_token
    if not token:
        return
    client = ZaloClient(token, settings.zalo_api_url, http=http, timeout=HTTP_TIMEOUT)
    try:
        me = await client.get_me()
        hook = await client.get_webhook_info()
    except ZaloError as exc:
        rejected = isinstance(exc, ZaloUnauthorized)
        report.add(
            "doctor.check_zalo",
            FAIL,
            "doctor.token_rejected" if rejected else "doctor.api_unreachable",
            {
                "name": "ZALO_BOT_TOKEN",
                "status": getattr(exc, "code", "?"),
                "api": settings.zalo_api_url,
                "error": type(exc).__name__,
            },
            "doctor.fix_token" if rejected else "doctor.fix_api",
        )
        return
    report.add("doctor.check_zalo", OK, "doctor.bot_ok", {"bot": me.get("account_name") or "?"})
    _webhook(report, "doctor.check_zalo_webhook", settings, hook, ZALO_PATH)


async def check_smtp(settings: Settings, report: Report) -> None:
    """With e-mail configured: connect, STARTTLS or TLS, log in (when a user is set), quit.
    Sends nothing."""
    smtp = settings.smtp
    if not smtp.enabled:
        return
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        use_tls=smtp.tls,
        start_tls=smtp.starttls and not smtp.tls,
        timeout=min(smtp.timeout, HTTP_TIMEOUT),
    )
    try:
        await client.connect()
        if smtp.user:
            await client.login(smtp.user, smtp.password or "")
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        report.add(
            "doctor.check_smtp",
            FAIL,
            "doctor.smtp_failed",
            {"server": f"{smtp.host}:{smtp.port}", "error": type(exc).__name__},
            "doctor.fix_smtp",
        )
        return
    report.add("doctor.check_smtp", OK, "doctor.smtp_ok", {"server": f"{smtp.host}:{smtp.port}"})


async def diagnose(settings: Settings) -> Report:
    report = Report()
    check_settings(settings, report)
    await check_database(settings, report)
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        await check_telegram(settings, report, http)
        await check_zalo(settings, report, http)
    await check_smtp(settings, report)
    return report
