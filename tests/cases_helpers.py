"""Shared pieces of the cases tests: a test encryption key, the answers of a complete intake,
and readers of the rows the tests check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from db.cases import Case, CaseEvent
from db.crypto import new_key_spec
from db.engine import Database
from db.models import AuditLog, Outbox
from services.cases.config import CaseConfig, configure
from tests.chat import Chat

# Distinctive words, so a search of raw bytes or logs cannot match by accident.
DESCRIPTION = "Chồng đánh vợ và con gái tối qua ở nhà ZEBRA-7731"
CONTACT = "0912 345 678, gọi sau 18 giờ QUOKKA-4412"
NOTE = "Đã gặp gia đình, hẹn tư vấn PANGOLIN-5590"
SECRETS = (DESCRIPTION, CONTACT, NOTE)
MARKERS = ("ZEBRA-7731", "QUOKKA-4412", "PANGOLIN-5590")

# A citizen, someone in danger now, a 14-year-old girl, physical and sexual violence.
CITIZEN_URGENT = [
    "/baovuviec",
    "1",  # danger now: yes
    "thach lac",  # Xã Thạch Lạc (one exact match)
    "2",  # someone else
    "1",  # female
    "14 tuổi",  # under 16
    "1, 4",  # physical, sexual
    "1",  # partner
    "hôm qua",
    "1,3",  # health care, counselling
    DESCRIPTION,
    "2",  # leave a contact
    CONTACT,
    "1",  # consent
    "gửi",
]
# No danger, an adult man, psychological violence only, anonymous, no description.
CITIZEN_CALM = [
    "/baovuviec",
    "2",
    "thach lac",
    "1",  # me
    "2",  # male
    "3",  # 18-59
    "2",  # psychological
    "6",  # acquaintance
    "3",  # last 7 days
    "6",  # no help needed yet
    "-",
    "1",  # anonymous
    "2",  # no consent
    "gửi",
]
CODE = re.compile(r"VV-\d{4}-\d{6}")


@pytest.fixture(autouse=True)
def case_keys(tmp_path: Path) -> Iterator[CaseConfig]:
    """A fresh encryption key per test, never the developer's ./data/case.key."""
    cfg = CaseConfig(
        escalate_minutes=30,
        retention_months=24,
        keys=f"{new_key_spec('t2')},{new_key_spec('t1')}",
        key_file=tmp_path / "case.key",
    )
    configure(cfg)
    yield cfg
    configure(None)


async def report_case(chat: Chat, script: list[str] = CITIZEN_URGENT) -> str:
    """Send a whole intake; returns the case code from the receipt."""
    out = ""
    for line in script:
        out = await chat.send(line)
    m = CODE.search(out)
    assert m, out
    return m.group(0)


async def outbox_rows(db: Database) -> list[Outbox]:
    async with db.session() as s:
        return list((await s.exec(select(Outbox).order_by(col(Outbox.id)))).all())


async def audit_rows(db: Database, prefix: str = "cases.") -> list[AuditLog]:
    async with db.session() as s:
        rows = (await s.exec(select(AuditLog).order_by(col(AuditLog.id)))).all()
    return [r for r in rows if r.action.startswith(prefix)]


async def case_by_code(db: Database, code: str) -> Case:
    async with db.session() as s:
        return (await s.exec(select(Case).where(Case.code == code))).one()


async def all_cases(db: Database) -> list[Case]:
    async with db.session() as s:
        return list((await s.exec(select(Case).order_by(col(Case.id)))).all())


async def case_events(db: Database, case_id: int) -> list[CaseEvent]:
    async with db.session() as s:
        return list(
            (
                await s.exec(
                    select(CaseEvent)
                    .where(CaseEvent.case_id == case_id)
                    .order_by(col(CaseEvent.id))
                )
            ).all()
        )
