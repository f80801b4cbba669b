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
# them (matplotlib, python-docx, openpyxl) and the migration environment Alembic runs.
LAZY_OK = {"matplotlib", "docx", "openpyxl", "compile.xlsx", "compile.docx", "compile.charts"}


def source_files() -> list[Path]:
    out = []
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            if "versions" in p.parts and "migrations" in p.parts:
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    edges: Counter[tuple[str, str]] = Counter()
    long_fns: list[tuple[int, str]] = []
    worst: list[tuple[int, str]] = []
    local_imports: list[str] = []
    for path in source_files():
        rel = path.relative_to(ROOT)
        top = rel.parts[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for name in names:
                    dep = name.split(".")[0]
                    if dep in PACKAGES and dep != top:
                        edges[(top, dep)] += 1
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                where = f"{rel}:{node.lineno} {node.name}"
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_LINES:
                    long_fns.append((length, where))
                worst.append((complexity(node), where))
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        mod = (
                            inner.module
                            if isinstance(inner, ast.ImportFrom)
                            else inner.names[0].name
                        ) or ""
                        if mod.split(".")[0] not in LAZY_OK and mod not in LAZY_OK:
                            local_imports.append(f"{rel}:{inner.lineno} {mod}")
    print("package import graph (importer -> imported: import statements)")
    for (a, b), n in sorted(edges.items()):
        print(f"  {a} -> {b}: {n}")
    print(f"functions over {MAX_LINES} lines: {len(long_fns)}")
    for n, where in sorted(long_fns, reverse=True):
        print(f"  {n:4d}  {where}")
    worst.sort(reverse=True)
    print("highest complexity: " + ", ".join(f"{n} {w}" for n, w in worst[:5]))
    print(f"function-local imports (not lazy heavy libraries): {len(local_imports)}")
    for where in local_imports:
        print(f"  {where}")
    if args.check and (long_fns or local_imports):
        print("FAILED: functions over the limit or function-local imports", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
