"""Typed conversation state, one model per flow, stored as JSON in ``Conversation.state``.

Each model has a version ``v``. A state saved by older code (a plain dict without ``v``) is
upgraded when it loads, so a report or an intake in flight survives a deploy: a model's
``_upgrade`` turns the old shape into the new one. Keys that start with ``_`` (the menu just
offered, ``_reprompt``) belong to the router and are kept as they are.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

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


FLOW_STATES: dict[str, type[FlowState]] = {m.flow: m for m in (ReportState, CaseState)}
