"""Jinja2 pages in the user's language: ``t(key)`` reads the same gettext catalogs as
the chat. Autoescaping is on; pages carry no inline script or style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from kernel.i18n import normalise_lang, t

HERE = Path(__file__).parent
STATIC = HERE / "static"
ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def page(name: str, lang: str | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = normalise_lang(lang)

    def tr(key: str, **kw: object) -> str:
        return t(lang, key, **kw)

    html = ENV.get_template(name).render(t=tr, lang=lang, **context)
    return HTMLResponse(
        html, status_code=status_code, headers={"Cache-Control": "private, no-store"}
    )
