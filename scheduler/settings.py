"""Settings of the scheduler and the outbox dispatcher (environment or ``.env``).

The reminder *schedule* (days, times) is data in the calendar file; these are the process's
knobs: send rates, retries, and whether this process runs the scheduler at all.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Run the planner and the outbox dispatcher in this process (`bdg run`, `bdg serve`).
    enabled: bool = Field(default=True, alias="BDG_SCHEDULER")
    # Planner tick, minutes (a cron on the quarter hours by default).
    tick_minutes: int = Field(default=15, ge=1, le=60, alias="BDG_PLANNER_MINUTES")
    # Other features' urgent periodic work (case escalation), seconds between runs.
    urgent_tick_seconds: int = Field(default=60, ge=5, le=3600, alias="BDG_URGENT_TICK_SECONDS")

    # Messages per second: overall per channel, and per chat.
    telegram_rate: float = Field(default=30.0, gt=0, alias="BDG_RATE_TELEGRAM")
    telegram_chat_rate: float = Field(default=1.0, gt=0, alias="BDG_RATE_TELEGRAM_CHAT")
    zalo_rate: float = Field(default=10.0, gt=0, alias="BDG_RATE_ZALO")
    zalo_chat_rate: float = Field(default=1.0, gt=0, alias="BDG_RATE_ZALO_CHAT")
    other_rate: float = Field(default=10.0, gt=0, alias="BDG_RATE_OTHER")
    # Aim this fraction below each limit, so network jitter never pushes the rate over it.
    rate_margin: float = Field(default=0.05, ge=0, lt=0.5, alias="BDG_RATE_MARGIN")
    # A 429 pauses the whole channel (`channel`, like python-telegram-bot's rate limiter)
    # or only the chat that got it (`chat`).
    retry_after_scope: str = Field(default="channel", alias="BDG_RETRY_AFTER_SCOPE")

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

    def rates(self) -> dict[str, tuple[float, float]]:
        """Channel → (messages per second overall, per chat)."""
        return {
            "telegram": (self.telegram_rate, self.telegram_chat_rate),
            "zalo": (self.zalo_rate, self.zalo_chat_rate),
        }
