"""Escalation cannot be switched off by a rename (issue 11): start the real scheduler the way
``bdg run`` does (``bot.runner.start_scheduler`` with the composition root's jobs) and check
that the case escalation is among its urgent jobs and really escalates an overdue case."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from bot.app import open_app
from bot.runner import start_scheduler
from db import queries
from db.cases import NEW, Case
from db.models import ChannelAccount, Officer, Outbox
from db.units import seed_demo
from kernel.settings import SchedulerSettings, Settings
from scheduler.service import SchedulerService
from services.cases.routing import escalate_due
from tests.cases_helpers import case_keys  # noqa: F401  (autouse fixture)


async def test_bdg_run_starts_the_escalation_job(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite3'}",
            "BDG_FAKE_NOW": "2026-11-25T09:00",
        }
    )
    settings.scheduler = SchedulerSettings.model_validate(
        {"BDG_SCHEDULER": True, "BDG_URGENT_TICK_SECONDS": 3600, "BDG_PLANNER_MINUTES": 30}
    )
    app = await open_app(settings)
    try:
        async with app.db.session() as s:
            await seed_demo(s)
            commune = await queries.unit_by_code(s, "28303")
            province = await queries.unit_by_code(s, "42")
            assert commune is not None and province is not None
            admin = Officer(unit_id=province.id or 0, full_name="A", position="p", role="admin")
            s.add(admin)
            await s.flush()
            s.add(ChannelAccount(channel="zalo", user_id="a", chat_id="a", officer_id=admin.id))
            now = app.clock()
            s.add(
                Case(
                    code="VV-2026-000001",
                    status=NEW,
                    unit_id=commune.id,
                    urgent=True,
                    danger_now=True,
                    alerted_at=now - timedelta(hours=2),
                    submitted_at=now - timedelta(hours=2),
                )
            )
        stop = await start_scheduler(app, {})
        service = getattr(stop, "__self__", None)
        try:
            assert isinstance(service, SchedulerService), "bdg run starts no scheduler"
            assert escalate_due in service.urgent_jobs, "case escalation is not scheduled"
            assert service.scheduler.get_job("urgent") is not None
            assert await service.urgent() >= 1  # the overdue case went up to the province
        finally:
            await stop()
        async with app.db.session() as s:
            rows = (
                await s.exec(select(Outbox).where(Outbox.kind == "case").order_by(col(Outbox.id)))
            ).all()
        assert [r.key.split(":")[2] for r in rows] == ["esc1"]
    finally:
        await app.db.dispose()
