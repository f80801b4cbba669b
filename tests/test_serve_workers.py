"""Two real `bdg serve` processes on one PostgreSQL database behind the Telegram stand-in,
with a load balancer in front that spreads every chat's updates over both workers at random.

50 officers register and fill in their whole annual report at once (typing, tapping yes/no,
choices, multiple choices, skips), one update at a time per chat: the next is sent only after
the previous one was acknowledged (HTTP 200) and answered. The balancer delivers at least once,
as Telegram does: some updates are posted a second time, to the other worker. In the middle one
worker is killed with SIGKILL; from then on the balancer sends everything to the survivor (an
update whose post failed is posted again there). An officer who sees no answer for a while does
what a person would: types /baocao, which shows the question they are at.

Checked: every stored report equals what was typed; every chat's questions came in order (each
bot message of a chat is answered after the one before it, and no question was skipped or
answered twice); every acknowledged update was applied exactly once (no update applied twice,
nothing acknowledged lost).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import col, select
from telegram import Update

from bot.telegram.updates import dedupe_key
from db.engine import Database
from db.models import ChannelAccount, ProcessedUpdate, Report, ReportValue, Unit
from handlers.registration import new_invite
from kernel.clock import to_utc
from services.cases.config import CaseConfig, configure
from services.forms.engine import load_form
from services.privacy import dedupe_digest
from tests.answers import ANSWERS
from tests.fakes.telegram_api import SECRET_HEADER, FakeTelegram
from tests.processes import TEST_CASE_KEYS, Bot, bot_env, free_port
from tests.schema import commune_code, flat_province
from tests.telegram_user import keys_of

PG_URL = os.environ.get("BDG_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="several workers need PostgreSQL")

OFFICERS = 50
FIRST_USER = 8_100_000
SECRET = "workers-" + "w" * 32
NOW = datetime(2026, 11, 25, 9, 0)  # tests.processes.bot_env pins the workers' clock here
QUESTION = re.compile(r"Câu (\d+)/\d+: (.+)")
LABELS = {q.text("vi"): qid for qid, q in load_form("bdg_report").by_id.items()}
KILL_AT = OFFICERS * 37  # of about OFFICERS * 75 updates
QUIET = 15.0  # seconds without an answer before an officer types /baocao (a loaded CI machine)


@dataclass
class Post:
    update_id: int
    chat_id: int
    body: dict[str, Any]


class Balancer(FakeTelegram):
    """The stand-in with a load balancer in front of the workers: each update goes to a
    worker chosen at random, and is posted again (to another live worker) until one answers
    200. Every message the bot sends or edits is handed to the chat's inbox."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng
        self.loop: asyncio.AbstractEventLoop | None = None
        self.inboxes: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self.workers: list[str] = []
        self.alive: list[bool] = []
        self.client: httpx.AsyncClient | None = None
        self.posts: dict[int, asyncio.Task[None]] = {}
        self.bodies: dict[int, dict[str, Any]] = {}
        self.acked: dict[int, int] = {}  # update id -> the worker that answered 200
        self.acks: Counter[int] = Counter()  # update id -> how many 200s
        self.arrivals: Counter[int] = Counter()  # worker -> updates posted to it
        self.on_post: Callable[[int], None] | None = None
        self.failed_posts = 0  # posts that got no 200 (the killed worker's)
        self.redeliver = 0.1  # share of updates posted a second time (at-least-once)

    def _record_send(self, chat: Any, method: str, message: dict[str, Any]) -> None:
        super()._record_send(chat, method, message)
        inbox = self.inboxes.get(chat.id)
        if self.loop is not None and inbox is not None:
            self.loop.call_soon_threadsafe(inbox.put_nowait, dict(message))

    def _enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_update_id, **update}
        self._next_update_id += 1
        body = dict(update)
        self.bodies[update["update_id"]] = body
        self.posts[update["update_id"]] = asyncio.get_running_loop().create_task(
            self._deliver(body)
        )
        return update

    def _pick(self, avoid: int | None = None) -> int:
        live = [i for i, up in enumerate(self.alive) if up and i != avoid]
        if not live:
            live = [i for i, up in enumerate(self.alive) if up]
        return self.rng.choice(live)

    async def _post(self, worker: int, body: dict[str, Any]) -> bool:  # type: ignore[override]
        assert self.client is not None
        self.arrivals[worker] += 1
        if self.on_post is not None:
            self.on_post(worker)
        try:
            r = await self.client.post(
                self.workers[worker], json=body, headers={SECRET_HEADER: SECRET}
            )
        except httpx.HTTPError:
            self.failed_posts += 1
            return False
        if r.status_code != 200:
            self.failed_posts += 1
            return False
        self.acked[body["update_id"]] = worker
        self.acks[body["update_id"]] += 1
        return True

    async def _deliver(self, body: dict[str, Any]) -> None:
        worker = self._pick()
        for _ in range(50):
            if await self._post(worker, body):
                break
            await asyncio.sleep(0.2)
            worker = self._pick(avoid=worker)
        else:
            return  # never acknowledged: the check of acknowledged updates sees it missing
        if self.rng.random() < self.redeliver:  # Telegram delivers at least once
            await self._post(self._pick(avoid=worker), body)


def question_of(message: dict[str, Any]) -> tuple[int, str] | None:
    """(number, question id) of the question a bot message asks, if it asks one."""
    for line in (message.get("text") or "").splitlines():
        m = QUESTION.match(line)
        if m and m.group(2) in LABELS:
            return int(m.group(1)), LABELS[m.group(2)]
    return None


@dataclass
class Officer:
    tg: Balancer
    user_id: int
    steps: Callable[[], None]
    inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    pushed: list[int] = field(default_factory=list)  # update ids, in the order sent
    resumes: int = 0
    latest: dict[str, Any] = field(default_factory=dict)  # the newest message with buttons

    async def _until(self, after: int, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            message = await asyncio.wait_for(self.inbox.get(), QUIET)
            if keys_of(message):
                self.latest = message
            if message["message_id"] > after and done(message):
                return message

    async def _act(
        self, push: Callable[[], dict[str, Any]], after: int, done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        update = push()
        self.pushed.append(int(update["update_id"]))
        self.steps()
        try:
            answer = await self._until(after, done)
        except TimeoutError:
            answer = None
        await self.tg.posts[int(update["update_id"])]  # the next only after the acknowledgement
        return answer

    async def toggle(self, data: str) -> None:
        """Mark one option of a multiple choice: the question is edited in place (nothing new
        is sent), so wait for the acknowledgement only."""
        update = self.tg.push_callback(self.user_id, self.latest["message_id"], data)
        self.pushed.append(int(update["update_id"]))
        self.steps()
        await self.tg.posts[int(update["update_id"])]

    async def say(self, text: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        mid: list[int] = []

        def push() -> dict[str, Any]:
            update = self.tg.push_message(self.user_id, text)
            mid.append(update["message"]["message_id"])
            return update

        # The officer's own message id is known only after the push; the bot's answer has a
        # larger id, so waiting for anything after the last message seen is the same.
        return await self._act(push, 0, lambda m: m["message_id"] > mid[0] and done(m))

    async def tap(self, data: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        mid = self.latest["message_id"]
        return await self._act(lambda: self.tg.push_callback(self.user_id, mid, data), mid, done)

    async def resume(self) -> dict[str, Any]:
        """No answer came (its worker died after committing): ask where the report is."""
        self.resumes += 1
        for _ in range(5):
            shown = await self.say("/baocao", lambda m: question_of(m) is not None or is_summary(m))
            if shown is not None:
                return shown
        raise AssertionError(f"chat {self.user_id}: /baocao unanswered")


def describe(body: dict[str, Any], worker: int | None) -> str:
    """What an update was, for a failure message (these are test data, not a person's)."""
    if "callback_query" in body:
        what = f"tap {body['callback_query']['data']!r} on {body['callback_query']['message']['message_id']}"
    else:
        what = f"text {body['message'].get('text')!r}"
    return f"{body['update_id']} {what} taken by worker {worker}"


def contains(words: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: words in (m.get("text") or "")


def is_summary(message: dict[str, Any]) -> bool:
    return "submit" in keys_of(message)


def asks(message: dict[str, Any]) -> bool:
    return question_of(message) is not None or is_summary(message)


async def fill_in(officer: Officer, code: str) -> None:
    """Register, then answer every question as ``tests.answers.ANSWERS`` says, then submit."""
    for typed_text, expect in (
        (f"/start {code.replace('-', '')}", "Họ và tên"),
        ("Cán bộ thử", "Chức vụ"),
        ("Công chức", "/baocao"),
    ):
        got = await officer.say(typed_text, contains(expect))
        assert got is not None, f"chat {officer.user_id}: no answer to {typed_text!r}"
    message = await officer.say("/baocao", asks) or await officer.resume()
    while not is_summary(message):
        asked = question_of(message)
        assert asked is not None
        typed, value = ANSWERS[asked[1]]
        keys = keys_of(message)
        answer: dict[str, Any] | None
        if isinstance(value, bool) and "yes" in keys:
            answer = await officer.tap("yes" if value else "no", asks)
        elif isinstance(value, str) and value in keys:
            answer = await officer.tap(value, asks)
        elif isinstance(value, list) and "__done__" in keys:
            for key in value:
                await officer.toggle(key)
            answer = await officer.tap("__done__", asks)
        elif value is None and "__skip__" in keys:
            answer = await officer.tap("__skip__", asks)
        else:
            answer = await officer.say(typed, asks)
        message = answer or await officer.resume()
    done = await officer.tap("submit", contains("Số tham chiếu"))
    if done is None:  # the submission committed, its answer died with the worker
        shown = await officer.say("/baocao", lambda m: bool(m.get("text")))
        assert shown is not None


@pytest.fixture
async def pg() -> AsyncIterator[tuple[Database, dict[str, Any]]]:
    assert PG_URL
    config: dict[str, Any] = {"url": PG_URL, "schema": f"w_{uuid.uuid4().hex[:10]}"}
    database = Database(PG_URL, config["schema"])
    await database.upgrade()
    await flat_province(database, OFFICERS)
    yield database, config
    async with database.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{config["schema"]}" CASCADE'))
    await database.dispose()


async def test_two_serve_workers_share_every_chat_and_survive_a_sigkill(
    pg: tuple[Database, dict[str, Any]], tmp_path: Path
) -> None:
    db, config = pg
    codes = [
        await new_invite(db, commune_code(i), now=to_utc(NOW, "Asia/Ho_Chi_Minh"))
        for i in range(OFFICERS)
    ]
    rng = random.Random(13)
    workers: list[Bot] = []
    with Balancer(rng) as tg:
        tg.loop = asyncio.get_running_loop()
        tg.client = httpx.AsyncClient(timeout=30)
        ports = [free_port(), free_port()]
        for n, port in enumerate(ports):
            env = bot_env(
                config,
                TELEGRAM_BOT_TOKEN=tg.token,
                TELEGRAM_API_URL=tg.url,
                TELEGRAM_WEBHOOK_SECRET=SECRET,
                PUBLIC_URL=f"http://127.0.0.1:{port}",
                BDG_HOST="127.0.0.1",
                BDG_PORT=str(port),
            )
            workers.append(Bot("serve", env, tmp_path / f"worker-{n}.log"))
        try:
            for port, bot in zip(ports, workers, strict=True):
                await bot.wait_healthy(port, 60.0)  # two start at once
            tg.workers = [f"http://127.0.0.1:{p}/telegram/webhook" for p in ports]
            tg.alive = [True, True]

            steps = 0
            killed_at: list[int] = []

            def step() -> None:
                nonlocal steps
                steps += 1

            def kill_in_flight(worker: int) -> None:
                """In the middle, while an update is on its way to worker 1: kill it a few
                milliseconds later (most likely inside that update's transaction)."""
                if worker == 1 and steps >= KILL_AT and not killed_at:
                    killed_at.append(steps)
                    tg.alive[1] = False  # the balancer sends nothing new there
                    asyncio.get_running_loop().call_later(0.005, workers[1].kill)

            tg.on_post = kill_in_flight
            team = []
            for i in range(OFFICERS):
                tg.inboxes[FIRST_USER + i] = asyncio.Queue()
                team.append(Officer(tg, FIRST_USER + i, step, tg.inboxes[FIRST_USER + i]))
            await asyncio.gather(*(fill_in(o, c) for o, c in zip(team, codes, strict=True)))
            await asyncio.gather(*tg.posts.values())
            assert killed_at, f"only {steps} steps: the kill never happened"
            print(
                f"{len(tg.posts)} updates, {steps} steps, posted to the workers {dict(tg.arrivals)},"
                f" {tg.failed_posts} posts failed, {sum(o.resumes for o in team)} /baocao resumes"
            )
            assert tg.arrivals[0] > 100 and tg.arrivals[1] > 100, tg.arrivals

            # Nothing acknowledged lost, nothing applied twice: every update was acknowledged
            # (the balancer posted it again until a worker took it) and each left exactly one
            # processed-update row, the duplicates none.
            all_updates = set(tg.posts)
            assert set(tg.acked) == all_updates, sorted(all_updates - set(tg.acked))[:10]
            assert sum(n > 1 for n in tg.acks.values()) > 50  # redelivered ones were taken
            async with db.session() as s:
                processed = set(
                    (
                        await s.exec(
                            select(ProcessedUpdate.key).where(
                                col(ProcessedUpdate.key).startswith("telegram:")
                            )
                        )
                    ).all()
                )
            configure(CaseConfig(keys=TEST_CASE_KEYS))  # the workers' keys hash the dedupe keys
            digests = {
                dedupe_digest(dedupe_key(Update.de_json(tg.bodies[u], None))): u
                for u in all_updates
            }
            missing = [
                describe(tg.bodies[u], tg.acked.get(u))
                for d, u in digests.items()
                if d not in processed
            ]
            assert missing == [], f"{len(missing)} acknowledged, not applied: {missing[:20]}"
            assert len(processed) == len(all_updates)

            # Every stored report equals what was typed, and was submitted once.
            async with db.session() as s:
                reports = (
                    await s.exec(select(Report, Unit).where(col(Report.unit_id) == Unit.id))
                ).all()
                values = (await s.exec(select(ReportValue))).all()
                accounts = (await s.exec(select(ChannelAccount))).all()
            assert len(accounts) == OFFICERS
            assert len(reports) == OFFICERS
            by_report: dict[int, dict[str, Any]] = {}
            for v in values:
                by_report.setdefault(v.report_id, {})[v.question_id] = v.value
            for report, unit in reports:
                assert report.status == "submitted" and report.version == 1, unit.code
                stored = by_report[report.id or 0]
                assert stored == {q: ANSWERS[q][1] for q in stored}, unit.code
                assert len(stored) > 40, unit.code

            # Every chat's questions came in order: in the order the stand-in received the
            # bot's messages, question numbers never go back, and a question is shown again
            # only when the officer asked for it (/baocao after a lost answer).
            for officer in team:
                shown = [
                    q
                    for m in tg.messages(officer.user_id)
                    if (q := question_of(m)) is not None and m.get("from", {}).get("is_bot")
                ]
                numbers = [n for n, _ in shown]
                assert numbers == sorted(numbers), (officer.user_id, numbers)
                repeats = len(numbers) - len(set(numbers))
                assert repeats <= officer.resumes, (officer.user_id, numbers, officer.resumes)
            assert sum(o.resumes for o in team) < OFFICERS  # the kill cost a few, not all

            assert workers[0].terminate() == 0
            for bot in workers:
                assert "Traceback" not in bot.output(), bot.output()[-3000:]
        finally:
            await tg.client.aclose()
            for bot in workers:
                bot.ensure_dead()
