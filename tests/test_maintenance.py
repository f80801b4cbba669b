"""The daily maintenance: old update keys, expired unused codes and retention, run by the
scheduler at BDG_MAINTENANCE_HOUR in the process that holds the scheduler lock only."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlmodel import select

from db.engine import Database
from db.linking import LinkCode
from db.models import ChannelAccount, Invite, Officer, ProcessedUpdate
from kernel.settings import SchedulerSettings
from scheduler.maintenance import run_maintenance
from scheduler.service import SchedulerService
from tests.cases_helpers import case_keys  # noqa: F401
from tests.chat import Clock


async def _seed(db: Database, clock: Clock) -> None:
    now = clock()
    async with db.session() as s:
        s.add(ProcessedUpdate(key="old", at=now - timedelta(days=8)))
        s.add(ProcessedUpdate(key="recent", at=now - timedelta(days=2)))
        s.add(Invite(code_hash="a" * 64, unit_id=1, expires_at=now - timedelta(days=1)))
        s.add(Invite(code_hash="b" * 64, unit_id=1, expires_at=now + timedelta(days=3)))
        officer = Officer(unit_id=1, full_name="Lan", position="VH-XH")
        account = ChannelAccount(channel="terminal", user_id="lan", chat_id="lan")
        s.add(officer)
        s.add(account)
        await s.flush()
        assert officer.id is not None and account.id is not None
        s.add(
            Invite(
                code_hash="c" * 64,
                unit_id=1,
                expires_at=now - timedelta(days=1),
                used_at=now - timedelta(days=3),
                used_by=officer.id,
            )
        )
        s.add(
            LinkCode(
                code_hash="d" * 64,
                officer_id=officer.id,
                account_id=account.id,
                expires_at=now - timedelta(minutes=5),
            )
        )


async def test_maintenance_forgets_old_keys_and_expired_codes(
    demo_db: Database, clock: Clock
) -> None:
    await _seed(demo_db, clock)
    result = await run_maintenance(demo_db, clock(), processed_keep_days=7)
    assert (result.updates_forgotten, result.invites_deleted, result.link_codes_deleted) == (
        1,
        1,
        1,
    )
    assert result.failed == [] and result.cases_purged == 0
    async with demo_db.session() as s:
        keys = {p.key for p in (await s.exec(select(ProcessedUpdate))).all()}
        invites = {i.code_hash[0] for i in (await s.exec(select(Invite))).all()}
        assert (await s.exec(select(LinkCode))).first() is None
    # The recent key stays (a redelivery is still refused); a used invite stays (it says who
    # registered with it), a valid one too.
    assert keys == {"recent"} and invites == {"b", "c"}
    again = await run_maintenance(demo_db, clock(), processed_keep_days=7)
    assert (again.updates_forgotten, again.invites_deleted) == (0, 0)


async def test_maintenance_runs_once_across_workers_at_the_configured_hour(
    demo_db: Database, clock: Clock
) -> None:
    settings = SchedulerSettings(_env_file=None, BDG_MAINTENANCE_HOUR=4)  # type: ignore[call-arg]
    first = SchedulerService(demo_db, {}, clock=clock, settings=settings)
    second = SchedulerService(demo_db, {}, clock=clock, settings=settings)
    try:
        await _seed(demo_db, clock)
        assert await first.maintenance() is not None
        assert await second.maintenance() is None  # the other worker holds the lock
        await first.start()
        job = first.scheduler.get_job("maintenance")
        assert job is not None and isinstance(job.trigger, CronTrigger)
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert (fields["hour"], fields["minute"]) == ("4", "5")
    finally:
        await first.stop()
        await second.lock.release()


async def test_maintenance_forgets_the_keyboards_of_chats_idle_for_a_month(
    demo_db: Database, clock: Clock
) -> None:
    """An idle chat's keyboards (and their encrypted question texts) go; its ``newest`` stays,
    so a tap on one of those old buttons is refused as outdated. A chat in use keeps them."""
    from bot.telegram.keyboards import ChatViews, Keyboard

    now = clock()
    old = ChatViews(demo_db, cache=False, clock=lambda: now - timedelta(days=31))
    recent = ChatViews(demo_db, cache=False, clock=lambda: now - timedelta(days=2))
    await old.add(501, 40, [Keyboard(40, "Câu cũ?", [("yes", "Có"), ("no", "Không")])])
    await recent.add(502, 7, [Keyboard(7, "Câu mới?", [("yes", "Có"), ("no", "Không")])])
    result = await run_maintenance(demo_db, now)
    assert result.keyboards_forgotten == 1 and result.failed == []
    views = ChatViews(demo_db, cache=False)
    idle, used = await views.get(501), await views.get(502)
    assert idle is not None and idle.keyboards == {} and idle.newest == 40
    assert used is not None and list(used.keyboards) == [7]
    again = await run_maintenance(demo_db, now)
    assert again.keyboards_forgotten == 0
