"""Rendering replies for Telegram: inline keyboards, the 64-byte callback data guard, and
splitting long HTML texts so that every message parses on its own and nothing is lost."""

from __future__ import annotations

import html
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.render import (
    MAX_CALLBACK_BYTES,
    MAX_TEXT_LENGTH,
    callback_data,
    hashed,
    is_hashed,
    keyboard,
    render,
    resolve,
    split_html,
    utf16_len,
)
from kernel.messages import Choice, Reply
from tests.fakes.telegram_markup import parse_text


def rows(reply: Reply) -> list[list[tuple[str, str]]]:
    chunks = render(reply)
    markup = chunks[-1].markup
    assert markup is not None
    return [[(b.text, str(b.callback_data)) for b in row] for row in markup.inline_keyboard]


def test_short_labels_two_per_row_long_ones_alone() -> None:
    reply = Reply(
        "Câu 3/27: Cán bộ đầu mối?",
        choices=[
            Choice("full_time", "Chuyên trách"),
            Choice("part_time", "Kiêm nhiệm"),
            Choice("none", "Chưa phân công"),
            Choice("__none__", "Không có hoạt động trong phần này"),
        ],
    )
    assert rows(reply) == [
        [("Chuyên trách", "full_time"), ("Kiêm nhiệm", "part_time")],
        [("Chưa phân công", "none")],
        [("Không có hoạt động trong phần này", "__none__")],
    ]
    chunks = render(reply)
    assert [c.html for c in chunks] == ["Câu 3/27: Cán bộ đầu mối?"]
    assert chunks[0].keys["part_time"] == "part_time"


def test_numbered_false_choices_are_buttons_too_and_labels_are_plain() -> None:
    reply = Reply(
        "Tóm tắt", choices=[Choice("submit", "<b>Gửi</b> &amp; xong", alias="gửi")], numbered=False
    )
    assert rows(reply) == [[("Gửi & xong", "submit")]]
    assert keyboard([]) is None


def test_long_keys_are_hashed_within_64_bytes_and_map_back() -> None:
    long_key = "option:" + "đ" * 40  # 87 bytes in UTF-8, 47 characters
    reply = Reply("Chọn", choices=[Choice(long_key, "Một"), Choice("yes", "Có")])
    [[(_, data), (_, plain)]] = rows(reply)
    assert plain == "yes"
    assert is_hashed(data) and data == hashed(long_key)
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    assert render(reply)[-1].keys[data] == long_key
    assert resolve(data, ["yes", long_key]) == long_key
    assert resolve(data, ["yes"]) is None
    # A key that looks like a hash is hashed too, so the two can never be confused.
    assert callback_data("#abc") == hashed("#abc")
    assert callback_data("a" * 64) == "a" * 64
    assert callback_data("a" * 65) == hashed("a" * 65)


@given(st.text(min_size=0, max_size=120))
def test_callback_data_always_fits(key: str) -> None:
    data = callback_data(key)
    assert 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES
    assert resolve(data, [key]) == key


def test_a_short_reply_is_one_message_and_empty_text_gets_a_placeholder() -> None:
    assert [c.html for c in render(Reply("<b>Câu 1</b>\nCó?"))] == ["<b>Câu 1</b>\nCó?"]
    assert render(Reply("  \n ")) == []
    [chunk] = render(Reply("", choices=[Choice("yes", "Có")]))
    assert chunk.html.strip() and chunk.markup is not None


def summary_text(n: int = 60) -> str:
    """A report summary the size of the real one (sections in bold, values in bold)."""
    lines = ["<b>Tóm tắt báo cáo tổng kết năm 2026 — Xã Thạch Lạc</b>"]
    for i in range(1, n + 1):
        if i % 8 == 1:
            lines.append(f"\n<b>Phần {i // 8 + 1}. Truyền thông &amp; giáo dục</b>")
        lines.append(
            f"{i}. Số người tham dự truyền thông trực tiếp (câu {i}): <b>nam {i}, nữ 30</b>"
        )
    return "\n".join(lines)


def test_long_summary_is_split_at_line_boundaries() -> None:
    text = summary_text(120)
    assert utf16_len(text) > MAX_TEXT_LENGTH
    chunks = split_html(text)
    assert len(chunks) == 3
    for chunk in chunks:
        assert utf16_len(chunk) <= MAX_TEXT_LENGTH
        parse_text(chunk, "html")  # parses on its own
    assert "\n".join(chunks) == text  # only cut at newlines, nothing added
    reply = Reply(text, choices=[Choice("submit", "Gửi")])
    rendered = render(reply)
    assert [c.markup is not None for c in rendered] == [False, False, True]  # on the last


def test_a_tag_spanning_lines_is_closed_and_reopened() -> None:
    text = "<b>" + "\n".join(f"dòng {i} đậm" for i in range(30)) + "</b>\nthường"
    chunks = split_html(text, limit=300)
    assert len(chunks) > 1
    for chunk in chunks:
        plain, entities = parse_text(chunk, "html")
        if "dòng" in plain:
            assert entities and entities[0]["type"] == "bold"
    assert chunks[0].startswith("<b>") and chunks[0].endswith("</b>")
    assert chunks[1].startswith("<b>")


def test_a_giant_line_is_cut_between_words_never_inside_an_entity() -> None:
    words = ["Lan &amp; Co"] * 600  # escaped user input, 7,800 characters on one line
    text = "Ghi chú: <i>" + " ".join(words) + "</i>"
    chunks = split_html(text)
    assert len(chunks) >= 2
    for chunk in chunks:
        assert utf16_len(chunk) <= MAX_TEXT_LENGTH
        plain, _ = parse_text(chunk, "html")
        assert "&amp" not in plain  # entity intact: decoded to "&"
    assert [s for c in chunks for s in styled(c)] == styled(text)  # cut at spaces only
    assert all(kinds == {"italic"} for _, kinds in styled(chunks[-1]))


def styled(text: str) -> list[tuple[str, frozenset[str]]]:
    """Each visible non-space character with the entity types that cover it."""
    plain, entities = parse_text(text, "html")
    out = []
    pos = 0
    for ch in plain:
        kinds = frozenset(
            e["type"] for e in entities if e["offset"] <= pos < e["offset"] + e["length"]
        )
        if not ch.isspace():
            out.append((ch, kinds))
        pos += utf16_len(ch)
    return out


_words = st.text(
    alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyAĐ0123456789.,-&<>😀", min_size=1, max_size=12
)


@st.composite
def html_lines(draw: Any) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 40))):
        words = [html.escape(w) for w in draw(st.lists(_words, min_size=0, max_size=30))]
        if words and draw(st.booleans()):
            i = draw(st.integers(0, len(words) - 1))
            tag = draw(st.sampled_from(["b", "i"]))
            words[i] = f"<{tag}>{words[i]}</{tag}>"
        lines.append(" ".join(words))
    text = "\n".join(lines)
    if draw(st.booleans()):  # a bold block over several lines
        text = f"<b>{text}</b>"
    return text


@settings(max_examples=150, deadline=None)
@given(html_lines(), st.integers(min_value=280, max_value=900))
def test_split_keeps_every_character_and_its_style(text: str, limit: int) -> None:
    chunks = split_html(text, limit=limit)
    for chunk in chunks:
        assert utf16_len(chunk) <= limit
        parse_text(chunk, "html")
    assert [s for c in chunks for s in styled(c)] == styled(text)
