"""Reading a province's unit file as it comes out of Excel or a ministry list.

- Encoding: UTF-8 with or without BOM, UTF-16 with BOM ("Unicode text"), else Windows-1258
  (Excel's "CSV" in a Vietnamese locale); the text is normalised to NFC, since Windows-1258
  writes some tone marks as combining characters.
- Separator: comma, semicolon (Excel in a Vietnamese locale) or tab, read from the header.
- Columns: ``code,name,parent_code,kind[,reports]``, or the Vietnamese names
  ``mã,tên,mã cấp trên,loại[,báo cáo]``, in any order.
- Values: codes are letters, digits, ``.``, ``-`` or ``_`` (no spaces); a commune, ward or
  special zone has its official 5-digit code; kinds come from :data:`KINDS`, in Vietnamese or
  English; ``reports`` is 1/0, yes/no, có/không (empty = 1).

Every problem is reported with its line, all of them at once (:class:`UnitFileError`), as
catalog keys (``units.*``) so the command speaks the operator's language.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Canonical kind → the spellings accepted in a file (Vietnamese with diacritics, English).
KINDS: dict[str, tuple[str, ...]] = {
    "province": ("tỉnh", "province"),
    "city": ("thành phố trực thuộc trung ương", "thành phố", "city"),
    "agency": ("cơ quan thường trực", "agency"),
    "department": ("sở", "ban", "ngành", "department"),
    "commune": ("xã", "commune"),
    "ward": ("phường", "ward"),
    # Đặc khu: island special zones at commune level since the 2025 reform.
    "special_zone": ("đặc khu", "special zone", "special_zone"),
    "village": ("thôn", "tổ dân phố", "ấp", "bản", "village"),
    # Historical: district level and towns were abolished on 1 July 2025; still accepted for
    # archives and provinces that keep them in their files.
    "district": ("huyện", "quận", "thị xã", "district"),
    "town": ("thị trấn", "town"),
}
HISTORICAL_KINDS = frozenset({"district", "town"})
# Kinds with an official numeric code (Decision 124/2004/QĐ-TTg, 5 digits).
COMMUNE_KINDS = frozenset({"commune", "ward", "special_zone", "town"})

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
OFFICIAL_CODE = re.compile(r"^\d{5}$")
MAX_NAME = 200
MAX_ERRORS = 50

COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "mã", "ma", "mã đơn vị"),
    "name": ("name", "tên", "ten", "tên đơn vị"),
    "parent_code": ("parent_code", "parent", "mã cấp trên", "ma cap tren", "mã đơn vị cấp trên"),
    "kind": ("kind", "loại", "loai", "cấp"),
    "reports": ("reports", "báo cáo", "bao cao"),
}
REQUIRED = ("code", "name", "parent_code", "kind")
YES = frozenset({"1", "yes", "y", "true", "có", "x"})
NO = frozenset({"0", "no", "n", "false", "không"})


@dataclass(frozen=True)
class LineError:
    line: int  # 1 = the header; 0 = the whole file
    key: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        detail = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"line {self.line}: {self.key}" + (f" ({detail})" if detail else "")


class UnitFileError(ValueError):
    """The file cannot be imported; ``errors`` says why, line by line."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__("; ".join(str(e) for e in errors[:5]))
        self.errors = errors


@dataclass
class UnitFile:
    rows: list[dict[str, str]]  # code, name, parent_code, kind (canonical), reports (1/0)
    lines: dict[str, int]  # code → line in the file
    encoding: str
    delimiter: str


def fold(text: str) -> str:
    """Lower case, NFC, single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


KIND_BY_SPELLING = {fold(s): kind for kind, spellings in KINDS.items() for s in spellings}


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", fold(text).replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def kind_of(value: str) -> str | None:
    return KIND_BY_SPELLING.get(fold(value))


def suggest_kind(value: str) -> str | None:
    """The spelling meant when a kind was typed without its diacritics (``xa`` → ``xã``)."""
    bare = _strip_accents(value)
    for spelling in KIND_BY_SPELLING:
        if _strip_accents(spelling) == bare:
            return spelling
    return None


def decode(data: bytes) -> tuple[str, str]:
    """The text of the file and the encoding it was read with."""
    if data.startswith(b"\xef\xbb\xbf"):
        text, encoding = data[3:].decode("utf-8"), "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, encoding = data.decode("utf-16"), "utf-16"
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            try:
                text, encoding = data.decode("cp1258"), "windows-1258"
            except UnicodeDecodeError:
                raise UnitFileError([LineError(0, "units.err_encoding")]) from None
    return unicodedata.normalize("NFC", text), encoding


def _header_map(cells: list[str]) -> dict[str, int]:
    by_name = {fold(spelling): col for col, spellings in COLUMNS.items() for spelling in spellings}
    out: dict[str, int] = {}
    for i, cell in enumerate(cells):
        col = by_name.get(fold(cell))
        if col and col not in out:
            out[col] = i
    return out


def _detect(text: str) -> tuple[str, dict[str, int]]:
    first = next(iter(text.splitlines()), "")
    best: tuple[str, dict[str, int]] = (",", {})
    for delimiter in (",", ";", "\t"):
        cells = next(csv.reader([first], delimiter=delimiter), [])
        found = _header_map(cells)
        if all(c in found for c in REQUIRED):
            return delimiter, found
        if len(found) > len(best[1]):
            best = (delimiter, found)
    return best


def parse(data: bytes) -> UnitFile:
    """Read and check a unit file; raises :class:`UnitFileError` with every problem found."""
    text, encoding = decode(data)
    delimiter, columns = _detect(text)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise UnitFileError([LineError(1, "units.err_header", {"missing": ", ".join(missing)})])
    errors: list[LineError] = []
    rows: list[dict[str, str]] = []
    lines: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)

    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        row = {col: values[i].strip() if i < len(values) else "" for col, i in columns.items()}
        found = _check_row(row, line, lines)
        errors += found
        if len(errors) >= MAX_ERRORS:
            break
        if found:
            continue
        lines[row["code"]] = line
        rows.append(
            {
                "code": row["code"],
                "name": " ".join(row["name"].split()),
                "parent_code": row.get("parent_code", ""),
                "kind": kind_of(row["kind"]) or "",
                "reports": "0" if fold(row.get("reports", "")) in NO else "1",
            }
        )
    if not rows and not errors:
        errors.append(LineError(0, "units.err_empty"))
    if errors:
        raise UnitFileError(errors)
    return UnitFile(rows, lines, encoding, delimiter)


def _check_row(row: dict[str, str], line: int, seen: dict[str, int]) -> list[LineError]:
    """The problems of one line (``seen``: codes met so far → their line)."""
    code, name = row.get("code", ""), " ".join(row.get("name", "").split())
    parent, kind_text = row.get("parent_code", ""), row.get("kind", "")
    errors: list[LineError] = []

    def err(key: str, **params: object) -> None:
        errors.append(LineError(line, key, params))

    if not code:
        err("units.err_no_code")
    elif not CODE.match(code):
        err("units.err_code", code=code)
    if not name:
        err("units.err_no_name")
    elif len(name) > MAX_NAME:
        err("units.err_name_long", max=MAX_NAME)
    if parent and not CODE.match(parent):
        err("units.err_parent_code", code=parent)
    elif parent and parent == code:
        err("units.err_own_parent", code=code)
    kind = kind_of(kind_text)
    if kind is None:
        hint = suggest_kind(kind_text)
        key = "units.err_kind_hint" if hint else "units.err_kind"
        err(key, kind=kind_text, hint=hint or "", kinds=", ".join(KINDS))
    elif kind in COMMUNE_KINDS and CODE.match(code) and not OFFICIAL_CODE.match(code):
        err("units.err_official_code", code=code)
    reports = fold(row.get("reports", ""))
    if reports and reports not in YES | NO:
        err("units.err_reports", value=row.get("reports", ""))
    if code and code in seen:
        err("units.err_duplicate", code=code, first=seen[code])
    return errors


def read_file(path: Path) -> UnitFile:
    try:
        return parse(path.read_bytes())
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise UnitFileError([LineError(0, "units.err_unreadable", {"path": str(path)})]) from None
