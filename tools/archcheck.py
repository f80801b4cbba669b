"""Architecture figures and limits (issue 10): the package import graph, functions over the
length limit, the highest cyclomatic complexity, and function-local imports.

    python tools/archcheck.py            # print the figures
    python tools/archcheck.py --check    # exit 1 when a source function is over the limit

The complexity limit itself is enforced by ruff (C901, max 15, pyproject.toml); this script
only reports the highest value so the figure can be compared over time.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kernel", "db", "services", "scheduler", "compile", "handlers", "bot")
MAX_LINES = 60
# Function-local imports that are deliberate: heavy libraries loaded only when a command needs
# them (matplotlib, python-docx, openpyxl, a messaging channel's client library, segno).
LAZY_OK = {
    "matplotlib",
    "docx",
    "openpyxl",
    "compile.xlsx",
    "compile.docx",
    "compile.charts",
    "bot.telegram.channel",
    "bot.zalo.channel",
    "bot.zalo_oa.channel",
    "segno",  # the web desk's invite QR codes
}


def source_files() -> list[Path]:
    out = []
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            if "migrations" in p.parts:  # scripts Alembic runs, not importable modules
                continue
            out.append(p)
    return out


def complexity(fn: ast.AST) -> int:
    """McCabe complexity as ruff counts it (decision points + 1), close enough to compare."""
    n = 1
    for node in ast.walk(fn):
        if isinstance(node, ast.If | ast.For | ast.AsyncFor | ast.While | ast.IfExp):
            n += 1
        elif isinstance(node, ast.ExceptHandler | ast.comprehension | ast.match_case):
            n += 1
        elif isinstance(node, ast.BoolOp):
            n += len(node.values) - 1
    return n


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        return [base, *(f"{base}.{a.name}" for a in node.names)]
    return [a.name for a in node.names]


def _function(node: ast.FunctionDef | ast.AsyncFunctionDef, rel: Path, found: Found) -> None:
    where = f"{rel}:{node.lineno} {node.name}"
    length = (node.end_lineno or node.lineno) - node.lineno + 1
    if length > MAX_LINES:
        found.long_fns.append((length, where))
    found.worst.append((complexity(node), where))
    for inner in ast.walk(node):
        if isinstance(inner, ast.Import | ast.ImportFrom):
            mods = _imported(inner)
            if not any(m in LAZY_OK or m.split(".")[0] in LAZY_OK for m in mods):
                found.local_imports.append(f"{rel}:{inner.lineno} {mods[0]}")


class Found:
    def __init__(self) -> None:
        self.edges: Counter[tuple[str, str]] = Counter()
        self.long_fns: list[tuple[int, str]] = []
        self.worst: list[tuple[int, str]] = []
        self.local_imports: list[str] = []


def scan() -> Found:
    found = Found()
    for path in source_files():
        rel = path.relative_to(ROOT)
        top = rel.parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in (
                    _imported(node)[:1] if isinstance(node, ast.ImportFrom) else _imported(node)
                ):
                    dep = name.split(".")[0]
                    if dep in PACKAGES and dep != top:
                        found.edges[(top, dep)] += 1
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                _function(node, rel, found)
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    found = scan()
    print("package import graph (importer -> imported: import statements)")
    for (a, b), n in sorted(found.edges.items()):
        print(f"  {a} -> {b}: {n}")
    print(f"functions over {MAX_LINES} lines: {len(found.long_fns)}")
    for n, where in sorted(found.long_fns, reverse=True):
        print(f"  {n:4d}  {where}")
    found.worst.sort(reverse=True)
    print("highest complexity: " + ", ".join(f"{n} {w}" for n, w in found.worst[:5]))
    print(f"function-local imports (not lazy heavy libraries): {len(found.local_imports)}")
    for where in found.local_imports:
        print(f"  {where}")
    if args.check and (found.long_fns or found.local_imports):
        print("FAILED: functions over the limit or function-local imports", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
