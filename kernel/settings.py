"""Process settings, read from the environment and an optional `.env` file, built once by the
entry point (``Settings()``) and passed inward; nothing else reads the environment.

Every external address is a setting so that loopback stand-ins can replace the real servers
in tests. See the README for the full list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.channel import STANDARD, Capabilities

DEFAULT_DB_PATH = Path("data") / "bdg.sqlite3"


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    # Run the planner and the outbox dispatcher in this process (`bdg run`, `bdg serve`).
    enabled: bool = Field(default=True, alias="BDG_SCHEDULER")
    # Planner tick, minutes (a cron on the quarter hours by default).
    tick_minutes: int = Field(default=15, ge=1, le=60, alias="BDG_PLANNER_MINUTES")
    # Other features' urgent periodic work (case escalation), seconds between runs.
    urgent_tick_seconds: int = Field(default=60, ge=5, le=3600, alias="BDG_URGENT_TICK_SECONDS")

    # Messages per second: overall per channel, and per chat.
    telegram_rate: float = Field(default=30.0, gt=0, alias="BDG_RATE_TELEGRAM")
    telegram_chat_rate: float = Field(default=1.0, gt=0, alias="BDG_RATE_TELEGRAM_CHAT")
    # Group chats (negative ids): Telegram allows 20 messages a minute.
    telegram_group_rate: float = Field(default=20 / 60, gt=0, alias="BDG_RATE_TELEGRAM_GROUP")
    zalo_rate: float = Field(default=10.0, gt=0, alias="BDG_RATE_ZALO")
    zalo_chat_rate: float = Field(default=1.0, gt=0, alias="BDG_RATE_ZALO_CHAT")
    zalo_oa_rate: float = Field(default=10.0, gt=0, alias="BDG_RATE_ZALO_OA")
    zalo_oa_chat_rate: float = Field(default=1.0, gt=0, alias="BDG_RATE_ZALO_OA_CHAT")
    other_rate: float = Field(default=10.0, gt=0, alias="BDG_RATE_OTHER")
    # Aim this fraction below each limit, so network jitter never pushes the rate over it
    # (chosen by measurement, docs/reminders.md).
    rate_margin: float = Field(default=0.03, ge=0, lt=0.5, alias="BDG_RATE_MARGIN")
    # A 429 pauses the chat it names (`chat`; the whole channel when the error is not tied to
    # a chat, or when several chats are refused within a second), or always the whole channel
    # (`channel`, python-telegram-bot's way).
    retry_after_scope: Literal["chat", "channel"] = Field(
        default="chat", alias="BDG_RETRY_AFTER_SCOPE"
    )

    # Sends in flight at once per channel.
    concurrency: int = Field(default=16, ge=1, le=256, alias="BDG_OUTBOX_CONCURRENCY")
    # 5xx / network errors: attempts before a row is marked failed, and the backoff.
    max_attempts: int = Field(default=6, ge=1, alias="BDG_OUTBOX_MAX_ATTEMPTS")
    backoff_base: float = Field(default=2.0, gt=0, alias="BDG_OUTBOX_BACKOFF")
    backoff_max: float = Field(default=600.0, gt=0, alias="BDG_OUTBOX_BACKOFF_MAX")
    # A retry due later than this is left to a later pass instead of waited for in place.
    max_inline_wait: float = Field(default=60.0, ge=0, alias="BDG_OUTBOX_MAX_WAIT")
    # Seconds between looks at the outbox when idle.
    poll_seconds: float = Field(default=2.0, gt=0, alias="BDG_OUTBOX_POLL")
    # Reminders and digests still unsent this long after their time are dropped (stale).
    expire_hours: float = Field(default=12.0, gt=0, alias="BDG_OUTBOX_EXPIRE_HOURS")

    # Daily maintenance (retention purge, old dedupe keys, expired codes): local hour.
    maintenance_hour: int = Field(default=3, ge=0, le=23, alias="BDG_MAINTENANCE_HOUR")
    # Keys of processed updates are kept this many days (redeliveries come within a day).
    processed_keep_days: int = Field(default=7, ge=1, le=365, alias="BDG_PROCESSED_KEEP_DAYS")

    def rates(self) -> dict[str, tuple[float, float]]:
        """Channel → (messages per second overall, per chat)."""
        return {
            "telegram": (self.telegram_rate, self.telegram_chat_rate),
            "zalo": (self.zalo_rate, self.zalo_chat_rate),
            "zalo_oa": (self.zalo_oa_rate, self.zalo_oa_chat_rate),
        }


class ZaloOASettings(BaseSettings):
    """The Zalo Official Account channel; every platform limit is a setting (docs/zalo-oa.md)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    app_id: str | None = Field(default=None, alias="ZALO_OA_APP_ID")
    # The app's secret key (OAuth v4 token calls).
    secret_key: str | None = Field(default=None, alias="ZALO_OA_SECRET_KEY")
    # The OA secret key that signs webhook events; the app's secret key when unset.
    webhook_key: str | None = Field(default=None, alias="ZALO_OA_WEBHOOK_KEY")
    # The first refresh token; afterwards the rotated tokens live (encrypted) in the database.
    refresh_token: str | None = Field(default=None, alias="ZALO_OA_REFRESH_TOKEN")
    api_url: str = Field(default="https://openapi.zalo.me", alias="ZALO_OA_API_URL")
    oauth_url: str = Field(default="https://oauth.zaloapp.com", alias="ZALO_OA_OAUTH_URL")
    zns_url: str = Field(default="https://business.openapi.zalo.me", alias="ZALO_OA_ZNS_URL")
    # Consultation messages are allowed this long after the user's last interaction.
    window_hours: float = Field(default=48.0, gt=0, alias="ZALO_OA_WINDOW_HOURS")
    # Approved template ids: a transaction message to a follower, a ZNS message to a phone.
    transaction_template: str | None = Field(default=None, alias="ZALO_OA_TRANSACTION_TEMPLATE")
    zns_template: str | None = Field(default=None, alias="ZALO_OA_ZNS_TEMPLATE")
    max_text: int = Field(default=2000, ge=100, alias="ZALO_OA_MAX_TEXT")
    max_buttons: int = Field(default=5, ge=0, le=10, alias="ZALO_OA_MAX_BUTTONS")
    button_title: int = Field(default=100, ge=10, alias="ZALO_OA_BUTTON_TITLE")
    # Webhook events older (or further in the future) than this are refused.
    webhook_max_age: int = Field(default=300, ge=10, alias="ZALO_OA_WEBHOOK_MAX_AGE")
    # Refresh the access token this long before it expires.
    refresh_margin: int = Field(default=600, ge=0, alias="ZALO_OA_REFRESH_MARGIN")

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.secret_key)

    @property
    def signing_key(self) -> str:
        return self.webhook_key or self.secret_key or ""


class SmtpSettings(BaseSettings):
    """Where report files are e-mailed from (docs/admin.md "Reports by e-mail"): off until
    ``BDG_SMTP_HOST`` and ``BDG_SMTP_FROM`` are set."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    host: str | None = Field(default=None, alias="BDG_SMTP_HOST")
    port: int = Field(default=587, ge=1, le=65535, alias="BDG_SMTP_PORT")
    user: str | None = Field(default=None, alias="BDG_SMTP_USER")
    password: str | None = Field(default=None, alias="BDG_SMTP_PASSWORD")
    # STARTTLS after connecting (port 587); `tls` is implicit TLS from the start (port 465).
    starttls: bool = Field(default=True, alias="BDG_SMTP_STARTTLS")
    tls: bool = Field(default=False, alias="BDG_SMTP_TLS")
    sender: str | None = Field(default=None, alias="BDG_SMTP_FROM")
    timeout: float = Field(default=30.0, gt=0, alias="BDG_SMTP_TIMEOUT")

    @property
    def enabled(self) -> bool:
        return bool(self.host and self.sender)


class Settings(BaseSettings):
    # An empty variable (``KEY=`` in .env, compose or systemd) means "not set".
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

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
    # `text` (one line per record) or `json` (one JSON object per line, for log collectors).
    log_format: Literal["text", "json"] = Field(default="text", alias="BDG_LOG_FORMAT")
    # Violence cases (docs/cases.md): escalation delay, retention, encryption keys.
    case_escalate_minutes: int = Field(default=30, ge=1, alias="BDG_CASE_ESCALATE_MINUTES")
    case_retention_months: int = Field(default=24, ge=1, alias="BDG_CASE_RETENTION_MONTHS")
    case_keys: str | None = Field(default=None, alias="BDG_CASE_KEYS")
    # An unfinished intake that names a place reaches the commune after this quiet time.
    case_quiet_minutes: int = Field(default=120, ge=5, alias="BDG_CASE_QUIET_MINUTES")
    # When officers read the bot: "07:30-17:00" on working days; outside, intake says so.
    case_office_hours: str = Field(default="07:30-17:00", alias="BDG_CASE_OFFICE_HOURS")
    # A province's own hotline file (YAML, like services/cases/data/hotlines.yaml).
    case_hotlines_file: Path | None = Field(default=None, alias="BDG_CASE_HOTLINES_FILE")
    # Where logs go (besides stderr for the bots); the terminal chat logs only there.
    log_file: Path | None = Field(default=None, alias="BDG_LOG_FILE")

    telegram_bot_token: str | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field(default="https://api.telegram.org", alias="TELEGRAM_API_URL")
    telegram_webhook_secret: str | None = Field(default=None, alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_bot_username: str | None = Field(default=None, alias="TELEGRAM_BOT_USERNAME")
    zalo_bot_token: str | None = Field(default=None, alias="ZALO_BOT_TOKEN")
    zalo_api_url: str = Field(default="https://bot-api.zaloplatforms.com", alias="ZALO_API_URL")
    zalo_webhook_secret: str | None = Field(default=None, alias="ZALO_WEBHOOK_SECRET")
    public_url: str | None = Field(default=None, alias="PUBLIC_URL")
    # Signing key of download links; unset = generated once into data/files.secret.
    files_secret: str | None = Field(default=None, alias="BDG_FILES_SECRET")
    # Zalo Official Account (docs/zalo-oa.md): enabled when the app id, the secret key and a
    # refresh token (or one already stored in the database) are there.
    zalo_oa: ZaloOASettings = Field(default_factory=lambda: ZaloOASettings())
    # The compiled report's symbol after "Số: …/" ("BC-SNV" for Sở Nội vụ); unset = derived
    # from the standing agency's name.
    doc_symbol: str | None = Field(default=None, alias="BDG_DOC_SYMBOL")
    # Submitted and compiled reports by e-mail (off unless BDG_SMTP_HOST and BDG_SMTP_FROM).
    smtp: SmtpSettings = Field(default_factory=lambda: SmtpSettings())
    host: str = Field(default="127.0.0.1", alias="BDG_HOST")
    port: int = Field(default=8080, alias="BDG_PORT")

    # The scheduler's and outbox dispatcher's knobs (their own BDG_* variables).
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Ho_Chi_Minh)") from None
        return value

    @field_validator("fake_now")
    @classmethod
    def _iso_time(cls, value: str | None) -> str | None:
        if value:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("not an ISO date and time (2026-11-25T09:00)") from None
        return value


@dataclass
class Services:
    """Process-wide things handlers need; built once by the entry point."""

    timezone: str = "Asia/Ho_Chi_Minh"
    default_lang: str = "vi"
    form_dir: str | None = None
    calendar_file: str | None = None
    invite_days: int = 14
    bot_username: str | None = None
    # The public https root of ``bdg serve`` (PUBLIC_URL), for download links.
    public_url: str | None = None
    # BDG_FILES_SECRET, the signing key of download links (None: the generated key file).
    files_secret: str | None = None
    # Report files go out by e-mail too (SMTP configured: ``Settings.smtp.enabled``).
    mail: bool = False
    # BDG_DOC_SYMBOL: the compiled report's symbol ("BC-SNV"); None = derived.
    doc_symbol: str | None = None
    # What each channel can do (kernel.channel.STANDARD, with the configured rates).
    channels: dict[str, Capabilities] = field(default_factory=lambda: dict(STANDARD))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
