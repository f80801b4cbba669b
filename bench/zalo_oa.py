"""Zalo OA fan-out figures: N reminders to N OA followers through the real outbox dispatcher
and ``ZaloOAChannel.send_outbox`` against the loopback OA stand-in (tests/fakes/zalo_oa.py).

Half the recipients wrote within the consultation window; of the other half, 80% still follow
the OA (a transaction template reaches them), 10% unfollowed but gave a phone number with
consent (ZNS), and 10% unfollowed without one (unreachable: marked, and in the digest). The
access token is expired by the stand-in a third of the way through, so one refresh happens
in the middle. Prints how many went as consultation / transaction / ZNS messages, how many
were unreachable, duplicates and losses, the OAuth calls, and the achieved rate against the
configured limit (and the highest count in any 1-second window).

    .venv/bin/python bench/zalo_oa.py                    # 2,000 at 100/s
    .venv/bin/python bench/zalo_oa.py --count 2000 --rate 10

No assertions: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import col, select  # noqa: E402

from bot.app import App  # noqa: E402
from bot.zalo_oa.channel import ZaloOAChannel  # noqa: E402
from db.crypto import Keyring, new_key_spec  # noqa: E402
from db.engine import Database  # noqa: E402
from db.models import ChannelAccount, Officer, Outbox, Unit  # noqa: E402
from db.outbox import enqueue_many, new_row  # noqa: E402
from db.units import seed_demo  # noqa: E402
from db.zalo_oa import ZaloOAUser  # noqa: E402
from handlers.dispatch import Dispatcher  # noqa: E402
from kernel.clock import utcnow  # noqa: E402
from kernel.settings import SchedulerSettings, Services, Settings, ZaloOASettings  # noqa: E402
from scheduler.dispatcher import OutboxDispatcher  # noqa: E402
from tests.fakes.zalo_oa import FakeZaloOA  # noqa: E402

TEMPLATE, ZNS = "tpl-bench", "zns-bench"


async def setup(db: Database, oa: FakeZaloOA, n: int, keyring: Keyring) -> dict[str, str]:
    """N officers with an OA account each; returns user id → expected route."""
    now = utcnow()
    expected: dict[str, str] = {}
    async with db.session() as s:
        await seed_demo(s)
        unit = (await s.exec(select(Unit).where(col(Unit.code) == "28303"))).one()
        accounts = []
        for i in range(n):
            user = f"88{i:014d}"
            officer = Officer(unit_id=unit.id or 0, full_name=f"Cán bộ {i}", position="CC")
            s.add(officer)
            await s.flush()
            acc = ChannelAccount(
                channel="zalo_oa", user_id=user, chat_id=user, officer_id=officer.id
            )
            s.add(acc)
            accounts.append(acc)
            if i % 2 == 0:
                route, ago = "cs", 1.0
            elif i % 20 == 1:
                route, ago = "zns", 72.0
            elif i % 20 == 3:
                route, ago = "unreachable", 72.0
            else:
                route, ago = "transaction", 72.0
            expected[user] = route
            phone = None
            if route == "zns":
                phone = keyring.encrypt(f"849{i:08d}", f"zalooauser:{user}")
            s.add(
                ZaloOAUser(
                    user_id=user,
                    last_interaction_at=now - timedelta(hours=ago),
                    followed=route in ("cs", "transaction"),
                    phone=phone,
                    zns_consent=phone is not None,
                )
            )
            oa.interact(user, ago=ago * 3600)
            if route in ("zns", "unreachable"):
                oa.unfollow(user)
        await s.flush()
        rows = [
            new_row(
                key=f"remind:2026:2026-12-01:acc:{acc.id}",
                kind="reminder",
                channel="zalo_oa",
                chat_id=acc.chat_id,
                account_id=acc.id,
                unit_id=unit.id,
                batch="remind:2026:2026-12-01",
                text="Nhắc: hạn nộp báo cáo năm 2026 là 07/12/2026.",
                now=now,
            )
            for acc in accounts
        ]
        await enqueue_many(s, rows)
    return expected


async def run(n: int, rate: float) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, FakeZaloOA() as oa:
        oa.approved, oa.approved_zns = {TEMPLATE}, {ZNS}
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}")
        await db.upgrade()
        keyring = Keyring.parse(new_key_spec("b1"))
        expected = await setup(db, oa, n, keyring)
        settings = Settings(
            zalo_oa=ZaloOASettings(
                ZALO_OA_APP_ID=oa.app_id,
                ZALO_OA_SECRET_KEY=oa.secret_key,
                ZALO_OA_REFRESH_TOKEN=oa.issue_refresh_token(),
                ZALO_OA_API_URL=oa.url,
                ZALO_OA_OAUTH_URL=oa.url,
                ZALO_OA_ZNS_URL=oa.url,
                ZALO_OA_TRANSACTION_TEMPLATE=TEMPLATE,
                ZALO_OA_ZNS_TEMPLATE=ZNS,
            ),
            DATABASE_URL=db.url,
        )
        app = App(settings, db, Dispatcher(db, Services()), utcnow)
        channel = ZaloOAChannel(app, keyring=keyring)
        await channel.start(webhook=True)
        sched = SchedulerSettings(BDG_RATE_ZALO_OA=rate, BDG_RATE_ZALO_OA_CHAT=1)
        outbox = OutboxDispatcher(db, {"zalo_oa": channel}, settings=sched)

        async def expire_later() -> None:
            while len(oa.sent) < n // 3:  # noqa: ASYNC110 - the stand-in runs in a thread
                await asyncio.sleep(0.01)
            oa.expire_access_tokens()

        expirer = asyncio.create_task(expire_later())
        started = time.monotonic()
        stats = await outbox.run_once()
        elapsed = time.monotonic() - started
        expirer.cancel()
        await channel.stop()

        async with db.session() as s:
            statuses = Counter((await s.exec(select(Outbox.status))).all())
            unreachable = len(
                (await s.exec(select(ChannelAccount).where(col(ChannelAccount.unreachable)))).all()
            )
        kinds = Counter(m.kind for m in oa.sent)
        per_recipient = Counter(m.to for m in oa.sent)
        duplicates = sum(c - 1 for c in per_recipient.values() if c > 1)
        want = Counter(expected.values())
        times = sorted(m.time for m in oa.sent)
        span = (times[-1] - times[0]) if len(times) > 1 else 0.0
        window = max(
            (sum(1 for x in times[i:] if x - t0 < 1.0) for i, t0 in enumerate(times)), default=0
        )
        await db.dispose()

    print(
        f"fan-out of {n} reminders, half outside the {settings.zalo_oa.window_hours:.0f} h window"
    )
    print(f"  consultation : {kinds['cs']:5d}  (expected {want['cs']})")
    print(f"  transaction  : {kinds['transaction']:5d}  (expected {want['transaction']})")
    print(f"  ZNS by phone : {kinds['zns']:5d}  (expected {want['zns']})")
    print(
        f"  unreachable  : {stats.unreachable:5d}  (expected {want['unreachable']}; "
        f"accounts marked {unreachable})"
    )
    print(f"  outbox rows  : {dict(statuses)}")
    print(f"  duplicates   : {duplicates}   lost: {n - stats.unreachable - len(oa.sent)}")
    print(
        f"  OAuth calls  : {len(oa.token_calls)} ({sum(c.ok for c in oa.token_calls)} ok)"
        f"; tokens used: {len({m.access_token for m in oa.sent})}"
    )
    print(f"  elapsed      : {elapsed:.1f} s; sending span {span:.1f} s")
    if span:
        print(
            f"  rate         : {(len(times) - 1) / span:.1f}/s against the limit {rate:.0f}/s"
            f" ({(len(times) - 1) / span / rate:.0%}); busiest 1-s window {window}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=100.0)
    args = ap.parse_args()
    asyncio.run(run(args.count, args.rate))


if __name__ == "__main__":
    main()
