"""Bad input at every step of the intake: a clear Vietnamese message, the same question again,
and nothing answered before is lost."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from db.engine import Database
from handlers.cases.intake import STEPS
from tests.cases_helpers import (
    CITIZEN_URGENT,
    all_cases,
    case_keys,  # noqa: F401  (autouse fixture)
)
from tests.chat import Chat

EMOJI = "😀👍🏻"
LONG = "x" * 10_000
# step (its index in CITIZEN_URGENT) → [(typed, words the error must contain)]
BAD: dict[str, list[tuple[str, str]]] = {
    "danger": [
        ("có lẽ", "Chưa hiểu lựa chọn"),
        ("7", "từ 1 đến 2"),
        (EMOJI, "Chưa hiểu"),
        ("", "Chưa hiểu"),
    ],
    "unit": [
        ("x", "ít nhất 2 chữ"),
        (EMOJI, "ít nhất 2 chữ"),
        ("Hà Nội", "Không tìm thấy xã/phường nào có tên «Hà Nội»"),
        ("<b>zz</b>", "«<b>zz</b>»"),
        ("", "ít nhất 2 chữ"),
    ],
    "affected": [("ai đó", "Chưa hiểu lựa chọn"), ("3", "từ 1 đến 2")],
    "sex": [("không biết nói sao", "Chưa hiểu lựa chọn"), ("0", "từ 1 đến 3")],
    "age": [
        ("mười bốn", "Chưa hiểu tuổi"),
        ("-3", "từ 0 đến 120"),
        ("150 tuổi", "từ 0 đến 120"),
        ("10" + "0" * 14, "từ 0 đến 120"),
        (EMOJI, "Chưa hiểu tuổi"),
        ("", "trống"),
    ],
    "forms": [
        ("1, 12", "từ 1 đến 9"),
        ("đánh nhau", "Chưa hiểu lựa chọn"),
        ("xong", "ít nhất một"),
    ],
    # (a word meaning an option, such as "ông hàng xóm", is taken: tests/test_cases_free_text.py)
    "relation": [("người ấy", "Chưa hiểu lựa chọn"), ("9", "từ 1 đến 8")],
    "when": [
        ("31/02/2026", "không có thật"),
        ("12/12/2099", "tương lai"),
        ("hôm nào đó", "Chưa hiểu thời gian"),
        ("2026-11-20", "Chưa hiểu thời gian"),
        (EMOJI, "Chưa hiểu thời gian"),
    ],
    "help": [("7", "ít nhất một"), ("1,,99", "từ 1 đến 6"), ("tiền", "Chưa hiểu lựa chọn")],
    "description": [
        (LONG, "dài quá (10000 ký tự, tối đa 1000)"),
        ("   ", "trống"),
        ("\x00\x01", "trống"),
    ],
    "anonymity": [("có lẽ", "Chưa hiểu lựa chọn"), ("5", "từ 1 đến 2")],
    "contact": [("9" * 300, "dài quá (300 ký tự, tối đa 200)"), ("", "trống")],
    "consent": [("tùy", "Chưa hiểu lựa chọn"), ("3", "từ 1 đến 2")],
}
# Index in CITIZEN_URGENT of the answer to each step (the script starts with /baovuviec).
INDEX = {
    "danger": 1,
    "unit": 2,
    "affected": 3,
    "sex": 4,
    "age": 5,
    "forms": 6,
    "relation": 7,
    "when": 8,
    "help": 9,
    "description": 10,
    "anonymity": 11,
    "contact": 12,
    "consent": 13,
}


def test_every_citizen_step_is_covered() -> None:
    citizen_steps = {s.id for s in STEPS if s.who != "officer"}
    assert citizen_steps == set(BAD) == set(INDEX)


@pytest.mark.parametrize("step", list(BAD))
async def test_bad_input_is_refused_and_asked_again(
    step: str, make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    question = ""
    for line in CITIZEN_URGENT[: INDEX[step]]:
        question = await chat.send(line)
    # The question itself: the first line of the block that ends with the way out.
    label = [b for b in question.split("\n\n") if "(/xoa" in b][-1].split("\n")[0]
    before = await all_cases(demo_db)
    for typed, expected in BAD[step]:
        out = await chat.send(typed)
        assert "⚠️" in out, (typed, out)
        assert expected in out, (typed, out)
        assert label in out, (typed, out)  # the same question again
        assert chat.last is not None and "<b>zz" not in chat.last.replies[0].text  # escaped
        after = await all_cases(demo_db)
        assert [c.model_dump() for c in after] == [c.model_dump() for c in before], typed
    # Then a good answer still goes through to the end.
    for line in CITIZEN_URGENT[INDEX[step] :]:
        out = await chat.send(line)
    assert "VV-2026-000001" in out


async def test_media_and_stale_buttons_repeat_the_question(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat(channel="telegram")
    for line in CITIZEN_URGENT[:5]:
        await chat.send(line)
    out = await chat.send(media="photo")
    assert "bao nhiêu tuổi" in out
    out = await chat.tap("unit:999")
    assert "⚠️" in out and "bao nhiêu tuổi" in out
    out = await chat.send("14")
    assert "✓ Dưới 16 tuổi" in out
