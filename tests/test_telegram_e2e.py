"""End to end: the real `bdg run` / `bdg serve` processes against the loopback Telegram Bot API.

`bdg seed-demo` and `bdg invite` prepare the database; the officer registers through the
invite's deep link (`https://t.me/<bot>?start=<code>` → "/start <code>"), answers the whole
annual report (buttons for yes/no, choices, multiple choices and skips; numbers typed), reviews
the summary and submits; what is stored equals what was sent. The polling process is
SIGKILLed while Telegram still holds its last update unconfirmed, and started again: it
continues at the next question, nothing answered is lost, and the redelivered update is not
processed twice. The webhook process refuses wrong or missing secrets, processes an update
posted twice once, and answers /healthz. On PostgreSQL too when BDG_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from db.engine import Database
from db.models import ChannelAccount, Officer, ProcessedUpdate, ReportVersion
from tests.answers import ANSWERS, current_question
from tests.fakes.telegram_api import SECRET_HEADER, FakeTelegram
from tests.processes import Bot, bot_env, free_port
from tests.telegram_user import TelegramUser, keys_of
from tests.test_report_flow import stored

USER = 8_100_200_300
BOT_USERNAME = "bdg_e2e_bot"
SECRET = "e2e_webhook-secret-0123456789"
STOP_AFTER = "vio_physical"  # the polling process is killed after this answer


@pytest.fixture
def tg() -> Any:
    with FakeTelegram(token="7654321:E2E-token_abcdefghijklmnop", username=BOT_USERNAME) as fake:
        yield fake


def telegram_env(db_config: dict[str, Any], tg: FakeTelegram, **extra: str) -> dict[str, str]:
    return bot_env(
        db_config,
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_API_URL=tg.url,
        TELEGRAM_BOT_USERNAME=BOT_USERNAME,
        **extra,
    )


def bdg(env: dict[str, str], cwd: Path, *args: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def deep_link_code(env: dict[str, str], cwd: Path) -> str:
    """Seed the demo province and create an invite; return the payload of its deep link."""
    bdg(env, cwd, "seed-demo")
    out = bdg(env, cwd, "invite", "28303")
    link = re.search(rf"https://t\.me/{BOT_USERNAME}\?start=([A-Za-z0-9_-]+)", out)
    assert link is not None, out
    code = link.group(1)
    assert code == out.strip().splitlines()[-1].replace("-", "")  # the printed code, no dash
    return code


async def register_and_open_report(user: TelegramUser, code: str) -> None:
    await user.say(f"/start {code}", "Họ và tên")
    await user.say("Nguyễn Thị Lan", "Chức vụ")
    await user.say("Công chức Văn hóa - Xã hội", "Gõ /baocao")
    assert any("Đăng ký xong: Nguyễn Thị Lan, Xã Thạch Lạc" in t for t in user.texts())
    first = await user.say("/baocao", "Câu 1/")
    assert keys_of(first) == ["yes", "no"]
    assert any("Báo cáo tổng kết năm 2026" in t for t in user.texts())


async def submit_and_check(user: TelegramUser, db: Database, asked: list[str]) -> None:
    text, summary = await user.summary()
    assert "Xem lại" in text and "nam 12, nữ 30 — tổng 42" in text
    assert keys_of(summary) == ["submit", "later"]
    await user.tap("submit", "Số tham chiếu")
    assert any("BC-2026-28303-1" in t for t in user.texts())
    report, values = await stored(db, "2026")
    assert report.status == "submitted" and report.version == 1
    assert values == {qid: ANSWERS[qid][1] for qid in asked}
    async with db.session() as s:
        version = (await s.exec(select(ReportVersion))).one()
        officers = (await s.exec(select(Officer))).all()
        account = (await s.exec(select(ChannelAccount))).one()
    assert version.values == {qid: ANSWERS[qid][1] for qid in asked}
    assert [o.full_name for o in officers] == ["Nguyễn Thị Lan"]
    assert (account.channel, account.user_id, account.chat_id) == (
        "telegram",
        str(USER),
        str(USER),
    )
    assert account.officer_id == officers[0].id


def check_requests(tg: FakeTelegram, log: str) -> None:
    """Every request the bot made was valid for the stand-in (which checks each one against
    the Bot API spec), callback data never exceeded 64 bytes, and the log holds no token and
    no text the user sent."""
    refused = [(c.method, c.status, c.description) for c in tg.calls if c.status == 400]
    assert refused == [], refused
    for call in tg.calls:
        markup = call.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        for data in keys_of({"reply_markup": markup}):
            assert len(data.encode()) <= 64
    assert tg.token not in log and tg.token.split(":")[1] not in log
    for secret_text in ("Nguyễn Thị Lan", "Thiếu kinh phí", "nam 12 nữ 30"):
        assert secret_text not in log


async def processed_keys(db: Database) -> int:
    async with db.session() as s:
        query = select(func.count()).where(col(ProcessedUpdate.key).startswith("telegram:"))
        return int((await s.exec(query)).one())


async def test_polling_full_report_survives_sigkill(
    tg: FakeTelegram, db: Database, db_config: dict[str, Any], tmp_path: Path
) -> None:
    env = telegram_env(db_config, tg)
    code = deep_link_code(env, tmp_path)
    bots = [Bot("run", env, tmp_path / "bot.log")]
    user = TelegramUser(tg, USER, first_name="Lan", on_timeout=lambda: bots[-1].output())
    try:
        await register_and_open_report(user, code)
        commands = {c["command"]: c["description"] for c in tg.commands()}
        assert commands["baocao"] == "làm hoặc tiếp tục báo cáo kỳ này"
        english = {c["command"]: c["description"] for c in tg.commands(language_code="en")}
        assert english["baocao"] == "fill in or continue this period's report"

        asked = await user.answer_until(db, stop_after="comm_news")
        assert {"plan_issued", "focal_point", "comm_channels"} <= set(asked)  # tapped
        while (qid := await current_question(db, "telegram", str(USER))) != STOP_AFTER:
            assert qid is not None
            asked.append(qid)
            await user.answer(qid)
        # Telegram will not hear that the next update was handled: once the bot waits in its
        # long poll, every later getUpdates (which would confirm the update) fails; then the
        # process is killed.
        await tg.await_until(lambda: tg._active_poll is not None and not tg.pending_updates())
        tg.inject("getUpdates", status=502, times=1_000_000)
        asked.append(STOP_AFTER)
        await user.say(ANSWERS[STOP_AFTER][0], "Đã lưu")
        last = user.pushed[-1]
        assert [u["update_id"] for u in tg.pending_updates()] == [last["update_id"]]
        bots[0].kill()
        assert bots[0].proc.returncode == -signal.SIGKILL
        tg.clear_injections()
        _, values = await stored(db, "2026")
        assert values == {q: ANSWERS[q][1] for q in asked}  # nothing answered is lost

        # While the bot is down the officer answers the next question.
        next_q = await current_question(db, "telegram", str(USER))
        assert next_q == "vio_psychological"
        sent_before, mark = len(user.texts()), tg.mark()
        keys_before = await processed_keys(db)
        user.pushed.append(tg.push_message(USER, ANSWERS[next_q][0], first_name="Lan"))
        bots.append(Bot("run", env, tmp_path / "bot.log"))
        await tg.await_for_text("Đã lưu: 2", USER, timeout=30, since=mark)
        # Telegram delivered the unconfirmed update again, before the new one: had it been
        # processed again, its answer would have been sent too.
        assert len(user.texts()) == sent_before + 1
        assert await processed_keys(db) == keys_before + 1
        fetched = [
            c
            for c in tg.calls_to("getUpdates")
            if c.ok and any(u["update_id"] == last["update_id"] for u in c.response["result"])
        ]
        assert len(fetched) == 2  # before the kill and again after the restart
        asked.append(next_q)
        out = await user.say("/baocao", "làm tiếp")
        assert f"Đã trả lời {len(asked)} câu" in out["text"]
        asked += await user.answer_until(db)
        await submit_and_check(user, db, asked)
        # One key per update the officer sent, each processed once.
        assert await processed_keys(db) == len(user.pushed)
        assert bots[-1].terminate() == 0
        assert tg.pending_updates() == []  # a clean stop confirms what was handled
        check_requests(tg, bots[-1].output())
    finally:
        for bot in bots:
            bot.ensure_dead()
    # The stand-in itself refuses what Telegram would refuse: 65 bytes of callback data.
    async with httpx.AsyncClient() as http:
        markup = {"inline_keyboard": [[{"text": "x", "callback_data": "a" * 65}]]}
        response = await http.post(
            f"{tg.api_url}{tg.token}/sendMessage",
            json={"chat_id": USER, "text": "x", "reply_markup": markup},
        )
    assert response.status_code == 400 and "BUTTON_DATA_INVALID" in response.text


async def test_webhook_through_bdg_serve(
    tg: FakeTelegram, db: Database, db_config: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    env = telegram_env(
        db_config,
        tg,
        BDG_PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
    )
    code = deep_link_code(env, tmp_path)
    bot = Bot("serve", env, tmp_path / "serve.log")
    user = TelegramUser(tg, USER, on_timeout=bot.output)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(400):
                try:
                    health = await http.get(f"http://127.0.0.1:{port}/healthz")
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert bot.proc.poll() is None, bot.output()
                await asyncio.sleep(0.05)
            assert health.json() == {"ok": True, "database": "ok"}
        assert tg.webhook_url == f"http://127.0.0.1:{port}/telegram/webhook"
        hook = tg.calls_to("setWebhook")[-1].params
        assert hook["secret_token"] == SECRET
        assert list(hook["allowed_updates"]) == ["message", "callback_query"]

        await register_and_open_report(user, code)
        asked = await user.answer_until(db, stop_after="comm_sessions")

        # Wrong or missing secret: 403, nothing read, nothing changed.
        forged = {
            "update_id": 1,
            "message": {
                "message_id": 999,
                "date": 1,
                "chat": {"id": USER, "type": "private", "first_name": "X"},
                "from": {"id": USER, "is_bot": False, "first_name": "X"},
                "text": "0",
            },
        }
        body = json.dumps(forged).encode()
        keys = await processed_keys(db)
        assert await tg.adeliver_raw(body, {SECRET_HEADER: "not-the-secret"}) == 403
        assert await tg.adeliver_raw(body, {}) == 403
        assert await tg.adeliver_raw(b"{not json", {SECRET_HEADER: SECRET}) == 400
        assert await processed_keys(db) == keys
        _, values = await stored(db, "2026")
        assert values == {q: ANSWERS[q][1] for q in asked}

        # The last update (already delivered and answered) is posted again: 200, no effect.
        sent_before = len(user.texts())
        again = json.dumps(user.pushed[-1]).encode()
        assert await tg.adeliver_raw(again) == 200
        asked += await user.answer_until(db, stop_after="comm_participants")
        assert len(user.texts()) == sent_before + 1  # only the answer to the new message
        _, values = await stored(db, "2026")
        assert values == {q: ANSWERS[q][1] for q in asked}
        assert await processed_keys(db) == len(user.pushed)
        assert all(d.ok for d in tg.webhook_deliveries if not d.raw)
        assert bot.terminate() == 0
        check_requests(tg, bot.output())
    finally:
        bot.ensure_dead()
