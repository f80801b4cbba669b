"""The standing agency's desk: commands for admins (officers registered with an admin invite).

- ``invites``: /moi (invite codes and Telegram deep links for units of the subtree);
- ``officers``: /canbo (list; deactivate with a confirmation);
- ``desk``: /tinhhinh (reporting and on-time rates, units not reported), /tonghop (XLSX,
  DOCX and charts, or signed links on Zalo);
- ``announce``: /thongbao (an announcement through the outbox, and its delivery counts);
- ``locks``: /khoa and /mokhoa (with the reason in the audit log);
- ``deadlines``: /lich for admins also sets the subtree's deadline overrides.

The router lets only admins in (roles declared on each command, refusals audited there); each
command acts only inside the admin's subtree (``common.Scope``). See docs/admin.md.
"""

from handlers.admin import announce, deadlines, desk, invites, locks, officers
from handlers.router import Deps, Router


def register(router: Router, deps: Deps) -> None:
    """The desk's commands; ``deadlines`` adds to /lich, so the info feature comes first."""
    for feature in (invites, officers, desk, announce, locks, deadlines):
        feature.register(router, deps)
