"""Reminder figures: the planner at national scale, and the outbox dispatcher against the
Telegram stand-in.

**Plan**: 34 provinces, 3,321 communes with 3 officers each (half on Telegram, half on Zalo)
and an admin per province; two provinces have a deadline override. The planner ticks every
15 minutes through a whole year (35,040 ticks); communes submit as the year goes (60% on the
deadline, 30% ten days later, 10% never). Prints the time per tick: all ticks, idle ticks
(nothing due that day), the first tick of a busy day (which writes the day's rows) and the
repeat ticks of a busy day (which find everything planned already). The planner keeps its
recipients between ticks (``scheduler.recipients.RecipientCache``), as the service does.

**Dispatch**: N reminders to N Telegram chats through the real ``TelegramChannel.send`` and
the stand-in Bot API (``tests/fakes/telegram_api.py``), which itself answers 429 to anything
over 30 messages/s overall or 1/s per chat. Prints the achieved rate as a fraction of the
30/s limit, the highest count in any 1-second window, duplicates, losses, and the stand-in's
own 429s; then again with 5% injected 429s (retry_after 1 s), once at the default settings
(a 429 pauses the chat it names) and once pausing the whole channel on every 429
(``BDG_RETRY_AFTER_SCOPE=channel``, python-telegram-bot's way). ``--margin`` sets
``BDG_RATE_MARGIN``; the channel counts its messages in the budget as in production.

    .venv/bin/python bench/reminders.py                       # plan on SQLite + dispatch 600
    .venv/bin/python bench/reminders.py --count 10000         # the full 10,000 (~6 min each)
    .venv/bin/python bench/reminders.py --only plan --days 60 --step 60
    BDG_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/reminders.py

No assertions: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text  # noqa: E402

from db.engine import Database  # noqa: E402
from db.models import ChannelAccount, Conversation, Officer, Report, Unit  # noqa: E402
from db.schedule import DeadlineOverride  # noqa: E402
from kernel.calendar import load_calendar  # noqa: E402
from kernel.clock import to_utc  # noqa: E402
from scheduler.planner import plan  # noqa: E402
from scheduler.recipients import RecipientCache  # noqa: E402

TZ = "Asia/Ho_Chi_Minh"
PROVINCES = 34
COMMUNES = 3321
OFFICERS_PER_COMMUNE = 3


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ms(values: list[float]) -> str:
    if not values:
        return "n=0"
    return (
        f"n={len(values):>6}  mean {statistics.mean(values) * 1000:8.2f} ms  "
        f"p50 {pct(values, 0.5) * 1000:8.2f}  p99 {pct(values, 0.99) * 1000:8.2f}  "
        f"max {max(values) * 1000:8.2f}"
    )


# -- plan ----------------------------------------------------------------------------------


async def populate(db: Database) -> list[int]:
    """The nation: returns the commune ids."""
    units: list[dict[str, Any]] = []
    communes: list[int] = []
    uid = 0
    per = [COMMUNES // PROVINCES + (1 if i < COMMUNES % PROVINCES else 0) for i in range(PROVINCES)]
    for p in range(PROVINCES):
        uid += 1
        pid = uid
        units.append(
            dict(
                id=pid,
                code=f"P{p:02d}",
                name=f"Tỉnh {p}",
                kind="province",
                parent_id=None,
                path=f"/{pid}/",
                reports=False,
            )
        )
        for c in range(per[p]):
            uid += 1
            units.append(
                dict(
                    id=uid,
                    code=f"P{p:02d}-{c:03d}",
                    name=f"Xã {p}-{c}",
                    kind="commune",
                    parent_id=pid,
                    path=f"/{pid}/{uid}/",
                    reports=True,
                )
            )
            communes.append(uid)
    officers: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []
    convs: list[dict[str, Any]] = []
    oid = 0
    now = datetime(2026, 1, 1, tzinfo=to_utc(datetime(2026, 1, 1), TZ).tzinfo)

    def officer(unit_id: int, role: str) -> None:
        nonlocal oid
        oid += 1
        officers.append(
            dict(
                id=oid,
                unit_id=unit_id,
                full_name=f"Cán bộ {oid}",
                position="Công chức",
                role=role,
                active=True,
                mute_action_months=oid % 10 == 0,
                created_at=now,
            )
        )
        channel = "telegram" if oid % 2 else "zalo"
        accounts.append(
            dict(
                id=oid,
                channel=channel,
                user_id=str(oid),
                chat_id=str(oid),
                officer_id=oid,
                lang="vi",
                unreachable=False,
                created_at=now,
            )
        )
        convs.append(dict(account_id=oid, flow=None, state={}, updated_at=now))

    for u in units:
        if u["reports"]:
            for _ in range(OFFICERS_PER_COMMUNE):
                officer(u["id"], "officer")
        else:
            officer(u["id"], "admin")
    async with db.session() as s:
        for table, rows in (
            (Unit, units),
            (Officer, officers),
            (ChannelAccount, accounts),
            (Conversation, convs),
        ):
            for i in range(0, len(rows), 2000):
                await s.exec(insert(table), params=rows[i : i + 2000])
        for pid, due in ((1, date(2026, 11, 27)), (2, date(2026, 11, 30))):
            s.add(
                DeadlineOverride(
                    unit_id=pid, year=2026, kind="annual", due=due, reason="bench", created_at=now
                )
            )
    return communes


async def bench_plan(url: str, schema: str | None, days: int, step: int, first_day: date) -> None:
    db = Database(url, schema)
    await db.upgrade()
    t0 = time.perf_counter()
    communes = await populate(db)
    print(
        f"  populated {len(communes)} communes, {len(communes) * OFFICERS_PER_COMMUNE} "
        f"officers in {time.perf_counter() - t0:.1f} s"
    )
    cal = load_calendar()
    rng = random.Random(5)
    # Who submits when: 60% on the due day at noon, 30% ten days later, 10% never.
    submissions: dict[date, list[tuple[int, str]]] = {}
    for year in (2026,):
        for p in cal.periods(year):
            order = communes[:]
            rng.shuffle(order)
            a, b = int(0.6 * len(order)), int(0.9 * len(order))
            submissions.setdefault(p.due, []).extend((u, p.period) for u in order[:a])
            submissions.setdefault(p.due + timedelta(days=10), []).extend(
                (u, p.period) for u in order[a:b]
            )
    idle: list[float] = []
    first: list[float] = []
    repeat: list[float] = []
    everything: list[float] = []
    written = 0
    start = datetime.combine(first_day, datetime.min.time())
    busy_days = 0
    cache = RecipientCache()  # as the planning service keeps it between ticks
    for d in range(days):
        day = (start + timedelta(days=d)).date()
        wrote_today = False
        for minute in range(0, 24 * 60, step):
            local = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
            now = to_utc(local, TZ)
            if minute == 12 * 60 and day in submissions:
                async with db.session() as s:
                    rows = [
                        dict(
                            unit_id=u,
                            period=pid,
                            form_id="bdg_report",
                            status="submitted",
                            version=1,
                            created_at=now,
                            updated_at=now,
                            submitted_at=now,
                        )
                        for u, pid in submissions[day]
                    ]
                    for i in range(0, len(rows), 2000):
                        await s.exec(insert(Report), params=rows[i : i + 2000])
            t = time.perf_counter()
            async with db.session() as s:
                result = await plan(s, now, cal=cal, tz=TZ, cache=cache)
            dt = time.perf_counter() - t
            everything.append(dt)
            written += result.written
            if result.written:
                first.append(dt)
                wrote_today = True
            elif result.idle:
                idle.append(dt)
            else:
                repeat.append(dt)
        busy_days += wrote_today
        if (day + timedelta(days=1)).day == 1:
            print(f"    … {day:%m/%Y}: {len(everything)} ticks, {written} rows", file=sys.stderr)
    print(
        f"  {len(everything)} ticks over {days} days (every {step} min), {busy_days} days "
        f"with messages, {written} outbox rows written, {sum(everything):.1f} s in the planner"
    )
    print(f"  all ticks          {ms(everything)}")
    print(f"  idle ticks         {ms(idle)}")
    print(f"  first busy tick    {ms(first)}")
    print(f"  repeat busy ticks  {ms(repeat)}")
    if schema:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await db.dispose()


# -- dispatch ------------------------------------------------------------------------------


async def bench_dispatch(
    count: int, inject_every: int, scope: str, use_fake: bool, margin: float | None = None
) -> None:
    from bot.app import App
    from db.outbox import enqueue_many, new_row
    from handlers.dispatch import Dispatcher
    from kernel.settings import SchedulerSettings, Settings
    from scheduler.dispatcher import OutboxDispatcher
    from tests.fakes.telegram_api import FakeTelegram

    tmp = tempfile.mkdtemp()
    db = Database(f"sqlite+aiosqlite:///{tmp}/dispatch.sqlite3")
    await db.upgrade()
    now = to_utc(datetime(2026, 12, 4, 8, 0), TZ)
    chats = [100000 + i for i in range(count)]
    async with db.session() as s:
        await s.exec(
            insert(ChannelAccount),
            params=[
                dict(
                    id=i + 1,
                    channel="telegram",
                    user_id=str(c),
                    chat_id=str(c),
                    lang="vi",
                    unreachable=False,
                    created_at=now,
                )
                for i, c in enumerate(chats)
            ],
        )
        await enqueue_many(
            s,
            [
                new_row(
                    key=f"bench:{c}",
                    kind="reminder",
                    channel="telegram",
                    chat_id=str(c),
                    text=f"⏰ <b>Nhắc hạn nộp báo cáo</b> — {c}",
                    now=now,
                    account_id=i + 1,
                    batch="bench",
                )
                for i, c in enumerate(chats)
            ],
        )
    values: dict[str, Any] = {"BDG_RETRY_AFTER_SCOPE": scope}
    if margin is not None:
        values["BDG_RATE_MARGIN"] = margin
    settings = SchedulerSettings(**values)
    with FakeTelegram() as tg:
        for c in chats:
            tg.register_chat(c, first_name="Cán bộ")
        tg.set_rate_limit(per_chat=(1, 1.0), overall=(30, 1.0), retry_after=1)
        if use_fake:
            channel: Any = ProtocolFake()
        else:
            from bot.telegram.channel import TelegramChannel

            app = App(
                Settings(TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.url),  # type: ignore[call-arg]
                db,
                Dispatcher(db),
                lambda: now,
            )
            channel = TelegramChannel(app)
        injected = 0
        settings_margin = settings.rate_margin

        async def inject() -> None:
            nonlocal injected
            if not inject_every:
                return
            while True:
                sent = len(tg.send_times()) if not use_fake else len(channel.times)
                if sent >= (injected + 1) * inject_every:
                    if use_fake:
                        channel.fail_next += 1
                    else:
                        tg.inject("sendMessage", status=429, retry_after=1)
                    injected += 1
                await asyncio.sleep(0.002)

        injector = asyncio.create_task(inject())
        dispatcher = OutboxDispatcher(
            db, {"telegram": channel}, clock=lambda: now, settings=settings
        )
        t0 = time.perf_counter()
        stats = await dispatcher.run_once()
        elapsed = time.perf_counter() - t0
        injector.cancel()
        if use_fake:
            times = sorted(channel.times)
            delivered = Counter(channel.texts)
            answers_429 = injected
            max_window = max_in_window(times)
        else:
            await channel.stop()
            calls = tg.calls_to("sendMessage")
            times = sorted(tg.send_times())
            delivered = Counter(c.response["result"]["text"] for c in calls if c.ok)
            answers_429 = sum(1 for c in calls if c.status == 429)
            max_window = tg.max_send_rate()
    expected = {f"⏰ Nhắc hạn nộp báo cáo — {c}" for c in chats}
    span = (times[-1] - times[0]) if len(times) > 1 else 1.0
    rate = (len(times) - 1) / span if len(times) > 1 else 0.0
    print(
        f"  {count} messages, 429 injected every {inject_every or '—'} sends "
        f"({injected} injected), pause scope {scope}, margin {settings_margin}:\n"
        f"    {elapsed:6.1f} s, achieved {rate:5.2f} msg/s = {rate / 30:.3f} of the 30/s limit; "
        f"max in any 1 s window {max_window}; sent {stats.sent}, failed {stats.failed}, "
        f"duplicates {sum(1 for v in delivered.values() if v > 1)}, "
        f"losses {len(expected - set(delivered))}; 429 answers {answers_429} "
        f"(injections queued {injected}: any excess is the stand-in's own limit)"
    )
    await db.dispose()


def max_in_window(times: list[float], window: float = 1.0) -> int:
    best, start = 0, 0
    for end, current in enumerate(times):
        while current - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class ProtocolFake:
    """Used only when bot/telegram/channel.py is missing: 5 ms per send, 429 on demand."""

    name = "telegram"

    def __init__(self) -> None:
        self.times: list[float] = []
        self.texts: list[str] = []
        self.fail_next = 0

    async def send(self, chat_id: str, reply: Any) -> list[str]:
        from bot.render import to_plain
        from kernel.channel import RetryLater

        await asyncio.sleep(0.005)
        if self.fail_next:
            self.fail_next -= 1
            raise RetryLater(1.0, "429")
        self.times.append(time.monotonic())
        self.texts.append(to_plain(reply.text))
        return [str(len(self.times))]

    async def stop(self) -> None:
        return None


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", choices=("plan", "dispatch"), default=None)
    ap.add_argument("--days", type=int, default=365, help="days of ticks (plan)")
    ap.add_argument("--step", type=int, default=15, help="minutes between ticks (plan)")
    ap.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 1), help="first day")
    ap.add_argument("--count", type=int, default=600, help="messages to dispatch")
    ap.add_argument("--margin", type=float, default=None, help="BDG_RATE_MARGIN (dispatch)")
    ap.add_argument("--only-429", action="store_true", help="dispatch: only the 5%% 429 runs")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bdg.outbox").setLevel(logging.ERROR)
    logging.getLogger("telegram").setLevel(logging.CRITICAL)
    if args.only in (None, "plan"):
        tmp = tempfile.mkdtemp()
        print(f"Planner, SQLite ({COMMUNES} communes × {OFFICERS_PER_COMMUNE} officers):")
        await bench_plan(
            f"sqlite+aiosqlite:///{tmp}/plan.sqlite3", None, args.days, args.step, args.start
        )
        pg = os.environ.get("BDG_BENCH_PG_URL")
        if pg:
            print("Planner, PostgreSQL:")
            await bench_plan(pg, f"bench_{uuid.uuid4().hex[:8]}", args.days, args.step, args.start)
    if args.only in (None, "dispatch"):
        try:
            import bot.telegram.channel  # noqa: F401

            use_fake = False
            print("Dispatch through TelegramChannel.send and the Telegram stand-in:")
        except ImportError as exc:
            use_fake = True
            print(
                f"Dispatch (bot.telegram.channel not importable: {exc!r}; "
                "a protocol fake with 5 ms sends instead):"
            )
        if not args.only_429:
            await bench_dispatch(args.count, 0, "chat", use_fake, args.margin)
        await bench_dispatch(args.count, 20, "chat", use_fake, args.margin)  # the default
        if not args.only_429:
            await bench_dispatch(args.count, 20, "channel", use_fake, args.margin)
        if args.count < 10000:
            print(
                "  (the full run: .venv/bin/python bench/reminders.py --only dispatch "
                "--count 10000)"
            )


if __name__ == "__main__":
    asyncio.run(main())
