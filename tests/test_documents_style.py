"""Documents in the style of Decree 30/2020 (issue 15): the issuing body's own symbol,
"Kính gửi", a real "Nơi nhận", indicators as noun phrases, lower-case common nouns; the
workbook in tree order with subtotals per level and grouped number formats; a status chart
that reads at a glance."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from docx import Document
from openpyxl import load_workbook

from compile import charts
from compile.data import gather
from compile.docx import abbreviation, build_docx, doc_symbol, in_sentence
from compile.xlsx import FIRST_DATA_ROW, HEADER_ROWS, NUMBER_FORMAT, build_xlsx
from db.engine import Database
from db.models import Unit
from db.queries import child_path
from kernel.settings import Services
from tests.conftest import local
from tests.test_compile_data import compile_demo, seed_known_case, submit


@pytest.mark.parametrize(
    ("name", "abbr"),
    [
        ("Sở Nội vụ tỉnh Hà Tĩnh", "SNV"),
        ("Sở Nội vụ", "SNV"),
        ("Ban vì sự tiến bộ của phụ nữ", "BVSTBPN"),
        ("Phòng Lao động - Thương binh và Xã hội huyện Sơn Dương", "PLĐTBXH"),
    ],
)
def test_the_symbol_is_the_issuing_bodys_initials(name: str, abbr: str) -> None:
    assert abbreviation(name) == abbr


def test_common_nouns_are_lower_case_inside_a_sentence() -> None:
    assert in_sentence("Tỉnh Hà Tĩnh") == "tỉnh Hà Tĩnh"
    assert in_sentence("Thành phố Hà Tĩnh") == "thành phố Hà Tĩnh"
    assert in_sentence("Đặc khu Phú Quốc") == "đặc khu Phú Quốc"
    assert in_sentence("Sở Nội vụ") == "Sở Nội vụ"  # a proper name stays


async def test_docx_header_addressee_recipients_and_indicators(demo_db: Database) -> None:
    await seed_known_case(demo_db)
    c = await compile_demo(demo_db)
    doc = Document(io.BytesIO(build_docx(c)))
    left = doc.tables[0].rows[0].cells[0].text
    assert "Số:" in left and left.rstrip().endswith("/BC-SNV")
    texts = [p.text for p in doc.paragraphs]
    assert "Kính gửi: Ủy ban nhân dân tỉnh Hà Tĩnh." in texts
    assert any("18 đơn vị thuộc tỉnh Hà Tĩnh" in x for x in texts)
    assert not any("Tỉnh Hà Tĩnh như sau" in x for x in texts)
    signature = doc.tables[-1].rows[0].cells[0].text
    assert "Nơi nhận:" in signature
    assert "- Ban vì sự tiến bộ của phụ nữ tỉnh Hà Tĩnh;" in signature
    assert "- Lưu: VT, SNV." in signature
    indicators = [
        row.cells[1].text for table in doc.tables[1:-1] for row in table.rows[1:] if row.cells
    ]
    assert "Số vụ bạo lực được phát hiện" in indicators
    assert not [x for x in indicators if x.rstrip().endswith("?") or "dd/mm" in x]
    # A configured symbol wins (BDG_DOC_SYMBOL).
    assert doc_symbol(replace(c, doc_symbol="BC-BVSTBPN"), "vi") == "BC-BVSTBPN"


async def test_workbook_in_tree_order_with_subtotals_and_number_formats(db: Database) -> None:
    async with db.session() as s:

        async def add(code: str, name: str, kind: str, parent: Unit | None, reports: bool) -> Unit:
            u = Unit(code=code, name=name, kind=kind, reports=reports)
            u.parent_id = parent.id if parent else None
            s.add(u)
            await s.flush()
            u.path = child_path(parent, u.id or 0)
            return u

        prov = await add("40", "Tỉnh Nghệ An", "province", None, False)
        # Created in an order that is neither the codes' nor the tree's.
        d2 = await add("412", "Huyện Hưng Nguyên", "district", prov, False)
        c10 = await add("10", "Xã Mười", "commune", d2, True)
        d1 = await add("411", "Huyện Nam Đàn", "district", prov, False)
        c9 = await add("9", "Xã Chín", "commune", d1, True)
        c2 = await add("2", "Xã Hai", "commune", d2, True)
        c1 = await add("1", "Xã Một", "commune", d1, True)
        for u, money in ((c10, 1_500_000), (c9, 2_000_000), (c2, 250_000), (c1, 15_500_000)):
            await submit(
                s,
                u,
                [("2026-12-01T09:00", {"money_spent": money, "comm_sessions": 1200})],
            )
        c = await gather(s, prov, "2026", services=Services(), now=local("2026-12-20T09:00"))
    ws = load_workbook(io.BytesIO(build_xlsx(c)))["Tổng hợp"]
    rows = [
        [ws.cell(r, col).value for col in (2, 3, 4)] for r in range(FIRST_DATA_ROW, ws.max_row + 1)
    ]
    assert rows == [
        ["1", "Xã Một", "Đúng hạn"],
        ["9", "Xã Chín", "Đúng hạn"],
        [None, "Cộng Huyện Nam Đàn", "2/2"],
        ["2", "Xã Hai", "Đúng hạn"],
        ["10", "Xã Mười", "Đúng hạn"],
        [None, "Cộng Huyện Hưng Nguyên", "2/2"],
        [None, "Tổng cộng", "4/4"],
    ]
    heads = {ws.cell(HEADER_ROWS[1], col).value: col for col in range(7, ws.max_column + 1)}
    assert not [h for h in heads if h and "dd/mm" in str(h)]
    money = next(col for h, col in heads.items() if h and str(h).startswith("Tổng kinh phí"))
    sessions = next(col for h, col in heads.items() if h == "Số buổi truyền thông trực tiếp")
    first, sub, total = FIRST_DATA_ROW, FIRST_DATA_ROW + 2, FIRST_DATA_ROW + 6
    assert ws.cell(first, money).value == 15_500_000
    assert ws.cell(sub, money).value == 17_500_000
    assert ws.cell(total, money).value == 19_250_000
    assert ws.cell(total, sessions).value == 4800
    for r in (first, sub, total):
        assert ws.cell(r, money).number_format == NUMBER_FORMAT == "#,##0"
        assert ws.cell(r, sessions).number_format == NUMBER_FORMAT


async def test_a_flat_subtree_gets_one_bar_and_a_table(
    demo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """18 units directly under the province: one stacked bar and the table of units late or
    not reported, not 18 full-width bars on a 0-1 axis."""
    await seed_known_case(demo_db)
    c = await compile_demo(demo_db)
    assert all(len(us) == 1 for _, us in charts.status_groups(c, "vi"))
    used: list[str] = []
    real_flat, real_grouped = charts._status_flat, charts._status_grouped
    monkeypatch.setattr(charts, "_status_flat", lambda *a: used.append("flat") or real_flat(*a))
    monkeypatch.setattr(
        charts, "_status_grouped", lambda *a: used.append("grouped") or real_grouped(*a)
    )
    png = charts.status_chart(c, "vi")
    assert used == ["flat"] and png[:8] == b"\x89PNG\r\n\x1a\n"
