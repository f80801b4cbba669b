"""What a test officer types at each question of the report, and the value that must be
stored. The answers are consistent (they pass every rule of the form) and exercise the
accepted spellings of each type."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from db.engine import Database
from db.models import ChannelAccount, Conversation

ANSWERS: dict[str, tuple[str, Any]] = {
    "plan_issued": ("có", True),
    "plan_date": ("12/03/2026", "2026-03-12"),
    "focal_point": ("2", "part_time"),
    "committee_meetings": ("4", 4),
    "committee_updated": ("1", True),
    "committee_rules": ("có", True),
    "mainstream_plans": ("có", True),
    "mainstream_docs": ("2", 2),
    "comm_sessions": ("5", 5),
    "comm_participants": ("nam 12 nữ 30", {"m": 12, "f": 30}),
    "comm_channels": ("1,3", ["loudspeaker", "meetings"]),
    "comm_news": ("1.200", 1200),
    "comm_materials": ("300", 300),
    "comm_ethnic": ("0", 0),
    "training_courses": ("2", 2),
    "trainees": ("15/25", {"m": 15, "f": 25}),
    "trusted_addresses": ("3", 3),
    "clubs": ("2", 2),
    "club_members": ("10 40", {"m": 10, "f": 40}),
    "women_credit": ("25", 25),
    "women_jobs": ("12", 12),
    "women_vocational": ("8", 8),
    "vio_cases": ("4", 4),
    "vio_physical": ("3", 3),
    "vio_psychological": ("2", 2),
    "vio_economic": ("1", 1),
    "vio_sexual": ("0", 0),
    "vio_trafficking": ("0", 0),
    "vio_child_marriage": ("1", 1),
    "vio_forced_marriage": ("0", 0),
    "vio_harassment": ("0", 0),
    "victims": ("1 4", {"m": 1, "f": 4}),
    "victims_u16": ("1", 1),
    "victims_60": ("1", 1),
    "perpetrators": ("4 nam 0 nữ", {"m": 4, "f": 0}),
    "handled_criticism": ("2", 2),
    "handled_no_contact": ("1", 1),
    "handled_behaviour": ("0", 0),
    "handled_fine": ("1", 1),
    "handled_prosecution": ("0", 0),
    "supported_health": ("2", 2),
    "supported_shelter": ("1", 1),
    "supported_counselling": ("3", 3),
    "supported_legal": ("1", 1),
    "marriage_brokerage": ("0", 0),
    "leaders_total": ("5", 5),
    "leaders_women": ("2", 2),
    "council_total": ("30", 30),
    "council_women": ("9", 9),
    "dvm_kickoff": ("có", True),
    "dvm_events": ("3", 3),
    "dvm_participants": ("40 65", {"m": 40, "f": 65}),
    "am_plan": ("có", True),
    "am_kickoff": ("có", True),
    "am_kickoff_date": ("15/11/2026", "2026-11-15"),
    "am_events": ("6", 6),
    "am_participants": ("80 120", {"m": 80, "f": 120}),
    "inspections": ("1", 1),
    "violations": ("0", 0),
    "complaints": ("2", 2),
    "complaints_resolved": ("1", 1),
    "awards": ("3", 3),
    "money_spent": ("15,5 triệu", 15_500_000),
    "budget_local": ("10 triệu", 10_000_000),
    "budget_mobilised": ("2.500.000", 2_500_000),
    "budget_national": ("3 triệu", 3_000_000),
    "difficulties": (
        "Thiếu kinh phí cho tuyên truyền ở thôn vùng sâu.",
        "Thiếu kinh phí cho tuyên truyền ở thôn vùng sâu.",
    ),
    "recommendations": ("-", None),
    # The department form (bdg_department.yaml): what only departments are asked.
    "dept_cases": ("6", 6),
    "dept_trafficking": ("1", 1),
    "dept_brokerage": ("1", 1),
    "dept_victims_supported": ("4", 4),
}


async def conversation_state(db: Database, channel: str, user: str) -> tuple[str | None, dict]:
    async with db.session() as s:
        acc = (
            await s.exec(
                select(ChannelAccount).where(
                    ChannelAccount.channel == channel, ChannelAccount.user_id == user
                )
            )
        ).one()
        conv = (await s.exec(select(Conversation).where(Conversation.account_id == acc.id))).one()
        return conv.flow, dict(conv.state)


async def current_question(db: Database, channel: str, user: str) -> str | None:
    flow, state = await conversation_state(db, channel, user)
    if flow != "report" or state.get("mode") != "ask":
        return None
    return state.get("q")
