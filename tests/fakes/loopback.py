"""What the loopback protocol stand-ins share: a listening socket on 127.0.0.1, a uvicorn
server that notices a stop quickly, and the sync/async context-manager protocol over each
stand-in's own ``start()`` / ``stop()``."""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType
from typing import Self

import uvicorn


def loopback_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound TCP socket (an ephemeral port by default) for uvicorn to serve on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TCP_NODELAY; without it every call waits ~40 ms for a
    # delayed ACK (asyncio sets it only for sockets it creates with an explicit proto).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


class QuickServer(uvicorn.Server):
    """uvicorn server that notices ``should_exit`` within 10 ms instead of 100 ms."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)


class ServerContext:
    """``with stand_in:`` and ``async with stand_in:`` over ``start()`` and ``stop()`` (the
    async form runs them in a thread: they block until the server is up or down)."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
