"""The DOCX draft reopens with python-docx with the administrative header, the outline of the
form, one table per section with one row per indicator, the difficulties gathered under one
heading and the reporting rate; the charts are PNG images."""

from __future__ import annotations

import io
import re

from docx import Document
from docx.shared import Pt
from PIL import Image

from compile.build import file_name, render, render_all
from compile.charts import bars, status_groups
from compile.docx import INLINE_MISSING_MAX, build_docx, place_name
from compile.indicators import applies
from db.engine import Database
from db.units import import_units
from services.forms.engine import load_form
from tests.test_compile_data import compile_demo, seed_known_case, submit, unit

FORM = load_form("bdg_report")


def result_sections(kind: str) -> list[tuple[str, int]]:
    """(section id, number of table rows expected) for the sections with figures."""
    out = []
    for sec in FORM.sections:
        qs = [q for q in sec.questions if q.type not in ("text", "date") and applies(FORM, q, kind)]
        if qs:
            out.append((sec.id, len(qs)))
    return out


async def test_docx_reopens_with_header_outline_tables_and_rates(demo_db: Database) -> None:
    await seed_known_case(demo_db)
    async with demo_db.session() as s:
        await submit(
            s,
            await unit(s, "28405"),
            [
                (
                    "2026-12-03T09:00",
                    {
                        "difficulties": "Thiếu kinh phí tuyên truyền ở thôn vùng sâu.",
                        "recommendations": "Đề nghị mở lớp tập huấn cho thôn.",
                        "comm_participants": {"m": 12, "f": 30},
                    },
                )
            ],
        )
    c = await compile_demo(demo_db)
    doc = Document(io.BytesIO(build_docx(c)))
    texts = [p.text for p in doc.paragraphs]
    header = doc.tables[0]
    left, right = (cell.text for cell in header.rows[0].cells)
    assert "UBND TỈNH HÀ TĨNH" in left and "SỞ NỘI VỤ TỈNH HÀ TĨNH" in left
    assert "(CƠ QUAN THƯỜNG TRỰC)" not in left
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in right
    assert "Độc lập - Tự do - Hạnh phúc" in right
    assert "Hà Tĩnh, ngày 20 tháng 12 năm 2026" in right
    assert "BÁO CÁO" in texts
    assert any("Tổng hợp kết quả báo cáo tổng kết năm 2026" in t for t in texts)
    headings = [t for t in texts if t[:4] in ("I. T", "II. ", "III.", "IV. ")]
    assert headings == [
        "I. TÌNH HÌNH GỬI BÁO CÁO",
        "II. KẾT QUẢ THỰC HIỆN",
        "III. KHÓ KHĂN, VƯỚNG MẮC VÀ ĐỀ XUẤT, KIẾN NGHỊ",
        "IV. NHẬN XÉT, ĐÁNH GIÁ VÀ PHƯƠNG HƯỚNG",
    ]
    rates = next(t for t in texts if "tỷ lệ báo cáo" in t)
    assert "6/18" in rates and "33,3%" in rates and "tỷ lệ đúng hạn 27,8%" in rates
    assert any("Còn 12 đơn vị chưa gửi báo cáo: " in t and "Xã Cẩm Xuyên" in t for t in texts)
    # Sections follow the form, numbered 1…n, each with its table of figures.
    expected = result_sections("annual")
    # Numbered "1. " … "13. ": the form has more than nine sections with figures.
    subsections = [t for t in texts if re.match(r"\d+\. ", t)]
    assert subsections[: len(expected)] == [
        f"{i}. {FORM.sections[[s.id for s in FORM.sections].index(sid)].text('vi').split('. ', 1)[1]}"
        for i, (sid, _) in enumerate(expected, 1)
    ]
    tables = doc.tables[1:-1]  # between the header block and the signature block
    assert [len(t.rows) for t in tables] == [1 + n for _, n in expected]
    communication = tables[1]
    assert [c.text for c in communication.rows[0].cells] == [
        "STT",
        "Chỉ tiêu",
        "Nam",
        "Nữ",
        "Tổng số",
    ]
    participants = next(r for r in communication.rows if "tham dự" in r.cells[1].text)
    assert [c.text for c in participants.cells[2:]] == ["12", "30", "42"]
    # Difficulties and recommendations, every unit's text under one heading.
    part3 = texts.index("III. KHÓ KHĂN, VƯỚNG MẮC VÀ ĐỀ XUẤT, KIẾN NGHỊ")
    part4 = texts.index("IV. NHẬN XÉT, ĐÁNH GIÁ VÀ PHƯƠNG HƯỚNG")
    remarks = texts[part3:part4]
    assert "- Xã Hương Khê: Thiếu kinh phí tuyên truyền ở thôn vùng sâu." in remarks
    assert "- Xã Hương Khê: Đề nghị mở lớp tập huấn cho thôn." in remarks
    signature = doc.tables[-1].rows[0].cells
    assert "Nơi nhận:" in signature[0].text and "THỦ TRƯỞNG CƠ QUAN" in signature[1].text
    # Times New Roman 13–14 pt for the text; A4 with the decree's margins.
    normal = doc.styles["Normal"].font
    assert normal.name == "Times New Roman" and normal.size == Pt(14)
    body_sizes = {r.font.size for p in doc.paragraphs for r in p.runs if r.text.strip()}
    assert body_sizes <= {Pt(13), Pt(14)}
    section = doc.sections[0]
    assert round(section.page_width.cm, 1) == 21.0 and round(section.left_margin.cm, 1) == 3.0


async def test_many_units_not_reported_go_to_an_appendix_table(db: Database) -> None:
    rows = [
        {
            "code": "T",
            "name": "Thành phố Huế",
            "parent_code": "",
            "kind": "province",
            "reports": "0",
        }
    ]
    n = INLINE_MISSING_MAX + 5
    rows += [
        {"code": f"T{i}", "name": f"Phường {i}", "parent_code": "T", "kind": "ward", "reports": "1"}
        for i in range(n)
    ]
    async with db.session() as s:
        await import_units(s, rows)
    c = await compile_demo(db, root_code="T")
    doc = Document(io.BytesIO(build_docx(c)))
    texts = [p.text for p in doc.paragraphs]
    assert f"Còn {n} đơn vị chưa gửi báo cáo (danh sách tại Phụ lục)." in texts
    assert "PHỤ LỤC" in texts
    assert len(doc.tables[-1].rows) == 1 + n
    assert "Huế, ngày" in doc.tables[0].rows[0].cells[1].text
    assert "BAN VÌ SỰ TIẾN BỘ CỦA PHỤ NỮ" in doc.tables[0].rows[0].cells[0].text  # no agency unit


async def test_charts_are_png_images_with_the_forms_questions(demo_db: Database) -> None:
    await seed_known_case(demo_db)
    c = await compile_demo(demo_db)
    files = render(c, "png")
    assert [f.chart for f in files] == ["status", "violence", "participants"]
    for f in files:
        img = Image.open(io.BytesIO(f.data))
        assert img.format == "PNG" and img.width > 600 and img.height > 300
        assert f.kind == "photo" and f.name.endswith("-2026-42.png")
    assert [b.qid for b in bars(c, "violence", "vi")][:2] == ["vio_physical", "vio_psychological"]
    assert "am_participants" in [b.qid for b in bars(c, "participants", "vi")]
    groups = status_groups(c, "vi")
    assert len(groups) == 18 and all(len(units) == 1 for _, units in groups)
    six = await compile_demo(demo_db, period="2026S1", now="2026-06-20T09:00")
    assert "am_participants" not in [b.qid for b in bars(six, "participants", "vi")]


async def test_everything_together_for_a_channel(demo_db: Database) -> None:
    c = await compile_demo(demo_db)
    files = render_all(c)
    assert [f.name for f in files] == [
        file_name(c, "xlsx"),
        file_name(c, "docx"),
        "bieu-do-trang-thai-2026-42.png",
        "bieu-do-bao-luc-2026-42.png",
        "bieu-do-nguoi-tham-gia-2026-42.png",
    ]
    assert [f.kind for f in files] == ["document", "document", "photo", "photo", "photo"]


def test_place_name_drops_the_level() -> None:
    assert place_name("Tỉnh Hà Tĩnh") == "Hà Tĩnh"
    assert place_name("Thành phố Huế") == "Huế"
    assert place_name("Xã Thạch Lạc") == "Thạch Lạc"
    assert place_name("Hà Nội") == "Hà Nội"
