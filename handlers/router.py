"""Routes an Incoming to a command or to the flow the user is in, and enforces who may use it.

Each feature declares its routes in its own module, on a ``Routes`` table of its own::

    routes = Routes()

    @routes.command("baocao", help="help.baocao", roles=("officer",))
    async def start_report(ctx: Ctx, args: str) -> None: ...

and adds them in its ``register(router, deps)``, which the composition root
(``bot.app.build_app``, through ``handlers.features.build_router``) calls for every feature in
an explicit order. Nothing registers itself by being imported.

Roles are declared on commands and flows and enforced here, so a handler runs only for those
it is meant for; every refusal is answered and audited in one place (``Router.refuse``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from handlers.context import Ctx
from handlers.state import FLOW_STATES
from kernel.messages import Choice, Menu
from kernel.settings import Services
from services.forms.parsers import fold

log = logging.getLogger("bdg.router")


def _state_readable(ctx: Ctx, flow: str) -> bool:
    """Whether the conversation's state loads into its flow's typed model (an older shape is
    upgraded); a flow without a model (a test's own) is not checked."""
    model = FLOW_STATES.get(flow)
    if model is None:
        return True
    try:
        model.model_validate(ctx.conv.state)
    except ValidationError:
        return False
    return True


if TYPE_CHECKING:
    from handlers.hooks import Suggester

Handler = Callable[[Ctx, str], Awaitable[None]]
FlowHandler = Callable[[Ctx], Awaitable[None]]
# Said before the first menu to someone not registered, e.g. the emergency numbers when their
# message speaks of danger (cases feature). A hook returns True when it spoke.
WelcomeHook = Callable[[Ctx], Awaitable[bool]]

PUBLIC = "public"
OFFICER = "officer"
ADMIN = "admin"
ROLES = (PUBLIC, OFFICER, ADMIN)


def roles_of(ctx: Ctx) -> set[str]:
    """What the writer of this update is: everyone is public; a registered, active officer is
    an officer too; an officer registered with an admin invite is also an admin."""
    out = {PUBLIC}
    if ctx.officer is not None and ctx.unit is not None:
        out |= {OFFICER, ctx.officer.role}
    return out


def _check_roles(roles: Sequence[str]) -> tuple[str, ...]:
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"roles must be a non-empty subset of {ROLES}, not {tuple(roles)}")
    return tuple(roles)


@dataclass
class Command:
    name: str
    handler: Handler
    help: str | None  # catalog key of the one-line description, None = hidden
    roles: tuple[str, ...]  # who may use it (and sees it in /trogiup)
    aliases: tuple[str, ...] = ()
    in_groups: bool = False
    order: int = 100
    # The audit action of a refusal (e.g. "desk.invite"); default "cmd.<name>".
    audit: str | None = None
    # Handlers another feature added to run after this one (explicitly, see Router.follow).
    followups: list[Handler] = field(default_factory=list)
    # It only reads: on SQLite the dispatcher first tries it without the write lock (a step
    # that writes after all is run again as a writer, so a wrong hint costs time, not data).
    read_only: bool = False

    def allows(self, roles: set[str]) -> bool:
        return bool(set(self.roles) & roles)


@dataclass
class Flow:
    name: str
    handler: FlowHandler
    roles: tuple[str, ...] = (PUBLIC,)
    audit: str | None = None


@dataclass
class MenuItem:
    key: str
    label_key: str
    handler: Handler
    order: int = 100


class Routes:
    """One feature's commands, flows, menu items and welcome hooks, declared with decorators
    in its module and added to the process's ``Router`` by the feature's ``register``."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.flows: list[Flow] = []
        self.menu: list[MenuItem] = []
        self.welcome_hooks: list[WelcomeHook] = []

    def command(
        self,
        name: str,
        *,
        help: str | None = None,
        roles: tuple[str, ...] = (OFFICER,),
        aliases: tuple[str, ...] = (),
        in_groups: bool = False,
        order: int = 100,
        audit: str | None = None,
        read_only: bool = False,
    ) -> Callable[[Handler], Handler]:
        checked = _check_roles(roles)

        def add(fn: Handler) -> Handler:
            self.commands.append(
                Command(
                    name, fn, help, checked, aliases, in_groups, order, audit, read_only=read_only
                )
            )
            return fn

        return add

    def flow(
        self, name: str, *, roles: tuple[str, ...] = (PUBLIC,), audit: str | None = None
    ) -> Callable[[FlowHandler], FlowHandler]:
        checked = _check_roles(roles)

        def add(fn: FlowHandler) -> FlowHandler:
            self.flows.append(Flow(name, fn, checked, audit))
            return fn

        return add

    def menu_item(self, key: str, label_key: str, handler: Handler, order: int = 100) -> None:
        self.menu.append(MenuItem(key, label_key, handler, order))

    def welcome_hook(self, fn: WelcomeHook) -> WelcomeHook:
        self.welcome_hooks.append(fn)
        return fn


@dataclass(frozen=True)
class Deps:
    """What a feature may need when it registers: the process's services (time zone, default
    language, data files). Built once by the composition root from the settings."""

    services: Services = field(default_factory=Services)


@dataclass
class Router:
    commands: dict[str, Command] = field(default_factory=dict)
    flows: dict[str, Flow] = field(default_factory=dict)
    menu: list[MenuItem] = field(default_factory=list)
    welcome_hooks: list[WelcomeHook] = field(default_factory=list)
    # Other features' suggested report answers (the cases feature's counts).
    suggesters: list[Suggester] = field(default_factory=list)

    # -- building --------------------------------------------------------------------------
    def include(self, routes: Routes) -> None:
        """Add a feature's routes; a name taken twice is a programming error, raised at start."""
        for cmd in routes.commands:
            for n in (cmd.name, *cmd.aliases):
                if n in self.commands:
                    raise ValueError(f"command /{n} registered twice")
                self.commands[n] = cmd
        for flow in routes.flows:
            if flow.name in self.flows:
                raise ValueError(f"flow {flow.name!r} registered twice")
            self.flows[flow.name] = flow
        self.menu = sorted([*self.menu, *routes.menu], key=lambda m: m.order)
        self.welcome_hooks.extend(routes.welcome_hooks)

    def command(self, name: str, **kw: Any) -> Callable[[Handler], Handler]:
        """Declare a command straight on this router (a router built for one test or tool);
        features use their own ``Routes`` and ``register``."""
        table = Routes()

        def add(fn: Handler) -> Handler:
            table.command(name, **kw)(fn)
            self.include(table)
            return fn

        return add

    def flow(self, name: str, **kw: Any) -> Callable[[FlowHandler], FlowHandler]:
        table = Routes()

        def add(fn: FlowHandler) -> FlowHandler:
            table.flow(name, **kw)(fn)
            self.include(table)
            return fn

        return add

    def follow(self, name: str, handler: Handler) -> None:
        """Run ``handler`` after command ``name`` (e.g. the admin desk adds the deadline
        overrides under /lich). Raises when ``name`` is not registered: features are
        registered in an explicit order, and a wrong order must fail at start."""
        cmd = self.commands.get(name)
        if cmd is None:
            raise LookupError(f"/{name} must be registered before a follow-up is added to it")
        if handler not in cmd.followups:
            cmd.followups.append(handler)

    # -- reading -----------------------------------------------------------------------------
    def visible_commands(self, roles: set[str]) -> list[Command]:
        seen: dict[str, Command] = {}
        for cmd in self.commands.values():
            if cmd.help and cmd.allows(roles):
                seen[cmd.name] = cmd
        return sorted(seen.values(), key=lambda c: (c.order, c.name))

    def parse_command(self, text: str) -> tuple[Command, str] | None:
        """``/baocao``, ``/start CODE``, ``/baocao@my_bot``; also the bare word (``baocao``)
        since phone keyboards make the slash awkward."""
        stripped = text.strip()
        if not stripped:
            return None
        head, _, rest = stripped.partition(" ")
        if head.startswith("/"):
            name = head[1:].split("@", 1)[0].lower()
        else:
            if rest:
                return None
            name = fold(head).replace(" ", "")
        cmd = self.commands.get(name)
        return (cmd, rest.strip()) if cmd else None

    # -- running -----------------------------------------------------------------------------
    async def run_command(self, ctx: Ctx, cmd: Command, args: str) -> None:
        """Run ``cmd`` if the writer's roles allow it, else refuse (answered and audited)."""
        if not cmd.allows(roles_of(ctx)):
            self.refuse(ctx, cmd.roles, cmd.audit or f"cmd.{cmd.name}")
            return
        await cmd.handler(ctx, args)
        for follow in cmd.followups:
            await follow(ctx, args)

    async def run_flow(self, ctx: Ctx, flow: Flow) -> None:
        """Continue ``flow``; someone who lost the role meanwhile (an officer deactivated
        mid-conversation) is refused and the flow ends."""
        if not set(flow.roles) & roles_of(ctx):
            ctx.clear_flow()
            self.refuse(ctx, flow.roles, flow.audit or f"flow.{flow.name}")
            return
        if not _state_readable(ctx, flow.name):
            # A state no model reads (hand-edited, or left by a newer version after a
            # rollback): end the flow with a word instead of an error at every message.
            log.warning("unreadable state of flow %s: the flow is ended", flow.name)
            ctx.clear_flow()
            ctx.say("err.state_lost")
            return
        await flow.handler(ctx)

    @staticmethod
    def refuse(ctx: Ctx, roles: Sequence[str], action: str) -> None:
        """The one place a refusal is said and audited."""
        if ADMIN in roles and OFFICER not in roles:
            ctx.audit(action, outcome="refused", detail="not an admin")
            ctx.say("admin.not_allowed")
        else:
            ctx.audit(action, outcome="refused", detail="not an officer")
            ctx.say("reg.need_officer")

    def first_menu(self, ctx: Ctx) -> Menu:
        return Menu([Choice(m.key, ctx.t(m.label_key)) for m in self.menu])


async def welcome(ctx: Ctx) -> None:
    """What someone sees who writes outside any conversation."""
    if ctx.officer is not None:
        ctx.say("welcome.officer", name=ctx.officer.full_name)
        return
    for hook in ctx.router.welcome_hooks:
        await hook(ctx)
    menu = ctx.router.first_menu(ctx)
    ctx.say("welcome.public", choices=list(menu.choices))
    ctx.remember_menu(menu.choices)


__all__ = [
    "ADMIN",
    "OFFICER",
    "PUBLIC",
    "Command",
    "Deps",
    "Flow",
    "FlowHandler",
    "Handler",
    "MenuItem",
    "Router",
    "Routes",
    "WelcomeHook",
    "roles_of",
    "welcome",
]
