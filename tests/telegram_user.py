"""A simulated officer in a private Telegram chat with the bot, on the loopback Bot API:
``await user.say("12 30", "Đã lưu")`` pushes a message and waits for the bot's answer;
``await user.tap("yes", "Câu 2/")`` presses a button of the latest question."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from db.engine import Database
from tests.answers import ANSWERS, current_question
from tests.fakes.telegram_api import FakeTelegram


def keys_of(message: dict[str, Any] | None) -> list[str]:
    markup = (message or {}).get("reply_markup") or {}
    return [
        str(b["callback_data"])
        for row in markup.get("inline_keyboard", [])
        for b in row
        if "callback_data" in b
    ]


def marked(key: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate: the message shows the button ``key`` marked as selected."""

    def check(message: dict[str, Any]) -> bool:
        markup = message.get("reply_markup") or {}
        return any(
            b.get("callback_data") == key and str(b.get("text", "")).startswith("✅")
            for row in markup.get("inline_keyboard", [])
            for b in row
        )

    return check


class TelegramUser:
    def __init__(
        self,
        tg: FakeTelegram,
        user_id: int,
        *,
        lang: str = "vi",
        first_name: str = "Lan",
        on_timeout: Callable[[], str] | None = None,
    ) -> None:
        self.tg, self.id, self.lang, self.first_name = tg, user_id, lang, first_name
        self.on_timeout = on_timeout
        self.pushed: list[dict[str, Any]] = []

    # -- what the bot shows --------------------------------------------------------------------

    def texts(self) -> list[str]:
        return self.tg.sent_texts(self.id)

    def question(self) -> dict[str, Any]:
        """The newest bot message that still has a keyboard (the pending question)."""
        for message in reversed(self.tg.messages(self.id)):
            if keys_of(message):
                return message
        raise AssertionError("no message with buttons in the chat")

    async def summary(self, timeout: float = 30.0) -> tuple[str, dict[str, Any]]:  # noqa: ASYNC109
        """The review before submitting: its whole text (a long one comes in several messages,
        the buttons on the last) and the message with the buttons, once that has arrived."""

        def ready() -> list[dict[str, Any]] | None:
            messages = self.tg.messages(self.id)
            if not messages or "submit" not in keys_of(messages[-1]):
                return None
            start = max(i for i, m in enumerate(messages) if "Xem lại" in (m.get("text") or ""))
            return messages[start:]

        parts = await self.tg.await_until(ready, timeout, message="the review with its buttons")
        return "\n".join(m.get("text") or "" for m in parts), parts[-1]

    async def _wait(
        self,
        expect: str | Callable[[dict[str, Any]], bool],
        since: int,
        after: int,
        within: float,
    ) -> dict[str, Any]:
        """The first bot message (sent or edited since ``since``) matching ``expect``: a
        predicate, or a substring of a *new* message (id above ``after``), so that an edit of
        an older question quoting the same words does not count."""
        if callable(expect):
            predicate = expect
        else:

            def predicate(m: dict[str, Any]) -> bool:
                text = m.get("text", m.get("caption")) or ""
                return m["message_id"] > after and expect in text

        try:
            return await self.tg.await_for(predicate, within, chat_id=self.id, since=since)
        except AssertionError:
            if self.on_timeout is not None:
                print(self.on_timeout()[-6000:])
            raise

    # -- what the user does --------------------------------------------------------------------

    async def say(self, text: str, expect: str, *, within: float = 30) -> dict[str, Any]:
        """Send ``text``; return the first new bot message containing ``expect`` (the bot
        commits before it answers, so the database can be read then)."""
        since = self.tg.mark()
        update = self.tg.push_message(
            self.id, text, language_code=self.lang, first_name=self.first_name
        )
        self.pushed.append(update)
        return await self._wait(expect, since, update["message"]["message_id"], within)

    async def tap(
        self,
        data: str,
        expect: str | Callable[[dict[str, Any]], bool],
        *,
        message_id: int | None = None,
        within: float = 30,
    ) -> dict[str, Any]:
        """Press the button ``data`` of the pending question (or of ``message_id``)."""
        since = self.tg.mark()
        mid = message_id if message_id is not None else self.question()["message_id"]
        self.pushed.append(self.tg.push_callback(self.id, mid, data))
        return await self._wait(expect, since, mid, within)

    async def answer(self, qid: str) -> None:
        """Answer question ``qid`` as in ``tests.answers.ANSWERS``: with the buttons for yes/no,
        choices, multiple choices and skips; typed for everything else."""
        typed, value = ANSWERS[qid]
        keys = keys_of(self.question()) if self._has_question() else []
        if isinstance(value, bool) and {"yes", "no"} <= set(keys):
            await self.tap("yes" if value else "no", "Đã lưu")
        elif isinstance(value, str) and value in keys:
            await self.tap(value, "Đã lưu")
        elif isinstance(value, list) and "__done__" in keys and set(value) <= set(keys):
            for key in value:  # each tap marks one option; the question stays in place
                await self.tap(key, marked(key))
            await self.tap("__done__", "Đã lưu")
        elif value is None and "__skip__" in keys:
            await self.tap("__skip__", "Đã lưu")
        else:
            await self.say(typed, "Đã lưu")

    def _has_question(self) -> bool:
        try:
            self.question()
        except AssertionError:
            return False
        return True

    async def answer_until(
        self, db: Database, stop_after: str | None = None, *, channel: str = "telegram"
    ) -> list[str]:
        """Answer the question the database says is current until the summary (or until
        ``stop_after`` was answered); returns the question ids answered."""
        asked: list[str] = []
        while (qid := await current_question(db, channel, str(self.id))) is not None:
            assert qid not in asked[-1:], f"{qid} asked again"
            asked.append(qid)
            await self.answer(qid)
            if qid == stop_after:
                break
        return asked
