"""Zalo Bot Platform integration: HTTP client, event parsing and long polling."""

from bot.zalo.client import (
    DEFAULT_BASE_URL,
    MAX_TEXT_LENGTH,
    ZaloBadRequest,
    ZaloClient,
    ZaloError,
    ZaloEvent,
    ZaloNetworkError,
    ZaloRateLimited,
    ZaloServerError,
    ZaloTimeout,
    ZaloUnauthorized,
    parse_event,
    poll_forever,
    split_text,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_TEXT_LENGTH",
    "ZaloBadRequest",
    "ZaloClient",
    "ZaloError",
    "ZaloEvent",
    "ZaloNetworkError",
    "ZaloRateLimited",
    "ZaloServerError",
    "ZaloTimeout",
    "ZaloUnauthorized",
    "parse_event",
    "poll_forever",
    "split_text",
]
