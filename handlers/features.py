"""Every feature module, imported once so it registers its commands and flows."""

from handlers import admin, cases, info, linking, registration, reminders, report  # noqa: F401
