"""The compiled workbook (openpyxl, streamed in write-only mode so a nation's 3,321 communes
fit in little memory).

Sheet "Tổng hợp": a title, the reporting rates, then three header rows (section, indicator,
male / female / total) frozen with the unit columns; one row per reporting unit of the
subtree (units that have not submitted show their status and blank figures); a totals row.
Sheet "Chưa gửi báo cáo": the units not reported, with due date, days late and whom to call.
Sheet "Khó khăn, kiến nghị": the free-text answers, one row per unit that wrote any.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from copy import copy
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from compile.data import Compilation, UnitStatus, fmt_int, fmt_pct
from compile.indicators import Column, columns, section_title, text_questions, without_hint
from kernel.clock import to_local
from kernel.i18n import t

FIXED = (
    "admin.col_no",
    "admin.col_code",
    "admin.col_unit",
    "admin.col_status",
    "admin.col_reference",
    "admin.col_submitted",
)
HEADER_ROWS = (4, 5, 6)
FIRST_DATA_ROW = 7
DATE_FORMAT = "DD/MM/YYYY"
NUMBER_FORMAT = "#,##0"  # counts and VND amounts: 15,500,000 (shown 15.500.000 in a vi locale)

_thin = Side(style="thin", color="999999")
_BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
_HEAD_FILL = PatternFill("solid", fgColor="DDE4EE")
_TOTAL_FILL = PatternFill("solid", fgColor="FFF2CC")
_SUBTOTAL_FILL = PatternFill("solid", fgColor="EEF3E2")
_WRAP = Alignment(wrap_text=True, vertical="center", horizontal="center")


def _styled(
    ws: WriteOnlyWorksheet,
    value: Any,
    *,
    bold: bool = False,
    fill: PatternFill | None = None,
    wrap: bool = False,
    size: int | None = None,
    number_format: str | None = None,
) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=value)
    cell.font = Font(bold=bold, size=size or 11)
    if fill is not None:
        cell.fill = fill
        cell.border = _BORDER
    if wrap:
        cell.alignment = _WRAP
    if number_format:
        cell.number_format = number_format
    return cell


def _text(ws: WriteOnlyWorksheet, value: str | None) -> Any:
    """User-typed text stays text: openpyxl would store "=…" as a formula (and refuses
    control characters)."""
    if value:
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value and value.startswith("="):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        return cell
    return value


def status_text(u: UnitStatus, lang: str) -> str:
    if not u.submitted:
        return t(lang, "admin.st_missing")
    return t(lang, "admin.st_on_time" if u.on_time else "admin.st_late")


def title_text(c: Compilation, lang: str) -> str:
    return t(
        lang,
        "admin.xlsx_title",
        report=c.period.text(lang).upper(),
        year=c.period.year,
        unit=c.root.name.upper(),
    )


def summary_text(c: Compilation, lang: str) -> str:
    return t(
        lang,
        "admin.rates_line",
        submitted=fmt_int(len(c.submitted)),
        expected=fmt_int(c.expected),
        rate=fmt_pct(c.reporting_rate),
        on_time=fmt_int(c.on_time_count),
        on_time_rate=fmt_pct(c.on_time_rate),
    )


def build_xlsx(
    c: Compilation, *, lang: str = "vi", progress: Callable[[int, int], None] | None = None
) -> bytes:
    cols = columns(c.form, c.period.kind)
    wb = Workbook(write_only=True)
    _main_sheet(wb, c, cols, lang, progress)
    _missing_sheet(wb, c, lang)
    _remarks_sheet(wb, c, lang)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _main_sheet(
    wb: Workbook,
    c: Compilation,
    cols: list[Column],
    lang: str,
    progress: Callable[[int, int], None] | None,
) -> None:
    ws: WriteOnlyWorksheet = wb.create_sheet(t(lang, "admin.sheet_main"))
    nfix = len(FIXED)
    last_col = nfix + len(cols)
    widths = [5, 11, 30, 11, 20, 11] + [9 if col.part else 13 for col in cols]
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = f"D{FIRST_DATA_ROW}"
    ws.row_dimensions[HEADER_ROWS[1]].height = 105
    ws.row_dimensions[HEADER_ROWS[0]].height = 30
    ws.merged_cells.add(f"A1:{get_column_letter(min(last_col, 12))}1")
    ws.merged_cells.add(f"A2:{get_column_letter(min(last_col, 12))}2")

    ws.append([_styled(ws, title_text(c, lang), bold=True, size=14)])
    generated = to_local(c.generated_at, c.timezone).strftime("%H:%M %d/%m/%Y")
    ws.append([summary_text(c, lang) + " " + t(lang, "admin.source_note", time=generated)])
    ws.append([])

    _header_rows(ws, c, cols, lang)

    _unit_rows(ws, c, cols, lang, progress)
    values = [u.values for u in c.units]
    label = t(lang, "admin.total_row")
    ws.append(_sum_row(ws, cols, values, label, f"{len(c.submitted)}/{c.expected}", _TOTAL_FILL))


def _levels(c: Compilation, u: UnitStatus) -> list[int]:
    """The units between the root and ``u`` (exclusive), from the top: the levels whose
    subtotal ``u`` counts in."""
    ids = [int(x) for x in u.path.strip("/").split("/") if x]
    root_ids = [int(x) for x in c.root.path.strip("/").split("/") if x]
    return ids[len(root_ids) : -1]


def _unit_rows(
    ws: WriteOnlyWorksheet,
    c: Compilation,
    cols: list[Column],
    lang: str,
    progress: Callable[[int, int], None] | None,
) -> None:
    """One row per unit in tree order; after the last unit of each level below the root
    (a district), a subtotal row of that level."""
    ordered = c.in_tree_order()
    number_style = copy(_number(ws, 0)._style)  # a style of this workbook, built once
    open_levels: list[tuple[int, list[UnitStatus]]] = []
    for n, u in enumerate(ordered, 1):
        chain = _levels(c, u)
        while open_levels and (
            len(open_levels) > len(chain) or open_levels[-1][0] != chain[len(open_levels) - 1]
        ):
            _subtotal(ws, c, cols, lang, *open_levels.pop())
        for level in chain[len(open_levels) :]:
            open_levels.append((level, []))
        for _, members in open_levels:
            members.append(u)
        ws.append(_unit_row(ws, n, u, cols, lang, number_style))
        if progress is not None:
            progress(n, len(ordered))
    while open_levels:
        _subtotal(ws, c, cols, lang, *open_levels.pop())


def _unit_row(
    ws: WriteOnlyWorksheet,
    n: int,
    u: UnitStatus,
    cols: list[Column],
    lang: str,
    style: StyleArray,
) -> list[Any]:
    row: list[Any] = [
        n,
        _text(ws, u.code),
        _text(ws, u.name),
        status_text(u, lang),
        u.reference,
        _styled(ws, u.first_submitted_on, number_format=DATE_FORMAT)
        if u.first_submitted_on
        else None,
    ]
    for col in cols:
        value = col.cell(u.values, lang)
        if isinstance(value, int) and col.summable and col.question.type != "yes_no":
            row.append(_plain_number(ws, value, style))
        else:
            row.append(value)
    return row


def _plain_number(ws: WriteOnlyWorksheet, value: int, style: StyleArray) -> WriteOnlyCell:
    """A unit's count or amount with the #,##0 format: the style is built once per sheet
    and copied (building one per cell made a nation's workbook several times slower)."""
    cell = WriteOnlyCell(ws, value=value)
    cell._style = copy(style)
    return cell


def _number(ws: WriteOnlyWorksheet, value: int | None, **kw: Any) -> WriteOnlyCell:
    """A count or an amount of money: grouped thousands (#,##0), no decimals (VND)."""
    return _styled(ws, value, number_format=NUMBER_FORMAT, **kw)


def _subtotal(
    ws: WriteOnlyWorksheet,
    c: Compilation,
    cols: list[Column],
    lang: str,
    level: int,
    members: list[UnitStatus],
) -> None:
    """ "Cộng Huyện Kỳ Anh": the sums of the units of one level (only for a level holding
    more than one unit; a level of one unit is that unit's row)."""
    if len(members) < 2:
        return
    name = c.tree.get(level, ("", str(level)))[1]
    done = sum(1 for m in members if m.submitted)
    label = t(lang, "admin.subtotal_row", unit=name)
    values = [m.values for m in members]
    ws.append(_sum_row(ws, cols, values, label, f"{done}/{len(members)}", _SUBTOTAL_FILL))


def _sum_row(
    ws: WriteOnlyWorksheet,
    cols: list[Column],
    values: list[dict[str, Any] | None],
    label: str,
    count: str,
    fill: PatternFill,
) -> list[Any]:
    row: list[Any] = [_styled(ws, None, fill=fill)] * 2
    row.append(_styled(ws, label, bold=True, fill=fill))
    row.append(_styled(ws, count, bold=True, fill=fill))
    row += [_styled(ws, None, fill=fill)] * 2
    for col in cols:
        row.append(_number(ws, col.total(values), bold=True, fill=fill))
    return row


def _header_rows(ws: WriteOnlyWorksheet, c: Compilation, cols: list[Column], lang: str) -> None:
    """Three header rows: section / indicator / male-female-total, merged where they span."""
    nfix = len(FIXED)
    last_col = nfix + len(cols)
    top: list[Any] = []
    mid: list[Any] = []
    low: list[Any] = []
    for key in FIXED:
        top.append(_styled(ws, t(lang, key), bold=True, fill=_HEAD_FILL, wrap=True))
        mid.append(_styled(ws, None, fill=_HEAD_FILL))
        low.append(_styled(ws, None, fill=_HEAD_FILL))
    for i in range(1, nfix + 1):
        letter = get_column_letter(i)
        ws.merged_cells.add(f"{letter}{HEADER_ROWS[0]}:{letter}{HEADER_ROWS[2]}")
    section_start = nfix + 1
    current = None
    for i, col in enumerate(cols, nfix + 1):
        section = c.form.section_of[col.question.id]
        if section is not current:
            if current is not None and i - 1 > section_start:
                ws.merged_cells.add(_span(HEADER_ROWS[0], section_start, i - 1))
            current, section_start = section, i
            top.append(
                _styled(ws, section_title(section, lang), bold=True, fill=_HEAD_FILL, wrap=True)
            )
        else:
            top.append(_styled(ws, None, fill=_HEAD_FILL))
        if col.part in (None, "m"):
            head = without_hint(col.indicator(lang))
            mid.append(_styled(ws, head, bold=True, fill=_HEAD_FILL, wrap=True))
            if col.part == "m":
                ws.merged_cells.add(_span(HEADER_ROWS[1], i, i + 2))
            else:
                letter = get_column_letter(i)
                ws.merged_cells.add(f"{letter}{HEADER_ROWS[1]}:{letter}{HEADER_ROWS[2]}")
        else:
            mid.append(_styled(ws, None, fill=_HEAD_FILL))
        low.append(_styled(ws, col.sub_heading(lang), bold=True, fill=_HEAD_FILL, wrap=True))
    if current is not None and last_col > section_start:
        ws.merged_cells.add(_span(HEADER_ROWS[0], section_start, last_col))
    ws.append(top)
    ws.append(mid)
    ws.append(low)


def _span(row: int, first: int, last: int) -> str:
    return f"{get_column_letter(first)}{row}:{get_column_letter(last)}{row}"


def _missing_sheet(wb: Workbook, c: Compilation, lang: str) -> None:
    ws: WriteOnlyWorksheet = wb.create_sheet(t(lang, "admin.sheet_missing"))
    for i, w in enumerate((5, 11, 34, 12, 10, 45), 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = "A3"
    missing = [u for u in c.in_tree_order() if not u.submitted]
    ws.append(
        [
            _styled(
                ws,
                t(
                    lang,
                    "admin.missing_title",
                    n=len(missing),
                    expected=c.expected,
                    date=c.today.strftime("%d/%m/%Y"),
                ),
                bold=True,
                size=13,
            )
        ]
    )
    heads = (
        "admin.col_no",
        "admin.col_code",
        "admin.col_unit",
        "admin.col_due",
        "admin.col_days_late",
        "admin.col_contact",
    )
    ws.append([_styled(ws, t(lang, k), bold=True, fill=_HEAD_FILL, wrap=True) for k in heads])
    for n, u in enumerate(missing, 1):
        contact = "; ".join(f"{o.name} ({o.position})" for o in u.officers)
        ws.append(
            [
                n,
                _text(ws, u.code),
                _text(ws, u.name),
                _styled(ws, u.due, number_format=DATE_FORMAT),
                u.days_late(c.today),
                _text(ws, contact) or t(lang, "admin.no_officer"),
            ]
        )


def _remarks_sheet(wb: Workbook, c: Compilation, lang: str) -> None:
    questions = text_questions(c.form, c.period.kind)
    ws: WriteOnlyWorksheet = wb.create_sheet(t(lang, "admin.sheet_remarks"))
    for i, w in enumerate([5, 30] + [60] * len(questions), 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = "C2"
    ws.append(
        [
            _styled(ws, t(lang, k), bold=True, fill=_HEAD_FILL, wrap=True)
            for k in ("admin.col_no", "admin.col_unit")
        ]
        + [_styled(ws, q.text(lang), bold=True, fill=_HEAD_FILL, wrap=True) for q in questions]
    )
    n = 0
    for u in c.submitted:
        texts = [(u.values or {}).get(q.id) for q in questions]
        if not any(texts):
            continue
        n += 1
        ws.append([n, _text(ws, u.name), *(_text(ws, x) for x in texts)])
