"""Typed conversation state, one model per flow, stored as JSON in ``Conversation.state``.

Each model has a version ``v``. A state saved by older code (a plain dict without ``v``) is
upgraded when it loads, so a report or an intake in flight survives a deploy: a model's
``_upgrade`` turns the old shape into the new one. Keys that start with ``_`` (the menu just
offered, ``_reprompt``) belong to the router and are kept as they are.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from scheduler.planner import REMINDER_FLOW
from services.forms.session import Position


class FlowState(BaseModel):
    """The state of one flow; subclasses name their ``flow`` and current version."""

    model_config = ConfigDict(extra="ignore")

    flow: ClassVar[str]
    VERSION: ClassVar[int] = 1
    v: int = 1

    @model_validator(mode="before")
    @classmethod
    def _versioned(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if not k.startswith("_")}
        version = int(data.get("v") or 1)
        if version < cls.VERSION:
            data = cls._upgrade(data, version)
        data["v"] = cls.VERSION
        return data

    @classmethod
    def _upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        return data

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ReportState(FlowState, Position):
    """/baocao: which report, where in it, the case-count suggestions, and the period (its
    dates are kept so an answer needs no calendar look-up; submitting looks them up again)."""

    flow: ClassVar[str] = "report"
    VERSION: ClassVar[int] = 2
    mode: Literal["ask", "summary", "revise_confirm"] = "ask"  # type: ignore[assignment]
    report_id: int
    # question id → [value, note key, "use it" label key, its alias key]
    suggest: dict[str, list[Any]] = {}
    period: dict[str, Any] | None = None

    @classmethod
    def _upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        # v1 (a plain dict): the ticks of a multiple choice were "multi_sel".
        data = dict(data)
        if "multi_sel" in data:
            data["sel"] = data.pop("multi_sel") or []
        return data

    def position(self) -> Position:
        return Position(
            mode="summary" if self.mode == "summary" else "ask",
            q=self.q,
            sel=self.sel,
            matches=self.matches,
        )

    def moved_to(self, pos: Position) -> ReportState:
        return self.model_copy(update=pos.model_dump())


class CaseState(FlowState, Position):
    """/baovuviec: the draft case (none before the first answer) and where in it; "resume"
    while asking whether to continue an earlier draft. Never any answer's text."""

    flow: ClassVar[str] = "case"
    VERSION: ClassVar[int] = 2
    mode: Literal["ask", "summary", "resume"] = "ask"  # type: ignore[assignment]
    case_id: int | None = None

    @classmethod
    def _upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        # v1 (a plain dict): "step" was the question id, "confirm" or "resume".
        if "step" not in data:
            return data  # made by this code (no version given)
        data = dict(data)
        step = data.pop("step")
        if step == "confirm":
            data["mode"] = "summary"
        elif step == "resume":
            data["mode"] = "resume"
        else:
            data["mode"], data["q"] = "ask", step
        return data

    def position(self) -> Position:
        return Position(
            mode="summary" if self.mode == "summary" else "ask",
            q=self.q,
            sel=self.sel,
            matches=self.matches,
        )

    def moved_to(self, pos: Position) -> CaseState:
        return self.model_copy(update=pos.model_dump())


# -- the short flows --------------------------------------------------------------------------
# Their fields keep the key names the untyped dicts had, so a state saved before typed state
# (no "v") loads as version 1 as it is: a registration or an admin's question in flight goes
# on after the upgrade. A later change of shape raises VERSION and adds an ``_upgrade``.


class RegisterState(FlowState):
    """/start: the invite code (when chosen from the menu), then the full name and position."""

    flow: ClassVar[str] = "register"
    step: Literal["code", "name", "position"] = "code"
    invite_id: int | None = None
    full_name: str | None = None


class LanguageState(FlowState):
    """/ngonngu without a language: the choice is pending (nothing else to keep)."""

    flow: ClassVar[str] = "language"


class ReminderState(FlowState):
    """The message after a reminder (the planner enters this flow with an empty state)."""

    flow: ClassVar[str] = REMINDER_FLOW


class DeadlineState(FlowState):
    """/lich's deadline desk: pick a report (or a yearly rule), type the date, the reason."""

    flow: ClassVar[str] = "admin_deadline"
    step: Literal["pick", "date", "reason", "rule_date", "rule_reason"] = "pick"
    root_id: int | None = None  # the admin's subtree when asked; a changed scope ends the flow
    year: int | None = None
    kind: str | None = None
    period: str | None = None
    due: str | None = None  # the date as typed, validated again when saved
    rule_step: str | None = None
    since: int | None = None


class LockState(FlowState):
    """/khoa and /mokhoa asked for the reason."""

    flow: ClassVar[str] = "admin_lock"
    what: Literal["lock", "unlock"]
    unit_id: int | None = None
    period: str


class AnnounceState(FlowState):
    """/thongbao: the text, then the confirmation of the preview."""

    flow: ClassVar[str] = "admin_announce"
    step: Literal["text", "confirm"] = "text"
    root_id: int | None = None
    text: str = ""
    announce_id: str = ""


class DeactivateState(FlowState):
    """/canbo … tat asked "deactivate this officer?"."""

    flow: ClassVar[str] = "admin_officer"
    officer_id: int | None = None


class CaseOfficerState(FlowState):
    """An officer's case desk: pick from the list, choose an action, write the note. The
    target status of a note (``to``) is a status key or "note", never the note's text."""

    flow: ClassVar[str] = "case_officer"
    step: Literal["pick", "action", "note"] = "pick"
    case_id: int | None = None
    to: str | None = None


FLOW_STATES: dict[str, type[FlowState]] = {
    m.flow: m
    for m in (
        ReportState,
        CaseState,
        RegisterState,
        LanguageState,
        ReminderState,
        DeadlineState,
        LockState,
        AnnounceState,
        DeactivateState,
        CaseOfficerState,
    )
}
