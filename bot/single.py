"""SQLite is the embedded, single-process database: only one bot process (``bdg run`` or
``bdg serve``) may serve a SQLite file at a time. Several workers need PostgreSQL.

The guard is an exclusive ``flock`` on a file beside the database, held for the life of the
process: a second process is refused at once with a clear message, and a process that crashed
releases it with its last breath (the kernel drops the lock), so a restart takes over at once.
Admin commands (``bdg invite``, ``bdg export`` …) do not take it: they may run beside the bot.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from db.engine import is_sqlite, normalise_url


class AlreadyServed(RuntimeError):
    """Another process serves this SQLite database (``path``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"another bdg process is already serving {path}")
        self.path = path


def lock_path(database_url: str) -> Path | None:
    """The lock file of a SQLite database file; None for PostgreSQL or an in-memory SQLite."""
    url = normalise_url(database_url)
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + ".serving.lock")


def database_path(lock: Path) -> Path:
    return lock.with_name(lock.name.removesuffix(".serving.lock"))


@contextlib.contextmanager
def only_process(database_url: str) -> Iterator[None]:
    """Hold the database's serving lock while the block runs; raise ``AlreadyServed`` when
    another process holds it."""
    path = lock_path(database_url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyServed(database_path(path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
