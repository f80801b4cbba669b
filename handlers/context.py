"""What a handler works with: the session of this update's transaction, who is writing,
where they are in a conversation, the clock, and the replies being gathered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape
from typing import TYPE_CHECKING, Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from db import queries
from db.models import AuditLog, ChannelAccount, Conversation, Officer, Report, Unit
from handlers.state import FlowState
from kernel.channel import Capabilities, capabilities_of
from kernel.clock import coarse, to_local
from kernel.i18n import catalog, normalise_lang, t
from kernel.messages import Choice, Incoming, Menu, Reply
from kernel.settings import Services

if TYPE_CHECKING:
    from handlers.router import Router

S = TypeVar("S", bound=FlowState)


class Safe(str):
    """A string that is already markup and must not be escaped again."""


def _esc(v: object) -> object:
    return v if isinstance(v, Safe) or not isinstance(v, str) else escape(v)


@dataclass
class Ctx:
    s: AsyncSession
    inc: Incoming
    account: ChannelAccount
    conv: Conversation
    now: datetime  # aware UTC
    services: Services
    officer: Officer | None = None
    unit: Unit | None = None
    replies: list[Reply] = field(default_factory=list)
    chosen_label: str | None = None
    # The process's routes (for /trogiup, the first menu, a command typed inside a flow).
    route_table: Router | None = None
    # The user sent something unreadable (a sticker): the flow should put its pending step
    # again instead of reading an answer.
    reprompt: bool = False
    # A tapped button matched nothing offered any more: nothing was done.
    stale: bool = False
    # The open report with its answers, read with the writer (the report flow only), so an
    # answer costs no second SELECT.
    loaded_report: tuple[Report, dict[str, Any]] | None = None

    @property
    def caps(self) -> Capabilities:
        """What the channel this update came from can do (buttons, files, text length …)."""
        return capabilities_of(self.inc.channel, self.services.channels)

    def channel_title(self, channel: str) -> str:
        return capabilities_of(channel, self.services.channels).title

    @property
    def router(self) -> Router:
        if self.route_table is None:
            raise RuntimeError("this Ctx was built without the router (only the dispatcher has it)")
        return self.route_table

    # -- language and time ----------------------------------------------------------------
    @property
    def lang(self) -> str:
        return normalise_lang(self.account.lang)

    def t(self, key: str, **kw: object) -> str:
        """A catalog text; string parameters are HTML-escaped (replies use Telegram's HTML
        subset) unless wrapped in ``Safe`` because they are already markup. On a channel with
        buttons, ``<key>_buttons`` is used where the catalog has it: the plain key speaks of
        typing only ("gõ 1,3"), since Zalo and the terminal have no buttons to tap
        (tests/test_catalog_lint.py holds "bấm" to the ``_buttons`` variants)."""
        if self.caps.buttons and f"{key}_buttons" in catalog(self.lang):
            key = f"{key}_buttons"
        return t(self.lang, key, **{k: _esc(v) for k, v in kw.items()})

    @property
    def local_now(self) -> datetime:
        return to_local(self.now, self.services.timezone)

    @property
    def today(self) -> date:
        return self.local_now.date()

    def fmt_date(self, d: date | datetime) -> str:
        if isinstance(d, datetime):
            d = to_local(d, self.services.timezone)
            return d.strftime("%H:%M %d/%m/%Y")
        return d.strftime("%d/%m/%Y")

    # -- replies ---------------------------------------------------------------------------
    def say(
        self, key: str, *, choices: list[Choice] | None = None, numbered: bool = True, **kw: object
    ) -> Reply:
        return self.say_text(self.t(key, **kw), choices=choices, numbered=numbered)

    def say_text(
        self, text: str, *, choices: list[Choice] | None = None, numbered: bool = True
    ) -> Reply:
        reply = Reply(text=text, choices=list(choices or []), numbered=numbered, lang=self.lang)
        self.replies.append(reply)
        return reply

    # -- conversation state ------------------------------------------------------------------
    def set_flow(self, flow: str | None) -> None:
        """Enter ``flow`` with an empty state; the menu of the previous step is forgotten.
        A flow with something to keep starts with ``start_flow(its typed state)``."""
        self.conv.flow = flow
        self.conv.state = {}
        self.conv.menu = None
        self.conv.updated_at = coarse(self.now)

    def clear_flow(self) -> None:
        self.set_flow(None)

    def flow_state(self, model: type[S]) -> S:
        """The running flow's state as its typed model (an older shape is upgraded)."""
        return model.model_validate(self.conv.state)

    def start_flow(self, state: FlowState) -> None:
        """Begin ``state.flow`` afresh with ``state`` (the menu of the last flow is dropped)."""
        self.set_flow(state.flow)
        self.save_state(state)

    def save_state(self, state: FlowState) -> None:
        """Store a flow's typed state (any key of the router's that starts with ``_`` is kept)."""
        kept = {k: v for k, v in self.conv.state.items() if k.startswith("_")}
        self.conv.state = {**kept, **state.dump()}
        self.conv.updated_at = coarse(self.now)  # coarse like every conversation write

    def remember_menu(self, choices: Sequence[Choice], numbered: bool = True) -> None:
        """Record the choices just offered so a typed number or word maps back to them."""
        self.conv.menu = Menu(choices, numbered).to_json()
        self.conv.updated_at = coarse(self.now)

    @property
    def menu(self) -> Menu:
        """The choices last offered (empty when none are pending)."""
        return Menu.from_json(self.conv.menu)

    # -- audit ---------------------------------------------------------------------------------
    def audit(
        self,
        action: str,
        target: str | None = None,
        *,
        outcome: str = "ok",
        detail: str | None = None,
    ) -> None:
        self.s.add(
            AuditLog(
                # A citizen's rows are kept coarse: they must not be joinable to a case's times.
                at=self.now if self.officer else coarse(self.now),
                officer_id=self.officer.id if self.officer else None,
                account_id=self.account.id,
                action=action,
                target=target,
                outcome=outcome,
                detail=detail,
            )
        )

    async def load_officer(self) -> None:
        self.officer = None
        self.unit = None
        if self.account.officer_id is not None:
            officer = await self.s.get(Officer, self.account.officer_id)
            if officer is not None and officer.active:
                self.officer = officer
                self.unit = await self.s.get(Unit, officer.unit_id)

    async def ancestors(self) -> list[Unit]:
        return await queries.ancestors(self.s, self.unit) if self.unit else []
