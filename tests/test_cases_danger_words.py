"""Danger detection and free-text choices, accent-insensitive (issue 11).

The table holds what frightened people type: violence, threats, sexual violence,
trafficking, forced or child marriage, self-harm and cries for help — at least half of it
without diacritics, as typed on a phone in a hurry.
"""

from __future__ import annotations

import unicodedata

import pytest

from services.cases.parsers import choice_from_text, choices_from_text, danger_kinds

# (typed, the kind that must be found)
DANGER: list[tuple[str, str]] = [
    # violence
    ("chồng đánh em", "violence"),
    ("chong danh em", "violence"),
    ("bố em đánh mẹ em", "violence"),
    ("bo em danh me em", "violence"),
    ("em bị ngược đãi", "violence"),
    ("em bi nguoc dai", "violence"),
    ("nó bóp cổ tôi", "violence"),
    ("no bop co toi", "violence"),
    ("đang bị đánh", "violence"),
    ("dang bi danh", "violence"),
    ("chị ấy bị bạo hành", "violence"),
    ("chi ay bi bao hanh", "violence"),
    ("bạo lực gia đình", "violence"),
    ("bao luc gia dinh", "violence"),
    ("bị hành hạ suốt", "violence"),
    ("bi hanh ha suot", "violence"),
    ("nó cầm dao", "violence"),
    ("no cam dao", "violence"),
    # threats
    ("hắn dọa giết em", "threat"),
    ("han doa giet em", "threat"),
    ("bị đe dọa", "threat"),
    ("bi de doa", "threat"),
    ("nó nói sẽ giết cả nhà", "threat"),
    ("no noi se giet ca nha", "threat"),
    # sexual violence and harassment
    ("bị quấy rối", "sexual"),
    ("bi quay roi", "sexual"),
    ("con bé bị xâm hại", "sexual"),
    ("con be bi xam hai", "sexual"),
    ("bị hiếp", "sexual"),
    ("bi hiep dam", "sexual"),
    ("ông ấy sàm sỡ cháu", "sexual"),
    ("ong ay sam so chau", "sexual"),
    ("anh ta ép quan hệ", "sexual"),
    ("anh ta ep quan he", "sexual"),
    # trafficking
    ("bị bán sang Trung Quốc", "trafficking"),
    ("bi ban sang trung quoc", "trafficking"),
    ("bị lừa sang biên giới", "trafficking"),
    ("bi lua sang bien gioi", "trafficking"),
    ("mua bán người", "trafficking"),
    ("buon nguoi", "trafficking"),
    ("con tôi bị bắt cóc", "trafficking"),
    ("con toi bi bat coc", "trafficking"),
    # forced and child marriage
    ("bắt em lấy chồng", "marriage"),
    ("bat em lay chong", "marriage"),
    ("bố mẹ ép cưới", "marriage"),
    ("bo me ep cuoi", "marriage"),
    ("tảo hôn", "marriage"),
    ("tao hon", "marriage"),
    # self-harm
    ("em muốn tự tử", "self_harm"),
    ("em muon tu tu", "self_harm"),
    ("không muốn sống nữa", "self_harm"),
    ("khong muon song nua", "self_harm"),
    ("định uống thuốc sâu", "self_harm"),
    ("dinh uong thuoc sau", "self_harm"),
    # cries for help
    ("giúp em với", "help"),
    ("giup em voi", "help"),
    ("cứu", "help"),
    ("cuu voi", "help"),
    ("nguy hiểm lắm", "help"),
    ("nguy hiem lam", "help"),
    ("SOS", "help"),
    ("help me", "help"),
]
# Everyday messages that are not danger, even without diacritics' help.
CALM = [
    "xin chào",
    "cựu chiến binh",
    "danh sách cán bộ",
    "từ từ thôi",
    "báo cáo 6 tháng",
    "bạn ơi",
    "cam on",
    "hom nay troi dep",
]


def _has_marks(text: str) -> bool:
    return any(unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", text)) or (
        "đ" in text.lower()
    )


def test_the_table_is_big_enough_and_half_without_diacritics() -> None:
    assert len(DANGER) >= 60
    plain = [t for t, _ in DANGER if not _has_marks(t)]
    assert len(plain) * 2 >= len(DANGER)


@pytest.mark.parametrize(("typed", "kind"), DANGER)
def test_danger_is_found(typed: str, kind: str) -> None:
    assert kind in danger_kinds(typed), typed


@pytest.mark.parametrize("typed", CALM)
def test_calm_messages_are_not_danger(typed: str) -> None:
    assert danger_kinds(typed) == set()


# (choice group, typed, the option it means; None = not clear, ask again)
CHOICES: list[tuple[str, str, str | None]] = [
    ("danger", "có", "yes"),
    ("danger", "co", "yes"),
    ("danger", "đang bị đánh", "yes"),
    ("danger", "có, chồng chị ấy đang đánh chị ấy", "yes"),
    ("danger", "giup em voi", "yes"),
    ("danger", "không", "no"),
    ("danger", "ko, da an toan roi", "no"),
    ("danger", "có lẽ", None),
    ("rel", "chồng", "partner"),
    ("rel", "chong", "partner"),
    ("rel", "chồng cũ", "ex_partner"),
    ("rel", "bố dượng", "parent"),
    ("rel", "ông hàng xóm", "acquaintance"),
    ("rel", "người lạ", "stranger"),
    ("rel", "người ấy", None),
    ("aff", "tôi", "self"),
    ("aff", "chị tôi", "other"),
    ("sex", "con gái", "f"),
    ("sex", "dan ong", "m"),
    ("anon", "ẩn danh", "anon"),
    ("anon", "gọi lại cho tôi", "contact"),
    ("consent", "đồng ý", "yes"),
    ("consent", "khong dong y", "no"),
]


@pytest.mark.parametrize(("group", "typed", "key"), CHOICES)
def test_free_text_means_an_option(group: str, typed: str, key: str | None) -> None:
    assert choice_from_text(group, typed) == key


def test_several_options_in_one_sentence() -> None:
    keys = ("physical", "psychological", "economic", "sexual", "trafficking", "harassment")
    assert choices_from_text("form", "bị đánh và chửi mắng", keys) == ["physical", "psychological"]
    assert choices_from_text(
        "help", "can tu van va cho o", ("health", "shelter", "counselling")
    ) == [
        "shelter",
        "counselling",
    ]
