"""The compiled workbook: every total equals the sum over the subtree's latest submitted
versions (a property checked on random trees and reports, drafts excluded), and the workbook
reopens with openpyxl with the expected sheets, headings, frozen panes and sizes."""

from __future__ import annotations

import asyncio
import io
import itertools
import tempfile
from datetime import date, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from compile.data import gather
from compile.indicators import columns, without_hint
from compile.xlsx import FIRST_DATA_ROW, HEADER_ROWS, build_xlsx
from db.engine import Database
from db.models import ReportValue
from db.units import import_units
from kernel.settings import Services
from services.forms.engine import Question, load_form
from tests.conftest import local
from tests.test_compile_data import (
    DEMO_EXPECTED,
    compile_demo,
    draft,
    seed_known_case,
    submit,
    unit,
)

FORM = load_form("bdg_report")
SUMMED = ("integer", "money", "sex_count", "yes_no")


# -- reading the workbook back ---------------------------------------------------------------
def header_map(ws: Worksheet) -> dict[tuple[str, str | None], int]:
    """(question label, sub-heading or None) → column number, read from the header rows."""
    out: dict[tuple[str, str | None], int] = {}
    label = None
    for col in range(7, ws.max_column + 1):
        top = ws.cell(HEADER_ROWS[1], col).value
        sub = ws.cell(HEADER_ROWS[2], col).value
        if top is not None:
            label = str(top)
        assert label is not None
        out[(label, str(sub) if sub else None)] = col
    return out


def totals_row(ws: Worksheet) -> int:
    rows = [r for r in range(FIRST_DATA_ROW, ws.max_row + 1) if ws.cell(r, 3).value == "Tổng cộng"]
    assert len(rows) == 1
    return rows[0]


def column_of(q: Question, part: str | None, heads: dict[tuple[str, str | None], int]) -> int:
    sub = {"m": "Nam", "f": "Nữ", "total": "Tổng số", None: None}[part]
    return heads[(without_hint(q.indicator_text("vi")), sub)]


def expected_number(q: Question, part: str | None, value: Any) -> int:
    if value is None:
        return 0
    if q.type == "sex_count":
        return {"m": value["m"], "f": value["f"], "total": value["m"] + value["f"]}[part or "total"]
    if q.type == "yes_no":
        return int(value is True)
    return int(value)


# -- the property ----------------------------------------------------------------------------
def value_strategy(q: Question) -> st.SearchStrategy[Any]:
    if q.type == "integer":
        return st.integers(0, 100_000)
    if q.type == "money":
        return st.integers(0, 10**11)
    if q.type == "sex_count":
        return st.fixed_dictionaries({"m": st.integers(0, 5000), "f": st.integers(0, 5000)})
    if q.type == "yes_no":
        return st.booleans()
    if q.type == "choice":
        return st.sampled_from([o.key for o in q.options])
    if q.type == "multi":
        return st.lists(st.sampled_from([o.key for o in q.options]), unique=True)
    if q.type == "date":
        return st.dates(date(2025, 1, 1), date(2026, 12, 31)).map(date.isoformat)
    return st.text(max_size=30)


VALUES = st.fixed_dictionaries(
    {}, optional={q.id: st.one_of(st.none(), value_strategy(q)) for q in FORM.questions}
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 10))
    parents = [None] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    units = []
    for i in range(n):
        units.append(
            {
                "parent": parents[i],
                "reports": draw(st.booleans()),
                "kind": draw(st.sampled_from(["commune", "ward", "department", "district"])),
                "versions": draw(st.lists(VALUES, max_size=3)),
                "draft": draw(st.one_of(st.none(), VALUES)),
                "other_period": draw(st.one_of(st.none(), VALUES)),
            }
        )
    return {"units": units, "root": draw(st.integers(0, n - 1))}


def subtree(sc: dict[str, Any], root: int) -> set[int]:
    inside = {root}
    for i, u in enumerate(sc["units"]):  # parents come before children
        if u["parent"] in inside:
            inside.add(i)
    return inside


async def check_scenario(url: str, run: int, sc: dict[str, Any]) -> None:
    db = Database(url)
    prefix = f"R{run}-"
    try:
        async with db.session() as s:
            rows = [
                {
                    "code": f"{prefix}{i}",
                    "name": f"Đơn vị {i}",
                    "parent_code": f"{prefix}{u['parent']}" if u["parent"] is not None else "",
                    "kind": u["kind"],
                    "reports": "1" if u["reports"] else "0",
                }
                for i, u in enumerate(sc["units"])
            ]
            await import_units(s, rows)
            for i, u in enumerate(sc["units"]):
                unit_row = await unit(s, f"{prefix}{i}")
                when = [f"2026-12-0{1 + k}T09:00" for k in range(len(u["versions"]))]
                if u["versions"]:
                    report = await submit(
                        s,
                        unit_row,
                        list(zip(when, u["versions"], strict=True)),
                        revising=u["draft"] is not None,
                    )
                    for qid, v in (u["draft"] or {}).items():  # the working copy being revised
                        s.add(ReportValue(report_id=report.id or 0, question_id=qid, value=v))
                elif u["draft"] is not None:
                    await draft(s, unit_row, u["draft"])
                if u["other_period"] is not None:
                    await submit(
                        s, unit_row, [("2026-06-01T09:00", u["other_period"])], period="2026S1"
                    )
            root = await unit(s, f"{prefix}{sc['root']}")
            c = await gather(s, root, "2026", services=Services(), now=local("2026-12-20T09:00"))
    finally:
        await db.dispose()
    ws = load_workbook(io.BytesIO(build_xlsx(c)))["Tổng hợp"]
    inside = [i for i in sorted(subtree(sc, sc["root"])) if sc["units"][i]["reports"]]
    subtotals = [
        r
        for r in range(FIRST_DATA_ROW, ws.max_row + 1)
        if str(ws.cell(r, 3).value or "").startswith("Cộng ")
    ]
    assert totals_row(ws) == FIRST_DATA_ROW + len(inside) + len(subtotals)
    heads = header_map(ws)
    total = totals_row(ws)
    latest = [sc["units"][i]["versions"][-1] for i in inside if sc["units"][i]["versions"]]
    assert ws.cell(total, 4).value == f"{len(latest)}/{len(inside)}"
    for q in FORM.questions:
        if q.type not in SUMMED:
            continue
        for part in ("m", "f", "total") if q.type == "sex_count" else (None,):
            want = sum(expected_number(q, part, v.get(q.id)) for v in latest)
            got = ws.cell(total, column_of(q, part, heads)).value
            assert got == want, (q.id, part, got, want)


def test_every_total_equals_the_sum_over_the_subtree() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/property.sqlite3"

        async def migrate() -> None:
            db = Database(url)
            await db.upgrade()
            await db.dispose()

        asyncio.run(migrate())
        runs = itertools.count()

        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(sc=scenarios())
        def check(sc: dict[str, Any]) -> None:
            asyncio.run(check_scenario(url, next(runs), sc))

        check()


# -- the workbook's shape ------------------------------------------------------------------------
async def test_workbook_reopens_with_headings_sheets_and_sizes(demo_db: Database) -> None:
    await seed_known_case(demo_db)
    async with demo_db.session() as s:
        await submit(
            s,
            await unit(s, "42-SYT"),
            [("2026-12-02T09:00", {"difficulties": '=HYPERLINK("x")', "comm_sessions": 1})],
        )
    c = await compile_demo(demo_db)
    wb = load_workbook(io.BytesIO(build_xlsx(c)))
    assert wb.sheetnames == ["Tổng hợp", "Chưa nộp báo cáo", "Khó khăn, kiến nghị"]
    ws = wb["Tổng hợp"]
    assert ws.freeze_panes == "D7"
    assert "TỔNG HỢP BÁO CÁO TỔNG KẾT NĂM 2026 — TỈNH HÀ TĨNH" in str(ws["A1"].value)
    assert "6/18" in str(ws["A2"].value)
    heads = [ws.cell(HEADER_ROWS[0], col).value for col in range(1, 7)]
    assert heads == [
        "STT",
        "Mã đơn vị",
        "Đơn vị",
        "Tình trạng",
        "Số tham chiếu",
        "Ngày gửi lần đầu",
    ]
    cols = columns(FORM, "annual")
    assert ws.max_column == 6 + len(cols)
    sections = {ws.cell(HEADER_ROWS[0], col).value for col in range(7, ws.max_column + 1)}
    assert {"Lãnh đạo, chỉ đạo", "Tuyên truyền", "Tháng hành động vì bình đẳng giới"} <= sections
    header = header_map(ws)
    assert ("Số người tham dự truyền thông trực tiếp", "Tổng số") in header
    assert ("Khó khăn, vướng mắc", None) not in header  # free text has its own sheet
    # One row per reporting unit, then the totals.
    assert totals_row(ws) == FIRST_DATA_ROW + DEMO_EXPECTED
    statuses = [ws.cell(r, 4).value for r in range(FIRST_DATA_ROW, totals_row(ws))]
    assert statuses.count("Chưa nộp") == 12 and statuses.count("Trễ hạn") == 1
    sessions = column_of(FORM.by_id["comm_sessions"], None, header)
    assert ws.cell(totals_row(ws), sessions).value == 5 + 7 + 11 + 2 + 3 + 1
    dates = {ws.cell(r, 6).value for r in range(FIRST_DATA_ROW, totals_row(ws))} - {None}
    assert datetime(2026, 12, 8) in dates and len(dates) == 6  # real dates, shown dd/mm/yyyy
    missing = wb["Chưa nộp báo cáo"]
    assert missing.max_row == 2 + 12
    assert [missing.cell(2, c).value for c in range(1, 7)] == [
        "STT",
        "Mã đơn vị",
        "Đơn vị",
        "Hạn nộp",
        "Số ngày trễ",
        "Cán bộ liên hệ",
    ]
    assert {missing.cell(r, 5).value for r in range(3, 15)} == {13}
    remarks = wb["Khó khăn, kiến nghị"]
    assert remarks.cell(2, 3).value == '=HYPERLINK("x")'  # user text is never a formula
    assert remarks.cell(2, 3).data_type == "s"


async def test_six_month_workbook_has_no_annual_only_columns(demo_db: Database) -> None:
    c = await compile_demo(demo_db, period="2026S1", now="2026-06-20T09:00")
    ws = load_workbook(io.BytesIO(build_xlsx(c)))["Tổng hợp"]
    labels = {label for label, _ in header_map(ws)}
    assert FORM.by_id["am_events"].indicator_text("vi") not in labels
    assert FORM.by_id["vio_cases"].indicator_text("vi") in labels
    assert ws.max_column == 6 + len(columns(FORM, "semiannual")) < 6 + len(columns(FORM, "annual"))
    assert "0/18" in str(ws["A2"].value)
