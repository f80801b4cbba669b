"""Signed download links for channels that cannot send files (Zalo).

A token is ``<payload>.<signature>``: the payload (base64url JSON) says what to build — unit,
period, format, who asked — and until when; the signature is an HMAC-SHA256 of the payload
with a server secret. Nothing is stored: ``GET /files/<token>`` checks the signature and the
expiry, checks that the admin who asked is still an active admin of that subtree, and builds
the file from the database at that moment.

The secret comes from ``BDG_FILES_SECRET``; when it is unset, a random one is generated once
into ``./data/files.secret`` (mode 0600) and reused, so links survive a restart. Changing the
secret invalidates every link handed out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ENV = "BDG_FILES_SECRET"
SECRET_FILE = Path("data") / "files.secret"
VALID_FOR = timedelta(hours=24)


class BadToken(ValueError):
    """Not a token this server signed (tampered, truncated, or another secret)."""


class ExpiredToken(ValueError):
    """A genuine token whose validity has ended."""


def secret(path: Path = SECRET_FILE) -> bytes:
    env = os.environ.get(ENV)
    if env:
        return env.encode()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(value)
            return value
    value = path.read_bytes().strip()
    if not value:
        raise RuntimeError(f"{path} is empty: delete it or set {ENV}")
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, key: bytes) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def make_token(
    claims: dict[str, Any],
    *,
    now: datetime,
    valid_for: timedelta = VALID_FOR,
    key: bytes | None = None,
) -> str:
    body = {**claims, "exp": int((now + valid_for).timestamp())}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_sign(payload, key or secret())}"


def read_token(token: str, *, now: datetime, key: bytes | None = None) -> dict[str, Any]:
    """The claims of a valid token; raises BadToken or ExpiredToken."""
    payload, sep, signature = token.partition(".")
    if not sep or not payload or not signature:
        raise BadToken("malformed")
    if not hmac.compare_digest(_sign(payload, key or secret()), signature):
        raise BadToken("signature")
    try:
        claims = json.loads(_unb64(payload))
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise BadToken("payload") from e
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise BadToken("payload")
    if now.timestamp() >= claims["exp"]:
        raise ExpiredToken("expired")
    return claims


def expires_at(claims: dict[str, Any]) -> datetime:

    return datetime.fromtimestamp(int(claims["exp"]), UTC)


def download_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/files/{token}"
