"""What a copy of the database must not reveal about who wrote to the bot.

- **Dedupe keys** (``ProcessedUpdate.key``) are stored as ``<channel>:#<keyed hash>`` instead
  of the platform's ids (``telegram:<update>:<chat>:<message>`` names the chat). The hash is
  an HMAC-SHA256 under the tag key derived from the writing case key (``BDG_CASE_KEYS``, see
  ``db.crypto.Keyring.tags``) with its own domain prefix, so a copy of the database without
  the keys cannot recompute it. Keys stored in plain text before this change stay and are
  still honoured (``db.queries.mark_processed``); rotating the writing key changes the hash
  of an update, which matters only for an update delivered again across the rotation.
- **Times on an account's side** (its creation, its conversation's last change, processed
  updates, the audit rows of an account without an officer) are rounded down to
  ``kernel.clock.PRIVACY_MINUTES``, so they cannot be joined to a case's exact times.
"""

from __future__ import annotations

from services.cases.config import keyring

DOMAIN = "dedupe\x00"


def dedupe_digest(key: str) -> str:
    """The stored form of an update's dedupe key: the channel, then a keyed hash."""
    channel = key.partition(":")[0]
    return f"{channel}:#{keyring().tags(DOMAIN + key)[0]}"
