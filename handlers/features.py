"""The features of the conversation layer, registered explicitly and in order.

The composition root (``bot.app.build_app``) builds the process's router with
``build_router``: each feature's ``register(router, deps)`` adds its commands, flows, menu
items and hooks. Order matters only where one feature extends another: the admin desk adds its
deadline overrides under /lich, so ``info`` comes before ``admin`` (and a wrong order fails at
start, not silently).
"""

from __future__ import annotations

from handlers import admin, cases, info, linking, registration, reminders, report, web
from handlers.router import Deps, Router

FEATURES = (registration, info, report, reminders, linking, cases, admin, web)


def build_router(deps: Deps) -> Router:
    router = Router()
    for feature in FEATURES:
        feature.register(router, deps)
    return router
