"""End to end: real `bdg serve` processes against the loopback Zalo OA stand-in.

An OA follower registers with an invite and answers the whole annual report by signed webhook
events; a citizen notifies a case and gets its code; reminders go out as consultation messages
inside the window and as transaction templates outside it; and two processes (PostgreSQL;
one on SQLite, which serves a single bot process) share one OA while its access token dies in
the middle of a fan-out: one refresh (the single-use refresh token is never spent twice),
every message sent once. On PostgreSQL too when BDG_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.zalo_oa.channel import WEBHOOK_PATH
from db.crypto import new_key_spec
from db.engine import Database
from db.models import ChannelAccount, Officer, Outbox, ReportVersion, Unit
from db.outbox import enqueue
from db.zalo_oa import touch_user
from kernel.clock import utcnow
from tests.answers import ANSWERS, current_question
from tests.cases_helpers import CITIZEN_CALM, CODE
from tests.conftest import local
from tests.fakes.zalo_oa import FakeZaloOA
from tests.processes import Bot, bot_env, free_port
from tests.test_report_flow import stored

ROOT = Path(__file__).resolve().parent.parent
USER = "6612345678901234"
CITIZEN = "6698765432109876"
TEMPLATE = "tpl-e2e"
ANNOUNCEMENT = "Thông báo của cơ quan thường trực"


@pytest.fixture(scope="module")
def oa_server() -> Iterator[FakeZaloOA]:
    with FakeZaloOA() as fake:
        yield fake


@pytest.fixture
def oa(oa_server: FakeZaloOA) -> FakeZaloOA:
    oa_server.sent.clear()
    oa_server.token_calls.clear()
    oa_server.approved = {TEMPLATE}
    return oa_server


def oa_env(db_config: dict[str, Any], oa: FakeZaloOA, port: int, **extra: str) -> dict[str, str]:
    return bot_env(
        db_config,
        ZALO_OA_APP_ID=oa.app_id,
        ZALO_OA_SECRET_KEY=oa.secret_key,
        ZALO_OA_WEBHOOK_KEY=oa.oa_secret,
        ZALO_OA_API_URL=oa.url,
        ZALO_OA_OAUTH_URL=oa.url,
        ZALO_OA_ZNS_URL=oa.url,
        BDG_PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        **extra,
    )


class OAUser:
    def __init__(self, oa: FakeZaloOA, db: Database, user_id: str, port: int, bot: Bot) -> None:
        self.oa, self.db, self.id, self.port, self.bot = oa, db, user_id, port, bot

    async def post(self, text: str) -> None:
        body, headers = self.oa.event(self.id, text)
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}", content=body, headers=headers
            )
        assert response.status_code == 200, self.bot.output()[-3000:]

    async def say(self, text: str, expect: str = "") -> str:
        start = len(self.oa.texts(self.id))
        await self.post(text)
        try:
            return await self.oa.await_text(expect, self.id, timeout=30, start=start)
        except AssertionError:
            print(self.bot.output()[-5000:])
            raise


async def invite(env: dict[str, str], cwd: Path) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "invite", "28303"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


async def test_whole_report_and_a_case_through_the_oa(
    oa: FakeZaloOA, demo_db: Database, db_config: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    env = oa_env(
        db_config,
        oa,
        port,
        ZALO_OA_REFRESH_TOKEN=oa.issue_refresh_token(),
        BDG_CASE_KEYS=new_key_spec("e2e"),
        BDG_SCHEDULER="0",
    )
    code = await invite(env, tmp_path)
    bot = Bot("serve", env, tmp_path / "serve.log")
    try:
        await bot.wait_healthy(port)
        user = OAUser(oa, demo_db, USER, port, bot)
        await user.say(f"/start {code}", "Họ và tên")
        await user.say("Nguyễn Thị Lan", "Chức vụ")
        await user.say("Công chức Văn hóa - Xã hội", "/baocao")
        out = await user.say("/baocao", "Câu 1/")
        assert "  1. Có\n  2. Không" in out
        assert oa.sent_to(USER, "cs")[-1].buttons  # yes/no also as buttons
        asked: list[str] = []
        while (qid := await current_question(demo_db, "zalo_oa", USER)) is not None:
            asked.append(qid)
            await user.say(ANSWERS[qid][0], "Đã lưu")
        out = await user.say("gửi", "Số tham chiếu")
        assert "BC-2026-28303-1" in out
        report, values = await stored(demo_db, "2026")
        assert report.status == "submitted"
        assert values == {qid: ANSWERS[qid][1] for qid in asked}
        async with demo_db.session() as s:
            assert len((await s.exec(select(ReportVersion))).all()) == 1
        assert all(len(x) <= 2000 for x in oa.texts(USER))

        citizen = OAUser(oa, demo_db, CITIZEN, port, bot)
        for step in CITIZEN_CALM:
            await citizen.say(step)
        assert CODE.search(oa.texts(CITIZEN)[-1] + "".join(oa.texts(CITIZEN)[-2:]))
        assert bot.terminate() == 0
    finally:
        bot.ensure_dead()


async def _officers(db: Database, users: list[str], *, inside: list[bool]) -> list[ChannelAccount]:
    async with db.session() as s:
        unit = (await s.exec(select(Unit).where(col(Unit.code) == "28303"))).one()
        out = []
        for user, fresh in zip(users, inside, strict=True):
            officer = Officer(unit_id=unit.id or 0, full_name="Cán bộ " + user[-4:], position="CC")
            s.add(officer)
            await s.flush()
            acc = ChannelAccount(
                channel="zalo_oa", user_id=user, chat_id=user, officer_id=officer.id
            )
            s.add(acc)
            await s.flush()
            out.append(acc)
            hours = 1 if fresh else 60
            await touch_user(s, user, utcnow() - timedelta(hours=hours))
    return out


async def _fan_out(db: Database, accounts: list[ChannelAccount], batch: str) -> None:
    async with db.session() as s:
        for acc in accounts:
            await enqueue(
                s,
                key=f"{batch}:acc:{acc.id}",
                account=acc,
                text="Thông báo: hội nghị sơ kết ngày 10/12/2026.",
                kind="announcement",
                now=local("2026-11-25T08:30"),  # the processes' clock (BDG_FAKE_NOW)
                batch=batch,
            )


async def _statuses(db: Database, batch: str) -> dict[str, int]:
    async with db.session() as s:
        rows = (await s.exec(select(Outbox).where(col(Outbox.batch) == batch))).all()
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


async def _until_done(db: Database, batch: str, n: int, bots: list[Bot]) -> dict[str, int]:
    for _ in range(1200):
        counts = await _statuses(db, batch)
        # "sending": an attempt is under way (the outbox records it before the send).
        in_flight = counts.get("pending", 0) + counts.get("sending", 0)
        if in_flight == 0 and sum(counts.values()) == n:
            return counts
        await asyncio.sleep(0.05)
    raise AssertionError(f"{counts}\n" + "\n".join(b.output()[-3000:] for b in bots))


async def test_two_processes_one_refresh_mid_fan_out_and_the_window(
    oa: FakeZaloOA, demo_db: Database, db_config: dict[str, Any], tmp_path: Path
) -> None:
    n = 60
    users = [f"77{i:014d}" for i in range(n)]
    inside = [i % 2 == 0 for i in range(n)]
    for user, fresh in zip(users, inside, strict=True):
        oa.interact(user, ago=3600 if fresh else 60 * 3600)
    accounts = await _officers(demo_db, users, inside=inside)
    ports = [free_port(), free_port()]
    keys = new_key_spec("e2e")
    refresh = oa.issue_refresh_token()
    envs = [
        oa_env(
            db_config,
            oa,
            port,
            ZALO_OA_REFRESH_TOKEN=refresh,
            ZALO_OA_TRANSACTION_TEMPLATE=TEMPLATE,
            BDG_CASE_KEYS=keys,
            BDG_RATE_ZALO_OA="40",
            BDG_OUTBOX_POLL="0.2",
        )
        for port in ports
    ]
    # SQLite serves one bot process (bot.single): two processes need PostgreSQL.
    processes = 2 if db_config["backend"] == "postgresql" else 1
    bots: list[Bot] = []
    try:
        for i in range(processes):
            bots.append(Bot("serve", envs[i], tmp_path / f"bot{i}.log"))
            await bots[i].wait_healthy(ports[i])
        assert [c.ok for c in oa.token_calls] == [True]  # the second process used the stored one

        await _fan_out(demo_db, accounts, "ann:e2e")
        for _ in range(600):  # wait until the fan-out is under way
            if len(oa.sent) >= n // 4:
                break
            await asyncio.sleep(0.02)
        oa.expire_access_tokens()
        # Meanwhile people write to both processes: their replies need a token too.
        talkers = [  # users 0 and 2 are inside the window; one writes to each process
            OAUser(oa, demo_db, users[2 * k], ports[k % processes], bots[k % processes])
            for k in range(2)
        ]
        await asyncio.gather(*(t.say("/trogiup", "/baovuviec") for t in talkers))

        counts = await _until_done(demo_db, "ann:e2e", n, bots)
        assert counts == {"sent": n}, counts
        cs = [m for m in oa.sent if m.kind == "cs" and m.text and "hội nghị" in m.text]
        # (The planner may send its own reminders meanwhile: count this fan-out's only.)
        tx = [
            m
            for m in oa.sent
            if m.kind == "transaction" and m.template_data.get("kind") == ANNOUNCEMENT
        ]
        fresh_users = [u for u, f in zip(users, inside, strict=True) if f]
        assert sorted(m.to for m in cs) == sorted(fresh_users)
        assert sorted(m.to for m in tx) == sorted(set(users) - set(fresh_users))
        assert all(m.template_id == TEMPLATE for m in tx)
        # The fan-out spanned the expiry: sent with the old token, then with the new one.
        assert len({m.access_token for m in cs + tx}) == 2
        # One refresh after the expiry, by one process; no refresh token was spent twice.
        assert [c.ok for c in oa.token_calls] == [True, True]
        assert all(b.terminate() == 0 for b in bots)
    finally:
        for bot in bots:
            bot.ensure_dead()


async def test_cli_login_with_an_oauth_code(
    oa: FakeZaloOA, demo_db: Database, db_config: dict[str, Any], tmp_path: Path
) -> None:
    env = oa_env(db_config, oa, free_port(), BDG_CASE_KEYS=new_key_spec("e2e"))

    def bdg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "zalo-oa", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    url = await asyncio.to_thread(bdg, "url", "--redirect", "https://xa.example/cb")
    assert url.returncode == 0 and f"app_id={oa.app_id}" in url.stdout
    code = oa.issue_code()
    done = await asyncio.to_thread(bdg, "login", code)
    assert done.returncode == 0, done.stderr
    assert "generation 1" in done.stdout
    again = await asyncio.to_thread(bdg, "login", code)  # a code is single use too
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    info = await asyncio.to_thread(bdg, "info")
    assert "generation 1" in info.stdout and "/zalo-oa/webhook" in info.stdout
    issued = {c.refresh_token for c in oa.token_calls} | set(oa.texts(USER))
    assert not any(tok and tok in info.stdout for tok in issued)
