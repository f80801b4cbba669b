"""A real `python -m bot <command>` process for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from db.crypto import new_key_spec


class Bot:
    """One `python -m bot <command>` process; its output goes to a file shown on failure."""

    def __init__(self, command: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", command],
                env=env,
                cwd=log.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)

    def ensure_dead(self) -> None:
        if self.proc.poll() is None:
            self.kill()

    async def wait_healthy(self, port: int, seconds: float = 30.0) -> None:
        """Until ``bdg serve`` on ``port`` answers /healthz; fails with its output if it
        exits or does not come up within about ``seconds``."""
        async with httpx.AsyncClient() as http:
            for _ in range(int(seconds / 0.05)):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert self.proc.poll() is None, self.output()[-5000:]
                await asyncio.sleep(0.05)
        raise AssertionError("bdg serve did not come up:\n" + self.output()[-5000:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(db_config: dict[str, Any], **settings: str) -> dict[str, str]:
    """The environment of a bot process: this machine's, without any bot setting that could
    leak in, plus the test database, a clock pinned inside the annual report window, and
    ``settings``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "ZALO_", "BDG_")) and k != "PUBLIC_URL"
    }
    env.update(
        DATABASE_URL=str(db_config["url"]),
        BDG_FAKE_NOW="2026-11-25T09:00",
        BDG_LOG_LEVEL="INFO",
        **settings,
    )
    if db_config["schema"]:
        env["BDG_DB_SCHEMA"] = str(db_config["schema"])
        # PostgreSQL refuses to start without configured case keys (bot.app.check_case_keys).
        env.setdefault("BDG_CASE_KEYS", TEST_CASE_KEYS)
    return env


TEST_CASE_KEYS = new_key_spec("e2e1")
