"""The README and docs/ only point at files of this repository: every relative link and
every path-like name (`bot/cli/ops.py`, `deploy/Caddyfile`) exists, and nothing names a
folder outside the checkout."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PATH = re.compile(
    r"(?<![\w/.:-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|yaml|yml|po|json|csv|service|timer|toml|ini|sh))\b"
)
LINK = re.compile(r"\]\(([^)#\s]+)")
OUTSIDE = re.compile(r"(?<![\w.])/(?:work|home|root)/|\b(?:DOMAIN|ARCHITECTURE|STYLE)\.md\b")


def test_docs_reference_only_files_in_the_repository() -> None:
    missing = []
    for doc in DOCS:
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            found = [m.group(1) for m in PATH.finditer(line)]
            found += [m.group(1) for m in LINK.finditer(line) if "://" not in m.group(1)]
            for ref in found:
                if not ((ROOT / ref).exists() or (doc.parent / ref).exists()):
                    missing.append(f"{doc.name}:{n}: {ref}")
            if OUTSIDE.search(line):
                missing.append(f"{doc.name}:{n}: outside the repository: {line.strip()[:80]}")
    assert missing == []


def test_deploy_guide_covers_the_way_to_production() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for needed in (
        "docker compose up",
        "deploy/bdg.service",
        "scripts/setup.sh --prod",
        "bdg db backup",
        "bdg db restore",
        "BDG_CASE_KEYS",
        "/metrics",
        "bdg doctor",
        "TELEGRAM_WEBHOOK_SECRET",
        "ZALO_WEBHOOK_SECRET",
    ):
        assert needed in text, needed
