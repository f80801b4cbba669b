"""Replies as Telegram messages: HTML text split under Telegram's length limit, choices as an
inline keyboard whose callback data stays within 64 bytes.

    Reply(text, choices) ──render──> [Chunk(html, None), …, Chunk(html, keyboard)]

Texts are Telegram HTML (``<b>``, ``<i>``; handlers escape what users typed). A text longer
than 4,096 characters is split at line boundaries; a tag left open at the end of a chunk is
closed there and opened again at the start of the next one, so every chunk parses on its own.
A single line longer than a chunk is split between words. The keyboard goes on the last chunk.

Choice keys become ``callback_data`` unchanged when they fit in 64 bytes (UTF-8). A longer key,
or one starting with ``#``, is sent as ``#`` + 22 characters of its SHA-256 (base64url); the
channel maps it back through the keys it rendered, or after a restart through the menu the
conversation stored (``_menu``), so nothing longer than 64 bytes ever leaves the process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.render import to_plain
from kernel.messages import TOKEN_PREFIX, Choice, Reply, choice_token

MAX_TEXT_LENGTH = 4096  # characters after entity parsing (UTF-16 code units)
MAX_CALLBACK_BYTES = 64
HASH_PREFIX = TOKEN_PREFIX
# Labels up to this many characters go two to a row; longer ones get a row of their own.
SHORT_LABEL = 20
# A long line is cut into pieces this much shorter than the limit, leaving room for the tags
# re-opened and closed around a chunk.
_TAG_ROOM = 256
# Shown when a reply has choices but no text (Telegram refuses an empty message).
EMPTY_TEXT = "…"

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_TOKENS = re.compile(r"<[^<>]*>|&#?[a-zA-Z0-9]+;|\s+|[^\s<&]+|[<&]")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------------------------
# Callback data
# --------------------------------------------------------------------------------------------


def hashed(key: str) -> str:
    return choice_token(key)


def callback_data(key: str) -> str:
    """The ``callback_data`` for a choice key: the key itself when it fits, else its hash."""
    raw = key.encode("utf-8")
    data = (
        key
        if raw and len(raw) <= MAX_CALLBACK_BYTES and not key.startswith(HASH_PREFIX)
        else (hashed(key))
    )
    if len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:  # pragma: no cover - by construction
        raise ValueError("callback data over 64 bytes")
    return data


def is_hashed(data: str) -> bool:
    return data.startswith(HASH_PREFIX)


def resolve(data: str, keys: Iterable[str]) -> str | None:
    """The key among ``keys`` whose callback data is ``data`` (None when none is)."""
    return next((k for k in keys if callback_data(k) == data), None)


# --------------------------------------------------------------------------------------------
# Keyboards
# --------------------------------------------------------------------------------------------


def button_label(label: str) -> str:
    """Button texts are plain text (no HTML)."""
    return " ".join(to_plain(label).split()) or EMPTY_TEXT


def keyboard(choices: list[Choice]) -> InlineKeyboardMarkup | None:
    """One button per choice, in order; consecutive short labels share a row."""
    if not choices:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    pending: InlineKeyboardButton | None = None
    for choice in choices:
        label = button_label(choice.shown)
        button = InlineKeyboardButton(label, callback_data=callback_data(choice.key))
        if len(label) <= SHORT_LABEL:
            if pending is None:
                pending = button
            else:
                rows.append([pending, button])
                pending = None
            continue
        if pending is not None:
            rows.append([pending])
            pending = None
        rows.append([button])
    if pending is not None:
        rows.append([pending])
    return InlineKeyboardMarkup(rows)


def buttons(markup: InlineKeyboardMarkup | None) -> list[tuple[str, str]]:
    """(callback_data, text) of every callback button, in order."""
    if markup is None:
        return []
    return [
        (str(b.callback_data), b.text)
        for row in markup.inline_keyboard
        for b in row
        if b.callback_data is not None
    ]


# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------


def _update_stack(stack: list[tuple[str, str]], text: str) -> None:
    for m in _TAG.finditer(text):
        closing, name = m.group(1), m.group(2).lower()
        if not closing:
            stack.append((name, m.group(0)))
            continue
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                del stack[i]
                break


def _opening(stack: list[tuple[str, str]]) -> str:
    return "".join(tag for _, tag in stack)


def _closing(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _break_line(line: str, size: int) -> list[str]:
    """Cut one over-long line between words (between characters for a giant word), never
    inside a tag or an entity such as ``&amp;``."""
    pieces: list[str] = []
    current = ""
    for token in _TOKENS.findall(line):
        while utf16_len(token) > size:  # a giant word: cut it
            room = size - utf16_len(current)
            if room <= 0:
                pieces.append(current)
                current = ""
                continue
            cut = room
            while utf16_len(token[:cut]) > room:
                cut -= 1
            pieces.append(current + token[:cut])
            current, token = "", token[cut:]
        if utf16_len(current) + utf16_len(token) > size:
            pieces.append(current)
            current = token.lstrip() if token.isspace() else token
        else:
            current += token
    if current:
        pieces.append(current)
    return [p for p in pieces if p]


def _has_text(html: str) -> bool:
    return bool(to_plain(html).strip())


def split_html(text: str, limit: int = MAX_TEXT_LENGTH) -> list[str]:
    """Chunks of at most ``limit`` characters, cut at line boundaries, each with balanced tags.
    Chunks with no visible text are dropped."""
    if utf16_len(text) <= limit:
        return [text] if _has_text(text) else []
    units: list[str] = []
    for line in text.split("\n"):
        if utf16_len(line) <= limit - _TAG_ROOM:
            units.append(line)
        else:
            units.extend(_break_line(line, max(1, limit - _TAG_ROOM)))
    chunks: list[str] = []
    stack: list[tuple[str, str]] = []
    start_stack: list[tuple[str, str]] = []
    body: list[str] = []
    for unit in units:
        after = list(stack)
        _update_stack(after, unit)
        candidate = _opening(start_stack) + "\n".join([*body, unit]) + _closing(after)
        if body and utf16_len(candidate) > limit:
            chunks.append(_opening(start_stack) + "\n".join(body) + _closing(stack))
            start_stack, body = list(stack), []
        body.append(unit)
        stack = after
    if body:
        chunks.append(_opening(start_stack) + "\n".join(body) + _closing(stack))
    return [c for c in chunks if _has_text(c)]


# --------------------------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------------------------


@dataclass
class Chunk:
    """One message to send: HTML text and, on the last chunk of a reply, the keyboard."""

    html: str
    markup: InlineKeyboardMarkup | None = None
    # callback_data -> choice key, for the keyboard's buttons.
    keys: dict[str, str] = field(default_factory=dict)


def render(reply: Reply, limit: int = MAX_TEXT_LENGTH) -> list[Chunk]:
    """The messages for one reply's text and choices (files are sent after them)."""
    chunks = [Chunk(html) for html in split_html(reply.text, limit)]
    markup = keyboard(reply.choices)
    if markup is not None:
        if not chunks:
            chunks.append(Chunk(EMPTY_TEXT))
        chunks[-1].markup = markup
        chunks[-1].keys = {callback_data(c.key): c.key for c in reply.choices}
    return chunks
