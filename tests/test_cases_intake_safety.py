"""What the intake says to a frightened person (issue 11): numbers from the hotline data
(free or charged), plain expectations at night, the privacy notice before the first personal
detail (and the child's note), danger words in any answer, several answers in one sentence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from db.crypto import new_key_spec
from db.engine import Database
from services.cases.config import CaseConfig, configure
from services.cases.hotlines import load_hotlines
from tests.cases_helpers import all_cases, case_keys  # noqa: F401  (autouse fixture)
from tests.chat import Chat, Clock
from tests.conftest import local


async def test_numbers_come_from_the_data_and_say_what_they_cost(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("c")
    out = await chat.send("/baovuviec")
    assert "113" in out and "1900 969 680" in out
    out = await chat.send("có")
    assert "📞 113 — Công an (miễn phí, 24/7)" in out
    assert "1900 969 680 — Ngôi nhà Bình yên (hỗ trợ phụ nữ bị bạo lực) (có tính cước)" in out


async def test_a_province_replaces_the_hotlines(
    make_chat: Callable[..., Chat], demo_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "hotlines.yaml"
    path.write_text(
        "hotlines:\n"
        "  - {number: '113', name: {vi: Công an, en: police}, free: true, hours: 24/7}\n"
        "  - {number: '0239 3855 999', name: {vi: Đường dây nóng tỉnh}, free: false,"
        " hours: '7:00-22:00'}\n",
        encoding="utf-8",
    )
    load_hotlines.cache_clear()
    configure(CaseConfig(keys=new_key_spec("h1"), hotlines_file=path))
    out = await make_chat("c").send("/baovuviec")
    assert "0239 3855 999" in out and "1900 969 680" not in out


async def test_at_night_the_bot_says_it_is_not_an_emergency_line(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    clock.set(local("2026-11-28T22:30"))  # a Saturday night
    chat = make_chat("c")
    await chat.send("/baovuviec")
    out = await chat.send("1")
    assert "không phải đường dây khẩn cấp" in out and "07:30 30/11/2026" in out
    clock.set(local("2026-11-30T10:00"))  # Monday morning: nothing of the kind
    chat2 = make_chat("d")
    await chat2.send("/baovuviec")
    assert "không phải đường dây khẩn cấp" not in await chat2.send("1")


async def test_privacy_notice_before_the_first_personal_detail(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("c")
    await chat.send("/baovuviec")
    assert "Luật Bảo vệ dữ liệu cá nhân" not in await chat.send("2")
    out = await chat.send("thach lac")  # next: the first personal question
    assert "Luật Bảo vệ dữ liệu cá nhân 91/2025" in out and "/xoa" in out
    assert out.index("Luật Bảo vệ") < out.index("Người bị bạo lực là ai?")
    await chat.send("tôi")
    await chat.send("nữ")
    out = await chat.send("13 tuổi")  # a child reporter
    assert "không cần bố mẹ đồng ý" in out


async def test_danger_words_in_any_answer(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("c")
    for line in ["/baovuviec", "không", "thach lac", "người khác", "nữ", "25"]:
        await chat.send(line)
    assert not (await all_cases(demo_db))[0].urgent
    out = await chat.send("bị đánh và chửi mắng, nó dọa giết")
    assert "🆘" in out  # the numbers again
    case = (await all_cases(demo_db))[0]
    assert case.forms == ["physical", "psychological"] and case.urgent
    assert case.code is not None and "Hiện chưa liên lạc được với ai" in out  # nobody here
