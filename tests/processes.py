"""A real `python -m bot <command>` process for end-to-end tests."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


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
