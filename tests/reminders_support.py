"""Helpers for the reminder tests: a channel that records what it is asked to send and fails
on demand, a small unit tree with officers, and a planner + dispatcher driven by a settable
clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import select

from bot.render import render_plain
from db.engine import Database
from db.models import ChannelAccount, Conversation, Officer, Outbox, Report, Unit
from db.queries import child_path
from kernel.calendar import Calendar, load_calendar
from kernel.clock import to_local
from kernel.messages import Reply
from kernel.settings import SchedulerSettings
from scheduler.dispatcher import DispatchStats, OutboxDispatcher
from scheduler.planner import PlanResult, plan, remember_start_menu, stale_rows
from scheduler.recipients import RecipientCache
from tests.chat import Clock
from tests.conftest import local

TZ = "Asia/Ho_Chi_Minh"


@dataclass
class Sent:
    chat_id: str
    reply: Reply
    at: float  # time.monotonic()
    day: date | None = None  # the local day of the injected clock when sent

    @property
    def plain(self) -> str:
        return render_plain(self.reply)


class FakeChannel:
    """Implements ``kernel.channel.Channel`` for the dispatcher: records sends; ``fail(chat,
    exc, ...)`` makes the next sends to a chat raise; ``fail_any`` the next sends to any chat;
    ``block(chat)`` makes every send to it raise ``Unreachable``."""

    def __init__(self, name: str = "zalo", clock: Clock | None = None) -> None:
        self.name = name
        self.clock = clock
        self.sent: list[Sent] = []
        self.calls = 0
        self.call_times: list[float] = []
        self.stop_after: int | None = None  # then every send hangs (a process about to die)
        self._fail: dict[str, list[BaseException]] = {}
        self._fail_any: list[BaseException] = []
        self._blocked: set[str] = set()

    def fail(self, chat_id: str, *errors: BaseException) -> None:
        self._fail.setdefault(chat_id, []).extend(errors)

    def fail_any(self, *errors: BaseException) -> None:
        self._fail_any.extend(errors)

    def block(self, chat_id: str) -> None:
        self._blocked.add(chat_id)

    async def start(self, *, webhook: bool) -> None:
        return None

    async def run_polling(self, stop: asyncio.Event) -> None:
        return None

    def web_routes(self) -> list[object]:
        return []

    async def stop(self) -> None:
        return None

    async def send(self, chat_id: str, reply: Reply) -> list[str]:
        from kernel.channel import Unreachable

        self.calls += 1
        self.call_times.append(time.monotonic())
        if self.stop_after is not None and len(self.sent) >= self.stop_after:
            await asyncio.Event().wait()
        if self._fail_any:
            raise self._fail_any.pop(0)
        if self._fail.get(chat_id):
            raise self._fail[chat_id].pop(0)
        if chat_id in self._blocked:
            raise Unreachable("403 Forbidden: bot was blocked by the user")
        day = to_local(self.clock(), TZ).date() if self.clock else None
        self.sent.append(Sent(chat_id, reply, time.monotonic(), day))
        return [str(len(self.sent))]

    def to(self, chat_id: str) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]


def fast_settings(**kw: object) -> SchedulerSettings:
    """Quick retries for tests (the defaults wait seconds)."""
    values: dict[str, object] = dict(
        BDG_OUTBOX_BACKOFF=0.01,
        BDG_OUTBOX_BACKOFF_MAX=0.05,
        BDG_RATE_TELEGRAM=1000,
        BDG_RATE_TELEGRAM_CHAT=1000,
        BDG_RATE_ZALO=1000,
        BDG_RATE_ZALO_CHAT=1000,
        BDG_RATE_OTHER=1000,
    )
    values.update(kw)
    return SchedulerSettings(**values)  # type: ignore[arg-type]


@dataclass
class Tree:
    """Province P (not reporting) with communes C1, C2 and district D (not reporting) with
    commune C3; ``officers`` maps a name to (officer id, account chat id)."""

    units: dict[str, Unit] = field(default_factory=dict)
    officers: dict[str, tuple[int, str]] = field(default_factory=dict)


async def add_unit(db: Database, code: str, parent: Unit | None, *, reports: bool = True) -> Unit:
    async with db.session() as s:
        u = Unit(
            code=code,
            name=f"Xã {code}" if reports else f"Đơn vị {code}",
            kind="commune" if reports else "province",
            reports=reports,
            parent_id=parent.id if parent else None,
        )
        s.add(u)
        await s.flush()
        assert u.id is not None
        u.path = child_path(parent, u.id)
    return u


async def add_officer(
    db: Database,
    unit: Unit,
    chat_id: str,
    *,
    channel: str = "zalo",
    role: str = "officer",
    name: str | None = None,
    lang: str = "vi",
) -> int:
    async with db.session() as s:
        o = Officer(
            unit_id=unit.id or 0,
            full_name=name or f"Cán bộ {chat_id}",
            position="Công chức",
            role=role,
        )
        s.add(o)
        await s.flush()
        acc = ChannelAccount(
            channel=channel, user_id=chat_id, chat_id=chat_id, officer_id=o.id, lang=lang
        )
        s.add(acc)
        await s.flush()
        s.add(Conversation(account_id=acc.id or 0, state={}))
        assert o.id is not None
        return o.id


async def build_tree(db: Database) -> Tree:
    tree = Tree()
    p = await add_unit(db, "P", None, reports=False)
    d = await add_unit(db, "D", p, reports=False)
    tree.units = {
        "P": p,
        "D": d,
        "C1": await add_unit(db, "C1", p),
        "C2": await add_unit(db, "C2", p),
        "C3": await add_unit(db, "C3", d),
    }
    for name, unit, channel, role in (
        ("o1", "C1", "zalo", "officer"),
        ("o2", "C2", "telegram", "officer"),
        ("o3", "C3", "zalo", "officer"),
        ("admin_p", "P", "telegram", "admin"),
        ("admin_d", "D", "zalo", "admin"),
    ):
        oid = await add_officer(db, tree.units[unit], name, channel=channel, role=role)
        tree.officers[name] = (oid, name)
    return tree


async def submit(db: Database, unit: Unit, period: str, at: datetime) -> None:
    async with db.session() as s:
        s.add(
            Report(
                unit_id=unit.id or 0,
                period=period,
                form_id="bdg_report",
                status="submitted",
                version=1,
                submitted_at=at,
                created_at=at,
                updated_at=at,
            )
        )


class World:
    """A database, a clock, fake channels, and the planner + dispatcher wired to them."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        cal: Calendar | None = None,
        settings: SchedulerSettings | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.cal = cal or load_calendar()
        self.channels = {
            "zalo": FakeChannel("zalo", clock),
            "telegram": FakeChannel("telegram", clock),
            "terminal": FakeChannel("terminal", clock),
        }
        self.dispatcher = self.new_dispatcher(settings)
        # Kept across ticks as in the service, so every reminder test also checks that the
        # cache sees the officers and accounts changed between ticks.
        self.recipients = RecipientCache()

    def new_dispatcher(self, settings: SchedulerSettings | None = None) -> OutboxDispatcher:
        return OutboxDispatcher(
            self.db,
            dict(self.channels),
            clock=self.clock,  # type: ignore[arg-type]
            settings=settings or fast_settings(),
            stale=stale_rows,
            on_sent=remember_start_menu,
        )

    async def tick(self, iso: str | None = None, *, dry_run: bool = False) -> PlanResult:
        if iso is not None:
            self.clock.set(local(iso))
        async with self.db.session() as s:
            return await plan(
                s, self.clock(), cal=self.cal, tz=TZ, dry_run=dry_run, cache=self.recipients
            )

    async def send(self) -> DispatchStats:
        return await self.dispatcher.run_once()

    def sent(self, chat_id: str) -> list[Sent]:
        return [x for ch in self.channels.values() for x in ch.to(chat_id)]

    async def rows(self) -> list[Outbox]:
        async with self.db.session() as s:
            return list((await s.exec(select(Outbox).order_by(Outbox.id))).all())


def days(*items: str, year: int = 2026) -> list[date]:
    """``days("29/05", "02/06")`` → dates of ``year``; "dd/mm/yyyy" for another year."""
    out = []
    for it in items:
        parts = [int(x) for x in it.split("/")]
        out.append(date(parts[2] if len(parts) == 3 else year, parts[1], parts[0]))
    return out


def each_day(start: date, end: date) -> Iterable[date]:
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)
