"""The emergency numbers never depend on anything that can fail.

When an update that starts a case report (``/baovuviec`` and its aliases ``sos``, ``cứu`` …,
the menu's first item, a message speaking of danger) cannot be handled — the encryption keys,
the database or the routing failed — the dispatcher still answers with the national emergency
numbers, from the catalog alone, before its apology. Nothing here touches the database.
"""

from __future__ import annotations

from handlers.router import Router
from kernel.i18n import normalise_lang, t
from kernel.messages import Incoming, Reply
from services.cases.parsers import is_danger_text

CASE_COMMAND = "baovuviec"
CASE_MENU_KEY = "menu:case"
# A newcomer's numbered menu lists the case report first: "1" may be that choice.
FIRST_ITEM = "1"


def wants_numbers(inc: Incoming, router: Router) -> bool:
    """Whether this update may come from someone who needs help now."""
    if inc.option == CASE_MENU_KEY:
        return True
    text = (inc.text or "").strip()
    if not text or inc.chat_type != "private":
        return False
    if text == FIRST_ITEM:
        return True
    parsed = router.parse_command(text)
    if parsed is not None and parsed[0].name == CASE_COMMAND:
        return True
    return is_danger_text(text)


def numbers_reply(inc: Incoming) -> Reply:
    return Reply(t(normalise_lang(inc.lang), "case.numbers_line"))
