"""The unit tree: CSV import at any depth, subtree queries, the demo province."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from db import queries
from db.engine import Database
from db.models import Unit
from db.units import UnitFileError, import_units, read_units_csv

CSV = """code,name,parent_code,kind,reports
10001-01,Thôn Một,10001,village,0
10001,Xã Mới,H,commune,1
H,Huyện Cũ,T,district,0
T,Tỉnh Thử,,province,0
"""


async def test_import_any_depth_parents_after_children(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(CSV, encoding="utf-8")
    async with db.session() as s:
        result = await import_units(s, read_units_csv(path))
    assert (result.created, result.updated) == (4, 0)
    async with db.session() as s:
        t = await queries.unit_by_code(s, "T")
        village = await queries.unit_by_code(s, "10001-01")
        assert t is not None and village is not None
        assert [u.code for u in await queries.subtree(s, t)] == ["T", "H", "10001", "10001-01"]
        assert [u.code for u in await queries.ancestors(s, village)] == ["10001", "H", "T"]
        assert not village.reports
    # Importing again updates names, creates nothing.
    path.write_text(CSV.replace("Xã Mới", "Xã Mới Đổi Tên"), encoding="utf-8")
    async with db.session() as s:
        result = await import_units(s, read_units_csv(path))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 3)
    async with db.session() as s:
        names = [u.name for u in (await s.exec(select(Unit).where(Unit.code == "10001"))).all()]
    assert names == ["Xã Mới Đổi Tên"]


async def test_unknown_parent_is_refused(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("code,name,parent_code,kind\n10002,Xã A,NOPE,commune\n", encoding="utf-8")
    async with db.session() as s:
        with pytest.raises(UnitFileError, match="NOPE"):
            await import_units(s, read_units_csv(path))


def test_bad_header_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("ma,ten\n1,a\n", encoding="utf-8")
    with pytest.raises(UnitFileError, match="err_header"):
        read_units_csv(path)
    path.write_text("code,name,parent_code,kind\nA,x,,province\nA,y,,province\n", encoding="utf-8")
    with pytest.raises(UnitFileError, match="err_duplicate"):
        read_units_csv(path)


def test_cli_import_and_list(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(CSV, encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'u.sqlite3'}"}
    run = [sys.executable, "-m", "bot"]
    res = subprocess.run(
        [*run, "units", "import", str(path)], env=env, capture_output=True, text=True, check=True
    )
    assert "tạo mới 4, cập nhật 0" in res.stdout
    res = subprocess.run(
        [*run, "units", "list"], env=env, capture_output=True, text=True, check=True
    )
    assert "      10001-01  Thôn Một  [village, no report]" in res.stdout


async def test_demo_province(demo_db: Database) -> None:
    async with demo_db.session() as s:
        units = (await s.exec(select(Unit))).all()
    reporting = [u for u in units if u.reports]
    assert len(reporting) >= 12
    assert any(u.name == "Phường Thành Sen" for u in units)
    assert all(u.duty_contacts for u in units if u.kind in ("commune", "ward"))
