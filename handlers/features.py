"""Every feature module, imported once so it registers its commands and flows."""

from handlers import cases, info, linking, registration, report  # noqa: F401
