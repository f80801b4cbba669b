"""Case alert figures (issue 11): how long from the answer that makes a case urgent with a
place ("danger now" + the commune) to the first alert leaving the outbox, and how many
intakes reached nobody.

Set-up: the demo province on a temporary SQLite file; the standing agency has one admin
(on Zalo); half the communes have a duty roster line (the commune police, a bot user on
Zalo); the other half have nobody but the agency above them. The real message dispatcher
(``handlers.dispatch.Dispatcher``) takes each intake — ``/baovuviec``, ``1`` (danger now),
the commune's code — and the real outbox dispatcher (``scheduler.dispatcher``) runs in the
same event loop with a recording Zalo channel. Intakes run one after another, each waiting
for its first alert, so the figure is the latency of one intake, not of a queue.

"Time to the first alert" = the moment the channel's ``send`` is called for the first alert
of the case minus the moment the place answer was handed to the dispatcher. The outbox
dispatcher wakes every ``BDG_OUTBOX_POLL`` seconds (default 2) or when woken; the intake
does not wake it, so the poll interval dominates — ``--poll`` shows the effect.

    .venv/bin/python bench/case_alerts.py                # 200 intakes, poll 2 s
    .venv/bin/python bench/case_alerts.py --poll 0.2     # a shorter poll

No assertions: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import select  # noqa: E402

from db import cases as store  # noqa: E402
from db import queries  # noqa: E402
from db.crypto import new_key_spec  # noqa: E402
from db.engine import Database  # noqa: E402
from db.models import ChannelAccount, Officer, Unit  # noqa: E402
from db.units import seed_demo  # noqa: E402
from handlers.dispatch import Dispatcher  # noqa: E402
from kernel.messages import Incoming, Reply  # noqa: E402
from kernel.settings import SchedulerSettings, Services  # noqa: E402
from scheduler.dispatcher import OutboxDispatcher  # noqa: E402
from services.cases.config import CaseConfig, configure  # noqa: E402
from services.cases.duty import DutySpec, add_entry  # noqa: E402
from services.cases.parsers import parse_code  # noqa: E402
from services.cases.routing import reach  # noqa: E402


class RecordingZalo:
    name = "zalo"

    def __init__(self) -> None:
        self.first: dict[str, float] = {}  # case code → first send (monotonic)

    async def start(self, *, webhook: bool) -> None:
        return None

    async def run_polling(self, stop: asyncio.Event) -> None:
        await stop.wait()

    def web_routes(self) -> list[object]:
        return []

    async def send(self, chat_id: str, reply: Reply) -> list[str]:
        for word in reply.text.replace("<b>", " ").replace("</b>", " ").split():
            code = parse_code(word)
            if code is not None:
                self.first.setdefault(code, time.monotonic())
        return ["1"]

    async def stop(self) -> None:
        return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def setup(db: Database) -> list[str]:
    """The agency admin, a police roster line in every other commune; returns the commune
    codes."""
    async with db.session() as s:
        await seed_demo(s)
        agency = await queries.unit_by_code(s, "42-SNV")
        assert agency is not None and agency.parent_id is not None
        admin = Officer(
            unit_id=agency.id or 0,
            full_name="Agency",
            position="x",
            role="admin",
            scope_unit_id=agency.parent_id,
        )
        s.add(admin)
        await s.flush()
        s.add(
            ChannelAccount(channel="zalo", user_id="agency", chat_id="agency", officer_id=admin.id)
        )
        communes = (
            await s.exec(select(Unit).where(Unit.kind.in_(["commune", "ward"])).order_by(Unit.code))  # type: ignore[attr-defined]
        ).all()
        for i, unit in enumerate(communes):
            if i % 2:
                continue
            police = Officer(unit_id=unit.id or 0, full_name=f"P{i}", position="CA")
            s.add(police)
            await s.flush()
            s.add(
                ChannelAccount(
                    channel="zalo", user_id=f"p{i}", chat_id=f"p{i}", officer_id=police.id
                )
            )
            await add_entry(s, unit, DutySpec("police", "any", police.id))
        return [u.code for u in communes]


async def main(count: int, poll: float, no_wakeup: bool = False) -> None:
    logging.basicConfig(level=logging.WARNING)
    configure(CaseConfig(keys=new_key_spec("b1")))
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/bench.sqlite3")
        await db.upgrade()
        communes = await setup(db)
        dispatcher = Dispatcher(db, Services())
        zalo = RecordingZalo()
        settings = SchedulerSettings.model_validate(
            {"BDG_OUTBOX_POLL": poll, "BDG_RATE_ZALO_CHAT": 1000, "BDG_RATE_ZALO": 1000}
        )
        outbox = OutboxDispatcher(db, {"zalo": zalo}, settings=settings)  # type: ignore[dict-item]
        if not no_wakeup:
            # As bot.runner wires it: a commit that wrote outbox rows wakes the dispatcher.
            dispatcher.outbox_written = outbox.wakeup.set
        stop = asyncio.Event()
        task = asyncio.create_task(outbox.run(stop))
        latencies: list[float] = []
        nobody = 0
        missing = 0
        for i in range(count):
            user = f"r{i}"
            commune = communes[i % len(communes)]

            async def say(text: str, user: str = user) -> None:
                await dispatcher.handle(
                    Incoming(channel="terminal", chat_id=user, user_id=user, text=text, lang="vi")
                )

            await say("/baovuviec")
            await say("1")
            t0 = time.monotonic()
            await say(commune)
            async with db.session() as s:
                case = (
                    await s.exec(select(store.Case).order_by(store.Case.id.desc()).limit(1))  # type: ignore[union-attr]
                ).one()
                told = await reach(s, case)
            code = case.code or ""
            if told.nobody:
                nobody += 1
                continue
            deadline = time.monotonic() + max(10.0, poll * 3)
            while code not in zalo.first and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            if code in zalo.first:
                latencies.append(zalo.first[code] - t0)
            else:
                missing += 1
        stop.set()
        await task
        await db.dispose()
    ms = [x * 1000 for x in latencies]
    print(
        f"intakes: {count}; wake-up on commit {'off' if no_wakeup else 'on'}; outbox poll {poll} s (SQLite, one process)"
    )
    print(
        f"time from 'danger now + place' to the first alert leaving the outbox: "
        f"p50 {pct(ms, 0.5):.0f} ms, p99 {pct(ms, 0.99):.0f} ms, max {max(ms):.0f} ms, "
        f"mean {statistics.mean(ms):.0f} ms"
    )
    print(f"intakes that reached nobody: {nobody}; alerts not sent within the wait: {missing}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument(
        "--no-wakeup", action="store_true", help="measure without the commit wake-up (poll only)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.count, args.poll, args.no_wakeup))
