"""The message catalogs read as one careful writer's: every flow addresses people one way
(citizens "bạn", officers "anh/chị"), "bấm" (tap) only where there are buttons, no English in
Vietnamese messages beyond names people see on their phones, no Vietnamese in English ones
beyond the words the bot asks people to type, and no doubled punctuation.

Each rule lists what it allows, so a new exception is a decision in this file, not a slip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parent.parent / "kernel" / "locales"


def messages(lang: str) -> dict[tuple[str, str], str]:
    """(domain, key) → text, over every catalog of ``lang``."""
    out: dict[tuple[str, str], str] = {}
    for po in sorted((LOCALES / lang / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            for m in read_po(fh):
                if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string:
                    out[(po.stem, m.id)] = m.string
    return out


VI, EN = messages("vi"), messages("en")

# -- one way of addressing people per flow ---------------------------------------------------
# The case intake talks to citizens ("bạn"); everything else, and the officers' side of cases,
# talks to officers ("anh/chị").
OFFICER_CASE_KEYS = re.compile(
    r"^case\.(alert_|nc_|duty|actions|not_found|err\.(action|assignee|same_|already_)|list_"
    r"|detail_|note_|status_|clock_|ev_|pick_bad|officer_|move_to|report_|add_note|code_bad"
    r"|ask\.\w+_officer)"
)
BAN = re.compile(r"\b[Bb]ạn\b(?! (tin cậy|bè))")  # not "người bạn tin cậy" (a friend)
ANH_CHI = re.compile(r"\b[Aa]nh/chị\b")


def flow_of(domain: str, key: str) -> str:
    if domain == "cases" and key.startswith("case.") and not OFFICER_CASE_KEYS.match(key):
        return "citizen"
    return "officer"


def test_each_flow_addresses_people_one_way() -> None:
    wrong = []
    for (domain, key), text in VI.items():
        flow = flow_of(domain, key)
        if flow == "citizen" and ANH_CHI.search(text):
            wrong.append(f"{domain}:{key}: 'anh/chị' in the citizens' flow (they are 'bạn')")
        if flow == "officer" and BAN.search(text):
            wrong.append(f"{domain}:{key}: 'bạn' in an officers' flow (they are 'anh/chị')")
    assert not wrong, "\n".join(wrong)


# -- "bấm" only where there are buttons ------------------------------------------------------
# Zalo and the terminal have no buttons: a message that says "bấm"/"tap" must be a
# ``_buttons`` variant (handlers/context.py Ctx.t picks it only on a channel with buttons), a
# key made for buttons (``remind.start_button``), or belong to Telegram or the web pages.
BUTTON_DOMAINS = {"telegram", "web"}
TAP = {"vi": re.compile(r"\b[Bb]ấm\b"), "en": re.compile(r"\b([Tt]ap|[Cc]lick)\b")}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_tap_only_where_there_are_buttons(lang: str) -> None:
    wrong = [
        f"{domain}:{key}"
        for (domain, key), text in (VI if lang == "vi" else EN).items()
        if TAP[lang].search(text)
        and domain not in BUTTON_DOMAINS
        and "button" not in key.rsplit(".", 1)[-1]
    ]
    assert not wrong, f"'tap' on channels without buttons: {wrong}"


def test_every_buttons_variant_has_its_plain_key() -> None:
    for cat in (VI, EN):
        for domain, key in cat:
            if key.endswith("_buttons"):
                assert (domain, key.removesuffix("_buttons")) in cat, key


# -- no English in Vietnamese ------------------------------------------------------------------
# The operator's console (ops, runner; core's startup.*) names commands, programs and settings:
# not checked. Elsewhere only these words, which people see as they are on their phones.
OPERATOR = {"ops", "runner"}
ALLOWED_EN = {
    "Telegram", "Zalo", "OA", "web", "link", "admin", "Enter", "Ctrl", "D", "bot",
    # typed keywords of /truc (Vietnamese without diacritics)
    "chutich", "congan", "canbo", "truongthon", "phunu",
}  # fmt: skip
BILINGUAL = {"lang.ask", "help.ngonngu"}  # "Chọn ngôn ngữ / Choose a language"
# A Vietnamese syllable written without diacritics ("tin", "theo", "xin", "nguoi").
SYLLABLE = re.compile(
    r"(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?[aeiouy]{1,3}(ng|nh|ch|[cmnpt])?",
    re.I,
)
# Placeholders, markup, links, chat commands (/baocao) and console commands (bdg export),
# e-mail addresses, codes and numbers.
NOT_WORDS = re.compile(
    r"\{[^}]*\}|<[^>]+>|https?://\S+|/[a-z_]+|\bbdg [a-z-]+|\S+@\S+|\b[A-Z0-9]{2,}\b|\d\S*"
)
SETTING = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")  # PUBLIC_URL, BDG_CASE_KEYS


def english_words(text: str) -> list[str]:
    found = [m.group(0) for m in SETTING.finditer(text)]
    for w in re.findall(r"[A-Za-zÀ-ỹĐđ]+", NOT_WORDS.sub(" ", SETTING.sub(" ", text))):
        if w.isascii() and w not in ALLOWED_EN and not SYLLABLE.fullmatch(w):
            found.append(w)
    return found


def test_no_english_in_vietnamese_messages() -> None:
    wrong = {
        f"{domain}:{key}": words
        for (domain, key), text in VI.items()
        if domain not in OPERATOR and not key.startswith("startup.") and key not in BILINGUAL
        if (words := english_words(text))
    }
    assert not wrong, wrong


def test_the_english_check_catches_what_the_issue_saw() -> None:
    assert english_words("nhấn giữ → «Xóa» (Delete chat)") == ["Delete"]
    assert english_words("máy chủ chưa có địa chỉ (PUBLIC_URL)") == ["PUBLIC_URL"]
    assert english_words("Gõ /baocao để làm tiếp trên Zalo, mã {code}") == []


# -- no Vietnamese in English ------------------------------------------------------------------
# What people are asked to type (the bot reads Vietnamese words in every language), place names
# in examples, and the language's own name.
ALLOWED_VI = [
    "tất cả", "tuổi", "Thạch Lạc", "hôm qua", "triệu", "tỷ", "nam 12 nữ 30", "gửi", "để sau",
    "Tiếng Việt", "Chọn ngôn ngữ", "Hà Tĩnh", "mã,tên,mã cấp trên,loại", "có/không",
    "tỉnh, xã, phường, đặc khu, thôn",
]  # fmt: skip
VIETNAMESE = re.compile(r"[À-ÃÈ-ÊÌÍÒ-ÕÙÚÝà-ãè-êìíò-õùúýĂăĐđĨĩŨũƠơƯưẠ-ỹ]")


def test_no_vietnamese_in_english_messages() -> None:
    wrong = {}
    for (domain, key), text in EN.items():
        rest = text
        for phrase in ALLOWED_VI:
            rest = rest.replace(phrase, "")
        if VIETNAMESE.search(rest):
            wrong[f"{domain}:{key}"] = text
    assert not wrong, wrong


# -- no doubled punctuation --------------------------------------------------------------------
DOUBLED = re.compile(r"(?<!\.)([.,;:!?])\1(?!\.)|[,;:][.,;:]")


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_no_doubled_punctuation(lang: str) -> None:
    cat = VI if lang == "vi" else EN
    wrong = {
        f"{d}:{k}": text
        for (d, k), text in cat.items()
        if DOUBLED.search(re.sub(r"https?://\S+", "", text))
    }
    assert not wrong, wrong
