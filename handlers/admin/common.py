"""What every admin command shares: who may act, on which subtree, and how a refusal is
answered and audited."""

from __future__ import annotations

from dataclasses import dataclass

from compile.data import default_period
from db import queries
from db.models import Unit
from handlers.context import Ctx
from kernel.calendar import PERIOD_RE, ReportPeriod
from kernel.messages import Choice
from services import periods
from services.scope import in_subtree, scope_of

REPLY_LIMIT = 3500  # characters per reply; Telegram allows 4096, Zalo channels split at 2000
YES = "yes"
NO = "no"


@dataclass
class Scope:
    """The subtree an admin acts on (``root``) and the standing agency that signs."""

    root: Unit
    agency: Unit | None

    def holds(self, unit: Unit) -> bool:
        return in_subtree(self.root, unit)


async def require_admin(ctx: Ctx, action: str) -> Scope | None:
    """The admin's scope, or None after a short "not allowed" (audited)."""
    if ctx.officer is None or ctx.unit is None or ctx.officer.role != "admin":
        ctx.audit(action, outcome="refused", detail="not an admin")
        ctx.say("admin.not_allowed")
        return None
    scope = await scope_of(ctx.s, ctx.officer, ctx.unit)
    return Scope(scope.root, scope.agency)


def refuse_outside(ctx: Ctx, action: str, code: str) -> None:
    """Refuse to act on a unit outside the admin's subtree, and keep a trace of the attempt."""
    ctx.audit(action, target=f"unit:{code}", outcome="refused", detail="outside subtree")
    ctx.say("admin.outside_scope", code=code)


async def unit_in_scope(ctx: Ctx, scope: Scope, code: str, action: str) -> Unit | None:
    unit = await queries.unit_by_code(ctx.s, code.strip())
    if unit is None:
        ctx.say("admin.unit_unknown", code=code.strip())
        return None
    if not scope.holds(unit):
        refuse_outside(ctx, action, unit.code)
        return None
    return unit


def is_period(word: str) -> bool:
    return bool(PERIOD_RE.match(word.strip().upper()))


async def period_or_default(ctx: Ctx, scope: Scope, word: str) -> ReportPeriod | None:
    """The period typed (``2026S1``, ``2026``) or the one that opened last; None after telling
    the admin what a period looks like."""

    pid = word.strip().upper() or default_period(ctx.services, ctx.today)
    try:
        return await periods.period_by_id(ctx.s, ctx.services, scope.root, pid)
    except ValueError:
        ctx.say("admin.bad_period", example=f"{ctx.today.year}S1", year=ctx.today.year)
        return None


def period_title(ctx: Ctx, period: ReportPeriod) -> str:
    return f"{period.text(ctx.lang)} {period.year}"


def say_lines(ctx: Ctx, lines: list[str], limit: int = REPLY_LIMIT) -> None:
    """Send lines as as few replies as fit the limit (lines are kept whole)."""
    chunk: list[str] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > limit:
            ctx.say_text("\n".join(chunk))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        ctx.say_text("\n".join(chunk))


def yes_no(ctx: Ctx, yes_key: str = "admin.confirm_yes") -> list[Choice]:
    return [Choice(YES, ctx.t(yes_key)), Choice(NO, ctx.t("admin.confirm_no"))]


def days_phrase(ctx: Ctx, days_to_due: int) -> str:
    """ "trễ 3 ngày", "hạn hôm nay", "còn 5 ngày"."""
    if days_to_due < 0:
        return ctx.t("admin.days_late", n=-days_to_due)
    if days_to_due == 0:
        return ctx.t("admin.due_today")
    return ctx.t("admin.days_left", n=days_to_due)
