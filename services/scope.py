"""Scope: the units an officer answers for, which is not always where they sit.

Every officer has a home unit (``Officer.unit_id``, where they registered) and a scope: the
root of the subtree they answer for (``Officer.scope_unit_id``). When the scope is not set
explicitly it defaults to:

- an admin whose home unit is the standing agency (kind ``agency``, listed beside the
  departments it collects from, e.g. ``42-SNV``): the agency's parent, the whole province;
- anyone else: the home unit itself.

Cases, alerts, escalations, digests, ``/vuviec``, ``/tinhhinh`` and ``/tonghop`` all ask this
module, so "who answers for this unit" has one definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import queries
from db.models import ChannelAccount, Officer, Unit

AGENCY_KIND = "agency"
ADMIN = "admin"


@dataclass(frozen=True)
class Scope:
    """Where an officer sits (``home``), the subtree they answer for (``root``), the standing
    agency that signs for that subtree, and whether they are an admin."""

    home: Unit
    root: Unit
    agency: Unit | None
    admin: bool

    def holds(self, unit: Unit) -> bool:
        return in_subtree(self.root, unit)


def in_subtree(root: Unit, unit: Unit) -> bool:
    return unit.path.startswith(root.path)


async def default_scope_unit(s: AsyncSession, home: Unit, role: str) -> Unit:
    """The scope of an officer of ``home`` with ``role`` when none was set explicitly."""
    if role == ADMIN and home.kind == AGENCY_KIND and home.parent_id is not None:
        parent = await s.get(Unit, home.parent_id)
        if parent is not None:
            return parent
    return home


async def agency_for(s: AsyncSession, root: Unit) -> Unit | None:
    """The standing agency that signs for ``root``'s subtree: ``root`` itself when it is an
    agency, else an agency unit directly below it."""
    if root.kind == AGENCY_KIND:
        return root
    return (
        await s.exec(
            select(Unit)
            .where(Unit.parent_id == root.id, Unit.kind == AGENCY_KIND)
            .order_by(col(Unit.id))
            .limit(1)
        )
    ).first()


async def admin_scope(s: AsyncSession, home: Unit) -> tuple[Unit, Unit | None]:
    """(subtree root, signing agency) for an admin registered at ``home`` with no explicit
    scope (the compiled outputs of ``bdg export --unit``)."""
    root = await default_scope_unit(s, home, ADMIN)
    if home.kind == AGENCY_KIND and root is not home:
        return root, home
    return root, await agency_for(s, root)


async def scope_of(s: AsyncSession, officer: Officer, home: Unit | None = None) -> Scope:
    """The officer's scope (explicit, or the default above)."""
    if home is None or home.id != officer.unit_id:
        home = await s.get(Unit, officer.unit_id)
        assert home is not None, "an officer's unit exists (foreign key)"
    root: Unit | None = None
    if officer.scope_unit_id is not None:
        root = await s.get(Unit, officer.scope_unit_id)
    if root is None:
        root = await default_scope_unit(s, home, officer.role)
    if home.kind == AGENCY_KIND and in_subtree(root, home):
        agency: Unit | None = home
    else:
        agency = await agency_for(s, root)
    return Scope(home=home, root=root, agency=agency, admin=officer.role == ADMIN)


async def answering_for(
    s: AsyncSession, unit: Unit, *, admins_only: bool = False
) -> Sequence[Officer]:
    """Active officers whose scope root is exactly ``unit`` (explicit or by default), in the
    order they registered."""
    assert unit.id is not None
    agency_children = select(Unit.id).where(Unit.parent_id == unit.id, Unit.kind == AGENCY_KIND)
    at_home = col(Officer.unit_id) == unit.id
    if unit.kind == AGENCY_KIND and unit.parent_id is not None:
        # An admin at an agency answers for the agency's parent, not for the agency.
        at_home = and_(at_home, col(Officer.role) != ADMIN)
    by_default = and_(
        col(Officer.scope_unit_id).is_(None),
        or_(
            at_home,
            and_(col(Officer.role) == ADMIN, col(Officer.unit_id).in_(agency_children)),
        ),
    )
    q = select(Officer).where(
        col(Officer.active).is_(True),
        or_(col(Officer.scope_unit_id) == unit.id, by_default),
    )
    if admins_only:
        q = q.where(col(Officer.role) == ADMIN)
    return (await s.exec(q.order_by(col(Officer.id)))).all()


async def seed_demo_agency_admin(s: AsyncSession, channel: str, user_id: str) -> Officer | None:
    """The demo's standing-agency admin (home ``42-SNV``, scope the province), reachable in
    the terminal chat as ``user_id``. Does nothing when the demo agency is missing or the
    account already belongs to someone."""
    agency = await queries.unit_by_code(s, "42-SNV")
    if agency is None or agency.parent_id is None:
        return None
    acc = await queries.account(s, channel, user_id)
    if acc is not None and acc.officer_id is not None:
        return None
    officer = Officer(
        unit_id=agency.id or 0,
        full_name="Cán bộ thường trực (demo)",
        position="Chuyên viên Sở Nội vụ",
        role=ADMIN,
        scope_unit_id=agency.parent_id,
    )
    s.add(officer)
    await s.flush()
    if acc is None:
        acc = ChannelAccount(channel=channel, user_id=user_id, chat_id=user_id)
        s.add(acc)
    acc.officer_id = officer.id
    await s.flush()
    return officer


async def example_codes(s: AsyncSession, root: Unit, n: int = 2) -> list[str]:
    """Codes of the first ``n`` reporting units under ``root`` (tree order), for the examples
    of an admin's help ("/moi 28303 28318"): the admin's own units, never the demo data's.
    The root's own code fills in when the subtree has fewer."""
    rows = (
        await s.exec(
            select(Unit.code)
            .where(col(Unit.path).startswith(root.path), col(Unit.reports).is_(True))
            .order_by(col(Unit.path))
            .limit(n)
        )
    ).all()
    codes = list(rows)
    return codes + [root.code] * (n - len(codes))
