"""The Telegram channel's side of the one send budget (``scheduler.budget``).

python-telegram-bot's ``AIORateLimiter`` is not used: it counted per process (two workers sent
at twice Telegram's limit) and stood in series with the outbox's limiter (every outbox message
waited twice, and a 429 paused the whole bot). Instead every Bot API call that puts a message
in a chat, or edits one, is *charged* to the shared budget as it goes out, without waiting: a
person's answer is never held back, and the outbox (which waits for its slots) slows down by
as much. The outbox's own sends have taken their slot already and are not charged again.

What counts, as Telegram counts it (its limits are per message sent to a chat): ``send*``,
``copyMessage``, ``forwardMessage`` and the edits of our own messages (``editMessage*``: they
change what a chat shows and are rate limited like messages, 20 a minute in groups). Not
counted: ``answerCallbackQuery`` (no message), ``sendChatAction``, ``getUpdates``, ``getMe``,
``setMyCommands``, ``setWebhook``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import BaseRateLimiter

from scheduler.budget import is_slot_taken

COUNTED = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "sendAudio",
        "sendVideo",
        "sendVoice",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
        "editMessageMedia",
    }
)


class BudgetLimiter(BaseRateLimiter[None]):
    """Charges each counted call to ``charge(chat_id)`` (set by the runner once the scheduler's
    budget exists; until then, and without a scheduler, nothing is counted)."""

    def __init__(self) -> None:
        self.charge: Callable[[str], None] | None = None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if self.charge is not None and endpoint in COUNTED and not is_slot_taken():
            chat = data.get("chat_id")
            if chat is not None:
                self.charge(str(chat))
        return await callback(*args, **kwargs)
