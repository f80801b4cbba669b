"""A conversation in flight when the menu moved out of the flow state keeps working: the
migration copies the old ``_menu``/``_numbered`` keys into ``conversation.menu``."""

from __future__ import annotations

from sqlalchemy import text

from db.engine import Database
from db.migrate import upgrade
from handlers.dispatch import Dispatcher
from kernel.settings import Services
from tests.chat import Chat, Clock

BEFORE_MENU = ("0002_cases", "0002_linking", "0002_schedule")


async def test_a_pending_menu_of_the_old_shape_still_maps_a_typed_number(
    db_config: dict[str, str | None], clock: Clock
) -> None:
    assert db_config["url"]
    db = Database(db_config["url"], db_config["schema"])
    try:
        if db_config["schema"]:
            async with db.engine.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{db_config["schema"]}"'))
        for revision in BEFORE_MENU:
            await upgrade(db.engine, revision)
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO channelaccount (channel, user_id, chat_id, lang, unreachable, created_at)"
                    " VALUES ('terminal', 'old', 'old', 'vi', false, CURRENT_TIMESTAMP)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO conversation (account_id, flow, state, updated_at) VALUES"
                    " ((SELECT id FROM channelaccount WHERE user_id = 'old'), 'language', :s,"
                    " CURRENT_TIMESTAMP)"
                ),
                {
                    "s": '{"_menu": [["vi", "Tiếng Việt", null], ["en", "English"]],'
                    ' "_numbered": true, "_reprompt": false}'
                },
            )
        await db.upgrade()
        async with db.engine.begin() as conn:
            state, menu = (await conn.execute(text("SELECT state, menu FROM conversation"))).one()
        assert "_menu" not in str(state) and "English" in str(menu)
        chat = Chat(Dispatcher(db, Services(), clock=clock), user="old")
        assert await chat.send("2") == "Messages will now be in English."
    finally:
        if db_config["schema"]:
            async with db.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{db_config["schema"]}" CASCADE'))
        await db.dispose()
