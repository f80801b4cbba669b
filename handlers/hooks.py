"""The typed extension points one feature offers another, registered explicitly through the
router (``Router.suggesters``, ``Routes.welcome_hook``) by each feature's ``register``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from handlers.context import Ctx
from kernel.calendar import ReportPeriod


@dataclass(frozen=True)
class Suggester:
    """Another feature's suggested answers, offered when a count question has no stored answer
    (the cases feature: counts of the cases received in the period; docs/cases.md).
    ``values`` returns {question_id: value}; ``note`` is the catalog key (with ``{value}``)
    shown under the question; ``use`` and ``alias`` label the choice that takes the value."""

    values: Callable[[Ctx, ReportPeriod], Awaitable[dict[str, Any]]]
    note: str
    use: str
    alias: str
