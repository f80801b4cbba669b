"""A province's unit file as Excel writes it: encodings, separators, Vietnamese headers and
kinds, every error with its line; the import plan (dry run) and a re-import that moves a
subtree without losing its officers."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from db import queries
from db.engine import Database
from db.models import Officer
from db.unit_file import UnitFileError, parse
from db.units import import_units, plan_import
from services.cases.parsers import Place, search_places
from tests.chat import Chat

PROVINCE = """mã;tên;mã cấp trên;loại;báo cáo
46;Thành phố Huế;;thành phố;0
46001;Phường Thuận Hóa;46;phường;có
46002;Xã Phú Vang;46;xã;1
46003;Đặc khu Cồn Cỏ;46;đặc khu;không
46002-01;Thôn Thạch Hãn;46002;thôn;0
"""


TONES = "\u0300\u0301\u0303\u0309\u0323"


def to_cp1258(text: str) -> bytes:
    """Encode as Windows does: a precomposed letter where Windows-1258 has one, else the base
    letter followed by a combining tone mark (ã → a + U+0303, ấ → â + U+0301)."""
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        nfd = unicodedata.normalize("NFD", ch)
        tones = [c for c in nfd if c in TONES]
        base = unicodedata.normalize("NFC", "".join(c for c in nfd if c not in TONES))
        out += (base + "".join(tones)).encode("cp1258")
    return bytes(out)


def encode(text: str, encoding: str) -> bytes:
    return to_cp1258(text) if encoding == "cp1258" else text.encode(encoding)


def keys(err: UnitFileError) -> list[tuple[int, str]]:
    return [(e.line, e.key) for e in err.errors]


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "cp1258", "utf-16"], ids=lambda e: str(e)
)
def test_encodings_and_semicolons(encoding: str) -> None:
    data = encode(PROVINCE, encoding)
    f = parse(data)
    assert f.delimiter == ";"
    assert [(r["code"], r["kind"], r["reports"]) for r in f.rows] == [
        ("46", "city", "0"),
        ("46001", "ward", "1"),
        ("46002", "commune", "1"),
        ("46003", "special_zone", "0"),
        ("46002-01", "village", "0"),
    ]
    # Windows-1258 writes some tones as combining marks: names come back composed (NFC).
    assert f.rows[3]["name"] == "Đặc khu Cồn Cỏ"
    assert f.rows[2]["name"] == "Xã Phú Vang"
    assert f.lines["46003"] == 5


def test_windows_1258_is_detected_not_guessed_as_utf8() -> None:
    f = parse(to_cp1258(PROVINCE))
    assert f.encoding == "windows-1258"
    assert parse(PROVINCE.encode("utf-8")).encoding == "utf-8"


def test_english_header_tabs_and_historical_kinds() -> None:
    text = "code\tname\tparent_code\tkind\nP\tTỉnh X\t\tprovince\nH\tHuyện Y\tP\thuyện\n"
    text += "10001\tThị trấn Z\tH\tthị trấn\n"
    f = parse(text.encode())
    assert f.delimiter == "\t"
    assert [r["kind"] for r in f.rows] == ["province", "district", "town"]


def test_every_error_names_its_line() -> None:
    text = (
        "code,name,parent_code,kind,reports\n"
        "46,Tỉnh,,tỉnh,0\n"
        "46 001,Xã A,46,xã,1\n"  # 3: space in the code
        "ABC,Xã B,46,xã,1\n"  # 4: a commune needs its official code
        "46003,Xã C,46,xa,1\n"  # 5: kind without diacritics
        "46004,Xã D,46,xã,có lẽ\n"  # 6: reports
        "46005,,46,xã,1\n"  # 7: no name
        "46006,Xã E,46,hamlet,1\n"  # 8: unknown kind
        "46,Tỉnh lặp,,tỉnh,0\n"  # 9: duplicate
    )
    with pytest.raises(UnitFileError) as e:
        parse(text.encode())
    assert keys(e.value) == [
        (3, "units.err_code"),
        (4, "units.err_official_code"),
        (5, "units.err_kind_hint"),
        (6, "units.err_reports"),
        (7, "units.err_no_name"),
        (8, "units.err_kind"),
        (9, "units.err_duplicate"),
    ]
    assert e.value.errors[2].params["hint"] == "xã"


def test_header_problems() -> None:
    with pytest.raises(UnitFileError) as e:
        parse(b"ma;ten\n1;a\n")
    assert keys(e.value) == [(1, "units.err_header")]
    with pytest.raises(UnitFileError) as empty:
        parse(b"code,name,parent_code,kind\n")
    assert keys(empty.value) == [(0, "units.err_empty")]


async def test_plan_shows_changes_and_refuses_unknown_parents_and_cycles(
    db: Database,
) -> None:
    f = parse(PROVINCE.encode())
    async with db.session() as s:
        plan = await plan_import(s, f.rows, f.lines)
        assert (plan.created, plan.updated, plan.unchanged) == (5, 0, 0)
        await import_units(s, f.rows, f.lines)
    renamed = parse(PROVINCE.replace("Xã Phú Vang", "Xã Phú Vang Mới").encode())
    async with db.session() as s:
        plan = await plan_import(s, renamed.rows, renamed.lines)
        # The dry run wrote nothing.
        unit = await queries.unit_by_code(s, "46002")
        assert unit is not None and unit.name == "Xã Phú Vang"
    assert (plan.created, plan.updated, plan.unchanged) == (0, 1, 4)
    assert plan.changes[0].fields == {"name": ("Xã Phú Vang", "Xã Phú Vang Mới")}

    orphan = parse("code,name,parent_code,kind\n46009,Xã F,99,xã\n".encode())
    async with db.session() as s:
        with pytest.raises(UnitFileError) as e:
            await plan_import(s, orphan.rows, orphan.lines)
    assert keys(e.value) == [(2, "units.err_unknown_parent")]
    # 46 under its own grandchild 46002-01: a cycle through the database.
    cycle = parse("code,name,parent_code,kind\n46,Huế,46002-01,thành phố\n".encode())
    async with db.session() as s:
        with pytest.raises(UnitFileError) as c:
            await plan_import(s, cycle.rows, cycle.lines)
    assert keys(c.value) == [(2, "units.err_cycle")]


async def test_reimport_moves_a_subtree_and_keeps_officers(
    demo_db: Database, make_chat: Callable[..., Chat]
) -> None:
    """28303 moves under a new district-like parent: its officers stay, and its villages'
    paths follow (a subtree query from the new parent finds them)."""
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    text = (
        "code,name,parent_code,kind\n"
        "42-CUM,Cụm Thạch Hà,42,huyện\n"
        "28303,Xã Thạch Lạc (mới),42-CUM,xã\n"
    )
    f = parse(text.encode())
    async with demo_db.session() as s:
        result = await import_units(s, f.rows, f.lines)
    assert (result.created, result.updated) == (1, 1)
    async with demo_db.session() as s:
        group = await queries.unit_by_code(s, "42-CUM")
        commune = await queries.unit_by_code(s, "28303")
        assert group is not None and commune is not None
        assert commune.name == "Xã Thạch Lạc (mới)" and commune.parent_id == group.id
        below = [u.code for u in await queries.subtree(s, group)]
        assert below == ["42-CUM", "28303", "28303-01", "28303-02"]
        officers = (await s.exec(Officer.__table__.select())).all()  # type: ignore[attr-defined,call-overload]
        assert any(o.unit_id == commune.id for o in officers)
    out = await lan.send("/trangthai")
    assert "Thạch Lạc (mới)" in out


def test_cp1258_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_bytes(to_cp1258(PROVINCE))
    from db.unit_file import read_file

    assert len(read_file(path).rows) == 5


def test_a_special_zone_is_a_commune_for_case_intake() -> None:
    """A case in a special zone (or one of its villages) goes to the zone itself."""
    places = [
        Place(1, "Thành phố Huế", "46", "city", None),
        Place(2, "Xã Phú Vang", "46002", "commune", 1),
        Place(3, "Đặc khu Cồn Cỏ", "46003", "special_zone", 1),
        Place(4, "Thôn Bến Đảo", "46003-01", "village", 3),
    ]
    assert [m.unit_id for m in search_places("con co", places)] == [3]
    assert [m.unit_id for m in search_places("ben dao", places)] == [3]
