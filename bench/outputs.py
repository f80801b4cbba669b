"""Time and peak memory to compile the XLSX workbook, the DOCX report and the charts for a
nation (3,321 communes under 34 provinces) and for a province before 2025 (150 communes
under 10 districts), every unit with a full submitted annual report.

    .venv/bin/python bench/outputs.py                       # both sizes
    .venv/bin/python bench/outputs.py --units 150 --render  # + DOCX → PDF → PNG pages

Reading the database (one subtree, one period) is timed apart from building each file.
Times are wall-clock seconds (libraries imported beforehand). Peak memory is how much the
resident set grows while one file is built, measured in a forked child (Linux: the peak
VmHWM after resetting it through /proc/self/clear_refs, minus VmRSS before), so memory held
by C libraries (lxml, Agg) counts too. The files and page images go to ./out/bench/
(git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import compile.charts  # noqa: E402, F401  (imported before timing)
import compile.docx  # noqa: E402, F401
import compile.xlsx  # noqa: E402, F401
from compile.build import render  # noqa: E402
from compile.data import Compilation, gather  # noqa: E402
from db.engine import Database  # noqa: E402
from db.models import Report, ReportVersion, Unit  # noqa: E402
from db.units import import_units  # noqa: E402
from kernel.clock import to_utc  # noqa: E402
from kernel.settings import Services  # noqa: E402
from services.forms.engine import Form, load_form  # noqa: E402

OUT = Path("out") / "bench"
TZ = "Asia/Ho_Chi_Minh"
REMARKS = [
    "Kinh phí cho công tác tuyên truyền ở thôn vùng sâu còn hạn chế.",
    "Cán bộ phụ trách kiêm nhiệm nhiều việc, chưa được tập huấn chuyên sâu.",
    "Một số vụ bạo lực gia đình chưa được phát hiện kịp thời do nạn nhân ngại trình báo.",
    "Đề nghị tỉnh tổ chức tập huấn kỹ năng tư vấn cho thành viên địa chỉ tin cậy.",
    "Đề nghị bổ sung kinh phí in tài liệu bằng tiếng dân tộc thiểu số.",
    "",
]


def full_values(form: Form, kind: str, unit_kind: str, rng: random.Random) -> dict[str, Any]:
    """A complete, consistent answer to every question that applies."""
    v: dict[str, Any] = {}
    env: dict[str, Any] = {"period_type": kind, "unit_kind": unit_kind}
    for q in form.questions:
        if not form.is_relevant(q, {**env, **v}):
            continue
        if q.type == "integer":
            v[q.id] = rng.randint(0, min(q.max or 50, 50))
        elif q.type == "money":
            v[q.id] = rng.randint(0, 50) * 1_000_000
        elif q.type == "sex_count":
            v[q.id] = {"m": rng.randint(0, 200), "f": rng.randint(0, 300)}
        elif q.type == "yes_no":
            v[q.id] = rng.random() < 0.8
        elif q.type == "choice":
            v[q.id] = rng.choice(q.options).key
        elif q.type == "multi":
            v[q.id] = [o.key for o in q.options if rng.random() < 0.5]
        elif q.type == "date":
            v[q.id] = date(2026, rng.randint(1, 11), rng.randint(1, 28)).isoformat()
        elif q.type == "text":
            v[q.id] = rng.choice(REMARKS) or None
    # Keep the form's consistency rules true: parts never exceed their wholes.
    if "vio_cases" in v and v.get("vio_cases"):
        forms = [k for k in v if k.startswith("vio_") and k != "vio_cases"]
        v["vio_cases"] = min(v["vio_cases"], sum(v[k] for k in forms))
    return v


async def seed(db: Database, n_units: int, rng: random.Random) -> str:
    """Units and one full submitted annual 2026 report per reporting unit; returns the root
    code."""
    rows = []
    if n_units > 1000:  # the nation after 1 July 2025: 34 provinces, communes below
        root = "VN"
        rows.append({"code": root, "name": "Việt Nam", "parent_code": "", "kind": "nation"})
        parents = [f"P{i:02d}" for i in range(34)]
        rows += [
            {"code": p, "name": f"Tỉnh số {i + 1}", "parent_code": root, "kind": "province"}
            for i, p in enumerate(parents)
        ]
    else:  # a province before 2025: districts with communes
        root = "P00"
        rows.append({"code": root, "name": "Tỉnh Hà Tĩnh", "parent_code": "", "kind": "province"})
        parents = [f"D{i:02d}" for i in range(10)]
        rows += [
            {"code": p, "name": f"Huyện số {i + 1}", "parent_code": root, "kind": "district"}
            for i, p in enumerate(parents)
        ]
    for r in rows:
        r["reports"] = "0"
    rows += [
        {
            "code": f"C{i:05d}",
            "name": f"Xã số {i + 1}",
            "parent_code": parents[i % len(parents)],
            "kind": "commune",
            "reports": "1",
        }
        for i in range(n_units)
    ]
    form = load_form("bdg_report")
    submitted = to_utc(datetime(2026, 12, 1, 9, 0), TZ)
    async with db.session() as s:
        await import_units(s, rows)
    async with db.session() as s:
        from sqlmodel import col, select

        communes = (await s.exec(select(Unit).where(col(Unit.reports).is_(True)))).all()
        for i, u in enumerate(communes):
            assert u.id is not None
            at = submitted + timedelta(days=(i * 7) % 11)  # some after 07/12: late
            report = Report(
                unit_id=u.id,
                period="2026",
                form_id="bdg_report",
                status="submitted",
                version=1,
                created_at=at,
                updated_at=at,
                submitted_at=at,
            )
            s.add(report)
            await s.flush()
            s.add(
                ReportVersion(
                    report_id=report.id or 0,
                    version=1,
                    reference=f"BC-2026-{u.code}-1",
                    values=full_values(form, "annual", u.kind, rng),
                    submitted_at=at,
                )
            )
    return root


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_growth(fn: Callable[[], Any]) -> float:
    """MiB by which the peak resident set exceeds the start while ``fn`` runs (in a child)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child() -> None:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
        before = _vm("VmRSS")
        fn()
        queue.put((_vm("VmHWM") - before) / 2**20)

    proc = ctx.Process(target=child)
    proc.start()
    growth = float(queue.get(timeout=600))
    proc.join()
    return growth


async def compile_once(db: Database, root_code: str) -> tuple[Compilation, float]:
    from db import queries

    now = to_utc(datetime(2026, 12, 20, 9, 0), TZ)
    async with db.session() as s:
        root = await queries.unit_by_code(s, root_code)
        assert root is not None
        t0 = time.perf_counter()
        c = await gather(s, root, "2026", services=Services(), now=now)
        return c, time.perf_counter() - t0


def render_pages(docx: Path, pages: int) -> list[Path]:
    """DOCX → PDF (LibreOffice headless) → PNG pages (pdftoppm)."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None or shutil.which("pdftoppm") is None:
        print(
            "  LibreOffice or pdftoppm missing: apt-get install -y libreoffice-writer poppler-utils"
        )
        return []
    subprocess.run(
        [soffice, "--headless", "--convert-to", "pdf", "--outdir", str(docx.parent), str(docx)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    pdf = docx.with_suffix(".pdf")
    prefix = docx.with_suffix("")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", str(pages), str(pdf), str(prefix)],
        check=True,
        timeout=300,
    )
    return sorted(docx.parent.glob(f"{prefix.name}-*.png"))


async def prepare(n_units: int) -> tuple[Compilation, float, float]:
    """Seed a fresh database, then read the compilation; (compilation, seed s, read s)."""
    rng = random.Random(n_units)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/bench.sqlite3")
        await db.upgrade()
        t0 = time.perf_counter()
        root = await seed(db, n_units, rng)
        seeded = time.perf_counter() - t0
        c, read = await compile_once(db, root)
        await db.dispose()
    return c, seeded, read


def bench(n_units: int, render_docx: bool) -> None:
    c, seeded, read = asyncio.run(prepare(n_units))
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"\n{n_units} units with full annual reports (seeded in {seeded:.1f} s)")
    print(f"  {'step':<22} {'seconds':>8} {'peak +MiB':>14} {'size KiB':>9}")
    print(f"  {'read database':<22} {read:>8.2f} {'':>14} {'':>9}")
    for fmt in ("xlsx", "docx", "png"):
        files, secs = timed(lambda fmt=fmt: render(c, fmt))
        peak = rss_growth(lambda fmt=fmt: render(c, fmt))
        size = sum(len(f.data) for f in files) / 1024
        label = {"xlsx": "XLSX workbook", "docx": "DOCX report", "png": "3 PNG charts"}[fmt]
        print(f"  {label:<22} {secs:>8.2f} {peak:>14.1f} {size:>9.0f}")
        for f in files:
            (OUT / f"{n_units}-{f.name}").write_bytes(f.data)
    if render_docx:
        docx = OUT / f"{n_units}-{render(c, 'docx')[0].name}"
        pages = render_pages(docx, 4)
        for p in pages:
            print(f"  page image: {p}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, nargs="*", default=[3321, 150])
    ap.add_argument("--render", action="store_true", help="render the DOCX to PNG pages")
    args = ap.parse_args()
    for n in args.units:
        bench(n, args.render)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
