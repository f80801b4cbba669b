"""Telegram updates as channel-neutral ``Incoming`` (python-telegram-bot parses the JSON).

Only two kinds of update matter (``ALLOWED_UPDATES``): a message in a chat with the bot and a
tap on one of the bot's inline buttons. Edited messages, channel posts, messages of other bots
and taps on inline-mode messages are ignored.

The dedupe key is ``telegram:<update_id>:<chat_id>:<message_id>`` for a message and
``telegram:<update_id>:cb:<callback query id>`` for a tap: ``update_id`` alone is not enough,
because Telegram picks a new random starting ``update_id`` after a week without updates, and a
bot used twice a year would then risk taking a new message for an old one.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import CallbackQuery, Chat, Message, Update, User

from kernel.messages import Incoming
from kernel.text import clean_incoming

CHANNEL = "telegram"
ALLOWED_UPDATES = ("message", "callback_query")


@dataclass(frozen=True)
class Tap:
    """A tap on an inline button: the query to answer and the message it sits on."""

    query_id: str
    data: str
    message_id: int
    # The message as Telegram shows it (None when it is too old to be sent along).
    message: Message | None


# Telegram's identifiers are 64-bit signed integers (chat and user ids fit in 52 bits).
_ID_LIMIT = 2**63


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < _ID_LIMIT


def well_formed(update: Update) -> bool:
    """Whether the ids an update is routed by have the types Telegram gives them: the chat,
    the sender and the message as 64-bit integers, a tap's query id as text. python-telegram-
    bot does not check types, and a webhook request can carry anything."""
    chat, user, message = update.effective_chat, update.effective_user, update.effective_message
    if chat is not None and not _is_id(chat.id):
        return False
    if user is not None and not _is_id(user.id):
        return False
    if message is not None and not _is_id(message.message_id):
        return False
    query = update.callback_query
    return query is None or isinstance(query.id, str)


def media_kind(message: Message) -> str | None:
    """None for a text message; else what was sent instead (``image``, ``sticker`` …)."""
    if message.text is not None:
        return None
    if message.photo:
        return "image"
    if message.sticker is not None:
        return "sticker"
    for kind in ("voice", "audio", "video", "video_note", "document", "animation", "contact"):
        if getattr(message, kind, None):
            return kind
    if message.location is not None or message.venue is not None:
        return "location"
    return "other"


def chat_type(chat: Chat) -> str:
    return "private" if chat.type == Chat.PRIVATE else "group"


def dedupe_key(update: Update) -> str:
    query = update.callback_query
    if query is not None:
        return f"{CHANNEL}:{update.update_id}:cb:{query.id}"[:128]
    message = update.message
    chat_id = message.chat.id if message is not None else 0
    message_id = message.message_id if message is not None else 0
    return f"{CHANNEL}:{update.update_id}:{chat_id}:{message_id}"


def _sender(user: User | None) -> User | None:
    return None if user is None or user.is_bot else user


def tap_of(update: Update) -> Tap | None:
    query: CallbackQuery | None = update.callback_query
    if query is None or query.data is None or query.message is None:
        return None
    message = query.message if isinstance(query.message, Message) else None
    return Tap(query.id, query.data, query.message.message_id, message)


def to_incoming(
    update: Update, *, option: str | None = None, option_token: str | None = None
) -> Incoming | None:
    """The ``Incoming`` for a message or a button tap (``option`` = the tapped choice key,
    already mapped back from its callback data, or ``option_token`` for the dispatcher to map
    back); None for anything the bot ignores."""
    query = update.callback_query
    if query is not None:
        user = _sender(query.from_user)
        if user is None or query.message is None or (option is None and option_token is None):
            return None
        chat = query.message.chat
        return clean_incoming(
            Incoming(
                channel=CHANNEL,
                chat_id=str(chat.id),
                user_id=str(user.id),
                option=option,
                option_token=option_token,
                dedupe_key=dedupe_key(update),
                lang=user.language_code,
                chat_type=chat_type(chat),
                display_name=user.full_name,
            )
        )
    message = update.message
    if message is None:
        return None
    user = _sender(message.from_user)
    if user is None or message.via_bot is not None:
        return None
    media = media_kind(message)
    return clean_incoming(
        Incoming(
            channel=CHANNEL,
            chat_id=str(message.chat.id),
            user_id=str(user.id),
            text=message.text if media is None else None,
            dedupe_key=dedupe_key(update),
            lang=user.language_code,
            chat_type=chat_type(message.chat),
            display_name=user.full_name,
            media=media,
        )
    )
