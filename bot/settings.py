"""Process settings, read from the environment and an optional `.env` file.

Every external address is a setting so that loopback stand-ins can replace the real servers
in tests. See the README for the full list.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_PATH = Path("data") / "bdg.sqlite3"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_DB_PATH}", alias="DATABASE_URL"
    )
    # PostgreSQL schema (search_path) to use; empty = the server's default.
    db_schema: str | None = Field(default=None, alias="BDG_DB_SCHEMA")
    timezone: str = Field(default="Asia/Ho_Chi_Minh", alias="BDG_TIMEZONE")
    locale: str = Field(default="vi", alias="BDG_LOCALE")
    invite_days: int = Field(default=14, alias="BDG_INVITE_DAYS")
    # Forms and the calendar are data; a province may point these at its own files.
    form_dir: Path | None = Field(default=None, alias="BDG_FORM_DIR")
    calendar_file: Path | None = Field(default=None, alias="BDG_CALENDAR_FILE")
    # Fixed "now" for demos and transcript tests (ISO 8601, local time). Empty = real clock.
    fake_now: str | None = Field(default=None, alias="BDG_FAKE_NOW")
    log_level: str = Field(default="INFO", alias="BDG_LOG_LEVEL")
    # Violence cases (docs/cases.md): escalation delay, retention, encryption keys.
    case_escalate_minutes: int = Field(default=30, ge=1, alias="BDG_CASE_ESCALATE_MINUTES")
    case_retention_months: int = Field(default=24, ge=1, alias="BDG_CASE_RETENTION_MONTHS")
    case_keys: str | None = Field(default=None, alias="BDG_CASE_KEYS")

    telegram_bot_token: str | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field(default="https://api.telegram.org", alias="TELEGRAM_API_URL")
    telegram_webhook_secret: str | None = Field(default=None, alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_bot_username: str | None = Field(default=None, alias="TELEGRAM_BOT_USERNAME")
    zalo_bot_token: str | None = Field(default=None, alias="ZALO_BOT_TOKEN")
    zalo_api_url: str = Field(default="https://bot-api.zaloplatforms.com", alias="ZALO_API_URL")
    zalo_webhook_secret: str | None = Field(default=None, alias="ZALO_WEBHOOK_SECRET")
    public_url: str | None = Field(default=None, alias="PUBLIC_URL")
    host: str = Field(default="127.0.0.1", alias="BDG_HOST")
    port: int = Field(default=8080, alias="BDG_PORT")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
