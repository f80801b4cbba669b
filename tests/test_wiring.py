"""The composition root and the router: features are registered explicitly, roles declared
on commands are enforced in one place, every refusal is audited, and the scheduler's urgent
jobs are the functions themselves."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import select

from bot.app import URGENT_JOBS
from db.engine import Database
from db.models import AuditLog
from db.outbox import enqueue
from handlers.context import Ctx
from handlers.dispatch import Dispatcher
from handlers.features import FEATURES, build_router
from handlers.router import ADMIN, OFFICER, PUBLIC, Deps, Router, Routes
from kernel.messages import Incoming
from kernel.settings import Services
from services.cases.routing import escalate_due
from tests.chat import Chat, Clock

NEED_OFFICER = "Lệnh này dành cho cán bộ đã đăng ký."
NOT_ADMIN = "Lệnh này chỉ dành cho cán bộ quản trị"


def test_every_feature_registers_and_the_router_has_the_known_commands() -> None:
    router = build_router(Deps())
    for name in ("start", "baocao", "lich", "trangthai", "baovuviec", "xoa", "vuviec", "moi"):
        assert name in router.commands, name
    assert {"report", "case"} <= set(router.flows)
    assert [m.key for m in router.menu] == ["menu:case", "menu:officer"]
    assert router.suggesters, "the cases feature offers its counts to the report"
    assert router.welcome_hooks, "the cases feature leads a frightened newcomer's welcome"
    # /lich carries the admin desk's overrides as an explicit follow-up.
    assert router.commands["lich"].followups
    assert len(FEATURES) == len(set(FEATURES))


def test_a_follow_up_on_a_missing_command_fails_at_start() -> None:
    async def after(_ctx: object, _args: str) -> None:
        return None

    with pytest.raises(LookupError):
        Router().follow("lich", after)  # type: ignore[arg-type]


def test_a_name_registered_twice_fails_at_start() -> None:
    first, second = Routes(), Routes()

    async def handler(_ctx: object, _args: str) -> None:
        return None

    first.command("x", roles=(PUBLIC,))(handler)  # type: ignore[arg-type]
    second.command("y", aliases=("x",), roles=(PUBLIC,))(handler)  # type: ignore[arg-type]
    router = Router()
    router.include(first)
    with pytest.raises(ValueError, match="twice"):
        router.include(second)


def test_unknown_roles_are_refused_when_declared() -> None:
    with pytest.raises(ValueError):
        Routes().command("x", roles=("superuser",))


def test_the_escalation_job_is_wired_by_reference() -> None:
    assert escalate_due in URGENT_JOBS


def _commands_for(roles: set[str]) -> list[str]:
    router = build_router(Deps())
    seen = {}
    for cmd in router.commands.values():
        if not set(cmd.roles) & roles:
            seen[cmd.name] = cmd
    return sorted(seen)


@pytest.mark.parametrize("name", _commands_for({PUBLIC}))
async def test_a_stranger_is_refused_every_officer_command_and_it_is_audited(
    name: str, make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    stranger = make_chat(user=f"stranger-{name}")
    out = await stranger.send(f"/{name}")
    roles = set(build_router(Deps()).commands[name].roles)
    assert out.startswith(NOT_ADMIN if roles == {ADMIN} else NEED_OFFICER), out
    async with demo_db.session() as s:
        rows = (await s.exec(select(AuditLog).where(AuditLog.outcome == "refused"))).all()
    assert len(rows) == 1
    assert rows[0].detail == ("not an admin" if roles == {ADMIN} else "not an officer")


@pytest.mark.parametrize("name", _commands_for({PUBLIC, OFFICER}))
async def test_an_officer_is_refused_every_admin_command_and_it_is_audited(
    name: str, make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    officer = make_chat(user=f"officer-{name}")
    await officer.register(demo_db, "28303")
    out = await officer.send(f"/{name}")
    assert out.startswith(NOT_ADMIN), out
    async with demo_db.session() as s:
        rows = (await s.exec(select(AuditLog).where(AuditLog.detail == "not an admin"))).all()
    assert len(rows) == 1 and rows[0].outcome == "refused"


async def test_a_commit_that_wrote_outbox_rows_wakes_the_outbox_dispatcher(
    demo_db: Database, clock: Clock
) -> None:
    router = Router()

    @router.command("alert", roles=(PUBLIC,))
    async def alert(ctx: Ctx, _args: str) -> None:
        await enqueue(
            ctx.s,
            key=f"t:{ctx.inc.dedupe_key}",
            account=ctx.account,
            text="x",
            kind="alert",
            now=ctx.now,
        )
        ctx.say_text("ok")

    @router.command("quiet", roles=(PUBLIC,))
    async def quiet(ctx: Ctx, _args: str) -> None:
        ctx.say_text("ok")

    woken: list[int] = []
    dispatcher = Dispatcher(demo_db, Services(), clock=clock, routes=router)
    dispatcher.outbox_written = lambda: woken.append(1)
    inc = Incoming(channel="terminal", chat_id="w", user_id="w", text="/quiet", dedupe_key="q")
    await dispatcher.handle(inc)
    assert woken == []
    await dispatcher.handle(
        Incoming(channel="terminal", chat_id="w", user_id="w", text="/alert", dedupe_key="a")
    )
    assert woken == [1]
