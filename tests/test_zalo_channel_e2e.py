"""End to end: the real `bdg run` / `bdg serve` processes against the loopback Zalo Bot API.

An officer registers with an invite, answers the whole annual report by typing (numbered
choices by their number), reviews the summary and submits; what is stored equals what was
sent. The polling process is SIGKILLed in the middle of the report and started again: nothing
answered is lost, a message sent while it was down is answered, and a redelivered message is
not processed twice. The webhook process gets events in both shapes, refuses a wrong secret
and ignores a redelivery. On PostgreSQL too when BDG_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from db.engine import Database
from db.models import ChannelAccount, Officer, ProcessedUpdate, ReportVersion
from tests.answers import ANSWERS, current_question
from tests.conftest import local
from tests.fakes.zalo_api import SECRET_HEADER, FakeZalo
from tests.processes import Bot, bot_env, free_port
from tests.test_report_flow import stored
from tests.test_zalo_channel import no_delayed_ack

ROOT = Path(__file__).resolve().parent.parent
USER = "5e2b7d19a0c4f836"
SECRET = "e2e-webhook-secret-123"
STOP_AFTER = "vio_physical"  # the process is killed after this answer is acknowledged


@pytest.fixture(scope="module")
def zalo_server() -> Iterator[FakeZalo]:
    with FakeZalo() as fake:
        yield no_delayed_ack(fake)


@pytest.fixture
def zalo(zalo_server: FakeZalo) -> FakeZalo:
    zalo_server.reset()
    return zalo_server


def zalo_env(db_config: dict[str, Any], zalo: FakeZalo, **extra: str) -> dict[str, str]:
    return bot_env(
        db_config,
        ZALO_BOT_TOKEN=zalo.token,
        ZALO_API_URL=zalo.url,
        # Reminders planned by the scheduler would interleave with the counted answers.
        BDG_SCHEDULER="0",
        # The processes run in a temporary folder (no stray .env or data/): import this tree.
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        **extra,
    )


class ZaloUser:
    def __init__(self, zalo: FakeZalo, db: Database, user_id: str, bot: list[Bot]) -> None:
        self.zalo, self.db, self.id, self.bot = zalo, db, user_id, bot
        self.pushed: list[dict[str, Any]] = []

    def sent(self) -> list[str]:
        return self.zalo.sent_texts(self.id)

    async def say(self, text: str, expect: str) -> str:
        """Send ``text`` and wait for the first answer containing ``expect`` (the database
        is committed before any answer is sent, so it can be read right after)."""
        start = len(self.sent())
        self.pushed.append(self.zalo.push_text(self.id, text, display_name="Nguyễn Thị Lan"))
        try:
            return await self.zalo.await_for_text(expect, self.id, timeout=30, start=start)
        except AssertionError:
            print(self.bot[-1].output()[-5000:])
            raise

    async def answer_until(self, stop_after: str | None = None) -> list[str]:
        """Answer each question the database says is current; returns the ids answered."""
        asked: list[str] = []
        while (qid := await current_question(self.db, "zalo", self.id)) is not None:
            asked.append(qid)
            await self.say(ANSWERS[qid][0], "Đã lưu")
            if qid == stop_after:
                break
        return asked


async def register_and_open_report(user: ZaloUser, code: str) -> None:
    await user.say(f"/start {code}", "Họ và tên")
    await user.say("Nguyễn Thị Lan", "Chức vụ")
    await user.say("Công chức Văn hóa - Xã hội", "Gõ /baocao để làm báo cáo kỳ này")
    assert "Đăng ký xong: Nguyễn Thị Lan, Xã Thạch Lạc" in user.sent()[-2]
    start = len(user.sent())
    out = await user.say("/baocao", "Câu 1/")
    assert "  1. Có\n  2. Không" in out  # yes/no choices as a numbered list
    assert "Báo cáo tổng kết năm 2026" in user.sent()[start]


async def submit_and_check(user: ZaloUser, db: Database, asked: list[str]) -> None:
    start = len(user.sent())
    out = await user.say("gửi", "Số tham chiếu")
    assert "BC-2026-28303-1" in out
    summary = user.sent()[:start]
    assert any("Xem lại" in text for text in summary)
    report, values = await stored(db, "2026")
    assert report.status == "submitted" and report.version == 1
    assert values == {qid: ANSWERS[qid][1] for qid in asked}
    async with db.session() as s:
        version = (await s.exec(select(ReportVersion))).one()
        officers = (await s.exec(select(Officer))).all()
        account = (await s.exec(select(ChannelAccount))).one()
    assert version.values == {qid: ANSWERS[qid][1] for qid in asked}
    assert [o.full_name for o in officers] == ["Nguyễn Thị Lan"]
    assert (account.channel, account.user_id, account.officer_id) == ("zalo", USER, officers[0].id)
    assert all(len(text) <= 2000 for text in user.sent())


async def zalo_keys(db: Database) -> int:
    async with db.session() as s:
        query = select(func.count()).where(col(ProcessedUpdate.key).startswith("zalo:"))
        return int((await s.exec(query)).one())


async def test_polling_full_report_survives_sigkill(
    zalo: FakeZalo, demo_db: Database, db_config: dict[str, Any], tmp_path: Path
) -> None:
    from handlers.registration import new_invite

    code = await new_invite(demo_db, "28303", now=local("2026-11-25T08:00"))
    env = zalo_env(db_config, zalo)
    bots = [Bot("run", env, tmp_path / "bot.log")]
    user = ZaloUser(zalo, demo_db, USER, bots)
    try:
        await register_and_open_report(user, code)
        asked = await user.answer_until(STOP_AFTER)
        assert asked[-1] == STOP_AFTER and "comm_channels" in asked  # typed "1,3"

        bots[0].kill()
        assert bots[0].proc.returncode == -signal.SIGKILL
        await asyncio.sleep(0.3)  # let the stand-in notice the dead long poll before new events
        sent_before = len(user.sent())
        # While the bot is down: Zalo delivers the last answer again (same message_id) and
        # the officer answers the next question.
        redelivered = zalo.redeliver_last()
        assert redelivered["message"]["message_id"] == user.pushed[-1]["message"]["message_id"]
        next_q = await current_question(demo_db, "zalo", USER)
        assert next_q == "vio_psychological"
        zalo.push_text(USER, ANSWERS[next_q][0])
        _, values = await stored(demo_db, "2026")
        assert values == {qid: ANSWERS[qid][1] for qid in asked}  # nothing lost

        bots.append(Bot("run", env, tmp_path / "bot.log"))
        await zalo.await_for_text("Đã lưu: 2", USER, timeout=30, start=sent_before)
        # Polling is sequential and the redelivery came first: had it been processed again,
        # its answer ("Đã lưu: 3" for the next question) would have come before this one.
        assert len(user.sent()) == sent_before + 1
        asked.append(next_q)
        out = await user.say("/baocao", "làm tiếp")
        assert f"Đã trả lời {len(asked)} câu" in out
        asked += await user.answer_until()
        await submit_and_check(user, demo_db, asked)
        # One processed key per distinct message the officer sent.
        assert await zalo_keys(demo_db) == len(user.pushed) + 1
        assert bots[-1].terminate() == 0
    finally:
        for bot in bots:
            bot.ensure_dead()


async def test_webhook_full_report_through_bdg_serve(
    zalo: FakeZalo, demo_db: Database, db_config: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    env = zalo_env(
        db_config,
        zalo,
        BDG_PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        ZALO_WEBHOOK_SECRET=SECRET,
    )
    invite = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "invite", "28303"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert invite.returncode == 0, invite.stderr[-2000:]
    code = invite.stdout.strip().splitlines()[-1]
    bots = [Bot("serve", env, tmp_path / "serve.log")]
    user = ZaloUser(zalo, demo_db, USER, bots)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert bots[0].proc.poll() is None, bots[0].output()
                await asyncio.sleep(0.05)
        assert zalo.webhook_url == f"http://127.0.0.1:{port}/zalo/webhook"
        assert zalo.calls_to("setWebhook")[-1].params["secret_token"] == SECRET

        await register_and_open_report(user, code)
        asked = await user.answer_until("comm_news")
        zalo.webhook_shape = "bare"
        asked += await user.answer_until(STOP_AFTER)

        # A wrong secret is refused and changes nothing.
        event = {
            "event_name": "message.text.received",
            "message": {
                "from": {"id": USER, "display_name": "X", "is_bot": False},
                "chat": {"id": USER, "chat_type": "PRIVATE"},
                "message_id": "forged-1",
                "date": 1,
                "text": "0",
            },
        }
        body = json.dumps({"ok": True, "result": event}).encode()
        assert await zalo.adeliver_raw(body, {SECRET_HEADER: "not-the-secret"}) == 403
        assert await zalo.adeliver_raw(body, {}) == 403
        assert await zalo.adeliver_raw(b"{not json", {SECRET_HEADER: SECRET}) == 400
        async with demo_db.session() as s:
            assert await s.get(ProcessedUpdate, "zalo:forged-1") is None

        # Zalo delivers the last answer again: answered 200, processed once. Replies of a
        # chat go out in order, so a reply to it would come before the next answer's.
        sent_before = len(user.sent())
        zalo.redeliver_last()
        assert [d.status for d in (await zalo.await_deliveries())[-1:]] == [200]
        asked += await user.answer_until("vio_psychological")
        assert asked[-1] == "vio_psychological"
        assert len(user.sent()) == sent_before + 1

        asked += await user.answer_until()
        await submit_and_check(user, demo_db, asked)
        deliveries = await zalo.await_deliveries()
        assert deliveries and all(d.ok for d in deliveries)
        assert await zalo_keys(demo_db) == len(user.pushed)
        assert bots[0].terminate() == 0
    finally:
        for bot in bots:
            bot.ensure_dead()
