"""/giaoviec in the chat: the officers a case can be given to, the assignment through the
function the web desk's board uses (the assignee hears of it through the outbox, the code
only), and refusals (another commune's officer; someone who does not answer for the unit)."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col, select

from db.engine import Database
from db.models import Officer, Outbox
from tests.cases_helpers import (
    MARKERS,
    audit_rows,
    case_by_code,
    case_keys,  # noqa: F401  (autouse fixture)
    report_case,
)
from tests.chat import Chat


async def _id(db: Database, name: str) -> int:
    async with db.session() as s:
        found = (await s.exec(select(Officer.id).where(Officer.full_name == name))).one()
    assert found is not None
    return found


async def test_assign_in_the_chat(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    hoa = make_chat("hoa")
    await hoa.register(demo_db, "28303", name="Trần Thị Hoa")
    binh = make_chat("binh")
    await binh.register(demo_db, "28318", name="Lê Văn Bình")
    code = await report_case(make_chat("citizen"))
    out = await lan.send(f"/giaoviec {code}")
    hoa_id, binh_id = await _id(demo_db, "Trần Thị Hoa"), await _id(demo_db, "Lê Văn Bình")
    assert f"#{hoa_id} Trần Thị Hoa" in out and "Lê Văn Bình" not in out
    out = await lan.send(f"/giaoviec {code} {binh_id}")
    assert "không phụ trách đơn vị" in out
    out = await lan.send(f"/giaoviec {code} #{hoa_id}")
    assert f"Đã giao {code} cho Trần Thị Hoa" in out
    assert (await case_by_code(demo_db, code)).assigned_to == hoa_id
    async with demo_db.session() as s:
        sent = (await s.exec(select(Outbox).where(col(Outbox.key).contains(":assign")))).all()
    assert len(sent) == 1 and code in sent[0].text
    assert all(m not in sent[0].text for m in MARKERS)
    out = await binh.send(f"/giaoviec {code} {binh_id}")
    assert f"Không có vụ việc {code}, hoặc anh/chị không phụ trách" in out
    rows = [(r.action, r.outcome) for r in await audit_rows(demo_db) if r.target == code]
    assert ("cases.assign", "ok") in rows and ("cases.update", "refused") in rows
    assert "Trần Thị Hoa" in await lan.send(f"/vuviec {code}")  # in the history
