"""The channel-neutral messages that cross the edge: what came in, what goes out."""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class Choice:
    key: str
    label: str
    # A word to type on text-only channels when the choice is not numbered.
    alias: str | None = None


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


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    duplicate: bool = False
    # Label of the tapped option, so Telegram can edit the question to show the answer.
    chosen_label: str | None = None
    failed: bool = False
