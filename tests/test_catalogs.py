"""Every message key used in code exists in the Vietnamese and the English catalog."""

from __future__ import annotations

import re
from pathlib import Path

from kernel.i18n import catalog
from services.forms.engine import TYPES

ROOT = Path(__file__).resolve().parent.parent
KEY = re.compile(r"[\"']((?:[a-z_]+)\.[a-z_]+(?:\.[a-z_]+)?)[\"']")
PREFIXES = {
    "lang",
    "err",
    "report",
    "reg",
    "value",
    "alias",
    "howto",
    "days",
    "cancel",
    "lich",
    "status",
    "help",
    "welcome",
    "menu",
    "group",
    "admin",
    "choice",
    "terminal",
    "link",
    "zalo",
    "telegram",
    "remind",
    "deadline",
    "case",
    "duty",
    "cli",
    "db",
    "doctor",
    "units",
    "web",
}

FILE_SUFFIXES = (".html", ".png", ".xlsx", ".docx", ".yaml", ".csv", ".txt", ".js", ".css")


def keys_in_code() -> set[str]:
    found = set()
    for folder in ("kernel", "db", "services", "scheduler", "compile", "handlers", "bot"):
        for path in (ROOT / folder).rglob("*.py") if (ROOT / folder).exists() else []:
            if "migrations" in path.parts:
                continue
            # Audit actions ("report.submit") are dotted names too, but not messages.
            source = "\n".join(
                line
                for line in path.read_text(encoding="utf-8").splitlines()
                if "audit(" not in line and "foreign_key" not in line
            )
            for key in KEY.findall(source):
                # Template and file names ("case.html") are dotted too.
                if key.split(".")[0] in PREFIXES and not key.endswith(FILE_SUFFIXES):
                    found.add(key)
    found |= {f"howto.{t}" for t in TYPES}
    return found


def test_every_key_in_both_languages() -> None:
    vi, en = catalog("vi"), catalog("en")
    missing = sorted(k for k in keys_in_code() if k not in vi or k not in en)
    assert not missing, missing


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    vi, en = catalog("vi"), catalog("en")
    assert set(vi) == set(en), sorted(set(vi) ^ set(en))
    field = re.compile(r"{(\w+)}")
    for key in vi:
        assert set(field.findall(vi[key])) == set(field.findall(en[key])), key


def test_vietnamese_has_diacritics() -> None:
    vi = catalog("vi")
    texts = " ".join(vi.values())
    for word in ("báo cáo", "Câu", "nữ", "Đã lưu", "mã mời"):
        assert word in texts
