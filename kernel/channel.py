"""What every messenger channel offers the rest of the process.

A channel turns platform updates into ``Incoming`` for the dispatcher (polling or webhook)
and sends ``Reply`` objects. The outbox dispatcher uses ``send`` and reads the typed errors
below to decide between retrying later, giving up, and marking an account unreachable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

from starlette.routing import BaseRoute

from kernel.messages import Reply


class SendError(Exception):
    """Base of send failures. Messages never include the text being sent."""


class RetryLater(SendError):
    """Rate limited (HTTP 429): try again after ``retry_after`` seconds. ``chat`` says whether
    the refusal is tied to the chat written to (the outbox then pauses only that chat) or is
    global to the bot (the outbox pauses the whole channel)."""

    def __init__(
        self, retry_after: float, detail: str = "rate limited", *, chat: bool = True
    ) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.chat = chat


class Transient(SendError):
    """A 5xx or network error: retry with exponential backoff."""


class Unreachable(SendError):
    """The user blocked the bot or the chat is gone (403): stop sending to this account."""


class Rejected(SendError):
    """The platform refused the request itself (400): retrying will not help."""


T = TypeVar("T")

# A reply to someone who is typing is worth a short wait, not a long one: a rate limit longer
# than this gives up (the answer is saved; the user sees nothing and may ask again).
MAX_REPLY_RETRY_AFTER = 30.0


async def reply_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    delays: tuple[float, ...],
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    log: logging.Logger,
    max_retry_after: float = MAX_REPLY_RETRY_AFTER,
) -> T | None:
    """Run ``attempt`` (one send of an interactive reply), retrying ``RetryLater`` and
    ``Transient`` after each of ``delays`` (or the platform's retry_after when longer).
    Returns None after a refusal or when the retries are spent; logs ``what`` (e.g. "Zalo
    reply to message 2d75…") and the error, never the text."""
    tries = 0
    while True:
        try:
            return await attempt()
        except (Unreachable, Rejected) as exc:
            log.warning("%s not sent: %s", what, exc)
            return None
        except (RetryLater, Transient) as exc:
            if tries >= len(delays):
                log.error("%s not sent after %d attempts: %s", what, tries + 1, exc)
                return None
            delay = delays[tries]
            if isinstance(exc, RetryLater):
                if exc.retry_after > max_retry_after:
                    log.error("%s not sent: rate limited for %.0f s", what, exc.retry_after)
                    return None
                delay = max(delay, exc.retry_after)
            tries += 1
            log.warning("%s failed (%s); retry %d in %.1f s", what, exc, tries, delay)
            await sleep(delay)


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do. Handlers read it through the context (``ctx.caps``) instead of
    testing channel names; the outbox reads the rates."""

    title: str  # how people call the channel ("Telegram", "Zalo")
    buttons: bool = False  # choices as buttons; else a numbered list answered by number or word
    edits: bool = False  # a sent question can be edited to show the answer
    files: bool = False  # documents can be sent; else compiled files go out as signed links
    max_text: int = 4096  # characters in one message (longer replies are split)
    rate: float = 10.0  # messages per second, overall
    chat_rate: float = 1.0  # messages per second to one chat


# The channels this product ships, declared once so that the conversation layer, the outbox
# and the tests share one table; the composition root replaces the rates with the configured
# ones. A new channel adds its line here and declares the same value on its class.
TELEGRAM = Capabilities("Telegram", buttons=True, edits=True, files=True, max_text=4096, rate=30.0)
ZALO = Capabilities("Zalo", max_text=2000, rate=10.0)
# Buttons are off for the OA: choices stay a numbered list (the channel adds up to
# ZALO_OA_MAX_BUTTONS buttons that send the number back, so typing and tapping are the same).
ZALO_OA = Capabilities("Zalo OA", max_text=2000, rate=10.0)
TERMINAL = Capabilities("Terminal", files=True, max_text=1_000_000, rate=1000.0, chat_rate=1000.0)
STANDARD: dict[str, Capabilities] = {
    "telegram": TELEGRAM,
    "zalo": ZALO,
    "zalo_oa": ZALO_OA,
    "terminal": TERMINAL,
}


def capabilities_of(channel: str, table: dict[str, Capabilities] | None = None) -> Capabilities:
    """The capabilities of ``channel``; an unknown channel is treated as plain text only."""
    return (table or STANDARD).get(channel) or Capabilities(channel.title())


class Channel(Protocol):
    name: str  # "telegram" | "zalo" | "zalo_oa" | "terminal"
    capabilities: Capabilities

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


class OutboxItem(Protocol):
    """What a channel may read of an outbox row (``db.models.Outbox`` has these fields)."""

    @property
    def kind(self) -> str: ...
    @property
    def chat_id(self) -> str: ...
    @property
    def account_id(self) -> int | None: ...
    @property
    def unit_id(self) -> int | None: ...
    @property
    def batch(self) -> str | None: ...
    @property
    def key(self) -> str: ...
    @property
    def not_before(self) -> datetime: ...


@runtime_checkable
class OutboxSender(Protocol):
    """A channel whose way of sending depends on the row, not only on the chat (the Zalo OA:
    a consultation message inside the window, a template outside it). The outbox dispatcher
    calls ``send_outbox`` instead of ``send`` when a channel has it."""

    async def send_outbox(self, item: OutboxItem, reply: Reply) -> list[str]: ...
