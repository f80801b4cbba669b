"""The emergency numbers never fail (issue 12, defect 1): whatever breaks while a case report
starts — the encryption keys, the database, the routing — the person still gets them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from db.crypto import CryptoError, Keyring
from handlers.cases import intake
from handlers.dispatch import Dispatcher
from kernel.i18n import t
from services import privacy
from services.cases import config
from tests.chat import Chat

STARTS = ["/baovuviec", "baovuviec", "sos", "/sos", "/sos@bdg_bot", "cứu", "1"]


def broken_keyring() -> Keyring:
    raise CryptoError("key k1 must be 32 bytes (base64 of 32 random bytes)")


def break_keys(monkeypatch: pytest.MonkeyPatch, dispatcher: Dispatcher) -> None:
    for module in (config, intake, privacy):
        monkeypatch.setattr(module, "keyring", broken_keyring)


def break_database(monkeypatch: pytest.MonkeyPatch, dispatcher: Dispatcher) -> None:
    @asynccontextmanager
    async def session() -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        yield  # pragma: no cover

    monkeypatch.setattr(dispatcher.db, "session", session)


def break_routing(monkeypatch: pytest.MonkeyPatch, dispatcher: Dispatcher) -> None:
    async def explode(*_args: Any, **_kw: Any) -> None:
        raise RuntimeError("routing failed")

    monkeypatch.setattr(dispatcher.router, "run_command", explode)
    monkeypatch.setattr(dispatcher, "route", explode)


BREAKS: dict[str, Callable[[pytest.MonkeyPatch, Dispatcher], None]] = {
    "keys": break_keys,
    "database": break_database,
    "routing": break_routing,
}


def has_numbers(out: str, lang: str = "vi") -> bool:
    return t(lang, "case.numbers_line").split("<b>")[0] in out and "113" in out and "111" in out


@pytest.mark.parametrize("broken", sorted(BREAKS))
async def test_the_numbers_come_whatever_breaks(
    broken: str,
    dispatcher: Dispatcher,
    make_chat: Callable[..., Chat],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    BREAKS[broken](monkeypatch, dispatcher)
    for i, text in enumerate(STARTS):
        chat = make_chat(f"person-{broken}-{i}")
        out = await chat.send(text)
        assert has_numbers(out), (broken, text, out)
    tapped = make_chat(f"tap-{broken}")
    out = await tapped.send(option="menu:case")
    assert has_numbers(out), (broken, "menu:case", out)
    english = make_chat(f"en-{broken}", lang="en")
    assert has_numbers(await english.send("/sos"), "en")


async def test_other_failures_do_not_add_the_numbers(
    dispatcher: Dispatcher, make_chat: Callable[..., Chat], monkeypatch: pytest.MonkeyPatch
) -> None:
    break_routing(monkeypatch, dispatcher)
    out = await make_chat("officer").send("/lich")
    assert t("vi", "err.internal") in out and not has_numbers(out)
