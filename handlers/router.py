"""Routes an Incoming to a command or to the flow the user is in.

Features register themselves: ``@router.command("baocao", help="help.baocao")`` for a
command, ``@router.flow("report")`` for the messages of a running conversation, and
``router.menu_item(...)`` for the first menu a new user sees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from handlers.context import Ctx
from kernel.messages import Choice
from services.forms.parsers import fold

Handler = Callable[[Ctx, str], Awaitable[None]]
FlowHandler = Callable[[Ctx], Awaitable[None]]


@dataclass
class Command:
    name: str
    handler: Handler
    help: str | None  # catalog key of the one-line description, None = hidden
    roles: tuple[str, ...]  # who sees it in /trogiup: "public", "officer", "admin"
    aliases: tuple[str, ...] = ()
    in_groups: bool = False
    order: int = 100


@dataclass
class MenuItem:
    key: str
    label_key: str
    handler: Handler
    order: int = 100


@dataclass
class Router:
    commands: dict[str, Command] = field(default_factory=dict)
    flows: dict[str, FlowHandler] = field(default_factory=dict)
    menu: list[MenuItem] = field(default_factory=list)
    # Said before the first menu to someone not registered, e.g. the emergency numbers when
    # their message speaks of danger (cases feature). A hook returns True when it spoke.
    welcome_hooks: list[Callable[[Ctx], Awaitable[bool]]] = field(default_factory=list)

    def command(
        self,
        name: str,
        *,
        help: str | None = None,
        roles: tuple[str, ...] = ("officer",),
        aliases: tuple[str, ...] = (),
        in_groups: bool = False,
        order: int = 100,
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            cmd = Command(name, fn, help, roles, aliases, in_groups, order)
            for n in (name, *aliases):
                if n in self.commands:
                    raise ValueError(f"command /{n} registered twice")
                self.commands[n] = cmd
            return fn

        return register

    def flow(self, name: str) -> Callable[[FlowHandler], FlowHandler]:
        def register(fn: FlowHandler) -> FlowHandler:
            self.flows[name] = fn
            return fn

        return register

    def menu_item(self, key: str, label_key: str, handler: Handler, order: int = 100) -> None:
        self.menu.append(MenuItem(key, label_key, handler, order))
        self.menu.sort(key=lambda m: m.order)

    def visible_commands(self, roles: set[str]) -> list[Command]:
        seen: dict[str, Command] = {}
        for cmd in self.commands.values():
            if cmd.help and set(cmd.roles) & roles:
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


router = Router()


async def welcome(ctx: Ctx) -> None:
    """What someone sees who writes outside any conversation."""

    if ctx.officer is not None:
        ctx.say("welcome.officer", name=ctx.officer.full_name)
        return
    for hook in router.welcome_hooks:
        await hook(ctx)
    choices = [Choice(m.key, ctx.t(m.label_key)) for m in router.menu]
    ctx.say("welcome.public", choices=choices)
    ctx.remember_menu(choices)
