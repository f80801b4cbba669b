"""Encryption at rest for the few free texts that must never be readable in the database
(a case's description, call-back contact and notes).

AES-256-GCM (cryptography's AEAD) with a random 96-bit nonce. A stored value is text:
``<key id>:<base64url(nonce || ciphertext+tag)>``, so keys rotate: the first key of the ring
encrypts, every key decrypts, and ``bdg cases rekey`` rewrites old values with the first key.
The associated data names the row and field (``case:17:description``), so a ciphertext copied
to another row or field does not decrypt.

Keys come from ``BDG_CASE_KEYS`` (``k2:<base64 32 bytes>,k1:<base64 32 bytes>``). Errors
never carry plaintext.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("bdg.crypto")

KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
NONCE_BYTES = 12


class CryptoError(Exception):
    """A key is missing or malformed, or a value does not decrypt. Never holds plaintext."""


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def new_key_spec(key_id: str = "k1") -> str:
    """A fresh ``<id>:<base64>`` entry for BDG_CASE_KEYS."""
    if not KEY_ID.match(key_id):
        raise CryptoError("a key id is 1-16 letters, digits, - or _")
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"


class Keyring:
    """Named AES-256 keys; the first one writes."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise CryptoError("no encryption key")
        ids = [k for k, _ in keys]
        if len(set(ids)) != len(ids):
            raise CryptoError("a key id appears twice")
        for key_id, key in keys:
            if not KEY_ID.match(key_id):
                raise CryptoError("a key id is 1-16 letters, digits, - or _")
            if len(key) != 32:
                raise CryptoError(f"key {key_id} must be 32 bytes (base64 of 32 random bytes)")
        self.write_id = ids[0]
        self._keys = {k: AESGCM(v) for k, v in keys}
        self._tag_keys = [hashlib.sha256(b"bdg-tag:" + v).digest() for _, v in keys]

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """``k2:<base64>,k1:<base64>`` (commas or newlines between entries)."""
        keys = []
        for entry in re.split(r"[,\s]+", spec.strip()):
            if not entry:
                continue
            key_id, sep, b64 = entry.partition(":")
            if not sep:
                raise CryptoError("each key is written <id>:<base64>")
            try:
                raw = _b64decode(b64)
            except (ValueError, UnicodeEncodeError):
                raise CryptoError(f"key {key_id} is not valid base64") from None
            keys.append((key_id, raw))
        return cls(keys)

    @property
    def ids(self) -> list[str]:
        return list(self._keys)

    def encrypt(self, plaintext: str, aad: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        ct = self._keys[self.write_id].encrypt(nonce, plaintext.encode("utf-8"), aad.encode())
        return f"{self.write_id}:{base64.urlsafe_b64encode(nonce + ct).decode().rstrip('=')}"

    def decrypt(self, token: str, aad: str) -> str:
        key_id, sep, b64 = token.partition(":")
        if not sep or key_id not in self._keys:
            raise CryptoError(f"no key {key_id!r} to decrypt this value (see BDG_CASE_KEYS)")
        try:
            blob = _b64decode(b64)
            plain = self._keys[key_id].decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad.encode())
        except (InvalidTag, ValueError):
            raise CryptoError("a stored value does not decrypt (wrong key or row)") from None
        return plain.decode("utf-8")

    def is_current(self, token: str) -> bool:
        return token.partition(":")[0] == self.write_id

    def tags(self, value: str) -> list[str]:
        """Keyed hashes of ``value`` under every key (first = the one to store): lets a row be
        found by an identifier without storing the identifier."""
        return [
            hmac.new(k, value.encode("utf-8"), hashlib.sha256).hexdigest()[:48]
            for k in self._tag_keys
        ]


def load_key_file(path: Path) -> str:
    """The key spec in ``path``, created (mode 0600) with a fresh key if missing.

    Meant for the demo and the terminal chat: a deployment sets BDG_CASE_KEYS instead, so
    every process shares the keys and they live outside the data folder."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(new_key_spec("local1") + "\n")
        log.warning(
            "BDG_CASE_KEYS is not set: generated a case encryption key in %s (fine for a demo; "
            "set BDG_CASE_KEYS for a real deployment and keep a copy of the key)",
            path,
        )
    else:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, 0o600)
            log.warning("%s was readable by others; its mode is now 0600", path)
        log.warning("BDG_CASE_KEYS is not set: using the case key in %s", path)
    return path.read_text(encoding="ascii")
