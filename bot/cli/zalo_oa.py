"""``bdg zalo-oa …``: the Official Account's OAuth tokens without starting the bot."""

from __future__ import annotations

from urllib.parse import urlencode

import click

from bot.app import App
from bot.cli.common import run_async
from bot.zalo_oa.channel import WEBHOOK_PATH
from bot.zalo_oa.client import OAClient, OAError
from bot.zalo_oa.tokens import TokenStore
from kernel.settings import ZaloOASettings, get_settings
from services.cases.config import keyring

PERMISSION_PATH = "/v4/oa/permission"


def register(main: click.Group) -> None:
    main.add_command(zalo_oa)


@click.group("zalo-oa")
def zalo_oa() -> None:
    """The Zalo Official Account channel (ZALO_OA_APP_ID, ZALO_OA_SECRET_KEY)."""


def _cfg() -> ZaloOASettings:
    cfg = get_settings().zalo_oa
    if not cfg.app_id or not cfg.secret_key:
        raise click.ClickException("ZALO_OA_APP_ID and ZALO_OA_SECRET_KEY are not set")
    return cfg


def _store(app: App, cfg: ZaloOASettings) -> TokenStore:
    client = OAClient(
        app_id=cfg.app_id or "",
        secret_key=cfg.secret_key or "",
        api_url=cfg.api_url,
        oauth_url=cfg.oauth_url,
        zns_url=cfg.zns_url,
    )
    return TokenStore(app.db, client, keyring(), margin=cfg.refresh_margin)


@zalo_oa.command("url")
@click.option("--redirect", required=True, help="The callback URL registered for the app.")
def url(redirect: str) -> None:
    """Print the URL where the OA administrator grants the app access; Zalo then redirects to
    --redirect with ?code=…, to give to `bdg zalo-oa login`."""
    cfg = _cfg()
    query = urlencode({"app_id": cfg.app_id, "redirect_uri": redirect})
    click.echo(f"{cfg.oauth_url.rstrip('/')}{PERMISSION_PATH}?{query}")


@zalo_oa.command("login")
@click.argument("code")
def login(code: str) -> None:
    """Exchange an authorization CODE for tokens and store them (encrypted) in the database."""
    cfg = _cfg()

    async def go(app: App) -> int:
        store = _store(app, cfg)
        try:
            return await store.adopt(await store.client.exchange_code(code))
        finally:
            await store.client.close()

    try:
        generation = run_async(go)
    except OAError as exc:
        raise click.ClickException(f"Zalo refused the code: {exc}") from None
    click.echo(f"Tokens stored (generation {generation}); they are rotated automatically.")


@zalo_oa.command("info")
def info() -> None:
    """What is stored (never the tokens themselves) and where the webhook goes."""
    cfg = _cfg()

    async def go(app: App) -> tuple[int, str] | None:
        store = _store(app, cfg)
        try:
            row = await store.status()
        finally:
            await store.client.close()
        if row is None:
            return None
        expires = row.access_expires_at.isoformat() if row.access_expires_at else "none yet"
        return row.generation, expires

    found = run_async(go)
    click.echo(f"App: {cfg.app_id}  API: {cfg.api_url}")
    if found is None:
        click.echo("Tokens: none stored (set ZALO_OA_REFRESH_TOKEN or run `bdg zalo-oa login`)")
    else:
        click.echo(f"Tokens: generation {found[0]}, access token valid until {found[1]} (UTC)")
    public = get_settings().public_url or "<PUBLIC_URL>"
    click.echo(
        f"Webhook (set it in the Zalo developers' console): {public.rstrip('/')}{WEBHOOK_PATH}"
    )
