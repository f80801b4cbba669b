"""Reports by e-mail: which addresses receive what, and the outbox rows that carry them.

Some provinces want the report by e-mail as well (seed 004 gives the standing agency's
address). A unit's addresses are set with ``bdg units email CODE addr…``; they receive:

- each **report submitted** by a unit below it, when it is the nearest unit above the
  submitting unit that has addresses (a district's address catches its communes' reports,
  the province's the others);
- each **compilation** of a unit below it (the level the compilation is for), or, for the
  top unit, its own compilation.

A message is an outbox row (kind ``email``, channel ``email``, ``chat_id`` the address, key
``mail:report:2026:28303:v1:addr``), so it is written in the transaction that caused it,
retried with backoff by the dispatcher and never sent twice; the e-mail channel
(``bot/mail.py``) builds the XLSX and DOCX when it sends. The text names the report, the unit
and the reference only: no case detail ever goes in an e-mail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.mail import UnitEmail
from db.models import AuditLog, Outbox, Unit
from db.outbox import enqueue_many, new_row
from kernel.calendar import ReportPeriod
from kernel.i18n import t

CHANNEL = "email"
KIND = "email"
MAX_ADDRESS = 64  # the outbox's chat_id column
MAX_ADDRESSES = 10
# A plain address: local part, @, a domain with a dot. Display names and comments are refused.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
LANG = "vi"  # administrative mail between agencies is Vietnamese


class MailError(ValueError):
    """Bad input; ``key`` is a catalog key, ``params`` its placeholders."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def check_address(text: str) -> str:
    address = text.strip().strip("<>,;").lower()
    if len(address) > MAX_ADDRESS or not _ADDRESS.match(address):
        raise MailError("mail.bad_address", address=text.strip(), n=MAX_ADDRESS)
    return address


async def addresses(s: AsyncSession, unit_id: int) -> list[str]:
    q = select(UnitEmail.address).where(UnitEmail.unit_id == unit_id).order_by(col(UnitEmail.id))
    return list((await s.exec(q)).all())


async def set_addresses(
    s: AsyncSession, unit: Unit, given: Sequence[str], *, now: datetime
) -> list[str]:
    """Replace the unit's addresses (an empty list removes them). Audited."""
    assert unit.id is not None
    wanted = list(dict.fromkeys(check_address(a) for a in given))
    if len(wanted) > MAX_ADDRESSES:
        raise MailError("mail.too_many", n=MAX_ADDRESSES)
    for row in (await s.exec(select(UnitEmail).where(UnitEmail.unit_id == unit.id))).all():
        await s.delete(row)
    await s.flush()
    for a in wanted:
        s.add(UnitEmail(unit_id=unit.id, address=a, created_at=now))
    s.add(
        AuditLog(
            at=now, action="mail.addresses", target=unit.code, detail=f"{len(wanted)} address(es)"
        )
    )
    await s.flush()
    return wanted


async def _nearest(s: AsyncSession, ids: Sequence[int]) -> tuple[int, list[str]] | None:
    """The first of ``ids`` (nearest first) that has addresses, with them."""
    if not ids:
        return None
    rows = (await s.exec(select(UnitEmail).where(col(UnitEmail.unit_id).in_(list(ids))))).all()
    for uid in ids:
        found = [r.address for r in sorted(rows, key=lambda r: r.id or 0) if r.unit_id == uid]
        if found:
            return uid, found
    return None


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _above(unit: Unit) -> list[int]:
    """The ids of the units above ``unit``, nearest first."""
    return [int(x) for x in unit.path.strip("/").split("/") if x][::-1][1:]


def _row(
    key: str, address: str, unit_id: int, batch: str, text: str, now: datetime
) -> dict[str, object]:
    return new_row(
        key=key[:200],
        kind=KIND,
        channel=CHANNEL,
        chat_id=address,
        text=text,
        now=now,
        unit_id=unit_id,
        batch=batch,
    )


async def report_submitted(
    s: AsyncSession,
    unit: Unit,
    period: ReportPeriod,
    version: int,
    reference: str,
    now: datetime,
    *,
    enabled: bool,
) -> int:
    """Queue the submitted report's files for the nearest addresses above the unit; returns
    how many messages were queued (0 when e-mail is off or nobody above has an address)."""
    found = await _nearest(s, _above(unit)) if enabled and unit.id is not None else None
    if found is None:
        return 0
    assert unit.id is not None
    subject = t(
        LANG, "mail.report_subject", report=period.text(LANG), year=period.year, unit=unit.name
    )
    body = t(
        LANG,
        "mail.report_body",
        unit=unit.name,
        report=_lower(period.text(LANG)),
        year=period.year,
        ref=reference,
        version=version,
    )
    batch = f"mail:report:{period.period}"
    rows = [
        _row(f"{batch}:{unit.id}:v{version}:{a}", a, unit.id, batch, f"{subject}\n\n{body}", now)
        for a in found[1]
    ]
    return await enqueue_many(s, rows)


async def compiled(
    s: AsyncSession,
    root: Unit,
    period: ReportPeriod,
    submitted: int,
    expected: int,
    now: datetime,
    *,
    enabled: bool,
) -> int:
    """Queue the compiled files of ``root``'s subtree for the level above (the nearest unit
    above with addresses), or for ``root``'s own addresses at the top."""
    if not enabled or root.id is None:
        return 0
    found = await _nearest(s, _above(root)) or await _nearest(s, [root.id])
    if found is None:
        return 0
    subject = t(
        LANG,
        "mail.compiled_subject",
        report=_lower(period.text(LANG)),
        year=period.year,
        unit=root.name,
    )
    body = t(
        LANG,
        "mail.compiled_body",
        unit=root.name,
        report=_lower(period.text(LANG)),
        year=period.year,
        submitted=submitted,
        expected=expected,
    )
    batch = f"mail:compiled:{period.period}"
    rows = [
        _row(f"{batch}:{root.id}:{a}", a, root.id, batch, f"{subject}\n\n{body}", now)
        for a in found[1]
    ]
    return await enqueue_many(s, rows)


async def problems(s: AsyncSession, unit: Unit, since: datetime) -> tuple[int, int, str | None]:
    """E-mails about ``unit``'s subtree since ``since``: (failed, still retrying after an
    error, the last error). For the admin's /tinhhinh."""
    q = (
        select(Outbox.status, Outbox.last_error, Outbox.attempts)
        .join(Unit, col(Unit.id) == col(Outbox.unit_id))
        .where(
            Outbox.channel == CHANNEL,
            col(Unit.path).startswith(unit.path),
            col(Outbox.created_at) >= since,
            col(Outbox.status).in_(["failed", "pending"]),
        )
        .order_by(col(Outbox.id))
    )
    failed = retrying = 0
    last: str | None = None
    for status, error, attempts in (await s.exec(q)).all():
        if status == "failed":
            failed += 1
            last = error or last
        elif attempts > 0:
            retrying += 1
            last = error or last
    return failed, retrying, last
