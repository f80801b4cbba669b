"""The terminal channel: try the bot in a shell, or pipe a transcript through it.

Choices appear as a numbered list answered by number or text. When stdin is not a terminal,
lines are read one by one and echoed after ``> `` so the output reads as a transcript.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.render import render_plain
from db.models import Unit
from handlers.dispatch import Dispatcher
from kernel.i18n import t
from kernel.messages import Incoming
from kernel.text import clean_incoming

CHANNEL = "terminal"


async def banner_line(s: AsyncSession, lang: str) -> str:
    """The first line: whose data the chat runs on (the top unit of the tree, "tỉnh Quảng
    Ngãi"), never a fixed province."""
    top = (
        await s.exec(select(Unit).where(col(Unit.parent_id).is_(None)).order_by(col(Unit.id)))
    ).first()
    if top is None:
        return t(lang, "terminal.banner_empty")
    name = top.name
    if top.kind in ("province", "city"):  # a common noun inside a sentence: "tỉnh Hà Tĩnh"
        name = name[:1].lower() + name[1:]
    return t(lang, "terminal.banner", province=name)


async def run_terminal(
    dispatcher: Dispatcher,
    user: str,
    *,
    lang: str = "vi",
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    banner: list[str] | None = None,
) -> None:
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    interactive = stdin.isatty()
    if banner is None:
        async with dispatcher.db.session() as s:
            banner = [await banner_line(s, lang)]
    for line in banner:
        print(line, file=out)
    while True:
        if interactive:
            print("\n> ", end="", file=out, flush=True)
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        text = line.rstrip("\r\n")
        if not interactive:
            print(f"\n> {text}", file=out)
        outcome = await dispatcher.handle(
            clean_incoming(
                Incoming(channel=CHANNEL, chat_id=user, user_id=user, text=text, lang=lang)
            )
        )
        for reply in outcome.replies:
            print(render_plain(reply, lang), file=out, flush=True)
