"""Violence case notifications (issue 6): a hotline-style intake anyone can use, routing to
the officers who must act, escalation, follow-up, and protection of the data.

Modules: ``intake`` (the conversation, and the danger-word welcome), ``officer`` (/vuviec,
no-contact orders), ``assign`` (/giaoviec), ``duty`` (/truc, a commune's duty roster),
``stats`` (counts offered to the report). The services they use (routing, escalation,
retention, encryption keys) are in ``services.cases``. See docs/cases.md.
"""

from handlers.cases import assign, duty, intake, officer, stats
from handlers.router import Deps, Router


def register(router: Router, deps: Deps) -> None:
    intake.register(router, deps)
    officer.register(router, deps)
    assign.register(router, deps)
    duty.register(router, deps)
    router.suggesters.append(stats.SUGGESTER)
