"""Form files are checked when they load: each broken snippet gives one line naming the file,
the question (or section, rule) and the field; ``bdg forms check`` prints them and exits 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from kernel.i18n import catalog
from services.forms.engine import DATA_DIR, load_form
from services.forms.schema import FormFileError, check_file

GOOD = """\
id: tiny
title: {vi: Báo cáo nhỏ, en: A tiny report}
sections:
  - id: first
    title: {vi: I. Đầu, en: I. First}
    questions:
      - id: meetings
        type: integer
        max: 100
        label: {vi: Số cuộc họp, en: Meetings}
      - id: plan
        type: choice
        relevant: meetings > 0
        label: {vi: Kế hoạch, en: Plan}
        options:
          - {key: yes_plan, label: {vi: Có, en: Has one}}
          - {key: no_plan, label: {vi: Không, en: Has none}}
rules:
  - id: few
    check: meetings <= 50
    message: {vi: Ít thôi, en: Few}
"""

# (what replaces what in GOOD, the text the error line must hold)
BROKEN = [
    ("    title: {vi: I. Đầu, en: I. First}\n", "", "tiny.yaml: section first: title: missing"),
    (
        "        max: 100\n",
        "        max: 100\n        requird: false\n",
        "tiny.yaml: question meetings: requird: unknown field (did you mean 'required'?)",
    ),
    (
        "max: 100",
        'max: "ten"',
        "tiny.yaml: question meetings: max: must be a whole number, not 'ten'",
    ),
    (
        "max: 100",
        "max: -1",
        "tiny.yaml: question meetings: max: input should be greater than or equal to 0",
    ),
    ("type: integer", "type: number", "tiny.yaml: question meetings: type: 'number' is not one of"),
    (
        "        label: {vi: Số cuộc họp, en: Meetings}\n",
        "",
        "tiny.yaml: question meetings: label: missing (give label or label_key)",
    ),
    (
        "label: {vi: Số cuộc họp, en: Meetings}",
        "label: {en: Meetings}",
        "tiny.yaml: question meetings: label: the Vietnamese text (vi) is missing",
    ),
    (
        "label: {vi: Số cuộc họp, en: Meetings}",
        "label: {vi: Họp, fr: Réunions}",
        "tiny.yaml: question meetings: label.fr: 'fr' is not one of",
    ),
    (
        "relevant: meetings > 0",
        "relevant: meetngs > 0",
        "tiny.yaml: question plan: relevant: unknown name 'meetngs'",
    ),
    (
        "relevant: meetings > 0",
        "relevant: meetings >",
        "tiny.yaml: question plan: relevant: not a valid expression",
    ),
    (
        "relevant: meetings > 0",
        "relevant: __import__('os')",
        "tiny.yaml: question plan: relevant: only sum(), count() and answered() may be called",
    ),
    (
        "check: meetings <= 50",
        "check: meeting <= 50",
        "tiny.yaml: rule few: check: unknown name 'meeting'",
    ),
    ("    message: {vi: Ít thôi, en: Few}\n", "", "tiny.yaml: rule few: message: missing"),
    ("  - id: plan\n", "  - id: meetings\n", "tiny.yaml: question meetings: id: used twice"),
    (
        "          - {key: no_plan",
        "          - {key: yes_plan",
        "tiny.yaml: question plan: option yes_plan: key: used twice",
    ),
    (
        "key: yes_plan",
        "key: yes",
        "tiny.yaml: question plan: option #1: key: must be text, not True (put it in quotes)",
    ),
    (
        "        type: choice\n",
        "        type: text\n",
        "tiny.yaml: question plan: options: a text question has no options",
    ),
    (
        "        max: 100\n",
        "        max: 100\n        max_length: 10\n",
        "tiny.yaml: question meetings: max_length: only for text and secret questions",
    ),
    (
        "title: {vi: Báo cáo nhỏ, en: A tiny report}\n",
        "title: {vi: Báo cáo nhỏ, en: A tiny report}\nnumberd: false\n",
        "tiny.yaml: numberd: unknown field (did you mean 'numbered'?)",
    ),
    (
        "sections:",
        "sections: []\nold_sections:",
        "tiny.yaml: sections: list should have at least 1 item",
    ),
    (
        "  - id: plan\n",
        "  - id: Plan\n",
        "tiny.yaml: question Plan: id: 'Plan' must be lower-case letters",
    ),
    ("id: tiny\n", "id: tiny\n  oops: [\n", "tiny.yaml: not valid YAML at line 2"),
]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_small_form_and_the_built_in_report_are_good(tmp_path: Path) -> None:
    assert check_file(_write(tmp_path, GOOD)) == []
    assert check_file(DATA_DIR / "bdg_report.yaml") == []
    assert check_file(DATA_DIR / "case_intake.yaml") == []


def test_intake_wording_is_in_both_catalogs() -> None:
    """The intake form names catalog messages instead of holding text."""
    form = load_form("case_intake")
    keys = set()
    for q in form.questions:
        keys |= {k for k in (q.label_key, q.hint_key, q.summary_key) if k}
        keys |= {v.label_key for v in q.variants if v.label_key}
        keys |= {o.label_key for o in q.options if o.label_key}
    keys |= set(form.messages.values())
    for lang in ("vi", "en"):
        known = set(catalog(lang))
        assert keys <= known, sorted(keys - known)


@pytest.mark.parametrize(("old", "new", "expected"), BROKEN)
def test_a_broken_form_names_file_question_and_field(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD, old
    errors = check_file(_write(tmp_path, GOOD.replace(old, new)))
    assert any(line.startswith(expected) for line in errors), errors
    assert all(line.startswith("tiny.yaml: ") and "\n" not in line for line in errors)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("max: 100", 'max: "ten"').replace("relevant: meetings > 0", "relevnt: x")
    errors = check_file(_write(tmp_path, text))
    assert len(errors) == 2, errors


def test_a_wrong_file_fails_when_the_form_loads(tmp_path: Path) -> None:
    _write(tmp_path, GOOD.replace("max: 100", 'max: "ten"')).rename(tmp_path / "bdg_report.yaml")
    with pytest.raises(FormFileError) as info:
        load_form("bdg_report", str(tmp_path))
    assert "bdg_report.yaml: question meetings: max" in str(info.value)


def test_cli_prints_one_line_per_problem_and_exits_non_zero(tmp_path: Path) -> None:
    bad = _write(
        tmp_path, GOOD.replace("type: integer", "type: number").replace("max: 100", "max: x")
    )
    result = CliRunner().invoke(main, ["forms", "check", str(bad)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and all(
        line.startswith("tiny.yaml: question meetings: ") for line in lines
    )
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(main, ["forms", "check", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "nope.yaml: cannot read the file" in missing.output
    good = CliRunner().invoke(main, ["forms", "check", str(DATA_DIR / "bdg_report.yaml")])
    assert good.exit_code == 0 and "bdg_report.yaml: hợp lệ" in good.output
