"""Rendering replies for text-only channels (terminal, Zalo): no HTML, numbered choices."""

from __future__ import annotations

import html
import re

from kernel.i18n import t
from kernel.messages import Reply

_TAG = re.compile(r"</?(?:b|i|u|s|code|pre|a)(?:\s[^>]*)?>")


def to_plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


def render_plain(reply: Reply, lang: str = "vi") -> str:
    """The reply as plain text: numbered choices answered by number, or the word to type, in
    the reply's language (``lang`` when it has none)."""
    lang = reply.lang or lang
    lines = [to_plain(reply.text)]
    if reply.choices:
        if reply.numbered:
            lines.append("")
            lines.extend(f"  {i}. {to_plain(c.shown)}" for i, c in enumerate(reply.choices, 1))
            if len(reply.choices) > 1:
                lines.append(t(lang, "choice.numbered_hint", n=len(reply.choices)))
        else:
            lines.extend(
                "  • "
                + t(
                    lang,
                    "choice.type_word",
                    label=to_plain(c.shown),
                    word=c.alias or to_plain(c.label),
                )
                for c in reply.choices
            )
    return "\n".join(lines).rstrip()
