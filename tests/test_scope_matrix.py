"""The scope matrix (issue 11): every role × unit pair of a test province — who may read
which case, which cases each one's list shows, who may compile which subtree — compared with
a table written out here. Every refusal is audited.

The province is the demo's: 42 (province) with its standing agency 42-SNV (a sibling of the
communes, kind ``agency``) and the communes 28303 (Thạch Lạc) and 28318 (Đồng Tiến).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col, select

from db import queries
from db.engine import Database
from db.models import AuditLog, ChannelAccount, Officer
from kernel.calendar import load_calendar
from scheduler.planner import plan
from tests.cases_helpers import CITIZEN_URGENT, case_keys, report_case  # noqa: F401
from tests.chat import Chat
from tests.conftest import local

PEOPLE = {
    # user: (home unit, role); None = a citizen who reported the case of 28303
    "agency_admin": ("42-SNV", "admin"),
    "province_admin": ("42", "admin"),
    "officer_a": ("28303", "officer"),
    "officer_b": ("28318", "officer"),
    "reporter": None,
}
# Who may read the details of the case of each commune ("status": only its status).
READ = {
    "agency_admin": {"28303": "details", "28318": "details"},
    "province_admin": {"28303": "details", "28318": "details"},
    "officer_a": {"28303": "details", "28318": "refused"},
    "officer_b": {"28303": "refused", "28318": "details"},
    "reporter": {"28303": "status", "28318": "refused"},
}
# The communes whose cases each one's /vuviec list shows.
LIST = {
    "agency_admin": {"28303", "28318"},
    "province_admin": {"28303", "28318"},
    "officer_a": {"28303"},
    "officer_b": {"28318"},
    "reporter": set(),
}
# Who may compile which subtree (/tonghop).
COMPILE = {
    "agency_admin": {"42": True, "28303": True},
    "province_admin": {"42": True, "28303": True},
    "officer_a": {"42": False, "28303": False},
    "officer_b": {"42": False, "28303": False},
    "reporter": {"42": False, "28303": False},
}
UNIT_NAMES = {"28303": "Xã Thạch Lạc", "28318": "Xã Đồng Tiến"}


async def _audit(db: Database) -> list[AuditLog]:
    async with db.session() as s:
        return list((await s.exec(select(AuditLog).order_by(col(AuditLog.id)))).all())


async def test_scope_matrix(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    chats: dict[str, Chat] = {}
    for user, spec in PEOPLE.items():
        chats[user] = make_chat(user)
        if spec is not None:
            out = await chats[user].register(demo_db, spec[0], role=spec[1], name=f"CB {user}")
            assert "Đăng ký xong" in out, out
    codes = {
        "28303": await report_case(chats["reporter"]),
        "28318": await report_case(
            make_chat("someone"),
            [line if line != "thach lac" else "28318" for line in CITIZEN_URGENT],
        ),
    }

    seen_read: dict[str, dict[str, str]] = {}
    seen_list: dict[str, set[str]] = {}
    seen_compile: dict[str, dict[str, bool]] = {}
    for user, chat in chats.items():
        seen_read[user] = {}
        for commune, code in codes.items():
            before = len(await _audit(demo_db))
            out = await chat.send(f"/vuviec {code}")
            if "Mô tả" in out:
                seen_read[user][commune] = "details"
            elif "Tin báo" in out and code in out and "Không tìm thấy" not in out:
                seen_read[user][commune] = "status"
            else:
                seen_read[user][commune] = "refused"
                new = (await _audit(demo_db))[before:]
                assert [(r.target, r.outcome) for r in new if r.action.startswith("cases.")] == [
                    (code, "refused")
                ], (user, commune)
            await chat.send("/huy")
        out = await chat.send("/vuviec")
        seen_list[user] = {c for c, code in codes.items() if code in out}
        await chat.send("/huy")
        seen_compile[user] = {}
        for target in ("42", "28303"):
            before = len(await _audit(demo_db))
            await chat.send(f"/tonghop 2026 {target}")
            files = [f for r in (chat.last.replies if chat.last else []) for f in r.files]
            seen_compile[user][target] = bool(files)
            new = (await _audit(demo_db))[before:]
            if not files:
                assert [r.outcome for r in new if r.action == "desk.compile"] == ["refused"], (
                    user,
                    target,
                )

    assert seen_read == READ
    assert seen_list == LIST
    assert seen_compile == COMPILE


async def test_the_agency_admin_gets_the_digest_of_the_province(demo_db: Database) -> None:
    """The daily digest of late units goes to the admins by their scope: the standing
    agency's admin (home 42-SNV, a sibling of the communes) hears of the province's communes."""
    async with demo_db.session() as s:
        agency = await queries.unit_by_code(s, "42-SNV")
        assert agency is not None
        officer = Officer(unit_id=agency.id or 0, full_name="SNV", position="x", role="admin")
        s.add(officer)
        await s.flush()
        s.add(ChannelAccount(channel="zalo", user_id="snv", chat_id="snv", officer_id=officer.id))
    async with demo_db.session() as s:
        result = await plan(s, local("2026-06-08T08:00"), cal=load_calendar(None))
    digests = [p for p in result.planned if p.kind == "digest"]
    assert [p.officer_name for p in digests] == ["SNV"]
    assert "Xã Thạch Lạc" in digests[0].text and "Xã Đồng Tiến" in digests[0].text
