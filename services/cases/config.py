"""Settings of the cases feature and its encryption keys, read once per process.

They come from ``kernel.settings`` (BDG_CASE_ESCALATE_MINUTES, BDG_CASE_RETENTION_MONTHS,
BDG_CASE_KEYS). Tests and other entry points may call ``configure`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from db.crypto import Keyring, load_key_file
from kernel.settings import get_settings

KEY_FILE = Path("data/case.key")  # only when BDG_CASE_KEYS is not set (demo, terminal)


@dataclass(frozen=True)
class CaseConfig:
    escalate_minutes: int = 30
    retention_months: int = 24
    keys: str | None = None  # "k2:<base64>,k1:<base64>"; None = the local key file
    key_file: Path = KEY_FILE
    quiet_minutes: int = 120
    office_hours: str = "07:30-17:00"
    hotlines_file: Path | None = None
    timezone: str = "Asia/Ho_Chi_Minh"


_config: CaseConfig | None = None
_keyring: Keyring | None = None


def configure(config: CaseConfig | None) -> None:
    """Replace the configuration (None = read the settings again on next use)."""
    global _config, _keyring
    _config, _keyring = config, None


def config() -> CaseConfig:
    global _config
    if _config is None:
        s = get_settings()
        _config = CaseConfig(
            escalate_minutes=s.case_escalate_minutes,
            retention_months=s.case_retention_months,
            keys=s.case_keys or None,
            quiet_minutes=s.case_quiet_minutes,
            office_hours=s.case_office_hours,
            hotlines_file=s.case_hotlines_file,
            timezone=s.timezone,
        )
    return _config


def keyring() -> Keyring:
    global _keyring
    if _keyring is None:
        cfg = config()
        _keyring = Keyring.parse(cfg.keys or load_key_file(cfg.key_file))
    return _keyring
