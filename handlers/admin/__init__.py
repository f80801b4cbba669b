"""The standing agency's desk: commands for admins (officers registered with an admin invite).

Each module registers its commands on the router:
- ``invites``: /moi (invite codes and Telegram deep links for units of the subtree);
- ``officers``: /canbo (list; deactivate with a confirmation);
- ``desk``: /tinhhinh (reporting and on-time rates, units not reported), /tonghop (XLSX,
  DOCX and charts, or signed links on Zalo);
- ``announce``: /thongbao (an announcement through the outbox, and its delivery counts);
- ``locks``: /khoa and /mokhoa (with the reason in the audit log);
- ``deadlines``: /lich for admins also sets the subtree's deadline overrides.

Every command checks the role, acts only inside the admin's subtree (``common.Scope``), and
audits refusals. See docs/admin.md.
"""

# /lich must be registered before ``deadlines`` wraps it, whatever order features.py uses.
from handlers import info  # noqa: F401, I001
from handlers.admin import announce, deadlines, desk, invites, locks, officers  # noqa: F401
