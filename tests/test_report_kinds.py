"""Forms per kind of unit: a department answers the department form (no trusted addresses,
clubs or commune leaders; the cases it handled under its own indicators), a special zone
(đặc khu) the commune form with its women-leaders section; a draft in flight keeps the form it
was started on; and compiled totals never add a department's cases to the communes'."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlmodel import select

from compile.indicators import Column, respondents
from db.engine import Database
from db.models import Report, ReportValue, ReportVersion
from db.units import import_units
from handlers.report import _line_label
from services.forms.engine import load_form
from tests.answers import ANSWERS, conversation_state
from tests.chat import Chat
from tests.test_compile_data import compile_demo, submit, unit
from tests.test_report_flow import fill

COMMUNE_ONLY = {"trusted_addresses", "clubs", "vio_cases", "leaders_total", "council_total"}


async def report_of(db: Database, code: str, period: str = "2026") -> tuple[Report, dict]:
    async with db.session() as s:
        u = await unit(s, code)
        report = (
            await s.exec(select(Report).where(Report.unit_id == u.id, Report.period == period))
        ).one()
        rows = (await s.exec(select(ReportValue).where(ReportValue.report_id == report.id))).all()
        return report, {r.question_id: r.value for r in rows}


async def test_a_department_reports_on_its_own_form(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    out = await chat.register(demo_db, unit_code="42-CA", name="Trần Văn Hùng", position="Cán bộ")
    assert "Công an tỉnh" in out
    out = await chat.send("/baocao")
    assert "Báo cáo tổng kết năm 2026" in out and "Câu 1/" in out
    asked = await fill(chat, demo_db)
    assert not COMMUNE_ONLY & set(asked), COMMUNE_ONLY & set(asked)
    assert {"dept_cases", "dept_trafficking", "dept_victims_supported"} <= set(asked)
    assert {"committee_rules", "mainstream_docs", "complaints", "budget_national"} <= set(asked)
    flow, state = await conversation_state(demo_db, "terminal", "u1")
    assert flow == "report" and state["mode"] == "summary"
    summary = chat.log[-1][1]
    assert "Vụ việc tiếp nhận, xử lý theo chức năng" in summary
    assert "Phụ nữ tham gia lãnh đạo" not in summary and "địa chỉ tin cậy" not in summary
    assert "::" not in summary
    out = await chat.send("gửi")
    assert "Số tham chiếu: BC-2026-42-CA-1" in out
    report, values = await report_of(demo_db, "42-CA")
    assert report.form_id == "bdg_department" and report.status == "submitted"
    async with demo_db.session() as s:
        version = (await s.exec(select(ReportVersion))).one()
    assert version.values == {q: ANSWERS[q][1] for q in asked}


async def test_a_special_zone_reports_its_women_leaders(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    async with demo_db.session() as s:
        await import_units(
            s,
            [
                {
                    "code": "28500",
                    "name": "Đặc khu Sơn Dương",
                    "parent_code": "42",
                    "kind": "special_zone",
                    "reports": "1",
                }
            ],
        )
    chat = make_chat()
    out = await chat.register(demo_db, unit_code="28500")
    assert "Đặc khu Sơn Dương" in out
    await chat.send("/baocao")
    asked = await fill(chat, demo_db)
    assert {"leaders_total", "leaders_women", "council_total", "council_women"} <= set(asked)
    assert {"trusted_addresses", "vio_cases", "marriage_brokerage"} <= set(asked)
    assert not {"party_total", "party_women", "dept_cases"} & set(asked)
    assert "Phụ nữ tham gia lãnh đạo" in chat.log[-1][1]
    out = await chat.send("gửi")
    assert "Số tham chiếu: BC-2026-28500-1" in out
    report, values = await report_of(demo_db, "28500")
    assert report.form_id == "bdg_report"
    assert values["leaders_women"] == ANSWERS["leaders_women"][1]


async def test_a_draft_in_flight_keeps_the_form_it_was_started_on(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    """A department that started its report on the commune form (before departments had their
    own) goes on with it: its answers stay and the same questions follow."""
    async with demo_db.session() as s:
        u = await unit(s, "42-HLHPN")
        assert u.id is not None
        report = Report(unit_id=u.id, period="2026", form_id="bdg_report")
        s.add(report)
        await s.flush()
        for qid in ("plan_issued", "plan_date", "focal_point"):
            s.add(ReportValue(report_id=report.id or 0, question_id=qid, value=ANSWERS[qid][1]))
    chat = make_chat()
    await chat.register(demo_db, unit_code="42-HLHPN")
    out = await chat.send("/baocao")
    assert "Đã trả lời 3 câu" in out and "Câu 4/" in out
    asked = await fill(chat, demo_db)
    assert asked[0] == "committee_meetings"
    assert "trusted_addresses" in asked and "dept_cases" not in asked
    report, values = await report_of(demo_db, "42-HLHPN")
    assert report.form_id == "bdg_report" and values["focal_point"] == "part_time"


async def test_compiled_totals_never_count_a_case_twice(demo_db: Database) -> None:
    """The police handled the 6 cases two communes found (4 + 2): the communes' cases found
    total 6, the departments' handled cases total 6 apart, never 12 in one row."""
    async with demo_db.session() as s:
        when = "2026-12-01T09:00"
        await submit(s, await unit(s, "28303"), [(when, {"vio_cases": 4, "comm_sessions": 5})])
        await submit(s, await unit(s, "28318"), [(when, {"vio_cases": 2, "comm_sessions": 1})])
        await submit(
            s,
            await unit(s, "42-CA"),
            [(when, {"dept_cases": 6, "dept_trafficking": 1, "comm_sessions": 3})],
            form_id="bdg_department",
        )
    c = await compile_demo(demo_db)
    form = c.form
    assert [f.id for f in form.members] == ["bdg_report", "bdg_department"]
    values = [u.values for u in c.submitted]
    assert Column(form.by_id["vio_cases"]).total(values) == 6
    assert Column(form.by_id["dept_cases"]).total(values) == 6
    assert "dept_cases" not in load_form("bdg_report").by_id
    assert "vio_cases" not in load_form("bdg_department").by_id
    # Shared indicators add up every unit's (each unit's own sessions).
    assert Column(form.by_id["comm_sessions"]).total(values) == 9
    # The documents can say who reports what.
    assert respondents(form, form.by_id["vio_cases"], "vi") == "xã, phường, đặc khu"
    assert respondents(form, form.by_id["dept_cases"], "vi") == "sở, ban, ngành, đoàn thể"
    assert respondents(form, form.by_id["comm_sessions"], "vi") == ""
    kinds = {u.code: u.form_id for u in c.units}
    assert kinds["42-CA"] == "bdg_department" and kinds["42-SYT"] == "bdg_department"
    assert kinds["28303"] == "bdg_report" and kinds["28252"] == "bdg_report"
    # The department form's sections fall in place: its cases right after the economy.
    ids = [sec.id for sec in form.sections]
    assert ids.index("cases") == ids.index("economy") + 1


def test_a_label_ending_in_a_colon_is_not_doubled_in_the_summary() -> None:
    """ "Người phụ trách … là:" + ": Kiêm nhiệm" read "là::" in the summary."""
    form = load_form("bdg_report")
    q = form.by_id["focal_point"]
    q_colon = replace(q, label={"vi": "Người phụ trách là:"}, indicator={})
    assert _line_label(q_colon, "vi") == "Người phụ trách là"
    assert not _line_label(q, "vi").endswith(":")
