"""Case keys are checked when the bot starts (issue 12, defects 1 and 5): a malformed
BDG_CASE_KEYS stops `bdg run` / `bdg serve` with one line; PostgreSQL needs configured keys;
only the single-process SQLite setup may generate a key file, next to its database."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import StartupRefused, check_case_keys
from db.crypto import new_key_spec
from db.engine import Database
from kernel.i18n import t
from kernel.settings import Settings
from services.cases.config import CaseConfig, configure
from tests.cases_helpers import DESCRIPTION, report_case
from tests.chat import Chat

GOOD = new_key_spec("k1")
SHORT = "k1:" + base64.urlsafe_b64encode(b"x" * 16).decode()
BAD_KEYS = {
    "garbage": "garbage",
    "bad base64": "k1:@@@not-base64@@@",
    "16-byte key": SHORT,
    "duplicate ids": f"{GOOD},{GOOD}",
    "bad id": "k 1:" + GOOD.partition(":")[2],
}


def settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


@pytest.mark.parametrize("name", sorted(BAD_KEYS))
def test_malformed_keys_are_refused(name: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}"
    with pytest.raises(StartupRefused) as refused:
        check_case_keys(settings(DATABASE_URL=url, BDG_CASE_KEYS=BAD_KEYS[name]))
    message = str(refused.value)
    assert "BDG_CASE_KEYS" in message and "\n" not in message
    assert BAD_KEYS[name].partition(":")[2][:8] not in message or name == "garbage"


def test_postgresql_needs_configured_keys(tmp_path: Path) -> None:
    pg = "postgresql://postgres@127.0.0.1:5432/test"
    with pytest.raises(StartupRefused, match="BDG_CASE_KEYS"):
        check_case_keys(settings(DATABASE_URL=pg))
    assert check_case_keys(settings(DATABASE_URL=pg, BDG_CASE_KEYS=GOOD)).keys == GOOD


def test_sqlite_generates_one_key_next_to_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not from the checkout: after `scripts/run.sh` it holds the demo's ./data/case.key, which
    # a database elsewhere still uses when it has no key of its own (bot.app._local_key_file).
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'bdg.sqlite3'}"
    cfg = check_case_keys(settings(DATABASE_URL=url))
    assert cfg.keys is None and cfg.key_file == tmp_path / "db" / "case.key"


@pytest.mark.parametrize("command", ["run", "serve"])
def test_bdg_stops_at_start_with_one_line(command: str, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
        "BDG_CASE_KEYS": SHORT,
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
        "TELEGRAM_WEBHOOK_SECRET": "s",
        "PUBLIC_URL": "https://example.invalid",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "BDG_CASE_KEYS" in lines[0], done.stderr


async def test_text_that_does_not_decrypt_is_said_so_never_empty(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    """Another process with another key (defect 5) must not show a description as absent."""
    configure(CaseConfig(keys=new_key_spec("a1")))
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    code = await report_case(make_chat("citizen"))
    configure(CaseConfig(keys=new_key_spec("b1")))
    out = await officer.send(f"/vuviec {code}")
    assert DESCRIPTION not in out
    assert out.count(t("vi", "case.undecryptable")) == 2  # the description and the contact
    assert t("vi", "case.value_none") not in out
    english = make_chat("en-officer", lang="en")
    await english.register(demo_db, "28303", name="Trần Văn Minh")
    await english.send("/ngonngu en")
    assert t("en", "case.undecryptable") in await english.send(f"/vuviec {code}")
