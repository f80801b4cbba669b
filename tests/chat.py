"""Test helpers that read like a conversation: ``await chat.send("12 30")`` returns what the
bot answered, rendered as the terminal shows it."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from bot.render import render_plain
from db.engine import Database
from handlers.dispatch import Dispatcher
from handlers.registration import new_invite
from kernel.messages import Incoming, Outcome

_ids = itertools.count(1)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


class Chat:
    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        user: str = "u1",
        channel: str = "terminal",
        lang: str = "vi",
    ) -> None:
        self.dispatcher = dispatcher
        self.user = user
        self.channel = channel
        self.lang = lang
        self.last: Outcome | None = None
        self.log: list[tuple[str, str]] = []

    async def send(
        self,
        text: str | None = None,
        *,
        option: str | None = None,
        dedupe_key: str | None = None,
        media: str | None = None,
        chat_type: str = "private",
    ) -> str:
        inc = Incoming(
            channel=self.channel,
            chat_id=self.user,
            user_id=self.user,
            text=text,
            option=option,
            lang=self.lang,
            media=media,
            chat_type=chat_type,
            dedupe_key=dedupe_key or f"{self.channel}:{next(_ids)}",
        )
        self.last = await self.dispatcher.handle(inc)
        out = "\n".join(render_plain(r, self.lang) for r in self.last.replies)
        self.log.append((text or option or "", out))
        return out

    async def tap(self, option: str) -> str:
        return await self.send(option=option)

    async def register(
        self,
        db: Database,
        unit_code: str = "28303",
        role: str = "officer",
        name: str = "Nguyễn Thị Lan",
        position: str = "Công chức VH-XH",
    ) -> str:
        code = await new_invite(db, unit_code, role=role, now=self.dispatcher.clock())
        await self.send(f"/start {code}")
        await self.send(name)
        return await self.send(position)


def choices(outcome: Outcome | None) -> list[Any]:
    assert outcome is not None
    return [c for r in outcome.replies for c in r.choices]
