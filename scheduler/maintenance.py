"""The daily maintenance, run by the scheduler once a day at ``BDG_MAINTENANCE_HOUR`` (local
time) in the process that holds the scheduler lock, so once across workers:

- retention: texts of cases closed longer than ``BDG_CASE_RETENTION_MONTHS`` are purged and
  intake drafts nobody finished are deleted (``services.cases.retention.purge``, what
  ``bdg cases purge`` does);
- dedupe keys of processed updates older than ``BDG_PROCESSED_KEEP_DAYS`` are deleted (the
  messengers redeliver an update for a day at most);
- invite codes and account-linking codes that expired unused are deleted (used ones stay:
  they say who registered with which code);
- the Telegram keyboards of chats idle for ``KEYBOARDS_KEEP_DAYS`` are forgotten
  (``db/telegram.py``): their question texts (encrypted, but possibly a case summary) are not
  kept for ever. The chat's row and its ``newest`` stay, so a tap on one of those old buttons
  is refused as outdated rather than taken as an answer to whatever is asked now.

Each part commits on its own, so one failing leaves the others done.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col

from db.engine import Database
from db.linking import LinkCode
from db.models import Invite, ProcessedUpdate
from db.telegram import forget_idle_keyboards
from kernel import metrics
from services.cases.retention import purge

log = logging.getLogger("bdg.maintenance")

# A month: a question nobody answered in that long is better asked again than answered by an
# old button.
KEYBOARDS_KEEP_DAYS = 30


@dataclass
class MaintenanceResult:
    cases_purged: int = 0
    drafts_deleted: int = 0
    updates_forgotten: int = 0
    invites_deleted: int = 0
    link_codes_deleted: int = 0
    keyboards_forgotten: int = 0
    failed: list[str] = field(default_factory=list)


async def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def run_maintenance(
    db: Database, now: datetime, *, processed_keep_days: int = 7
) -> MaintenanceResult:
    """One maintenance pass; logs counts only."""
    out = MaintenanceResult()

    async def part(name: str, fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await fn()
        except Exception as exc:  # noqa: BLE001 - the other parts still run
            out.failed.append(name)
            log.error("maintenance %s failed: %s", name, type(exc).__name__)

    async def retention() -> None:
        async with db.session() as s:
            result = await purge(s, now)
        out.cases_purged, out.drafts_deleted = result.cases, result.drafts

    async def processed() -> None:
        cutoff = now - timedelta(days=processed_keep_days)
        async with db.session() as s:
            res = await s.exec(delete(ProcessedUpdate).where(col(ProcessedUpdate.at) < cutoff))  # type: ignore[call-overload]
            out.updates_forgotten = await _count(res)

    async def invites() -> None:
        async with db.session() as s:
            res = await s.exec(  # type: ignore[call-overload]
                delete(Invite).where(col(Invite.expires_at) < now, col(Invite.used_at).is_(None))
            )
            out.invites_deleted = await _count(res)
            res = await s.exec(  # type: ignore[call-overload]
                delete(LinkCode).where(
                    col(LinkCode.expires_at) < now, col(LinkCode.used_at).is_(None)
                )
            )
            out.link_codes_deleted = await _count(res)

    async def keyboards() -> None:
        cutoff = now - timedelta(days=KEYBOARDS_KEEP_DAYS)
        async with db.session() as s:
            out.keyboards_forgotten = await forget_idle_keyboards(s, cutoff, now)

    await part("retention", retention)
    await part("processed_updates", processed)
    await part("invites", invites)
    await part("telegram_keyboards", keyboards)
    metrics.MAINTENANCE_RUNS.labels("error" if out.failed else "ok").inc()
    log.info(
        "maintenance: %d case texts purged, %d drafts, %d update keys, %d invites, "
        "%d link codes deleted, %d chats' keyboards forgotten%s",
        out.cases_purged,
        out.drafts_deleted,
        out.updates_forgotten,
        out.invites_deleted,
        out.link_codes_deleted,
        out.keyboards_forgotten,
        f"; failed: {', '.join(out.failed)}" if out.failed else "",
    )
    return out
