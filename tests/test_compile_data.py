"""What a compilation reads: the latest submitted version of each unit's report (drafts never
count), and DHIS2's reporting rate (submitted / expected) and on-time rate (submitted by the
due date / expected), on a constructed case whose answers are known.

The helpers here (``submit``, ``draft``, ``compile_demo``) are used by the other
``test_compile_*`` and ``test_admin_*`` files.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from compile.data import Compilation, fmt_pct, gather
from db import queries
from db.engine import Database
from db.models import Report, ReportValue, ReportVersion, Unit
from kernel.clock import to_utc
from kernel.settings import Services
from services import periods
from tests.conftest import local

TZ = "Asia/Ho_Chi_Minh"
DEMO_EXPECTED = 18  # demo province: 5 departments, 3 wards, 10 communes report


def at(iso: str) -> datetime:
    return to_utc(datetime.fromisoformat(iso), TZ)


async def submit(
    s: AsyncSession,
    unit: Unit,
    versions: list[tuple[str, dict[str, Any]]],
    *,
    period: str = "2026",
    revising: bool = False,
    form_id: str = "bdg_report",
) -> Report:
    """A report with submitted versions (local ISO time, values); ``revising`` leaves it in
    draft status after them, as when an officer reopens a submitted report."""
    assert unit.id is not None
    report = Report(
        unit_id=unit.id,
        period=period,
        form_id=form_id,
        status="draft" if revising else "submitted",
        version=len(versions),
        submitted_at=at(versions[-1][0]),
    )
    s.add(report)
    await s.flush()
    for n, (when, values) in enumerate(versions, 1):
        s.add(
            ReportVersion(
                report_id=report.id or 0,
                version=n,
                reference=f"BC-{period}-{unit.code}-{n}",
                values=values,
                submitted_at=at(when),
            )
        )
    await s.flush()
    return report


async def draft(
    s: AsyncSession, unit: Unit, values: dict[str, Any], *, period: str = "2026"
) -> Report:
    """A report never submitted: only its working copy holds answers."""
    assert unit.id is not None
    report = Report(unit_id=unit.id, period=period, form_id="bdg_report")
    s.add(report)
    await s.flush()
    for qid, v in values.items():
        s.add(ReportValue(report_id=report.id or 0, question_id=qid, value=v))
    await s.flush()
    return report


async def unit(s: AsyncSession, code: str) -> Unit:
    found = await queries.unit_by_code(s, code)
    assert found is not None, code
    return found


async def compile_demo(
    db: Database, root_code: str = "42", period: str = "2026", now: str = "2026-12-20T09:00"
) -> Compilation:
    async with db.session() as s:
        root = await unit(s, root_code)
        return await gather(s, root, period, services=Services(), now=local(now))


async def seed_known_case(db: Database) -> None:
    """Six communes of the demo province, each in a different situation (due 07/12/2026)."""
    async with db.session() as s:
        # On time, well before the deadline.
        await submit(s, await unit(s, "28303"), [("2026-12-01T09:00", {"comm_sessions": 5})])
        # On time: the last evening of the due date still counts.
        await submit(s, await unit(s, "28318"), [("2026-12-07T23:00", {"comm_sessions": 7})])
        # Late by half an hour past midnight.
        await submit(s, await unit(s, "28333"), [("2026-12-08T00:30", {"comm_sessions": 11})])
        # On time first, revised later: on time, and the revision's figures count.
        await submit(
            s,
            await unit(s, "28345"),
            [
                ("2026-12-05T10:00", {"comm_sessions": 100}),
                ("2026-12-20T08:00", {"comm_sessions": 2}),
            ],
        )
        # Only a draft: neither submitted nor counted.
        await draft(s, await unit(s, "28360"), {"comm_sessions": 1000})
        # Reopened for revision after an on-time submission: still counts, with version 1.
        await submit(
            s,
            await unit(s, "28375"),
            [("2026-12-06T15:00", {"comm_sessions": 3})],
            revising=True,
        )
        # Another period's report changes nothing here.
        await submit(
            s,
            await unit(s, "28390"),
            [("2026-06-01T09:00", {"comm_sessions": 500})],
            period="2026S1",
        )


async def test_rates_on_a_known_case(demo_db: Database) -> None:
    await seed_known_case(demo_db)
    c = await compile_demo(demo_db)
    assert c.expected == DEMO_EXPECTED
    assert sorted(u.code for u in c.submitted) == ["28303", "28318", "28333", "28345", "28375"]
    assert c.reporting_rate == 5 / 18 and fmt_pct(c.reporting_rate) == "27,8%"
    assert {u.code for u in c.units if u.on_time} == {"28303", "28318", "28345", "28375"}
    assert c.on_time_rate == 4 / 18 and fmt_pct(c.on_time_rate) == "22,2%"
    by_code = {u.code: u for u in c.units}
    assert by_code["28345"].values == {"comm_sessions": 2}  # the latest version
    assert by_code["28345"].reference == "BC-2026-28345-2"
    assert by_code["28360"].values is None  # the draft is not read
    assert by_code["28390"].values is None  # a 2026S1 report is not the 2026 report
    assert by_code["28360"].due == date(2026, 12, 7)
    assert by_code["28360"].days_late(date(2026, 12, 20)) == 13
    assert by_code["28360"].days_late(date(2026, 12, 1)) == 0
    # Units that do not report (the province, the agency, villages) are not expected.
    assert not {"42", "42-SNV", "28303-01"} & set(by_code)


async def test_a_deadline_override_moves_one_units_due_date(demo_db: Database) -> None:
    from services.overrides import set_override

    await seed_known_case(demo_db)
    async with demo_db.session() as s:
        await set_override(s, await unit(s, "28333"), 2026, "annual", date(2026, 12, 10), None, "t")
    c = await compile_demo(demo_db)
    by_code = {u.code: u for u in c.units}
    assert by_code["28333"].due == date(2026, 12, 10) and by_code["28333"].on_time
    assert by_code["28303"].due == date(2026, 12, 7)
    assert c.on_time_count == 5
    # The bulk lookup agrees with the one-unit lookup /baocao uses, for every unit.
    async with demo_db.session() as s:
        for u in c.units:
            one = await periods.period_by_id(s, Services(), await unit(s, u.code), "2026")
            assert one.due == u.due, u.code


async def test_a_subtree_compiles_only_its_units(demo_db: Database) -> None:
    await seed_known_case(demo_db)
    c = await compile_demo(demo_db, root_code="28303")  # a commune with two villages
    assert [u.code for u in c.units] == ["28303"]
    assert c.reporting_rate == 1.0 and c.agency is None


def test_every_message_key_of_the_desk_is_in_both_catalogs() -> None:
    """tests/test_catalogs.py scans bot/, handlers/, scheduler/, db/; this covers compile/ and
    the keys the desk builds from parts."""
    import re
    from pathlib import Path

    from kernel.i18n import catalog

    root = Path(__file__).resolve().parent.parent
    used = set()
    for path in (root / "compile").rglob("*.py"):
        used |= set(re.findall(r"[\"'](admin\.[a-z_]+)[\"']", path.read_text(encoding="utf-8")))
    used |= {f"admin.{w}_usage" for w in ("lock", "unlock")}
    used |= {f"admin.role_{r}" for r in ("officer", "admin")}
    used |= {f"admin.col_{p}" for p in ("m", "f", "total")}
    vi, en = catalog("vi"), catalog("en")
    assert len(used) > 60
    assert sorted(k for k in used if k not in vi or k not in en) == []
