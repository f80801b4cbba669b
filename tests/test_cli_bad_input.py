"""Every `bdg` command answers bad input with a one-line message in BDG_LOCALE's language and
a non-zero exit, never a traceback: a table of bad invocations, run in-process, then the
offenders of issue 14 run as real processes (stderr checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main
from db.crypto import new_key_spec
from kernel.settings import get_settings
from services.cases.config import configure
from tests.test_unit_file import PROVINCE, to_cp1258

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded demo database and the files the table refers to."""
    d = tmp_path_factory.mktemp("cli")
    (d / "bad-units.csv").write_text(
        "code,name,parent_code,kind\n46 001,Xã A,,xa\n46002,,,xã\n", encoding="utf-8"
    )
    (d / "units-1258.csv").write_bytes(to_cp1258(PROVINCE))
    (d / "garbage.csv").write_bytes(b"\x00\x01\x02PK\x03\x04")
    (d / "notes.txt").write_text("not a backup", encoding="utf-8")
    (d / "exists.dump").write_text("x", encoding="utf-8")
    result = invoke(["seed-demo"], {"DATABASE_URL": f"sqlite:///{d / 'bdg.sqlite3'}"}, d)
    assert result.exit_code == 0, result.output
    return d


def invoke(args: list[str], env: dict[str, str], cwd: Path) -> Result:
    get_settings.cache_clear()
    configure(None)
    old = Path.cwd()
    os.chdir(cwd)  # data/case.key and data/files.secret of the demo land here
    try:
        return CliRunner().invoke(main, args, env={"BDG_LOG_LEVEL": "ERROR", **env})
    finally:
        os.chdir(old)
        get_settings.cache_clear()
        configure(None)


@pytest.fixture(autouse=True)
def _clean_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    configure(None)


TG = "123456:TEST-TOKEN"
KEYS = new_key_spec("k1")
# (args, extra environment, a fragment the message must contain); {d} is the work folder.
CASES: list[tuple[list[str], dict[str, str], str]] = [
    (["remind", "--at", "2027-13-01T08:00"], {}, "2027-13-01T08:00"),
    (["remind", "--at", "31/02/2027 08:00"], {}, "31/02/2027"),
    (["remind", "--at", "tomorrow", "--dry-run"], {}, "tomorrow"),
    (["units", "import", "{d}/bad-units.csv"], {}, "dòng 2"),
    (["units", "import", "{d}/missing.csv"], {}, "missing.csv"),
    (["units", "import", "{d}/garbage.csv"], {}, "tiêu đề"),
    (["cases", "rekey"], {"BDG_CASE_KEYS": "nonsense"}, "BDG_CASE_KEYS"),
    (["cases", "keygen", "--id", "bad id!"], {}, "key id"),
    (["cases", "duty", "NOPE"], {}, "NOPE"),
    (["cases", "purge", "--months", "0"], {}, "--months"),
    (["serve"], {"TELEGRAM_BOT_TOKEN": TG}, "PUBLIC_URL"),
    (["serve"], {"TELEGRAM_BOT_TOKEN": TG, "PUBLIC_URL": "http://bot.example"}, "https://"),
    (
        ["serve"],
        {"TELEGRAM_BOT_TOKEN": TG, "PUBLIC_URL": "https://bot.example"},
        "TELEGRAM_WEBHOOK_SECRET",
    ),
    (["invite", "NOPE"], {}, "NOPE"),
    (["invite", "28303", "--days", "0"], {}, "--days"),
    (["invite", "28303", "--role", "king"], {}, "--role"),
    (["invite"], {}, "UNIT_CODE"),
    (["deadline", "set", "--unit", "42"], {}, "--year"),
    (
        [
            "deadline",
            "set",
            "--unit",
            "42",
            "--year",
            "2026",
            "--kind",
            "weekly",
            "--due",
            "1/12/2026",
        ],
        {},
        "semiannual, annual",
    ),
    (
        [
            "deadline",
            "set",
            "--unit",
            "42",
            "--year",
            "2026",
            "--kind",
            "annual",
            "--due",
            "32/13/2026",
        ],
        {},
        "2026",
    ),
    (["deadline", "list", "--unit", "NOPE"], {}, "NOPE"),
    (["deadline", "clear", "--unit", "NOPE", "--year", "2026"], {}, "NOPE"),
    (["deadline", "list", "--year", "abc"], {}, "--year"),
    (
        ["export", "--unit", "42", "--format", "xlsx", "--out", "{d}/x.xlsx", "--period", "2031"],
        {},
        "2031",
    ),
    (
        ["export", "--unit", "42", "--format", "xlsx", "--out", "{d}/x.xlsx", "--period", "20X6"],
        {},
        "20X6",
    ),
    (["export", "--unit", "NOPE", "--format", "xlsx", "--out", "{d}/x.xlsx"], {}, "NOPE"),
    (["export", "--unit", "42", "--format", "pdf", "--out", "{d}/x.pdf"], {}, "--format"),
    (["zalo", "info"], {}, "ZALO_BOT_TOKEN"),
    (["db", "backup", "{d}/exists.dump"], {}, "--force"),
    (["db", "restore", "{d}/nope.dump"], {}, "nope.dump"),
    (["db", "restore", "{d}/notes.txt"], {}, "notes.txt"),
    (["db", "restore", "{d}/exists.dump"], {}, "exists.dump"),
    (
        ["units", "list"],
        {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing", "BDG_CASE_KEYS": KEYS},
        "DATABASE_URL",
    ),
    (["db", "upgrade"], {"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
    (["doctor"], {"BDG_PORT": "eighty"}, "BDG_PORT"),
    (["units", "list"], {"BDG_TIMEZONE": "Mars/Olympus"}, "BDG_TIMEZONE"),
    (["chat", "--user"], {}, "--user"),
    (["seed-demo", "extra"], {}, "extra"),
    (["no-such-command"], {}, "no-such-command"),
    (["run"], {"BDG_FAKE_NOW": "yesterday"}, "BDG_FAKE_NOW"),
    (
        ["remind", "--at", "2026-12-01T08:00", "--dry-run"],
        {"BDG_PLANNER_MINUTES": "0"},
        "BDG_PLANNER_MINUTES",
    ),
]


@pytest.mark.parametrize(
    ("args", "env", "fragment"), CASES, ids=[" ".join(c[0])[:60] for c in CASES]
)
def test_bad_input_gives_one_line_and_non_zero_exit(
    workdir: Path, args: list[str], env: dict[str, str], fragment: str
) -> None:
    args = [a.replace("{d}", str(workdir)) for a in args]
    env = {"DATABASE_URL": f"sqlite:///{workdir / 'bdg.sqlite3'}", **env}
    result = invoke(args, env, workdir)
    assert result.exit_code != 0, result.output
    # Only SystemExit: any other exception would have been a traceback outside the runner.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    if args[:2] == ["units", "import"]:
        # A unit file's errors come one per line, each naming its line.
        assert all(ln.startswith(("dòng ", "Lỗi", str(workdir))) for ln in lines), lines
    else:
        assert len(lines) == 1, lines
        assert lines[0].startswith("Lỗi: "), lines
    assert fragment in result.output, result.output


def test_english_messages_follow_bdg_locale(workdir: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{workdir / 'bdg.sqlite3'}", "BDG_LOCALE": "en"}
    result = invoke(["remind", "--at", "2027-13-01T08:00"], env, workdir)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: '2027-13-01T08:00' is not a valid date and time; "
        "write 2026-12-01T08:00 or 01/12/2026 08:00"
    )


def test_windows_1258_file_imports_and_dry_run_writes_nothing(workdir: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{workdir / 'units.sqlite3'}"}
    dry = invoke(["units", "import", str(workdir / "units-1258.csv"), "--dry-run"], env, workdir)
    assert dry.exit_code == 0, dry.output
    assert "windows-1258" in dry.output and "«;»" in dry.output
    assert "+ 46003 Đặc khu Cồn Cỏ [special_zone]" in dry.output
    assert "Chạy thử, chưa ghi gì: tạo mới 5" in dry.output
    listed = invoke(["units", "list"], env, workdir)
    assert "46003" not in listed.output
    done = invoke(["units", "import", str(workdir / "units-1258.csv")], env, workdir)
    assert done.exit_code == 0 and "Đã nhập: tạo mới 5" in done.output
    assert "46003  Đặc khu Cồn Cỏ" in invoke(["units", "list"], env, workdir).output


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["remind", "--at", "2027-13-01T08:00"], {}),
        (["remind", "--at", "01/06/2027x"], {}),
        (["cases", "rekey"], {"BDG_CASE_KEYS": "k1:not-base64!"}),
        (["serve"], {"TELEGRAM_BOT_TOKEN": TG}),
    ],
    ids=["month-13", "slash-date", "rekey-without-key", "serve-without-public-url"],
)
def test_offenders_as_real_processes(workdir: Path, args: list[str], env: dict[str, str]) -> None:
    run_env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'bdg.sqlite3'}",
        "BDG_LOG_LEVEL": "ERROR",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=run_env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
