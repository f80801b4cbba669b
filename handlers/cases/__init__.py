"""Violence case notifications (issue 6): a hotline-style intake anyone can use, routing to
the officers who must act, escalation, follow-up, and protection of the data.

Modules: ``intake`` (the conversation), ``officer`` (/vuviec), ``routing`` (alerts and
``escalate_due`` for the scheduler), ``stats`` (counts for the report), ``retention``
(purge, rekey), ``cli`` (``bdg cases …``). See docs/cases.md.
"""

from handlers import report
from handlers.cases import intake, officer, stats  # noqa: F401  (registers routes)
from handlers.cases.stats import case_counts
from handlers.router import router
from services.cases.routing import escalate_due

if stats.SUGGESTER not in report.SUGGESTERS:
    report.SUGGESTERS.append(stats.SUGGESTER)

# Danger words in a newcomer's message lead the welcome with the emergency numbers, once the
# router offers welcome hooks (docs/cases.md, "Danger words"); until then nothing happens here.
_hooks = getattr(router, "welcome_hooks", None)
if isinstance(_hooks, list) and intake.danger_welcome not in _hooks:
    _hooks.append(intake.danger_welcome)

__all__ = ["case_counts", "escalate_due"]
