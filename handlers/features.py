"""Every feature module, imported once so it registers its commands and flows."""

from handlers import info, registration, report  # noqa: F401
