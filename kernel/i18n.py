"""Message catalogs (gettext PO files read with Babel), Vietnamese first.

Catalogs live in ``kernel/locales/<lang>/LC_MESSAGES/*.po``; every feature keeps its own
domain file (core.po, telegram.po, cases.po …) and all are merged per language. Message ids
are stable keys such as ``report.saved``; texts use ``str.format`` placeholders.
A missing translation falls back to Vietnamese, then to the key itself (and a test checks
that every key used exists in both languages).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "locales"
LANGS = ("vi", "en")
DEFAULT_LANG = "vi"


@cache
def catalog(lang: str) -> dict[str, str]:
    out: dict[str, str] = {}
    folder = LOCALES / lang / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as fh:
            cat = read_po(fh, locale=lang)
        for msg in cat:
            if msg.id and msg.string and isinstance(msg.id, str) and isinstance(msg.string, str):
                out[msg.id] = msg.string
    return out


def normalise_lang(lang: str | None) -> str:
    if not lang:
        return DEFAULT_LANG
    code = lang.lower().split("-")[0].split("_")[0]
    return code if code in LANGS else DEFAULT_LANG


def t(lang: str, key: str, **kw: object) -> str:
    text = catalog(normalise_lang(lang)).get(key) or catalog(DEFAULT_LANG).get(key) or key
    return text.format(**kw) if kw else text
