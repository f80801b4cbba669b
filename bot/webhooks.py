"""What every webhook endpoint and every webhook-mode channel shares: reading a signed JSON
update safely, and sending each chat's replies in order after the webhook was answered."""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from starlette.requests import ClientDisconnect, Request


class WebhookRefused(Exception):
    """The request is not an update this endpoint takes; ``status`` says why (403 wrong or
    missing secret, 413 too large, 400 not a JSON object)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# No update of either platform nests more than a dozen levels; parsing (and everything that
# walks the parsed value afterwards) stays far from Python's recursion limit.
MAX_JSON_DEPTH = 64
# A string (to the end of the text when it is not closed, so the scan stays linear) or a bracket.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_OPENING = frozenset(b"[{")


def too_deep(body: bytes | bytearray, limit: int) -> bool:
    """Whether the JSON text ``body`` opens more than ``limit`` arrays or objects inside each
    other: one linear scan of the brackets outside strings, before anything is parsed."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _TOKEN.finditer(body):
        first = body[match.start()]
        if first in _OPENING:
            depth += 1
            if depth > limit:
                return True
        elif first != 0x22:  # a closing bracket; strings are skipped
            depth -= 1
    return False


def secret_matches(given: str | None, secret: str) -> bool:
    """Constant-time comparison; an unset secret matches nothing."""
    return (
        bool(secret) and given is not None and hmac.compare_digest(given.encode(), secret.encode())
    )


async def read_json_update(
    request: Request, *, secret: str, header: str, max_bytes: int
) -> dict[str, Any]:
    """The JSON object of a webhook request whose ``header`` carries ``secret``: the secret is
    checked before anything is read, the body is read up to ``max_bytes``; anything else
    raises ``WebhookRefused``."""
    if not secret_matches(request.headers.get(header), secret):
        raise WebhookRefused(403, "forbidden")
    return _parse(await read_body(request, max_bytes=max_bytes))


async def read_signed_update(
    request: Request, *, verify: Callable[[bytes, dict[str, Any]], bool], max_bytes: int
) -> dict[str, Any]:
    """The JSON object of a webhook request signed over its body (the Zalo OA signs the body
    with a timestamp it carries): read up to ``max_bytes``, parsed, then ``verify(body, data)``;
    a false verdict raises ``WebhookRefused(403)``."""
    body = await read_body(request, max_bytes=max_bytes)
    data = _parse(body)
    if not verify(body, data):
        raise WebhookRefused(403, "forbidden")
    return data


async def read_body(request: Request, *, max_bytes: int) -> bytes:
    """The request body, refused (413) past ``max_bytes`` without reading further."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise WebhookRefused(413, "too large")
    body = bytearray()
    try:
        async for part in request.stream():
            body += part
            if len(body) > max_bytes:
                raise WebhookRefused(413, "too large")
    except ClientDisconnect:
        raise WebhookRefused(400, "disconnected") from None
    return bytes(body)


def _parse(body: bytes) -> dict[str, Any]:
    if too_deep(body, MAX_JSON_DEPTH):
        raise WebhookRefused(400, "nested too deeply")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise WebhookRefused(400, "not JSON") from None
    if not isinstance(data, dict):
        raise WebhookRefused(400, "not a JSON object")
    return data


class ChatSender:
    """Runs each chat's sends one after another, in the order they were asked for, without
    holding the caller (a webhook answers the platform at once). Chats do not wait for each
    other."""

    def __init__(self) -> None:
        self._chains: dict[Hashable, asyncio.Task[None]] = {}  # each chat's latest send
        self._running: set[asyncio.Task[None]] = set()  # every send not finished

    def later(self, chat: Hashable, send: Callable[[], Awaitable[object]]) -> None:
        previous = self._chains.get(chat)

        async def chain() -> None:
            if previous is not None:
                # Wait for the chat's earlier send whatever its outcome, without tying the two
                # together: ``await previous`` would cancel it when this one is cancelled, and
                # suppressing that cancellation would then run this send anyway.
                await asyncio.wait([previous])
            await send()

        task: asyncio.Task[None] = asyncio.create_task(chain())
        self._chains[chat] = task
        self._running.add(task)

        def forget(done: asyncio.Task[None]) -> None:
            self._running.discard(done)
            if self._chains.get(chat) is done:
                del self._chains[chat]

        task.add_done_callback(forget)

    async def drain(self, grace: float = 10.0) -> None:
        """Let the sends in flight finish (at most ``grace`` seconds)."""
        pending = [task for task in self._running if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=grace)
