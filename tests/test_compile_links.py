"""Signed download links (for Zalo, which cannot send files): ``GET /files/<token>`` serves
the file while the link is valid, refuses it after 24 hours, with a wrong or tampered token,
or when the admin who asked may no longer see that subtree. Also ``bdg export``."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from docx import Document
from openpyxl import load_workbook

from bot.app import App
from bot.cli.compile import output_paths
from bot.downloads import routes
from bot.web import create_web_app
from compile import links
from compile.build import OutFile
from db.engine import Database
from db.models import Officer
from db.units import import_units
from handlers.dispatch import Dispatcher
from kernel.settings import Services, Settings
from tests.chat import Clock
from tests.conftest import local
from tests.test_compile_data import seed_known_case, unit

KEY = b"test-secret"


@pytest.fixture(autouse=True)
def files_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_file = tmp_path / "files.secret"
    secret_file.write_bytes(KEY)
    monkeypatch.setattr(links, "SECRET_FILE", secret_file)


def test_token_round_trip_expiry_and_tampering() -> None:
    now = local("2026-12-01T09:00")
    token = links.make_token({"u": 1, "f": "xlsx"}, now=now)
    assert links.read_token(token, now=now + timedelta(hours=23, minutes=59))["u"] == 1
    with pytest.raises(links.ExpiredToken):
        links.read_token(token, now=now + timedelta(hours=24))
    payload, sig = token.split(".")
    forged = links.make_token({"u": 2, "f": "xlsx"}, now=now, key=b"another secret")
    for bad in (
        f"{payload}.{sig[:-2]}AA",
        f"{forged.split('.')[0]}.{sig}",
        forged,
        "nonsense",
        "",
        f"{payload}.",
        ".",
        "a.b.c",
    ):
        with pytest.raises(links.BadToken):
            links.read_token(bad, now=now)


def test_secret_is_generated_once_into_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data" / "files.secret"
    first = links.secret(path)
    assert len(first) >= 32 and links.secret(path) == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert links.secret(path, configured="from-settings") == b"from-settings"


@pytest.fixture
async def client(demo_db: Database, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    clock.set(local("2026-12-20T09:00"))
    app = App(Settings(), demo_db, Dispatcher(demo_db, Services(), clock=clock), clock)
    web = create_web_app(app, routes(app))
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def admin_of(db: Database, code: str, active: bool = True) -> int:
    async with db.session() as s:
        home = await unit(s, code)
        officer = Officer(
            unit_id=home.id or 0, full_name="Quản trị", position="CV", role="admin", active=active
        )
        s.add(officer)
        await s.flush()
        assert officer.id is not None
        return officer.id


async def unit_id(db: Database, code: str) -> int:
    async with db.session() as s:
        return (await unit(s, code)).id or 0


async def test_download_works_while_valid_and_fails_after(
    client: httpx.AsyncClient, demo_db: Database, clock: Clock
) -> None:
    await seed_known_case(demo_db)
    admin = await admin_of(demo_db, "42-SNV")
    province = await unit_id(demo_db, "42")
    claims = {"u": province, "p": "2026", "o": admin, "l": "vi"}
    xlsx = links.make_token({**claims, "f": "xlsx"}, now=clock())
    docx = links.make_token({**claims, "f": "docx"}, now=clock())
    chart = links.make_token({**claims, "f": "png", "c": "violence"}, now=clock())

    r = await client.get(f"/files/{xlsx}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "tong-hop-2026-42.xlsx" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content))["Tổng hợp"]
    assert "5/18" in str(ws["A2"].value)
    r = await client.get(f"/files/{docx}")
    assert (
        r.status_code == 200
        and "CỘNG HÒA" in Document(io.BytesIO(r.content)).tables[0].rows[0].cells[1].text
    )
    r = await client.get(f"/files/{chart}")
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"

    clock.advance(hours=24)
    r = await client.get(f"/files/{xlsx}")
    assert r.status_code == 410 and r.content[:2] != b"PK"  # no workbook


async def test_wrong_tokens_are_refused(
    client: httpx.AsyncClient, demo_db: Database, clock: Clock
) -> None:
    admin = await admin_of(demo_db, "42-SNV")
    province = await unit_id(demo_db, "42")
    good = links.make_token({"u": province, "p": "2026", "o": admin, "f": "xlsx"}, now=clock())
    payload, sig = good.split(".")
    other_key = links.make_token(
        {"u": province, "p": "2026", "o": admin, "f": "xlsx"}, now=clock(), key=b"stolen?"
    )
    for bad in (f"{payload}.{sig[::-1]}", other_key, "abc", f"{payload}x.{sig}"):
        r = await client.get(f"/files/{bad}")
        assert r.status_code == 403, bad
    unknown_format = links.make_token(
        {"u": province, "p": "2026", "o": admin, "f": "exe"}, now=clock()
    )
    assert (await client.get(f"/files/{unknown_format}")).status_code == 403


async def test_a_link_is_refused_outside_the_admins_subtree_or_once_deactivated(
    client: httpx.AsyncClient, demo_db: Database, clock: Clock
) -> None:
    async with demo_db.session() as s:
        await import_units(
            s,
            [
                {"code": "43", "name": "Tỉnh Quảng Bình", "parent_code": "", "kind": "province"},
                {"code": "43001", "name": "Xã Quảng Hòa", "parent_code": "43", "kind": "commune"},
            ],
        )
    commune_admin = await admin_of(demo_db, "28303")
    retired = await admin_of(demo_db, "42-SNV", active=False)
    other = await unit_id(demo_db, "43")
    province = await unit_id(demo_db, "42")
    for officer, target in ((commune_admin, province), (retired, province), (commune_admin, other)):
        token = links.make_token({"u": target, "p": "2026", "o": officer, "f": "xlsx"}, now=clock())
        assert (await client.get(f"/files/{token}")).status_code == 403
    own = links.make_token(
        {"u": await unit_id(demo_db, "28303"), "p": "2026", "o": commune_admin, "f": "xlsx"},
        now=clock(),
    )
    assert (await client.get(f"/files/{own}")).status_code == 200
    bad_period = links.make_token(
        {"u": province, "p": "20X6", "o": await admin_of(demo_db, "42"), "f": "xlsx"}, now=clock()
    )
    assert (await client.get(f"/files/{bad_period}")).status_code == 404


def test_output_paths_of_bdg_export(tmp_path: Path) -> None:
    one = [OutFile("tong-hop-2026-42.xlsx", b"", "xlsx")]
    charts = [OutFile(f"bieu-do-{c}.png", b"", "png", c) for c in ("status", "violence")]
    assert output_paths(one, tmp_path / "a.xlsx") == [tmp_path / "a.xlsx"]
    assert output_paths(one, tmp_path) == [tmp_path / "tong-hop-2026-42.xlsx"]
    assert output_paths(charts, f"{tmp_path}/new/") == [
        tmp_path / "new" / "bieu-do-status.png",
        tmp_path / "new" / "bieu-do-violence.png",
    ]
    assert output_paths(charts, tmp_path / "c.png") == [
        tmp_path / "c-trang-thai.png",
        tmp_path / "c-bao-luc.png",
    ]


def test_bdg_export_writes_the_workbook(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    run = [sys.executable, "-m", "bot"]
    subprocess.run([*run, "seed-demo"], env=env, check=True, capture_output=True)
    out = tmp_path / "out" / "tong-hop.xlsx"
    args = [*run, "export", "--period", "2026", "--unit", "42", "--format", "xlsx", "--out"]
    # No unit has reported: the export is refused unless confirmed.
    empty = subprocess.run([*args, str(out)], env=env, capture_output=True, text=True)
    assert empty.returncode == 1 and "--yes" in empty.stderr and not out.exists()
    res = subprocess.run([*args, str(out), "--yes"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(out)
    ws = load_workbook(out)["Tổng hợp"]
    assert "0/18" in str(ws["A2"].value)
    bad = subprocess.run(
        [*run, "export", "--unit", "NOPE", "--format", "xlsx", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "không có đơn vị mã NOPE" in bad.stderr
