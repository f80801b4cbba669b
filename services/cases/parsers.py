"""Parsers for what a reporter types during the intake: the place (part of a commune's or a
village's name), the victim's age, when it happened, a case code, and danger words.

Like ``services.forms.parsers`` they raise ``ParseError`` with a catalog key and accept what
people type on phones: no diacritics (``thach lac``), ``14 tuổi``, ``hôm qua``, ``vv 2026 12``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from services.forms.parsers import ParseError, fold

# Kinds of units a case can happen in; a village's case goes to its commune. A deployment
# whose tree uses none of these kinds gets every unit offered instead.
# A special zone (đặc khu, 2025 reform) is at commune level.
COMMUNE_KINDS = ("commune", "ward", "town", "special_zone")
PLACE_KINDS = (*COMMUNE_KINDS, "village")
MAX_MATCHES = 8

_NAME_PREFIXES = (
    "dac khu ",
    "thi tran ",
    "xa ",
    "phuong ",
    "thon ",
    "ban ",
    "ap ",
    "lang ",
    "to dan pho ",
    "khu pho ",
    "to ",
)


def _words(text: str) -> str:
    """Folded, punctuation turned into spaces: ``Xã Thạch-Lạc!`` → ``xa thach lac``."""
    return " ".join(re.sub(r"[^\w]+", " ", fold(text)).replace("_", " ").split())


def _strip_prefix(name: str) -> str:
    for prefix in _NAME_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name


@dataclass(frozen=True)
class Place:
    """What the search needs of a unit."""

    id: int
    name: str
    code: str
    kind: str
    parent_id: int | None


@dataclass(frozen=True)
class Match:
    unit_id: int  # the unit the case goes to (a village's commune)
    label: str  # what the reporter sees: "Thôn Đông Tiến (Xã Thạch Lạc)"
    rank: int  # 0 the full name or code, 1 the name without its prefix, 2 a word start, 3 a part

    @property
    def exact(self) -> bool:
        return self.rank <= 1


def best_match(matches: list[Match]) -> Match | None:
    """The one match to take without asking: the only one, or the only exact one of the best
    rank."""
    if len(matches) == 1:
        return matches[0]
    if not matches or not matches[0].exact:
        return None
    best = [m for m in matches if m.rank == matches[0].rank]
    return best[0] if len(best) == 1 else None


def search_places(query: str | None, places: Sequence[Place]) -> list[Match]:
    """Places whose name contains what was typed, accent-insensitive, best first: the full
    name or the code, the name without its prefix, names starting with it (or with a word of
    it), then the rest. Raises ``case.err.search_short`` for fewer than two letters or digits."""
    q = _words(query or "")
    if len(q.replace(" ", "")) < 2:
        raise ParseError("case.err.search_short")
    q_bare = _strip_prefix(q)
    by_id = {p.id: p for p in places}
    candidates = [p for p in places if p.kind in PLACE_KINDS] or list(places)
    scored: list[tuple[int, str, Match]] = []
    for p in candidates:
        name = _words(p.name)
        bare = _strip_prefix(name)
        if q == name or q == p.code.lower():
            rank = 0  # the full name, or the code
        elif q_bare == bare:
            rank = 1  # the name without "xã", "thôn" …
        elif bare.startswith(q_bare) or f" {q_bare}" in f" {bare}":
            rank = 2
        elif q in name or q_bare in bare:
            rank = 3
        else:
            continue
        target = _commune_of(p, by_id)
        label = p.name if target.id == p.id else f"{p.name} ({target.name})"
        scored.append((rank, name, Match(target.id, label, rank)))
    scored.sort(key=lambda x: (x[0], x[1]))
    out: list[Match] = []
    seen: set[tuple[int, str]] = set()
    for _, _, m in scored:
        if (m.unit_id, m.label) not in seen:
            seen.add((m.unit_id, m.label))
            out.append(m)
    return out


def _commune_of(p: Place, by_id: dict[int, Place]) -> Place:
    """The nearest unit at or above ``p`` whose kind is a commune (or ``p`` itself)."""
    node: Place | None = p
    for _ in range(64):
        if node is None:
            break
        if node.kind in COMMUNE_KINDS or node.kind not in PLACE_KINDS:
            return node
        node = by_id.get(node.parent_id) if node.parent_id is not None else None
    return p


# -- age --------------------------------------------------------------------------------------
AGE_GROUPS = ("u16", "16_17", "18_59", "60p", "unknown")
MAX_AGE = 120
_UNKNOWN = {
    "khong ro",
    "khong biet",
    "ko ro",
    "ko biet",
    "k ro",
    "k biet",
    "chua ro",
    "khong chac",
    "unknown",
    "?",
    "khong muon noi",
}


def age_group(years: int) -> str:
    if years < 16:
        return "u16"
    if years < 18:
        return "16_17"
    if years < 60:
        return "18_59"
    return "60p"


def parse_age(text: str | None) -> str:
    """An age group from ``14``, ``14 tuổi``, ``khoảng 70``, ``8 tháng``, ``dưới 16``,
    ``16-17``, ``60+``, ``trẻ em``, ``người già``, ``không rõ``."""
    if text is None or not text.strip():
        raise ParseError("case.err.empty")
    raw = text.strip()
    q = fold(raw).strip(" .!")
    if q in _UNKNOWN or q.startswith(("khong ro", "khong biet")):
        return "unknown"
    if re.match(r"^-\s*\d", q):
        raise ParseError("case.err.age_range", max=MAX_AGE)
    q = re.sub(r"^(khoang|tam|chung|co le|gan|hon)\s+", "", q)
    if re.fullmatch(r"(duoi|nho hon|<)\s*16(\s*tuoi)?", q) or q in (
        "tre em",
        "tre con",
        "con nho",
        "em be",
        "be",
        "tre nho",
        "hoc sinh",
        "child",
    ):
        return "u16"
    if re.fullmatch(r"16\s*[-–—/]\s*17(\s*tuoi)?", q):
        return "16_17"
    if re.fullmatch(r"18\s*[-–—/]\s*59(\s*tuoi)?", q) or q in ("nguoi lon", "adult"):
        return "18_59"
    if (
        re.fullmatch(r"(tu\s*)?60\s*(\+|tuoi tro len|tro len|tuoi\s*\+)", q)
        or re.fullmatch(r"(tren|>=?)\s*60(\s*tuoi)?", q)
        or q in ("nguoi gia", "cao tuoi", "nguoi cao tuoi", "ong ba", "elderly")
    ):
        return "60p"
    if re.fullmatch(r"\d{1,2}\s*(thang|th)(\s*tuoi)?", q):
        return "u16"  # a baby's age in months
    m = re.fullmatch(r"(\d+)\s*(tuoi|t|years?( old)?|yo)?", q)
    if m:
        if len(m.group(1)) > 3 or int(m.group(1)) > MAX_AGE:
            raise ParseError("case.err.age_range", max=MAX_AGE)
        return age_group(int(m.group(1)))
    raise ParseError("case.err.age")


# -- when it happened ---------------------------------------------------------------------------
WHEN_KEYS = ("ongoing", "today", "week", "month", "older", "unknown")
_WHEN_WORDS = {
    "ongoing": ("dang xay ra", "dang", "ngay luc nay", "bay gio", "luc nay", "now"),
    "today": ("hom nay", "sang nay", "trua nay", "chieu nay", "toi nay", "dem nay", "today"),
    "week": ("tuan nay", "tuan truoc", "may ngay truoc", "vai ngay truoc", "this week"),
    "month": ("thang nay", "thang truoc", "this month"),
    "older": ("lau roi", "lau hon", "nhieu nam", "nam ngoai", "lau", "older"),
    "unknown": ("khong ro", "khong nho", "ko ro", "ko nho", "unknown"),
}
_DMY = re.compile(r"^(\d{1,2})\s*[/.\-]\s*(\d{1,2})(?:\s*[/.\-]\s*(\d{2}|\d{4}))?$")
EARLIEST_YEAR = 1950


def parse_when(text: str | None, today: date) -> tuple[str, date | None]:
    """(key, date): ``đang xảy ra`` → ongoing, ``hôm qua`` → a date, ``3 ngày trước``,
    ``12/11/2026`` or ``12/11`` (this year) → that date; never a future date."""
    if text is None or not text.strip():
        raise ParseError("case.err.empty")
    q = fold(text).strip(" .!")
    for key, words in _WHEN_WORDS.items():
        if q in words:
            return key, None
    if q in ("hom qua", "dem qua", "toi qua", "yesterday"):
        return "date", today - timedelta(days=1)
    if q in ("hom kia", "hom truoc"):
        return "date", today - timedelta(days=2)
    m = re.fullmatch(r"(\d{1,4})\s*ngay\s*(truoc|roi)", q)
    if m:
        days = int(m.group(1))
        if days > 366 * 80:
            raise ParseError("case.err.date_invalid")
        return "date", today - timedelta(days=days)
    m = _DMY.match(q)
    if not m:
        raise ParseError("case.err.when")
    d, mo = int(m.group(1)), int(m.group(2))
    y = int(m.group(3)) if m.group(3) else today.year
    if m.group(3) and len(m.group(3)) == 2:
        y += 2000
    try:
        value = date(y, mo, d)
    except ValueError:
        raise ParseError("case.err.date_invalid") from None
    if value > today:
        raise ParseError("case.err.date_future")
    if value.year < EARLIEST_YEAR:
        raise ParseError("case.err.date_invalid")
    return "date", value


# -- case codes ------------------------------------------------------------------------------
_CODE = re.compile(r"^vv[-_/.]?(\d{4})[-_/.]?(\d{1,7})$")


def format_code(year: int, number: int) -> str:
    return f"VV-{year}-{number:06d}"


def parse_code(text: str | None) -> str | None:
    """``VV-2026-000123``, ``vv 2026 123``, ``VV2026000123`` → ``VV-2026-000123``; else None."""
    if not text:
        return None
    q = re.sub(r"\s+", "", fold(text))
    m = _CODE.match(q)
    if not m:
        return None
    year, number = int(m.group(1)), int(m.group(2))
    if year < 2000 or number == 0:
        return None
    return format_code(year, number)


# -- danger words ----------------------------------------------------------------------------
# Words that, in someone's first message, mean they may be in danger. Ambiguous once the
# diacritics are gone (cứu/cựu, đánh/danh), so with diacritics the accented form decides.
_DANGER_FOLDED = (
    "bao luc",
    "nguy hiem",
    "help",
    "sos",
    "hiep dam",
    "cuong hiep",
    "xam hai",
    "de doa",
    "bat coc",
    "mua ban nguoi",
    "danh dap",
    "bi danh",
    "bi bao hanh",
    "bao hanh",
    "cuu toi",
    "cuu voi",
    "cuu em",
    "cuu con",
    "cuu me",
    "cuu chau",
    "cuu chi",
)
_DANGER_ACCENTED = ("cứu", "đánh", "giết", "hiếp")
_DANGER_PLAIN = ("cuu", "giet", "danh toi", "danh vo", "danh con", "danh me", "danh chet")


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text.lower())


def _has_phrase(haystack: str, phrases: Iterable[str]) -> bool:
    padded = f" {haystack} "
    return any(f" {p} " in padded for p in phrases)


def is_danger_text(text: str | None) -> bool:
    if not text:
        return False
    words = _words(text)
    if _has_phrase(words, _DANGER_FOLDED):
        return True
    raw = " ".join(re.sub(r"[^\w]+", " ", _nfc(text)).split())
    has_marks = raw != words
    if has_marks:
        return _has_phrase(raw, _DANGER_ACCENTED)
    return _has_phrase(words, _DANGER_PLAIN)
