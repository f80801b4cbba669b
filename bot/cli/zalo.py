"""``bdg zalo …``: check the Zalo bot token and webhook without starting the bot."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from bot.zalo.client import ZaloClient, ZaloError
from kernel.settings import get_settings


def register(main: click.Group) -> None:
    main.add_command(zalo)


@click.group()
def zalo() -> None:
    """The Zalo Bot Platform channel (ZALO_BOT_TOKEN, ZALO_API_URL)."""


def _client() -> ZaloClient:
    settings = get_settings()
    if not settings.zalo_bot_token:
        raise click.ClickException("ZALO_BOT_TOKEN is not set")
    return ZaloClient(settings.zalo_bot_token, settings.zalo_api_url)


@zalo.command("info")
def info() -> None:
    """Show the bot (getMe) and its webhook (getWebhookInfo); the token is never printed."""

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with _client() as client:
            return await client.get_me(), await client.get_webhook_info()

    try:
        me, hook = asyncio.run(go())
    except ZaloError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"API: {get_settings().zalo_api_url}")
    click.echo(f"Bot: {me.get('account_name') or '?'} (id {me.get('id') or '?'})")
    url = hook.get("url") or ""
    click.echo(f"Webhook: {url or 'none (bdg run polls getUpdates)'}")


@zalo.command("delete-webhook")
def delete_webhook() -> None:
    """Remove the webhook so that `bdg run` can poll (it also does this when it starts)."""

    async def go() -> None:
        async with _client() as client:
            await client.delete_webhook()

    try:
        asyncio.run(go())
    except ZaloError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("Webhook deleted.")
