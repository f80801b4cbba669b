"""``bot.webhooks.ChatSender``: each chat's sends in order, chats independent, and a
cancelled send neither runs nor cancels the one before it."""

from __future__ import annotations

import asyncio

from bot.webhooks import ChatSender


async def test_one_chat_in_order_and_chats_do_not_wait_for_each_other() -> None:
    sender, done = ChatSender(), []
    slow = asyncio.Event()

    async def send(tag: str, wait: asyncio.Event | None = None) -> None:
        if wait is not None:
            await wait.wait()
        done.append(tag)

    sender.later("a", lambda: send("a1", slow))
    sender.later("a", lambda: send("a2"))
    sender.later("b", lambda: send("b1"))
    await asyncio.sleep(0.01)
    assert done == ["b1"]  # chat b did not wait behind chat a
    slow.set()
    await sender.drain(1)
    assert done == ["b1", "a1", "a2"]


async def test_a_failed_send_does_not_stop_the_next() -> None:
    sender, done = ChatSender(), []

    async def fail() -> None:
        raise RuntimeError("platform down")

    async def ok() -> None:
        done.append("second")

    sender.later("a", fail)
    sender.later("a", ok)
    await sender.drain(1)
    assert done == ["second"]


async def test_cancelling_a_waiting_send_neither_runs_it_nor_cancels_the_earlier_one() -> None:
    sender, done = ChatSender(), []
    gate = asyncio.Event()

    async def first() -> None:
        await gate.wait()
        done.append("first")

    async def second() -> None:
        done.append("second")

    sender.later("a", first)
    sender.later("a", second)
    waiting = sender._chains["a"]
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.sleep(0.01)
    gate.set()
    await sender.drain(1)
    assert done == ["first"]
    assert waiting.cancelled()
