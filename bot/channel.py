"""What every messenger channel offers the rest of the process.

A channel turns platform updates into ``Incoming`` for the dispatcher (polling or webhook)
and sends ``Reply`` objects. The outbox dispatcher uses ``send`` and reads the typed errors
below to decide between retrying later, giving up, and marking an account unreachable.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from starlette.routing import BaseRoute

from handlers.core import Reply


class SendError(Exception):
    """Base of send failures. Messages never include the text being sent."""


class RetryLater(SendError):
    """Rate limited (HTTP 429): try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float, detail: str = "rate limited") -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Transient(SendError):
    """A 5xx or network error: retry with exponential backoff."""


class Unreachable(SendError):
    """The user blocked the bot or the chat is gone (403): stop sending to this account."""


class Rejected(SendError):
    """The platform refused the request itself (400): retrying will not help."""


class Channel(Protocol):
    name: str  # "telegram" | "zalo" | "terminal"

    async def start(self, *, webhook: bool) -> None:
        """Connect (getMe), set the command menu, and set or delete the webhook."""

    async def run_polling(self, stop: asyncio.Event) -> None:
        """Long-poll for updates until ``stop`` is set, dispatching each one."""

    def web_routes(self) -> list[BaseRoute]:
        """Routes for ``bdg serve`` (the webhook endpoint)."""

    async def send(self, chat_id: str, reply: Reply) -> list[str]:
        """Send one reply (split if too long); returns platform message ids, or raises a
        ``SendError`` subclass."""

    async def stop(self) -> None: ...
