"""The channel-neutral messages that cross the edge: what came in, what goes out."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Incoming:
    """One user action on any channel, already stripped of the platform's JSON.

    ``text`` is what was typed; ``option`` the key of a tapped button (Telegram). The
    ``dedupe_key`` (e.g. ``telegram:update:123``) makes a redelivered update a no-op.
    """

    channel: str
    chat_id: str
    user_id: str
    text: str | None = None
    option: str | None = None
    dedupe_key: str | None = None
    lang: str | None = None
    chat_type: str = "private"  # private | group
    display_name: str | None = None
    # Non-text content the user sent (image, sticker, unsupported); text is then None.
    media: str | None = None
    # A tapped button whose choice key the channel could not carry whole (``choice_token``):
    # the dispatcher maps it back against the menu it remembered.
    option_token: str | None = None


SELECTED_MARK = "✅ "


@dataclass(frozen=True)
class Choice:
    key: str
    label: str
    # A word to type on text-only channels when the choice is not numbered.
    alias: str | None = None
    # Ticked in a multiple choice being answered; channels show it with ``shown``.
    selected: bool = False

    @property
    def shown(self) -> str:
        """The label as a channel shows it: a selected option carries the mark."""
        return SELECTED_MARK + self.label if self.selected else self.label


@dataclass(frozen=True)
class Menu:
    """The choices last offered to a user, remembered so that a typed number or word (and a
    tapped button, even after a restart) maps back to a choice key. ``numbered`` is False when
    the question wants a number, so digits are not choice indexes."""

    choices: tuple[Choice, ...] = ()
    numbered: bool = True

    def __init__(self, choices: Iterable[Choice] = (), numbered: bool = True) -> None:
        object.__setattr__(self, "choices", tuple(choices))
        object.__setattr__(self, "numbered", numbered)

    def keys(self) -> list[str]:
        return [c.key for c in self.choices]

    def label(self, key: str) -> str | None:
        return next((c.label for c in self.choices if c.key == key), None)

    def to_json(self) -> dict[str, Any]:
        return {"c": [[c.key, c.label, c.alias] for c in self.choices], "n": self.numbered}

    @classmethod
    def from_json(cls, data: Any) -> Menu:
        """Read what ``to_json`` wrote, or the list an earlier version kept in the
        conversation state (``[[key, label, alias?], ...]``); anything else is an empty menu."""
        items, numbered = (
            (data.get("c"), data.get("n", True)) if isinstance(data, dict) else (data, True)
        )
        out: list[Choice] = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, list | tuple) and len(item) >= 2:
                alias = item[2] if len(item) > 2 and isinstance(item[2], str) else None
                out.append(Choice(str(item[0]), str(item[1]), alias))
        return cls(out, bool(numbered))


@dataclass
class Reply:
    """A message to send back. Channels render ``choices`` as buttons (Telegram) or as a
    numbered list answered by number or text (Zalo, terminal). When ``numbered`` is False the
    numbers are not choice indexes (the question wants a number), and text channels show the
    choices with their ``alias`` words instead."""

    text: str
    choices: list[Choice] = field(default_factory=list)
    numbered: bool = True
    # Attachments produced by handlers (compiled reports): (filename, bytes, kind).
    files: list[tuple[str, bytes, str]] = field(default_factory=list)
    # The language of ``text``: text channels add their own words (the numbered-choice hint)
    # in it, not in the channel's default (an English-mode user on Zalo). None: the default.
    lang: str | None = None


TOKEN_PREFIX = "#"


def choice_token(key: str) -> str:
    """A short stand-in for a choice key that is too long for a channel's button data
    (Telegram allows 64 bytes): ``#`` and 22 characters of its SHA-256."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()[:16]
    return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def resolve_token(token: str, keys: Iterable[str]) -> str | None:
    """The key among ``keys`` whose ``choice_token`` is ``token`` (None when none is)."""
    return next((k for k in keys if choice_token(k) == token), None)


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    duplicate: bool = False
    # Label of the tapped option, so Telegram can edit the question to show the answer.
    chosen_label: str | None = None
    failed: bool = False
    # A tapped button that no longer maps to anything offered (an old keyboard).
    stale: bool = False
