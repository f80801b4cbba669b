"""The report forms per kind of unit, as data: every question names its indicator (a noun
phrase, not a question), the indicators the plans added name their source, a question id
shared by the commune and the department forms is one indicator, the form files choose the
department form for departments, and `bdg forms check` accepts the new fields and refuses a
misspelt one."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from services.forms.engine import DATA_DIR, load_form, merge_forms
from services.forms.schema import check_file

COMMUNE, DEPARTMENT = load_form("bdg_report"), load_form("bdg_department")
# Indicators the plans ask for that the form lacked (issue 15): each names its source.
FROM_THE_PLANS = {
    "bdg_report": [
        "committee_rules", "mainstream_plans", "mainstream_docs", "women_credit", "women_jobs",
        "women_vocational", "handled_behaviour", "marriage_brokerage", "dvm_kickoff",
        "dvm_events", "dvm_participants", "am_plan", "complaints", "complaints_resolved",
        "budget_local", "budget_mobilised", "budget_national",
    ],
    "bdg_department": ["dept_cases", "dept_trafficking", "dept_victims_supported", "dept_brokerage"],
}  # fmt: skip


def test_every_question_has_a_noun_phrase_indicator() -> None:
    for form in (COMMUNE, DEPARTMENT):
        for q in form.questions:
            assert q.indicator.get("vi") and q.indicator.get("en"), (form.id, q.id)
            assert not q.indicator["vi"].rstrip().endswith(("?", ":")), (form.id, q.id)
            assert "chưa" not in q.indicator["vi"].split()[-1:], (form.id, q.id)


def test_the_plans_indicators_name_their_source() -> None:
    for form in (COMMUNE, DEPARTMENT):
        for qid in FROM_THE_PLANS[form.id]:
            assert form.by_id[qid].source, (form.id, qid)
    assert "Luật 13/2022/QH15" in COMMUNE.by_id["handled_behaviour"].source[0]
    assert "party_total" not in COMMUNE.by_id and "party_women" not in COMMUNE.by_id


def test_a_shared_id_is_one_indicator() -> None:
    shared = set(COMMUNE.by_id) & set(DEPARTMENT.by_id)
    assert {"comm_sessions", "money_spent", "dvm_events", "complaints"} <= shared
    for qid in shared:
        a, b = COMMUNE.by_id[qid], DEPARTMENT.by_id[qid]
        assert (a.type, a.indicator, [o.key for o in a.options]) == (
            b.type,
            b.indicator,
            [o.key for o in b.options],
        ), qid
    # What only one kind reports never shares an id with the other's.
    assert not {"vio_cases", "trusted_addresses", "clubs", "leaders_total"} & set(DEPARTMENT.by_id)
    assert not {"dept_cases", "dept_brokerage"} & set(COMMUNE.by_id)


def test_the_form_files_choose_the_form_by_kind_and_by_unit() -> None:
    assert COMMUNE.form_id_for("department", "42-SYT") == "bdg_department"
    assert COMMUNE.form_id_for("agency", "42-SNV") == "bdg_department"
    for kind in ("commune", "ward", "special_zone", "town"):
        assert COMMUNE.form_id_for(kind, "28303") == "bdg_report"
    special = COMMUNE.spec.model_copy(update={"forms_by_unit": {"42-HLHPN": "bdg_report"}})
    assert type(COMMUNE)(special).form_id_for("department", "42-HLHPN") == "bdg_report"


def test_special_zones_report_women_leaders_and_the_june_month_is_in_both_reports() -> None:
    env = {"unit_kind": "special_zone", "period_type": "semiannual"}
    asked = {q.id for q in COMMUNE.relevant_questions(env)}
    assert {"leaders_total", "council_women", "dvm_kickoff", "dvm_events"} <= asked
    dept = {q.id for q in DEPARTMENT.relevant_questions({**env, "unit_kind": "department"})}
    assert "dvm_kickoff" in dept and "leaders_total" not in dept


def test_merged_form_keeps_every_question_once_in_section_order() -> None:
    merged = merge_forms([COMMUNE, DEPARTMENT])
    ids = [q.id for q in merged.questions]
    assert len(ids) == len(set(ids)) == len(set(COMMUNE.by_id) | set(DEPARTMENT.by_id))
    assert [q.id for q in merged.questions if q.id in COMMUNE.by_id] == [
        q.id for q in COMMUNE.questions
    ]
    assert merged.members == (COMMUNE, DEPARTMENT)


def test_forms_check_accepts_source_and_indicator_and_names_a_typo(tmp_path: Path) -> None:
    run = CliRunner().invoke(main, ["forms", "check", *map(str, sorted(DATA_DIR.glob("*.yaml")))])
    assert run.exit_code == 0, run.output
    text = (DATA_DIR / "bdg_report.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bdg_report.yaml"
    bad.write_text(text.replace('source: ["002 An Lão"]', 'sources: ["002 An Lão"]', 1))
    [line] = check_file(bad)
    assert "question women_credit: sources: unknown field (did you mean 'source'?)" in line


def test_a_no_activity_section_cannot_hold_a_question_it_would_leave_unanswered(
    tmp_path: Path,
) -> None:
    text = (DATA_DIR / "bdg_report.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bdg_report.yaml"
    # comm_channels (a multi) without its condition would stay asked after "không có hoạt động"
    bad.write_text(
        text.replace(
            "        relevant: comm_sessions > 0\n        required: false\n",
            "        required: false\n",
            1,
        )
    )
    assert check_file(bad) == [
        "bdg_report.yaml: question comm_channels: relevant: a multi question in a no_activity "
        "section needs a condition"
    ]
