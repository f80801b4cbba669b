"""Bad input at every question type gets a clear Vietnamese message and the same question
again; nothing entered earlier is lost. Parsers are also checked with generated inputs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db.engine import Database
from services.forms import parsers as p
from services.forms.engine import format_number, load_form
from tests.answers import ANSWERS, current_question
from tests.chat import Chat
from tests.test_report_flow import stored

EMOJI = "😀👍🏻"
BAD: dict[str, list[tuple[str, str]]] = {
    # question id: [(typed, words the error must contain)]
    "committee_meetings": [
        ("mười hai", "cần một con số"),
        ("-3", "không được âm"),
        ("10" + "0" * 14, "quá lớn"),
        ("101", "quá lớn"),
        ("2,5", "số nguyên"),
        (EMOJI, "cần một con số"),
        ("", "trống"),
        ("   ", "trống"),
    ],
    "comm_participants": [
        ("12 30 40", "đúng hai số"),
        ("12", "hai số"),
        ("nam mười hai", "Chưa hiểu"),
        ("-12 30", "không được âm"),
        (EMOJI, "Chưa hiểu"),
        ("10" + "0" * 14 + " 3", "quá lớn"),
    ],
    "plan_issued": [("có lẽ", "Có hoặc Không"), ("3", "Có hoặc Không"), (EMOJI, "Có hoặc Không")],
    "focal_point": [("7", "từ 1 đến 3"), ("bán thời gian", "Không có lựa chọn này")],
    "comm_channels": [("1,9", "từ 1 đến 5"), ("tivi", "Không có lựa chọn này")],
    "plan_date": [
        ("31/02/2026", "không có thật"),
        ("2026-03-12", "ngày/tháng/năm"),
        ("12/03/2099", "tương lai"),
        (EMOJI, "ngày/tháng/năm"),
    ],
    "money_spent": [
        ("nhiều tiền", "Chưa hiểu số tiền"),
        ("-5 triệu", "không được âm"),
        ("10" + "0" * 14, "quá lớn"),
        ("1,5 ", "Chưa hiểu số tiền"),
    ],
    "difficulties": [("x" * 10_000, "quá dài (10000 ký tự, tối đa 1500)"), ("", "trống")],
}


async def _go_to(chat: Chat, db: Database, target: str) -> dict[str, object]:
    """Answer correctly until ``target`` is asked; returns the values stored so far."""
    for _ in range(100):
        qid = await current_question(db, chat.channel, chat.user)
        assert qid is not None, f"never reached {target}"
        if qid == target:
            return (await stored(db, "2026"))[1]
        await chat.send(ANSWERS[qid][0])
    raise AssertionError(target)


@pytest.mark.parametrize("qid", list(BAD))
async def test_bad_input_is_refused_and_asked_again(
    qid: str, make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")
    before = await _go_to(chat, demo_db, qid)
    label = load_form("bdg_report").by_id[qid].label["vi"]
    for typed, expected in BAD[qid]:
        out = await chat.send(typed)
        assert expected in out, (typed[:30], out)
        assert out.startswith("⚠️"), out
        assert label in out  # the same question again
        assert await current_question(demo_db, "terminal", "u1") == qid
    _, after = await stored(demo_db, "2026")
    assert after == before  # nothing earlier lost, nothing bad stored
    await chat.send(ANSWERS[qid][0])
    _, after = await stored(demo_db, "2026")
    assert after[qid] == ANSWERS[qid][1]


async def test_required_question_cannot_be_skipped(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")
    out = await chat.send("bỏ qua")
    assert "bắt buộc" in out
    assert await current_question(demo_db, "terminal", "u1") == "plan_issued"


async def test_images_and_stickers_get_a_reply_and_the_question_again(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")
    out = await chat.send(media="sticker")
    assert "chỉ đọc tin nhắn chữ" in out and "Câu 1/" in out


# -- parsers with generated input ------------------------------------------------------------

counts = st.integers(min_value=0, max_value=p.MAX_COUNT_DEFAULT)


@given(
    m=counts,
    f=counts,
    fmt=st.sampled_from(
        [
            "{m} {f}",
            "{m}/{f}",
            "{m}-{f}",
            "nam {m} nữ {f}",
            "nữ {f} nam {m}",
            "{m} nam {f} nữ",
            "Nam {m}, Nữ {f}",
            "nam {m} nu {f}",
            " {m}  /  {f} ",
        ]
    ),
)
def test_sex_count_round_trip(m: int, f: int, fmt: str) -> None:
    assert p.parse_sex_count(fmt.format(m=m, f=f)) == {"m": m, "f": f}


@given(m=counts, f=counts)
def test_sex_count_accepts_grouped_thousands(m: int, f: int) -> None:
    assert p.parse_sex_count(f"{format_number(m)} {format_number(f)}") == {"m": m, "f": f}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_parsers_never_crash(text: str) -> None:
    """Any text either parses to a valid value or raises ParseError with a catalog key."""
    from kernel.i18n import catalog

    for fn in (
        p.parse_integer,
        p.parse_sex_count,
        p.parse_money,
        p.parse_yes_no,
        p.parse_date,
        p.parse_text,
    ):
        try:
            value = fn(text)  # type: ignore[operator]
        except p.ParseError as e:
            assert e.key in catalog("vi") and e.key in catalog("en")
            continue
        if fn is p.parse_integer or fn is p.parse_money:
            assert isinstance(value, int) and value >= 0
        if fn is p.parse_sex_count:
            assert value["m"] >= 0 and value["f"] >= 0


@given(st.integers(min_value=0, max_value=p.MAX_COUNT_DEFAULT))
def test_integer_round_trip(n: int) -> None:
    assert p.parse_integer(str(n)) == n
    assert p.parse_integer(format_number(n)) == n


@given(st.integers(min_value=1, max_value=10**15))
def test_negative_numbers_are_refused(n: int) -> None:
    for fn in (p.parse_integer, p.parse_money):
        with pytest.raises(p.ParseError) as e:
            fn(f"-{n}")
        assert e.value.key == "err.negative"


@given(st.integers(min_value=0, max_value=p.MAX_MONEY_DEFAULT))
def test_money_round_trip(n: int) -> None:
    assert p.parse_money(format_number(n)) == n
    assert p.parse_money(f"{format_number(n)} đồng") == n


@given(st.integers(min_value=0, max_value=99_999), st.sampled_from(["triệu", "tr", "trieu"]))
def test_money_in_millions_with_decimal_comma(tenths: int, unit: str) -> None:
    text = f"{tenths // 10},{tenths % 10} {unit}" if tenths % 10 else f"{tenths // 10} {unit}"
    assert p.parse_money(text) == tenths * 100_000


@given(
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
    st.sampled_from(["{d:02d}/{m:02d}/{y}", "{d}/{m}/{y}", "{d}-{m}-{y}", "{d}.{m}.{y}"]),
)
def test_date_round_trip(d: date, fmt: str) -> None:
    assert p.parse_date(fmt.format(d=d.day, m=d.month, y=d.year)) == d.isoformat()


@given(st.integers(1, 31), st.integers(1, 12), st.integers(1990, 2100))
def test_impossible_dates_are_refused(d: int, m: int, y: int) -> None:
    try:
        expected = date(y, m, d).isoformat()
    except ValueError:
        with pytest.raises(p.ParseError) as e:
            p.parse_date(f"{d}/{m}/{y}")
        assert e.value.key == "err.date_invalid"
    else:
        assert p.parse_date(f"{d}/{m}/{y}") == expected


@given(st.text(min_size=1, max_size=3000))
def test_text_limit(text: str) -> None:
    try:
        value = p.parse_text(text, max_length=1500)
    except p.ParseError as e:
        assert e.key in {"err.empty", "err.text_too_long"}
    else:
        assert 0 < len(value) <= 1500


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(junk=st.lists(st.text(max_size=40), min_size=1, max_size=5))
async def test_random_messages_never_break_the_conversation(
    junk: list[str], make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    """Whatever is typed mid-report, the bot answers, and no stored answer changes unless the
    text was a valid answer to the question asked."""
    import uuid

    chat = make_chat(user=uuid.uuid4().hex)
    await chat.register(demo_db)
    await chat.send("/baocao")
    for text in junk:
        before = await current_question(demo_db, "terminal", chat.user)
        out = await chat.send(text)
        assert chat.last is not None and not chat.last.failed
        assert out.strip()
        if before is not None and text.strip() and not text.strip().startswith("/"):
            assert ("⚠️" in out) or ("✓" in out) or ("Xem lại" in out) or ("Câu" in out)


async def test_unicode_digits_are_not_menu_numbers(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    """'³'.isdigit() is true in Python; it must not be taken for choice 3 (or crash)."""
    chat = make_chat()
    out = await chat.send("³")
    assert chat.last is not None and not chat.last.failed
    assert "Anh/chị cần gì?" in out
    await chat.register(demo_db)
    await chat.send("/baocao")
    out = await chat.send("³")
    assert chat.last is not None and not chat.last.failed and "Có hoặc Không" in out
