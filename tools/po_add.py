"""Add or update messages in a catalog domain from a small Python table.

    python tools/po_add.py core messages.py

``messages.py`` defines ``MESSAGES = {"key": ("Vietnamese", "English"), ...}``. Existing
entries of the domain are kept; the PO files remain the catalogs the bot reads.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parent.parent / "kernel" / "locales"


def main(domain: str, table: str) -> None:
    messages: dict[str, tuple[str, str]] = runpy.run_path(table)["MESSAGES"]
    for i, lang in enumerate(("vi", "en")):
        path = LOCALES / lang / "LC_MESSAGES" / f"{domain}.po"
        if path.exists():
            with path.open("rb") as fh:
                cat = read_po(fh, locale=lang)
        else:
            cat = Catalog(locale=lang, project="bdg-bot", domain=domain)
        for key, texts in messages.items():
            cat.add(key, texts[i])
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, cat, width=0, omit_header=False, sort_output=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
