"""Helpers for the web desk's tests: the Starlette app of ``bdg serve`` over the test
database and clock, and signing in from a /web link sent in the chat."""

from __future__ import annotations

import re

import httpx

from bot.app import App
from bot.web import create_web_app, desk
from db.engine import Database
from handlers.dispatch import Dispatcher
from kernel.settings import Settings
from tests.chat import Chat

PUBLIC = "https://bdg.example.vn"
LINK = re.compile(r"https://bdg\.example\.vn/web/login/([A-Za-z0-9_-]+)")


def web_app(db: Database, dispatcher: Dispatcher, public_url: str = PUBLIC) -> App:
    dispatcher.services.public_url = public_url
    settings = Settings(PUBLIC_URL=public_url)  # type: ignore[call-arg]
    return App(settings, db, dispatcher, dispatcher.clock)


def client(app: App, base: str = PUBLIC) -> httpx.AsyncClient:
    web = create_web_app(app, desk.routes(app))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url=base, follow_redirects=False
    )


async def web_token(chat: Chat) -> str:
    out = await chat.send("/web")
    found = LINK.search(out)
    assert found, out
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, chat: Chat) -> httpx.Response:
    token = await web_token(chat)
    form = await http.get(f"/web/login/{token}")
    assert form.status_code == 200
    return await http.post("/web/login", data={"token": token})


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)
