"""The intake's parsers (place search, age, when, case code, danger words) and the encryption,
with examples and generated inputs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db.crypto import CryptoError, Keyring, new_key_spec
from services.cases.parsers import (
    MAX_AGE,
    Place,
    age_group,
    best_match,
    format_code,
    is_danger_text,
    parse_age,
    parse_code,
    parse_when,
    search_places,
)
from services.forms.parsers import ParseError, fold

PLACES = [
    Place(1, "Tỉnh Hà Tĩnh", "42", "province", None),
    Place(2, "Sở Y tế", "42-SYT", "department", 1),
    Place(3, "Xã Thạch Lạc", "28303", "commune", 1),
    Place(4, "Xã Thạch Khê", "28333", "commune", 1),
    Place(5, "Phường Thạch Linh", "28250", "ward", 1),
    Place(6, "Thôn Bắc Lạc", "28303-02", "village", 3),
    Place(7, "Xã Đồng Tiến", "28318", "commune", 1),
    Place(8, "Thôn Đông Tiến", "28303-01", "village", 3),
    Place(9, "Thị trấn Cẩm Xuyên", "28360", "town", 1),
]
TODAY = date(2026, 11, 25)


# -- place search ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "labels"),
    [
        ("Thạch Lạc", ["Xã Thạch Lạc"]),
        ("thach lac", ["Xã Thạch Lạc"]),
        ("XÃ THẠCH LẠC", ["Xã Thạch Lạc"]),
        ("28303", ["Xã Thạch Lạc"]),
        ("thach", ["Xã Thạch Khê", "Xã Thạch Lạc", "Phường Thạch Linh"]),
        ("lac", ["Thôn Bắc Lạc (Xã Thạch Lạc)", "Xã Thạch Lạc"]),
        ("dong tien", ["Thôn Đông Tiến (Xã Thạch Lạc)", "Xã Đồng Tiến"]),
        ("cam xuyen", ["Thị trấn Cẩm Xuyên"]),
        ("y te", []),  # departments are not places
        ("Hà Nội", []),
    ],
)
def test_search_examples(typed: str, labels: list[str]) -> None:
    found = search_places(typed, PLACES)
    assert sorted(m.label for m in found) == sorted(labels)
    if labels and fold(typed) in {fold(p.name) for p in PLACES} | {"28303", "thach lac"}:
        assert found[0].exact


def test_search_exact_first_and_villages_go_to_their_commune() -> None:
    found = search_places("lac", PLACES)
    assert {m.unit_id for m in found} == {3}
    assert search_places("thach lac", PLACES)[0].exact
    assert [m.exact for m in search_places("thach", PLACES)] == [False, False, False]
    # "dong tien" is both a village and a commune: ask; "xã đồng tiến" is the commune.
    assert best_match(search_places("dong tien", PLACES)) is None
    chosen = best_match(search_places("xa dong tien", PLACES))
    assert chosen is not None and chosen.unit_id == 7
    assert best_match(search_places("cam xuyen", PLACES)) is not None  # the only one
    assert best_match(search_places("thach", PLACES)) is None


@pytest.mark.parametrize("typed", ["", " ", "x", "😀", "!!", None, "-"])
def test_search_too_short(typed: str | None) -> None:
    with pytest.raises(ParseError) as e:
        search_places(typed, PLACES)
    assert e.value.key == "case.err.search_short"


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_search_never_fails_otherwise(typed: str) -> None:
    try:
        found = search_places(typed, PLACES)
    except ParseError as e:
        assert e.key == "case.err.search_short"
        return
    for m in found:
        assert m.unit_id in {3, 4, 5, 7, 9}  # communes, wards, towns only


@given(st.sampled_from([p for p in PLACES if p.kind != "department" and p.parent_id]))
def test_every_place_is_found_by_its_own_name_without_accents(place: Place) -> None:
    found = search_places(fold(place.name), PLACES)
    chosen = best_match(found)
    assert chosen is not None and chosen.label.startswith(place.name)


# -- age ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "group"),
    [
        ("14", "u16"),
        ("14 tuổi", "u16"),
        ("khoảng 70", "60p"),
        ("8 tháng", "u16"),
        ("dưới 16", "u16"),
        ("16-17", "16_17"),
        ("17 tuổi", "16_17"),
        ("18–59", "18_59"),
        ("35t", "18_59"),
        ("60+", "60p"),
        ("trên 60 tuổi", "60p"),
        ("trẻ em", "u16"),
        ("người già", "60p"),
        ("không rõ", "unknown"),
        ("ko biet", "unknown"),
        ("0", "u16"),
    ],
)
def test_age_examples(typed: str, group: str) -> None:
    assert parse_age(typed) == group


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("mười bốn", "case.err.age"),
        ("-3", "case.err.age_range"),
        ("121", "case.err.age_range"),
        ("10" + "0" * 14, "case.err.age_range"),
        ("", "case.err.empty"),
        ("😀", "case.err.age"),
    ],
)
def test_age_errors(typed: str, key: str) -> None:
    with pytest.raises(ParseError) as e:
        parse_age(typed)
    assert e.value.key == key


@given(st.integers(0, MAX_AGE), st.sampled_from(["", " tuổi", "t", " tuoi", " TUỔI"]))
def test_age_in_years(years: int, suffix: str) -> None:
    assert parse_age(f"{years}{suffix}") == age_group(years)


@given(st.text(max_size=40))
@settings(max_examples=300)
def test_age_is_a_group_or_a_clear_error(typed: str) -> None:
    try:
        assert parse_age(typed) in ("u16", "16_17", "18_59", "60p", "unknown")
    except ParseError as e:
        assert e.key in ("case.err.age", "case.err.age_range", "case.err.empty")


# -- when ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("đang xảy ra", ("ongoing", None)),
        ("hôm nay", ("today", None)),
        ("hôm qua", ("date", date(2026, 11, 24))),
        ("3 ngày trước", ("date", date(2026, 11, 22))),
        ("20/11/2026", ("date", date(2026, 11, 20))),
        ("20-11-2026", ("date", date(2026, 11, 20))),
        ("20/11", ("date", date(2026, 11, 20))),
        ("1/1/26", ("date", date(2026, 1, 1))),
        ("không rõ", ("unknown", None)),
        ("lâu rồi", ("older", None)),
    ],
)
def test_when_examples(typed: str, expected: tuple[str, date | None]) -> None:
    assert parse_when(typed, TODAY) == expected


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("31/02/2026", "case.err.date_invalid"),
        ("26/11/2026", "case.err.date_future"),
        ("30/12", "case.err.date_future"),
        ("01/01/1900", "case.err.date_invalid"),
        ("2026-11-20", "case.err.when"),
        ("hôm nào đó", "case.err.when"),
        ("", "case.err.empty"),
    ],
)
def test_when_errors(typed: str, key: str) -> None:
    with pytest.raises(ParseError) as e:
        parse_when(typed, TODAY)
    assert e.value.key == key


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31)))
def test_when_any_date(day: date) -> None:
    typed = day.strftime("%d/%m/%Y")
    if day > TODAY:
        with pytest.raises(ParseError):
            parse_when(typed, TODAY)
    else:
        assert parse_when(typed, TODAY) == ("date", day)


@given(st.integers(0, 3000))
def test_when_days_ago(days: int) -> None:
    assert parse_when(f"{days} ngày trước", TODAY) == ("date", TODAY - timedelta(days=days))


@given(st.text(max_size=30))
@settings(max_examples=300)
def test_when_never_crashes(typed: str) -> None:
    try:
        key, day = parse_when(typed, TODAY)
    except ParseError as e:
        assert e.key.startswith("case.err.")
        return
    assert day is None or day <= TODAY


# -- codes ---------------------------------------------------------------------------------------
@given(st.integers(2000, 2099), st.integers(1, 999_999))
def test_code_round_trip(year: int, number: int) -> None:
    code = format_code(year, number)
    assert parse_code(code) == code
    assert parse_code(code.lower().replace("-", " ")) == code
    assert parse_code(f"vv{year}{number:06d}") == code


@pytest.mark.parametrize("typed", ["", "VV", "VV-26-1", "VV-2026-000000", "AB-2026-000001", "1"])
def test_code_rejects(typed: str) -> None:
    assert parse_code(typed) is None


# -- danger words ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "typed",
    [
        "cứu tôi với",
        "chồng tôi đánh tôi",
        "tôi bị bạo lực",
        "em đang gặp nguy hiểm",
        "help",
        "SOS!!",
        "cuu toi",
        "chong danh vo",
        "bi danh",
    ],
)
def test_danger_words(typed: str) -> None:
    assert is_danger_text(typed)


@pytest.mark.parametrize(
    "typed", ["xin chào", "cho tôi hỏi thủ tục", "danh sách xã", "cựu chiến binh", "", None]
)
def test_not_danger(typed: str | None) -> None:
    assert not is_danger_text(typed)


@given(st.text(max_size=80), st.sampled_from(["cứu", "bạo lực", "nguy hiểm", "help", "bị đánh"]))
def test_danger_word_anywhere(prefix: str, word: str) -> None:
    assert is_danger_text(f"{prefix} {word}")


# -- encryption --------------------------------------------------------------------------------------
@given(st.text(max_size=300))
@settings(max_examples=50)
def test_encrypt_round_trip(text: str) -> None:
    ring = Keyring.parse(new_key_spec("k1"))
    token = ring.encrypt(text, "case:1:description")
    assert ring.decrypt(token, "case:1:description") == text
    assert token.startswith("k1:")


def test_keys_rotate_and_rows_are_bound() -> None:
    old, new = new_key_spec("k1"), new_key_spec("k2")
    token = Keyring.parse(old).encrypt("bí mật", "case:1:contact")
    both = Keyring.parse(f"{new},{old}")
    assert both.decrypt(token, "case:1:contact") == "bí mật"
    assert not both.is_current(token) and both.is_current(both.encrypt("x", "a"))
    with pytest.raises(CryptoError):
        both.decrypt(token, "case:2:contact")  # copied to another row
    with pytest.raises(CryptoError) as e:
        Keyring.parse(new).decrypt(token, "case:1:contact")  # the key is gone
    assert "bí mật" not in str(e.value)
    assert Keyring.parse(old).tags("terminal:u1")[0] in both.tags("terminal:u1")


@pytest.mark.parametrize(
    "spec", ["", "k1", "k1:abc", "k1:" + "A" * 43 + ",k1:" + "B" * 43, "bad id!:" + "A" * 43]
)
def test_bad_key_specs(spec: str) -> None:
    with pytest.raises(CryptoError):
        Keyring.parse(spec)
