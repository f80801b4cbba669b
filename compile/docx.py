"""The compiled report as a DOCX draft in Vietnamese administrative style (the layout of
Decree 30/2020/NĐ-CP: A4, Times New Roman, margins 2 / 2 / 3 / 1.5 cm), for the standing
agency to edit and sign. It is a draft, not a finished official document.

    UBND TỈNH HÀ TĨNH                     CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
    SỞ NỘI VỤ                                  Độc lập - Tự do - Hạnh phúc
    Số:    /BC-…                          Hà Tĩnh, ngày 25 tháng 11 năm 2026
                              BÁO CÁO
             Tổng hợp báo cáo tổng kết năm 2026 về công tác …
    I. TÌNH HÌNH GỬI BÁO CÁO          (reporting rate, on-time rate, units not reported)
    II. KẾT QUẢ THỰC HIỆN             (one subsection and table per section of the form)
    III. KHÓ KHĂN, VƯỚNG MẮC VÀ ĐỀ XUẤT, KIẾN NGHỊ   (every unit's text, under one heading)
    IV. NHẬN XÉT, ĐÁNH GIÁ            (left for the agency to write)
    Nơi nhận / signature block; appendix of units not reported when the list is long.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from compile.data import Compilation, UnitStatus, display_name, fmt_int, fmt_pct
from compile.indicators import (
    NUMERIC_TYPES,
    Column,
    applies,
    option_counts,
    respondents,
    section_title,
    text_questions,
    without_hint,
)
from kernel.i18n import t
from services.forms.engine import Form, Question

FONT = "Times New Roman"
BODY_PT = 14
TABLE_PT = 13
INLINE_MISSING_MAX = 20  # more units not reported go to an appendix table
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
# Words that name a unit's level; the place in "Hà Tĩnh, ngày …" is the name without them.
_LEVEL_WORDS = re.compile(
    r"^(tỉnh|thành phố|tp\.?|huyện|quận|thị xã|xã|phường|thị trấn|ubnd)\s+", re.IGNORECASE
)
_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def place_name(name: str) -> str:
    """ "Tỉnh Hà Tĩnh" → "Hà Tĩnh" (the place in the date line)."""
    return _LEVEL_WORDS.sub("", name.strip()) or name


# Common nouns that open a unit's name: lower-case inside a sentence ("18 đơn vị thuộc tỉnh
# Hà Tĩnh"), as Decree 30/2020 (appendix II) writes administrative units.
_LEVEL_LEAD = re.compile(
    r"^(Tỉnh|Thành phố|Huyện|Quận|Thị xã|Xã|Phường|Thị trấn|Đặc khu|Thôn|Tổ dân phố)(?=\s)"
)
_PLACE_TAIL = re.compile(
    r"\s+(tỉnh|thành phố|huyện|quận|thị xã|xã|phường|thị trấn|đặc khu)\s+\S.*$"
)
_SKIP_IN_SYMBOL = {"và", "của", "-", "–"}


def in_sentence(name: str) -> str:
    """ "Tỉnh Hà Tĩnh" → "tỉnh Hà Tĩnh"; a proper name ("Sở Nội vụ") is left alone."""
    m = _LEVEL_LEAD.match(name.strip())
    return m.group(1).lower() + name.strip()[m.end() :] if m else name


def abbreviation(name: str) -> str:
    """The initials of a body's name, as its document symbols use them: "Sở Nội vụ" → "SNV",
    "Ban vì sự tiến bộ của phụ nữ" → "BVSTBPN" ("và", "của" left out; Đ kept)."""
    out = []
    name = _PLACE_TAIL.sub("", name.strip())  # "Sở Nội vụ tỉnh Hà Tĩnh" → "Sở Nội vụ"
    for word in re.split(r"[\s,]+", name):
        if not word or word.lower() in _SKIP_IN_SYMBOL:
            continue
        first = word[0]
        if first in "Đđ":
            out.append("Đ")
            continue
        base = unicodedata.normalize("NFD", first)[0]
        if base.isalnum():
            out.append(base.upper())
    return "".join(out)


def doc_symbol(c: Compilation, lang: str) -> str:
    """The report's symbol after the number: BDG_DOC_SYMBOL, else "BC-" and the issuing
    body's initials ("BC-SNV" for Sở Nội vụ)."""
    if c.doc_symbol:
        return c.doc_symbol
    return "BC-" + abbreviation(_agency_name(c, lang))


def _clean(text: str) -> str:
    return _XML_BAD.sub("", text)


# -- low-level helpers -------------------------------------------------------------------------
def _run(
    p: Paragraph, text: str, *, bold: bool = False, italic: bool = False, size: float = BODY_PT
) -> None:
    r = p.add_run(_clean(text))
    r.bold = bold or None
    r.italic = italic or None
    r.font.size = Pt(size)


def _para(
    container: Any,
    text: str = "",
    *,
    bold: bool = False,
    italic: bool = False,
    size: float = BODY_PT,
    align: WD_ALIGN_PARAGRAPH | None = None,
    indent: bool = False,
    after: float = 6,
) -> Paragraph:
    p: Paragraph = container.add_paragraph()
    if text:
        _run(p, text, bold=bold, italic=italic, size=size)
    pf = p.paragraph_format
    pf.space_before = Pt(0)
    pf.space_after = Pt(after)
    if align is not None:
        p.alignment = align
    if indent:
        pf.first_line_indent = Cm(1.27)
    return p


def _rule(container: Any, indent_cm: float) -> None:
    """The short line drawn under a header name or the motto."""
    p = _para(container, after=0, size=4)
    pf = p.paragraph_format
    pf.left_indent = Cm(indent_cm)
    pf.right_indent = Cm(indent_cm)
    pf.line_spacing = Pt(2)
    ppr = p._p.get_or_add_pPr()
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(k), v)
    border.append(bottom)
    ppr.append(border)


def _no_borders(table: Table) -> None:
    tbl_pr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    tbl_pr.append(borders)


def _cell(
    cell: _Cell,
    text: str,
    *,
    bold: bool = False,
    italic: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = None,
    size: float = TABLE_PT,
) -> None:
    p = cell.paragraphs[0]
    _run(p, text, bold=bold, italic=italic, size=size)
    p.paragraph_format.space_after = Pt(0)
    p.paragraph_format.space_before = Pt(0)
    if align is not None:
        p.alignment = align


def _grid(
    doc: DocumentObject,
    heads: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths_cm: Sequence[float],
    centred: Sequence[int] = (),
) -> Table:
    """A bordered table with a repeating header row. A row with fewer values than columns
    spans its last value over the remaining columns."""
    table = doc.add_table(rows=1 + len(rows), cols=len(heads))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _set_widths(table, widths_cm)
    for i, head in enumerate(heads):
        _cell(table.rows[0].cells[i], head, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    # The header row repeats on every page.
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    tr_pr.append(header)
    for r, values in enumerate(rows, 1):
        cells = list(table.rows[r].cells)
        if len(values) < len(heads):
            cells[len(values) - 1] = cells[len(values) - 1].merge(cells[-1])
        for i, v in enumerate(values):
            _cell(cells[i], v, align=WD_ALIGN_PARAGRAPH.CENTER if i in centred else None)
    return table


def _set_widths(table: Table, widths_cm: Sequence[float]) -> None:
    """Column widths in the grid (what LibreOffice reads) and in every cell (what Word
    reads)."""
    table.autofit = False
    for i, w in enumerate(widths_cm):
        table.columns[i].width = Cm(w)
    for row in table.rows:
        for i, w in enumerate(widths_cm):
            row.cells[i].width = Cm(w)


def _setup(doc: DocumentObject) -> None:
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = Cm(21), Cm(29.7)
    sec.top_margin, sec.bottom_margin = Cm(2), Cm(2)
    sec.left_margin, sec.right_margin = Cm(3), Cm(1.5)
    for name in ("Normal", "Table Grid"):
        style = doc.styles[name]
        style.font.name = FONT  # type: ignore[union-attr]
        style.font.size = Pt(BODY_PT)  # type: ignore[union-attr]
        rpr = style.element.get_or_add_rPr()
        fonts = rpr.find(qn("w:rFonts"))
        if fonts is None:
            fonts = OxmlElement("w:rFonts")
            rpr.append(fonts)
        for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
            fonts.set(qn(attr), FONT)
    normal = doc.styles["Normal"].paragraph_format  # type: ignore[union-attr]
    normal.line_spacing = 1.1
    normal.space_after = Pt(6)
    # Page numbers at the top centre, as the decree asks from page 2 on.
    header = sec.header.paragraphs[0]
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
        run = header.add_run()
        run.font.size = Pt(TABLE_PT)
        if kind:
            fld = OxmlElement("w:fldChar")
            fld.set(qn("w:fldCharType"), kind)
            run._r.append(fld)
        else:
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = str(text)
            run._r.append(instr)
    sec.different_first_page_header_footer = True


# -- the document ---------------------------------------------------------------------------------
def build_docx(
    c: Compilation, *, lang: str = "vi", progress: Callable[[int, int], None] | None = None
) -> bytes:
    doc = Document()
    _setup(doc)
    _header_block(doc, c, lang)
    _title(doc, c, lang)
    _reporting(doc, c, lang)
    _results(doc, c, lang)
    _remarks(doc, c, lang, progress)
    _para(doc, t(lang, "admin.docx_assessment"), bold=True, after=6)
    _para(doc, t(lang, "admin.docx_assessment_hint"), italic=True, indent=True)
    _para(
        doc,
        t(lang, "admin.docx_closing", agency=_agency_name(c, lang)),
        indent=True,
        align=WD_ALIGN_PARAGRAPH.JUSTIFY,
    )
    _para(doc, after=0, size=8)
    _signature(doc, c, lang)
    _appendix(doc, c, lang)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _agency_name(c: Compilation, lang: str) -> str:
    if c.agency is not None:
        return display_name(c.agency)
    return t(lang, "admin.docx_committee")


def _header_block(doc: DocumentObject, c: Compilation, lang: str) -> None:
    table = doc.add_table(rows=1, cols=2)
    _no_borders(table)
    table.autofit = False
    left, right = table.rows[0].cells
    _set_widths(table, (6.4, 10.1))  # the national title fits on one line
    center = WD_ALIGN_PARAGRAPH.CENTER
    superior = t(lang, "admin.docx_superior", unit=c.root.name).upper()
    p = left.paragraphs[0]
    _run(p, superior, size=12)
    p.alignment = center
    p.paragraph_format.space_after = Pt(0)
    _para(left, _agency_name(c, lang).upper(), bold=True, size=12, align=center, after=0)
    _rule(left, 2.2)
    _para(
        left,
        t(lang, "admin.docx_number", symbol=doc_symbol(c, lang)),
        size=13,
        align=center,
        after=0,
    )

    p = right.paragraphs[0]
    _run(p, t(lang, "admin.docx_nation"), bold=True, size=12)
    p.alignment = center
    p.paragraph_format.space_after = Pt(0)
    _para(right, t(lang, "admin.docx_motto"), bold=True, size=13, align=center, after=0)
    _rule(right, 1.65)
    d = c.today
    _para(
        right,
        t(
            lang,
            "admin.docx_place_date",
            place=place_name(c.root.name),
            d=f"{d.day:02d}",
            m=f"{d.month:02d}",
            y=d.year,
        ),
        italic=True,
        size=14,
        align=center,
        after=0,
    )


def _title(doc: DocumentObject, c: Compilation, lang: str) -> None:
    center = WD_ALIGN_PARAGRAPH.CENTER
    _para(doc, t(lang, "admin.docx_draft"), italic=True, size=13, align=center)
    _para(doc, t(lang, "admin.docx_title"), bold=True, size=14, align=center, after=0)
    label = c.period.text(lang)
    _para(
        doc,
        t(lang, "admin.docx_subtitle", report=label[:1].lower() + label[1:], year=c.period.year),
        bold=True,
        size=14,
        align=center,
        after=0,
    )
    _rule(doc, 6.5)
    _para(doc, after=6, size=6)
    _para(doc, t(lang, "admin.docx_to", unit=in_sentence(c.root.name)), align=center)
    _para(
        doc,
        t(
            lang,
            "admin.docx_intro",
            agency=_agency_name(c, lang),
            n=fmt_int(c.expected),
            unit=in_sentence(c.root.name),
        ),
        indent=True,
        align=WD_ALIGN_PARAGRAPH.JUSTIFY,
    )


def _reporting(doc: DocumentObject, c: Compilation, lang: str) -> None:
    _para(doc, t(lang, "admin.docx_part_reporting"), bold=True)
    gen = c.local_generated
    _para(
        doc,
        t(
            lang,
            "admin.docx_rates",
            time=gen.strftime("%H:%M %d/%m/%Y"),
            submitted=fmt_int(len(c.submitted)),
            expected=fmt_int(c.expected),
            rate=fmt_pct(c.reporting_rate),
            on_time=fmt_int(c.on_time_count),
            on_time_rate=fmt_pct(c.on_time_rate),
            due=c.period.due.strftime("%d/%m/%Y"),
        ),
        indent=True,
        align=WD_ALIGN_PARAGRAPH.JUSTIFY,
    )
    missing = [u for u in c.in_tree_order() if not u.submitted]
    if not missing:
        _para(doc, t(lang, "admin.docx_all_reported"), indent=True)
    elif len(missing) <= INLINE_MISSING_MAX:
        names = ", ".join(u.name for u in missing)
        _para(
            doc,
            t(lang, "admin.docx_missing_inline", n=len(missing), names=names),
            indent=True,
            align=WD_ALIGN_PARAGRAPH.JUSTIFY,
        )
    else:
        _para(doc, t(lang, "admin.docx_missing_appendix", n=fmt_int(len(missing))), indent=True)


def _results(doc: DocumentObject, c: Compilation, lang: str) -> None:
    _para(doc, t(lang, "admin.docx_part_results"), bold=True)
    values = [u.values for u in c.submitted]
    n = 0
    for section in c.form.sections:
        qs = [
            q
            for q in section.questions
            if q.type != "text" and q.type != "date" and applies(c.form, q, c.period.kind)
        ]
        if not qs:
            continue
        n += 1
        _para(doc, f"{n}. {section_title(section, lang)}", bold=True, after=4)
        _section_table(doc, c.form, qs, values, lang)
        _para(doc, after=4, size=6)


def indicator_label(form: Form, q: Question, lang: str) -> str:
    """The indicator as a noun phrase (the form's ``indicator``, else its question), with the
    kinds of unit that report it when not all do ("… (sở, ban, ngành)"), so a reader sees
    which rows add up which units; never a "(dd/mm/yyyy)" input hint."""
    label = without_hint(q.indicator_text(lang))
    who = respondents(form, q, lang)
    return f"{label} ({who})" if who else label


def _section_table(
    doc: DocumentObject,
    form: Form,
    qs: list[Question],
    values: list[dict[str, Any] | None],
    lang: str,
) -> None:
    by_sex = any(q.type == "sex_count" for q in qs)
    rows: list[list[str]] = []
    for i, q in enumerate(qs, 1):
        label = indicator_label(form, q, lang)
        if q.type == "sex_count":
            m, f, tot = (fmt_int(Column(q, p).total(values) or 0) for p in ("m", "f", "total"))
            rows.append([str(i), label, m, f, tot])
            continue
        if q.type in NUMERIC_TYPES:
            value = fmt_int(Column(q).total(values) or 0)
        elif q.type == "yes_no":
            answered = sum(1 for v in values if v and v.get(q.id) is not None)
            yes = Column(q).total(values) or 0
            value = t(lang, "admin.docx_yes_units", yes=fmt_int(yes), n=fmt_int(answered))
        else:
            counts = option_counts(q, values)
            value = (
                "; ".join(
                    f"{o.text(lang)}: {k}" for (key, k) in counts if (o := q.option(key)) and k
                )
                or "0"
            )
        if by_sex and q.type in NUMERIC_TYPES:
            rows.append([str(i), label, "", "", value])  # a plain count goes under "total"
        else:
            rows.append([str(i), label, value])
    if by_sex:
        heads = [
            t(lang, k)
            for k in (
                "admin.col_no",
                "admin.col_indicator",
                "admin.col_m",
                "admin.col_f",
                "admin.col_total",
            )
        ]
        _grid(doc, heads, rows, (1.3, 8.4, 2.2, 2.2, 2.4), centred=(0, 2, 3, 4))
    else:
        heads = [t(lang, k) for k in ("admin.col_no", "admin.col_indicator", "admin.col_result")]
        _grid(doc, heads, rows, (1.3, 10.4, 4.8), centred=(0, 2))


def _remarks(
    doc: DocumentObject, c: Compilation, lang: str, progress: Callable[[int, int], None] | None
) -> None:
    _para(doc, t(lang, "admin.docx_part_remarks"), bold=True)
    questions = text_questions(c.form, c.period.kind)
    submitted = c.submitted
    for i, q in enumerate(questions, 1):
        _para(doc, f"{i}. {q.indicator_text(lang)}", bold=True, after=4)
        wrote = [(u, str((u.values or {}).get(q.id) or "").strip()) for u in submitted]
        wrote = [(u, text) for u, text in wrote if text]
        if not wrote:
            _para(doc, t(lang, "admin.docx_no_remarks"), italic=True, indent=True)
            continue
        for n, (u, text) in enumerate(wrote, 1):
            p = _para(doc, after=3, indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
            _run(p, f"- {u.name}: ", bold=True)
            _run(p, text)
            if progress is not None:
                progress(n, len(wrote))


def _signature(doc: DocumentObject, c: Compilation, lang: str) -> None:
    table = doc.add_table(rows=1, cols=2)
    _no_borders(table)
    table.autofit = False
    left, right = table.rows[0].cells
    _set_widths(table, (8.0, 8.5))
    p = left.paragraphs[0]
    _run(p, t(lang, "admin.docx_recipients"), bold=True, italic=True, size=12)
    p.paragraph_format.space_after = Pt(0)
    abbr = doc_symbol(c, lang).removeprefix("BC-")
    # When the committee itself issues the report (no standing agency), it is not its own
    # recipient.
    key = "admin.docx_recipients_list" if c.agency else "admin.docx_recipients_list_committee"
    recipients = t(lang, key, unit=in_sentence(c.root.name), abbr=abbr)
    for line in recipients.split("\n"):
        _para(left, line, size=11, after=0)
    center = WD_ALIGN_PARAGRAPH.CENTER
    p = right.paragraphs[0]
    _run(p, t(lang, "admin.docx_signer"), bold=True, size=13)
    p.alignment = center
    p.paragraph_format.space_after = Pt(0)
    _para(right, t(lang, "admin.docx_sign_hint"), italic=True, size=13, align=center, after=0)


def _appendix(doc: DocumentObject, c: Compilation, lang: str) -> None:
    missing = [u for u in c.in_tree_order() if not u.submitted]
    if len(missing) <= INLINE_MISSING_MAX:
        return
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    _para(doc, t(lang, "admin.docx_appendix"), bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    _para(
        doc,
        t(lang, "admin.docx_appendix_title", n=fmt_int(len(missing))),
        bold=True,
        align=WD_ALIGN_PARAGRAPH.CENTER,
    )
    heads = [
        t(lang, k)
        for k in (
            "admin.col_no",
            "admin.col_unit",
            "admin.col_due",
            "admin.col_days_late",
            "admin.col_contact",
        )
    ]
    rows = [_missing_row(n, u, c, lang) for n, u in enumerate(missing, 1)]
    _grid(doc, heads, rows, (1.3, 5.2, 2.6, 1.8, 5.6), centred=(0, 2, 3))


def _missing_row(n: int, u: UnitStatus, c: Compilation, lang: str) -> list[str]:
    contact = "; ".join(o.name for o in u.officers) or t(lang, "admin.no_officer")
    return [str(n), u.name, u.due.strftime("%d/%m/%Y"), str(u.days_late(c.today)), contact]
