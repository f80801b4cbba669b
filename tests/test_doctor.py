"""`bdg doctor` against the loopback Telegram and Zalo stand-ins: a ready installation passes
every check; each broken setting is named with its fix and fails the command."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.doctor import FAIL, OK, WARN, Report, _skew, diagnose
from bot.zalo.client import ZaloClient
from db.crypto import new_key_spec
from db.engine import Database
from kernel.settings import Settings, get_settings
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.zalo_api import FakeZalo

TG_TOKEN = "123456:TEST-TOKEN"
PUBLIC = "https://bot.example.gov.vn"
SECRET = "s3cret-0123456789abcdef"


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeTelegram, FakeZalo]]:
    with FakeTelegram(token=TG_TOKEN) as tg, FakeZalo() as zalo:
        yield tg, zalo


def settings_for(
    tg: FakeTelegram, zalo: FakeZalo, db_url: str, schema: str | None, **over: str
) -> Settings:
    values = {
        "DATABASE_URL": db_url,
        "BDG_CASE_KEYS": new_key_spec("k1"),
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_API_URL": tg.url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "ZALO_BOT_TOKEN": zalo.token,
        "ZALO_API_URL": zalo.url,
        "ZALO_WEBHOOK_SECRET": SECRET,
        "PUBLIC_URL": PUBLIC,
        **over,
    }
    if schema:
        values["BDG_DB_SCHEMA"] = schema
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def register_webhooks(tg: FakeTelegram, zalo: FakeZalo) -> None:
    async with httpx.AsyncClient() as http:
        res = await http.post(
            f"{tg.url}/bot{TG_TOKEN}/setWebhook",
            json={"url": f"{PUBLIC}/telegram/webhook", "secret_token": SECRET},
        )
        assert res.json()["ok"], res.text
    async with ZaloClient(zalo.token, zalo.url) as client:
        await client.set_webhook(f"{PUBLIC}/zalo/webhook", SECRET)


def by_name(report: Report) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in report.checks:
        # The worst status per check name.
        if out.get(c.name) != FAIL and not (out.get(c.name) == WARN and c.status == OK):
            out[c.name] = c.status
    return out


async def test_ready_installation_passes(
    db: Database, db_config: dict[str, str | None], fakes: tuple[FakeTelegram, FakeZalo]
) -> None:
    tg, zalo = fakes
    await register_webhooks(tg, zalo)
    settings = settings_for(tg, zalo, str(db_config["url"]), db_config["schema"])
    report = await diagnose(settings)
    statuses = by_name(report)
    assert not report.failed, [(c.name, c.key, c.params) for c in report.checks]
    for name in (
        "doctor.check_timezone",
        "doctor.check_case_keys",
        "doctor.check_public_url",
        "doctor.check_database",
        "doctor.check_migrations",
        "doctor.check_telegram",
        "doctor.check_telegram_webhook",
        "doctor.check_zalo",
        "doctor.check_zalo_webhook",
    ):
        assert statuses.get(name) == OK, (name, statuses)
    # The stand-in sends no Date header (the real API does): the clock is only not compared.
    clock = next(c for c in report.checks if c.name == "doctor.check_clock")
    assert (clock.status, clock.key) == (WARN, "doctor.clock_unknown")
    bot = next(c for c in report.checks if c.name == "doctor.check_telegram")
    assert str(bot.params["bot"]).startswith("@")


async def test_broken_installation_fails_with_fixes(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeZalo]
) -> None:
    tg, zalo = fakes
    # A database file that was never migrated, a token the API rejects, http, no secrets,
    # PostgreSQL without case keys is covered below.
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    (tmp_path / "empty.sqlite3").write_bytes(b"")  # noqa: ASYNC240
    settings = settings_for(
        tg,
        zalo,
        empty,
        None,
        TELEGRAM_BOT_TOKEN="999999:WRONG-TOKEN",
        PUBLIC_URL="http://bot.example.gov.vn",
        ZALO_WEBHOOK_SECRET="short",
        BDG_CASE_KEYS="k1:not base64!",
    )
    report = await diagnose(settings)
    assert report.failed
    found = {(c.name, c.key): c for c in report.checks}
    assert found[("doctor.check_public_url", "doctor.public_url_not_https")].status == FAIL
    assert found[("doctor.check_secrets", "doctor.secret_missing")].params == {
        "name": "ZALO_WEBHOOK_SECRET"
    }
    assert found[("doctor.check_case_keys", "doctor.keys_bad")].status == FAIL
    assert found[("doctor.check_telegram", "doctor.token_rejected")].status == FAIL
    assert found[("doctor.check_migrations", "doctor.not_migrated")].fix == "doctor.fix_migrate"
    assert all(c.fix for c in report.checks if c.status != OK)


async def test_missing_case_keys_fail_outside_sqlite(fakes: tuple[FakeTelegram, FakeZalo]) -> None:
    tg, zalo = fakes
    settings = settings_for(
        tg, zalo, "postgresql://nobody@127.0.0.1:1/none", None, BDG_CASE_KEYS=""
    )
    report = await diagnose(settings)
    keys = next(c for c in report.checks if c.name == "doctor.check_case_keys")
    assert (keys.status, keys.key) == (FAIL, "doctor.keys_missing")
    database = next(c for c in report.checks if c.name == "doctor.check_database")
    assert (database.status, database.key) == (FAIL, "doctor.db_unreachable")


async def test_webhook_elsewhere_is_reported(
    db: Database, db_config: dict[str, str | None], fakes: tuple[FakeTelegram, FakeZalo]
) -> None:
    tg, zalo = fakes
    await register_webhooks(tg, zalo)
    settings = settings_for(
        tg, zalo, str(db_config["url"]), db_config["schema"], PUBLIC_URL="https://new.example.vn"
    )
    report = await diagnose(settings)
    hooks = [c for c in report.checks if c.key == "doctor.webhook_elsewhere"]
    assert {c.name for c in hooks} == {"doctor.check_telegram_webhook", "doctor.check_zalo_webhook"}
    assert all(c.status == FAIL for c in hooks)
    assert hooks[0].params["expected"] == "https://new.example.vn/telegram/webhook"


def test_clock_skew_from_the_date_header() -> None:
    now = time.time()
    for offset, status in ((2, OK), (-90, WARN), (600, FAIL)):
        report = Report()
        remote = datetime.fromtimestamp(now, UTC) + timedelta(seconds=offset)
        _skew(report, "Telegram", format_datetime(remote, usegmt=True), now, now)
        assert report.checks[0].status == status, offset


def test_cli_exit_codes(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeZalo], monkeypatch: pytest.MonkeyPatch
) -> None:
    tg, zalo = fakes
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'doc.sqlite3'}",
        "BDG_CASE_KEYS": new_key_spec("k1"),
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_API_URL": tg.url,
        "BDG_LOCALE": "en",
    }
    for name in ("PUBLIC_URL", "ZALO_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        CliRunner().invoke(main, ["db", "upgrade"], env=env)
        get_settings.cache_clear()
        # Polling (no PUBLIC_URL, no webhook): warnings only.
        httpx.post(f"{tg.url}/bot{TG_TOKEN}/deleteWebhook")
        ok = CliRunner().invoke(main, ["doctor"], env=env)
        assert ok.exit_code == 0, ok.output
        assert "✓ [ok] Telegram: bot @" in ok.output
        assert "! [warning] PUBLIC_URL: not set" in ok.output
        assert "fix: set PUBLIC_URL=https://" in ok.output
        get_settings.cache_clear()
        bad = CliRunner().invoke(main, ["doctor"], env={**env, "PUBLIC_URL": "http://x.vn"})
        assert bad.exit_code == 1
        assert "✗ [FAIL] PUBLIC_URL: http://x.vn is not an https address" in bad.output
        assert "Traceback" not in bad.output
    finally:
        get_settings.cache_clear()
