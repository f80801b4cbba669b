"""Runs the messenger channels that have tokens (filled in by the channel features)."""

from __future__ import annotations

from bot.settings import Settings


async def run_channels(settings: Settings) -> None:
    raise SystemExit("No messenger channel is built in yet; unset the tokens to use the terminal.")
