"""Text that crosses the edge: valid Unicode only, identifiers within the columns' limits, and
names without invisible control characters.

Every channel builds its ``Incoming`` through ``clean_incoming`` so nothing invalid is stored:
a lone surrogate (``"\\ud800"`` is valid JSON but not encodable as UTF-8) would be stored on
SQLite and later break every summary and export of the unit's ancestors; PostgreSQL refuses
both it and NUL. Both become U+FFFD, the replacement character.
"""

from __future__ import annotations

import dataclasses
import re

from kernel.messages import Incoming

REPLACEMENT = "\ufffd"
# Lone surrogates (never valid in UTF-8) and NUL (refused by PostgreSQL text columns).
_INVALID = re.compile("[\ud800-\udfff\x00]")
# Characters that change how the text around them is shown without being seen themselves:
# bidirectional embeddings, overrides and isolates, marks, zero-width spaces and joiners, BOM.
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")

# The lengths of the columns an Incoming's identifiers are stored in (db.models).
MAX_ID_LENGTH = 64
MAX_KEY_LENGTH = 128
MAX_LANG_LENGTH = 8


class InvalidIncoming(ValueError):
    """An update whose identifiers cannot be stored as they are (too long, empty)."""


def valid_text(text: str) -> str:
    """``text`` with lone surrogates and NUL replaced by U+FFFD."""
    return _INVALID.sub(REPLACEMENT, text)


def clean_name(text: str) -> str:
    """A name shown to other people: valid Unicode without bidirectional overrides or
    zero-width characters, surrounding whitespace removed."""
    return _INVISIBLE.sub("", valid_text(text)).strip()


def check_id(value: str, what: str, limit: int = MAX_ID_LENGTH) -> str:
    """An identifier as it will be stored; ``InvalidIncoming`` when it cannot be."""
    if not value or len(value) > limit or _INVALID.search(value):
        raise InvalidIncoming(f"{what} is empty, longer than {limit} or not valid text")
    return value


def clean_incoming(incoming: Incoming) -> Incoming:
    """The ``Incoming`` every channel hands to the dispatcher: identifiers checked against the
    columns' limits (``InvalidIncoming`` otherwise, the same on SQLite and PostgreSQL), texts
    made valid Unicode, the display name cleaned like a name."""
    check_id(incoming.chat_id, "chat id")
    check_id(incoming.user_id, "user id")
    if incoming.dedupe_key is not None:
        check_id(incoming.dedupe_key, "dedupe key", MAX_KEY_LENGTH)
    lang = incoming.lang
    if lang is not None and (len(lang) > MAX_LANG_LENGTH or _INVALID.search(lang)):
        lang = None
    return dataclasses.replace(
        incoming,
        text=None if incoming.text is None else valid_text(incoming.text),
        option=None if incoming.option is None else valid_text(incoming.option),
        option_token=None if incoming.option_token is None else valid_text(incoming.option_token),
        display_name=None if incoming.display_name is None else clean_name(incoming.display_name),
        lang=lang,
    )
