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
# What, in any message, means someone may be in danger: violence, threats, sexual violence,
# trafficking, forced or child marriage, self-harm, a cry for help. Matched on whole words of
# the folded text (no diacritics, so "chong danh em" and "chồng đánh em" are the same).
# A few words are ambiguous once the diacritics are gone (cứu/cựu, đánh/danh, tự tử/từ từ,
# bán/bạn): with diacritics the accented form decides; without, they count.
DANGER_KINDS = ("violence", "threat", "sexual", "trafficking", "marriage", "self_harm", "help")

_PERSON = r"(em|toi|tui|minh|chi|co|me|vo|con|chau|be|ban|nguoi ta|no|anh|ba|ong|chi ay|co ay)"
_ABUSER = (
    r"(chong|vo|bo|cha|me|anh|ong|no|han|hanh|thang|dua|bo duong|cha duong|me ke|bo ke|"
    r"nguoi yeu|ban trai|chu|cau|bac|duong|ho)"
)
_COUNTRY = (
    r"(trung quoc|tq|ben tau|ben trung|lao|campuchia|cam pu chia|thai lan|malaysia|han quoc|"
    r"dai loan|nuoc ngoai|bien gioi)"
)
_FOLDED_PHRASES: dict[str, tuple[str, ...]] = {
    "violence": (
        "bao luc",
        "danh dap",
        "bi danh",
        "bi dap",
        "bi bao hanh",
        "bao hanh",
        "nguoc dai",
        "hanh ha",
        "hanh hung",
        "bop co",
        "siet co",
        "bi chem",
        "cam dao",
        "bi dam",
        "tat axit",
        "hat axit",
        "bi nhot",
        "nhot em",
        "nhot toi",
        "giam long",
        "duoi ra khoi nha",
        "danh chet",
        "danh den",
        "dap chet",
        "bi tat",
        "bi dot",
        "beat",
        "abuse",
        "violence",
    ),
    "threat": (
        "de doa",
        "doa giet",
        "doa danh",
        "doa chem",
        "bi doa",
        "giet chet",
        "se giet",
        "threat",
    ),
    "sexual": (
        "hiep dam",
        "cuong hiep",
        "xam hai",
        "sam so",
        "so mo",
        "quay roi",
        "dam o",
        "loan luan",
        "ep quan he",
        "bat quan he",
        "ep ngu",
        "bat ngu voi",
        "rape",
        "harass",
    ),
    "trafficking": (
        "mua ban nguoi",
        "buon ban nguoi",
        "buon nguoi",
        "bat coc",
        "bi bat coc",
        "lua ban",
        "bi lua ban",
        "bi lua sang",
        "ban sang",
        "bi giu giay to",
        "trafficking",
        "kidnap",
    ),
    "marriage": (
        "tao hon",
        "ep cuoi",
        "ep ket hon",
        "cuong ep ket hon",
        "ep lay chong",
        "ep lay vo",
        "bat lay chong",
        "bat lay vo",
        "bat cuoi",
        "ga ep",
        "forced marriage",
        "child marriage",
    ),
    "self_harm": (
        "tu sat",
        "muon chet",
        "khong muon song",
        "chan song",
        "uong thuoc sau",
        "thuoc chuot",
        "nhay song",
        "nhay cau",
        "nhay lau",
        "cat tay",
        "rach tay",
        "ket lieu",
        "suicide",
        "kill myself",
    ),
    "help": (
        "nguy hiem",
        "help",
        "sos",
        "khan cap",
        "cuu toi",
        "cuu voi",
        "cuu em",
        "cuu con",
        "cuu me",
        "cuu chau",
        "cuu chi",
        "giup voi",
        "so qua",
    ),
}
_FOLDED_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "violence": (
        re.compile(rf"\b{_ABUSER}( \w+){{0,2}} (danh|dap|tat|dam|chem|bop|dot)\b"),
        re.compile(rf"\b(danh|dap|chem|dam) {_PERSON}\b"),
    ),
    "threat": (re.compile(r"\bdoa (se )?(giet|danh|chem|dot|tat|bat)\b"),),
    "trafficking": (
        re.compile(rf"\b(ban|lua|dua|bat|dem) (\w+ ){{0,2}}(sang|qua|len|ra) {_COUNTRY}\b"),
    ),
    "marriage": (
        re.compile(
            r"\b(bat|ep|cuong ep|gia dinh bat)( \w+){0,2} (lay chong|lay vo|cuoi|ket hon)\b"
        ),
    ),
    "help": (
        re.compile(rf"\bgiup( do)?( {_PERSON})? voi\b"),
        re.compile(r"\bcuu (\w+ )?voi\b"),
    ),
}
# Ambiguous once folded: with diacritics only the accented forms count; without, the plain.
_ACCENTED: dict[str, tuple[str, ...]] = {
    "help": ("cứu",),
    "violence": ("đánh", "bị đánh", "đánh đập"),
    "threat": ("giết",),
    "sexual": ("hiếp",),
    "self_harm": ("tự tử",),
    "trafficking": ("bị bán", "bán em", "bán con", "bán tôi"),
}
_PLAIN: dict[str, tuple[str, ...]] = {
    "help": ("cuu",),
    "violence": ("danh toi", "danh vo", "danh con", "danh me", "danh em"),
    "threat": ("giet",),
    "sexual": ("hiep",),
    "self_harm": ("tu tu",),
    "trafficking": ("bi ban", "ban em", "ban con", "ban toi"),
}


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text.lower())


def _has_phrase(haystack: str, phrases: Iterable[str]) -> bool:
    padded = f" {haystack} "
    return any(f" {p} " in padded for p in phrases)


def danger_kinds(text: str | None) -> set[str]:
    """The kinds of danger a message speaks of (``DANGER_KINDS``); empty when none."""
    if not text:
        return set()
    words = _words(text)
    found = {k for k, phrases in _FOLDED_PHRASES.items() if _has_phrase(words, phrases)}
    found |= {k for k, pats in _FOLDED_PATTERNS.items() if any(p.search(words) for p in pats)}
    raw = " ".join(re.sub(r"[^\w]+", " ", _nfc(text)).split())
    if raw != words:  # typed with diacritics: the accented form decides
        found |= {k for k, phrases in _ACCENTED.items() if _has_phrase(raw, phrases)}
    else:
        found |= {k for k, phrases in _PLAIN.items() if _has_phrase(words, phrases)}
    return found


def is_danger_text(text: str | None) -> bool:
    return bool(danger_kinds(text))


# -- free text for a choice ---------------------------------------------------------------------
# Words a frightened person types instead of a number, per choice group; matched on whole
# words of the folded text, the longest phrase first ("chong cu" before "chong").
_CHOICE_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "danger": {
        "yes": (
            "co",
            "c",
            "co a",
            "co ah",
            "vang",
            "da",
            "u",
            "uh",
            "dung",
            "dung roi",
            "phai",
            "yes",
            "dang",
            "dang bi",
            "ngay bay gio",
            "bay gio",
            "ngay luc nay",
        ),
        "no": (
            "khong",
            "ko",
            "k",
            "kg",
            "khong co",
            "no",
            "chua",
            "het roi",
            "an toan",
            "da an toan",
            "khong sao",
            "khong con",
            "qua roi",
        ),
    },
    "aff": {
        "self": ("toi", "em", "minh", "tui", "chinh toi", "ban than", "la toi", "la em", "me"),
        "other": (
            "nguoi khac",
            "nguoi than",
            "hang xom",
            "ban em",
            "ban toi",
            "chi toi",
            "me toi",
            "con toi",
            "em gai",
            "em trai",
            "chi gai",
            "co ay",
            "chi ay",
            "ba ay",
            "chau toi",
            "ban be",
            "someone else",
            "other",
        ),
    },
    "sex": {
        "f": ("nu", "gai", "phu nu", "con gai", "be gai", "female", "woman", "girl", "chi", "vo"),
        "m": ("nam", "trai", "dan ong", "con trai", "be trai", "male", "man", "boy", "chong"),
        "unknown": ("khong ro", "ko ro", "chua ro"),
    },
    "rel": {
        "partner": (
            "chong",
            "vo",
            "chong toi",
            "chong em",
            "vo toi",
            "nguoi yeu",
            "ban trai",
            "ban gai",
            "chong chi",
            "chong chi ay",
            "chong co ay",
            "husband",
            "wife",
        ),
        "ex_partner": (
            "chong cu",
            "vo cu",
            "nguoi yeu cu",
            "ban trai cu",
            "ban gai cu",
            "da ly hon",
            "ex",
        ),
        "parent": (
            "bo",
            "cha",
            "me",
            "bo duong",
            "cha duong",
            "me ke",
            "me duong",
            "bo me",
            "ba",
            "father",
            "mother",
        ),
        "child": ("con", "con trai", "con gai", "con ruot", "son", "daughter"),
        "relative": (
            "anh",
            "anh trai",
            "chi gai",
            "em trai",
            "ong",
            "ong noi",
            "ong ngoai",
            "chu",
            "bac",
            "cau",
            "duong",
            "di",
            "mo",
            "co",
            "ho hang",
            "nguoi than",
            "nha chong",
            "me chong",
            "bo chong",
            "anh re",
            "relative",
        ),
        "acquaintance": (
            "hang xom",
            "nguoi quen",
            "ban",
            "ban be",
            "dong nghiep",
            "thay giao",
            "co giao",
            "chu nha",
            "sep",
            "neighbour",
        ),
        "stranger": ("nguoi la", "khong quen", "khong quen biet", "stranger"),
        "unknown": ("khong ro", "khong biet", "ko biet", "chua ro"),
    },
    "anon": {
        "anon": ("an danh", "giau ten", "khong", "ko", "khong can", "khong muon", "thoi"),
        "contact": ("co", "lien he", "goi lai", "goi cho toi", "muon", "duoc", "dong y"),
    },
    "consent": {
        "yes": ("co", "dong y", "duoc", "ok", "u", "vang", "dung"),
        "no": ("khong", "ko", "k", "khong dong y", "khong muon", "chua"),
        "not_asked": ("chua hoi",),
    },
    "help": {
        "health": ("y te", "benh vien", "bac si", "cham soc suc khoe", "bi thuong", "cap cuu"),
        "shelter": ("cho o", "noi o", "tam lanh", "noi an toan", "cho tru", "nha tam lanh"),
        "counselling": ("tu van", "tam ly", "noi chuyen"),
        "legal": ("phap ly", "luat", "luat su", "ly hon", "tro giup phap ly"),
        "police": ("cong an", "canh sat", "police", "bao cong an"),
        "none": ("chua can", "khong can", "khong", "chua"),
    },
    "form": {
        "physical": ("danh", "dap", "bi danh", "tat", "the chat", "bao hanh", "dam", "chem"),
        "psychological": ("chui", "chui mang", "xuc pham", "tinh than", "doa", "de doa", "lang ma"),
        "economic": ("tien", "kinh te", "khong cho tien", "lay tien", "lay het tien"),
        "sexual": ("hiep", "hiep dam", "tinh duc", "xam hai", "ep quan he", "cuong hiep"),
        "trafficking": ("ban", "bi ban", "buon nguoi", "mua ban nguoi", "lua ban", "bat coc"),
        "child_marriage": ("tao hon",),
        "forced_marriage": ("ep cuoi", "ep lay chong", "bat lay chong", "ep ket hon", "bat cuoi"),
        "harassment": ("quay roi", "sam so", "so mo", "quay roi tinh duc"),
    },
}
_NEGATIONS = ("khong", "ko", "k", "kg", "chua", "no")
# Answers that hedge ("maybe") or name something else: not clear, ask again.
_HEDGES = ("co le", "co the", "chac la", "hinh nhu", "danh nhau", "cai nhau")


def choice_from_text(group: str, text: str | None, keys: Sequence[str] | None = None) -> str | None:
    """The option a free-text answer means, or None when it is not clear (ask again).

    ``có, chồng chị ấy đang đánh chị ấy`` → ``yes`` (danger); ``chong`` → ``partner``;
    ``chồng cũ`` → ``ex_partner``. The longest matching phrase wins; two options found with
    phrases of the same length are not clear. For the danger question, words of danger mean
    yes unless the answer starts with a negation.
    """
    if not text:
        return None
    words = _words(text)
    if not words:
        return None
    table = _CHOICE_WORDS.get(group, {})
    allowed = set(keys) if keys is not None else set(table)
    if _has_phrase(words, _HEDGES):
        return None
    if group == "danger":
        first = words.split()[0]
        if first in ("co", "vang", "u", "uh", "dang", "yes") and "yes" in allowed:
            return "yes"
        if first in _NEGATIONS and "no" in allowed:
            return "no"
        if is_danger_text(text) and "yes" in allowed:
            return "yes"
    best: tuple[int, str] | None = None
    tie = False
    for key, phrases in table.items():
        if key not in allowed:
            continue
        for phrase in phrases:
            if _has_phrase(words, (phrase,)):
                size = len(phrase)
                if best is None or size > best[0]:
                    best, tie = (size, key), False
                elif size == best[0] and key != best[1]:
                    tie = True
    if best is None or tie:
        return None
    return best[1]


def choices_from_text(group: str, text: str | None, keys: Sequence[str]) -> list[str]:
    """Every option a free-text answer of a several-answer question names, in option order
    (``bị đánh và chửi`` → physical, psychological)."""
    if not text:
        return []
    words = _words(text)
    if _has_phrase(words, _HEDGES):
        return []
    table = _CHOICE_WORDS.get(group, {})
    found = [k for k in keys if any(_has_phrase(words, (p,)) for p in table.get(k, ()))]
    return found
