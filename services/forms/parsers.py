"""Parsers for typed answers. Each returns a JSON-able value or raises ``ParseError`` whose
``key`` is a catalog message id, so the user hears what is wrong in their own language.

Typed Vietnamese is messy on phones: diacritics may be missing (``nu`` for ``nữ``), thousands
are grouped with dots (``1.500.000``), and decimals use a comma (``1,5 triệu``). The parsers
accept these forms and nothing ambiguous.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_COUNT_DEFAULT = 1_000_000
MAX_MONEY_DEFAULT = 1_000_000_000_000  # 1,000 billion VND
MAX_TEXT_DEFAULT = 2000


class ParseError(ValueError):
    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params: dict[str, Any] = params


def fold(text: str) -> str:
    """Lower-case, strip diacritics (đ → d) and collapse spaces: for matching words."""
    text = unicodedata.normalize("NFD", text.lower()).replace("đ", "d")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return " ".join(text.split())


SKIP_WORDS = {"-", "bo qua", "boqua", "skip", "bq"}
YES_WORDS = {"co", "c", "yes", "y", "roi", "da", "da co", "co roi", "dung", "ok", "vang", "u"}
NO_WORDS = {"khong", "k", "ko", "kg", "no", "n", "chua", "chua co", "khong co"}
ZERO_WORDS = {"khong", "ko", "k", "none", "zero", "0"}


# Digits a menu choice, a summary line or an id may have: int() of a longer string is slow,
# and over 4,300 digits it raises.
MAX_NUMBER_DIGITS = 18


def is_number(text: str) -> bool:
    """Only the digits 0-9 (``"³".isdigit()`` is true, but it is no answer to "gõ 1"), at most
    ``MAX_NUMBER_DIGITS`` of them, so ``int(text)`` is cheap and fits a 64-bit column."""
    return len(text) <= MAX_NUMBER_DIGITS and text.isascii() and text.isdigit()


def is_skip(text: str) -> bool:
    return fold(text) in SKIP_WORDS


def _clean(text: str | None) -> str:
    if text is None or not text.strip():
        raise ParseError("err.empty")
    return text.strip()


_INT_RE = re.compile(r"^\d{1,3}(?:[.,\s]\d{3})+$|^\d+$")


def _parse_int_token(tok: str, maximum: int) -> int:
    tok = tok.strip()
    if tok.startswith("-") and tok[1:].strip()[:1].isdigit():
        raise ParseError("err.negative")
    if not _INT_RE.match(tok):
        if re.match(r"^\d+[.,]\d+$", tok):
            raise ParseError("err.not_whole")
        raise ParseError("err.not_number")
    digits = re.sub(r"[.,\s]", "", tok)
    if len(digits) > 15:
        raise ParseError("err.too_big", max=f"{maximum:,}".replace(",", "."))
    value = int(digits)
    if value > maximum:
        raise ParseError("err.too_big", max=f"{maximum:,}".replace(",", "."))
    return value


def parse_integer(text: str | None, maximum: int = MAX_COUNT_DEFAULT) -> int:
    raw = _clean(text)
    if fold(raw) in ZERO_WORDS:
        return 0
    return _parse_int_token(raw, maximum)


_MALE = {"nam", "trai", "male", "m", "men", "man"}
_FEMALE = {"nu", "gai", "female", "f", "w", "women", "woman"}


def parse_sex_count(text: str | None, maximum: int = MAX_COUNT_DEFAULT) -> dict[str, int]:
    """``12 30``, ``12/30``, ``12-30``, ``nam 12 nữ 30``, ``nữ 30, nam 12``, ``12 nam 30 nữ``.
    Returns ``{"m": 12, "f": 30}``; the first bare number is male, as the question says."""
    raw = _clean(text)
    folded = fold(raw)
    if re.search(r"(^|[\s/])-\s*\d", folded):
        raise ParseError("err.negative")
    tokens = re.findall(r"[a-z]+|\d+(?:[.,]\d{3})*(?:[.,]\d+)?|[^\sa-z\d]", folded)
    numbers: list[tuple[int, str | None]] = []
    pending_sex: str | None = None
    for i, tok in enumerate(tokens):
        if tok[0].isdigit():
            if re.match(r"^\d+[.,]\d{1,2}$", tok):
                raise ParseError("err.not_whole")
            numbers.append((_parse_int_token(tok, maximum), pending_sex))
            pending_sex = None
        elif tok in _MALE or tok in _FEMALE:
            sex = "m" if tok in _MALE else "f"
            if i > 0 and tokens[i - 1][0].isdigit() and numbers[-1][1] is None:
                numbers[-1] = (numbers[-1][0], sex)  # "12 nam 30 nữ": labels the number before
            else:
                pending_sex = sex
        elif tok in {"/", "-", ",", ";", "+", ":", "va", "and", "&", "|", "."}:
            continue
        else:
            raise ParseError("err.sex_format")
    if len(numbers) == 1:
        raise ParseError("err.sex_one_number")
    if len(numbers) != 2:
        raise ParseError("err.sex_two_numbers", count=len(numbers))
    (a, sa), (b, sb) = numbers
    if sa is None and sb is None:
        return {"m": a, "f": b}
    if sa == sb:
        raise ParseError("err.sex_format")
    if sa == "f" or sb == "m":
        return {"m": b, "f": a}
    return {"m": a, "f": b}


def parse_yes_no(text: str | None) -> bool:
    word = fold(_clean(text)).rstrip(".!")
    if word in YES_WORDS:
        return True
    if word in NO_WORDS:
        return False
    raise ParseError("err.yes_no")


_DATE_RE = re.compile(r"^(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})$")


def parse_date(text: str | None, *, latest: date | None = None) -> str:
    """``dd/mm/yyyy`` (also with - or .) → ISO ``yyyy-mm-dd``."""
    raw = _clean(text)
    m = _DATE_RE.match(raw)
    if not m:
        raise ParseError("err.date_format")
    d, mo, y = (int(x) for x in m.groups())
    try:
        value = date(y, mo, d)
    except ValueError:
        raise ParseError("err.date_invalid") from None
    if value.year < 1990:
        raise ParseError("err.date_invalid")
    if latest is not None and value > latest:
        raise ParseError("err.date_future")
    return value.isoformat()


_MONEY_UNITS = {
    "trieu": 1_000_000,
    "tr": 1_000_000,
    "m": 1_000_000,
    "ty": 1_000_000_000,
    "ti": 1_000_000_000,
    "nghin": 1_000,
    "ngan": 1_000,
    "k": 1_000,
    "dong": 1,
    "d": 1,
    "vnd": 1,
    "vnđ": 1,
}
_MONEY_RE = re.compile(r"^(\d+(?:[.,]\d+)*)\s*([a-z]*)$")


def parse_money(text: str | None, maximum: int = MAX_MONEY_DEFAULT) -> int:
    """VND: ``1.500.000``, ``1,500,000``, ``1500000đ``, ``1,5 triệu``, ``2tr``, ``500k``,
    ``1 tỷ 200 triệu``. Returns whole đồng."""
    raw = _clean(text)
    folded = fold(raw)
    if folded.startswith("-"):
        raise ParseError("err.negative")
    if folded in ZERO_WORDS:
        return 0
    parts = re.findall(r"\d[\d.,]*\s*[a-z]*", folded)
    if not parts or re.sub(r"[\d.,\sa-z]", "", folded):
        raise ParseError("err.money_format")
    if "".join(p.replace(" ", "") for p in parts) != folded.replace(" ", ""):
        raise ParseError("err.money_format")
    total = Decimal(0)
    for part in parts:
        m = _MONEY_RE.match(part.strip())
        if not m:
            raise ParseError("err.money_format")
        num, unit = m.groups()
        if unit and unit not in _MONEY_UNITS:
            raise ParseError("err.money_format")
        factor = _MONEY_UNITS.get(unit, 1) if unit else 1
        total += _money_number(num, factor) * factor
    if total != total.to_integral_value():
        raise ParseError("err.money_format")
    value = int(total)
    if value > maximum:
        raise ParseError("err.too_big", max=f"{maximum:,}".replace(",", "."))
    return value


def _money_number(num: str, factor: int) -> Decimal:
    if len(re.sub(r"\D", "", num)) > 16:
        raise ParseError("err.too_big", max=f"{MAX_MONEY_DEFAULT:,}".replace(",", "."))
    if re.match(r"^\d{1,3}(?:\.\d{3})+$", num) or re.match(r"^\d{1,3}(?:,\d{3})+$", num):
        if factor == 1 or len(num) > 5:
            return Decimal(re.sub(r"[.,]", "", num))
    if re.match(r"^\d+$", num):
        return Decimal(num)
    if factor > 1 and re.match(r"^\d+[.,]\d+$", num):
        # "1,5 triệu" and "1.5tr": a decimal before a unit word.
        try:
            return Decimal(num.replace(",", "."))
        except InvalidOperation:
            raise ParseError("err.money_format") from None
    raise ParseError("err.money_format")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_text(text: str | None, max_length: int = MAX_TEXT_DEFAULT) -> str:
    raw = _CONTROL.sub("", _clean(text))
    if not raw.strip():
        raise ParseError("err.empty")
    if len(raw) > max_length:
        raise ParseError("err.text_too_long", max=max_length, length=len(raw))
    return raw


def split_list(text: str) -> list[str]:
    """Items of a multiple-choice answer: ``1, 3``, ``1 3``, ``1;3``, ``thể chất, tình dục``."""
    parts = [p.strip() for p in re.split(r"[,;\n]+", text) if p.strip()]
    if len(parts) == 1 and re.fullmatch(r"\d+(?:\s+\d+)+", parts[0]):
        parts = parts[0].split()
    return parts
