"""Entity parsing for ``parse_mode`` (HTML, MarkdownV2, legacy Markdown), modelled on tdlib.

``parse_text(text, parse_mode)`` returns the visible text and its ``MessageEntity`` dicts
(offsets/lengths in UTF-16 code units) or raises :class:`EntityParseError` with a message in
the style of the real server ("Unsupported start tag ...", "Character '.' is reserved ...").
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any


class EntityParseError(ValueError):
    """The text cannot be parsed in the requested parse mode."""


def utf16_len(text: str) -> int:
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


@dataclass
class _Builder:
    parts: list[str] = field(default_factory=list)
    pos: int = 0  # UTF-16 length of the text built so far
    entities: list[dict[str, Any]] = field(default_factory=list)

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.pos += utf16_len(chunk)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        length = self.pos - start
        if length <= 0:
            return
        item: dict[str, Any] = {"type": kind, "offset": start, "length": length}
        item.update({k: v for k, v in extra.items() if v is not None})
        self.entities.append(item)

    def text(self) -> str:
        return "".join(self.parts)


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Parse ``text`` according to ``parse_mode`` and trim it like the server does."""
    mode = (parse_mode or "").strip().lower()
    entities: list[dict[str, Any]]
    if not mode:
        plain, entities = text, []
    elif mode == "html":
        plain, entities = _parse_html(text)
    elif mode == "markdownv2":
        plain, entities = _parse_markdown_v2(text)
    elif mode == "markdown":
        plain, entities = _parse_markdown(text)
    else:
        raise ValueError(f"unsupported parse_mode {parse_mode!r}")
    return trim_text(plain, entities)


def trim_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace and clip entities accordingly."""
    stripped_left = text.lstrip()
    shift = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip()
    total = utf16_len(result)
    fixed: list[dict[str, Any]] = []
    for ent in entities:
        start = max(ent["offset"] - shift, 0)
        end = min(ent["offset"] + ent["length"] - shift, total)
        if end <= start:
            continue
        fixed.append({**ent, "offset": start, "length": end - start})
    fixed.sort(key=lambda e: (e["offset"], -e["length"]))
    return result, fixed


# -- HTML -------------------------------------------------------------------------------------

_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
}
_HTML_CHAR_REF = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _is_tag_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "-_")


@dataclass
class _OpenTag:
    name: str
    start: int
    attrs: dict[str, str]
    byte_offset: int
    language: str | None = None


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[_OpenTag] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            match = _HTML_CHAR_REF.match(text, i)
            decoded: str | None = None
            if match:
                ref = match.group(1)
                if ref[0] == "#":
                    code = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
                    if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                        decoded = chr(code)
                else:
                    decoded = _HTML_NAMED.get(ref.lower())
            if decoded is not None and match is not None:
                out.add(decoded)
                i = match.end()
            else:
                out.add("&")
                i += 1
            continue
        if ch != "<":
            out.add(ch)
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            j = i + 2
            while j < n and _is_tag_char(text[j]):
                j += 1
            name = text[i + 2 : j].lower()
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j >= n or text[j] != ">":
                raise EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(text, begin)}"
                )
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, begin)}"
                )
            top = stack[-1]
            if name != top.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{top.name}>", found "</{name}>"'
                )
            stack.pop()
            _close_html_tag(out, top, stack)
            i = j + 1
            continue
        j = i + 1
        while j < n and _is_tag_char(text[j]):
            j += 1
        name = text[i + 1 : j].lower()
        if name not in _HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}'
            )
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j >= n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                )
            if text[j] == ">":
                j += 1
                break
            attr_start = j
            while j < n and _is_tag_char(text[j]):
                j += 1
            attr = text[attr_start:j].lower()
            if not attr:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{_byte_offset(text, attr_start)}"
                )
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j >= n or text[j] != "=":
                if j < n and text[j] in ">":
                    attrs[attr] = ""
                    continue
                raise EntityParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                    f"at byte offset {_byte_offset(text, begin)}"
                )
            j += 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "\"'":
                quote = text[j]
                end = text.find(quote, j + 1)
                if end < 0:
                    raise EntityParseError(
                        f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                    )
                raw_value = text[j + 1 : end]
                j = end + 1
            else:
                value_start = j
                while j < n and text[j] not in " \t\r\n>":
                    j += 1
                raw_value = text[value_start:j]
            attrs[attr] = html.unescape(raw_value)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        stack.append(_OpenTag(name, out.pos, attrs, _byte_offset(text, begin)))
        i = j
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return out.text(), out.entities


def _close_html_tag(out: _Builder, tag: _OpenTag, stack: list[_OpenTag]) -> None:
    if tag.name == "a":
        href = tag.attrs.get("href", "")
        user = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if user:
            out.entity("text_mention", tag.start, user={"id": int(user.group(1))})
        elif href:
            out.entity("text_link", tag.start, url=href)
        return
    if tag.name == "tg-emoji":
        out.entity("custom_emoji", tag.start, custom_emoji_id=tag.attrs["emoji-id"])
        return
    if tag.name == "tg-time":
        unix = tag.attrs.get("unix", "")
        out.entity("date_time", tag.start, unix_time=int(unix) if unix.isdigit() else None)
        return
    if tag.name == "blockquote":
        kind = "expandable_blockquote" if "expandable" in tag.attrs else "blockquote"
        out.entity(kind, tag.start)
        return
    if tag.name == "code" and stack and stack[-1].name == "pre":
        css = tag.attrs.get("class", "")
        if css.startswith("language-"):
            stack[-1].language = css[len("language-") :]
        return
    if tag.name == "pre":
        out.entity("pre", tag.start, language=tag.language)
        return
    out.entity(_HTML_ENTITY_TYPES[tag.name], tag.start)


# -- MarkdownV2 -------------------------------------------------------------------------------

_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


@dataclass
class _OpenMd:
    kind: str
    start: int
    byte_offset: int
    language: str | None = None


def _reserved(ch: str) -> EntityParseError:
    return EntityParseError(
        f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
    )


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[_OpenMd] = []
    quote_start: int | None = None
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        top = stack[-1] if stack else None
        if ch == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        if top is not None and top.kind in ("code", "pre"):
            if top.kind == "code" and ch == "`":
                stack.pop()
                out.entity("code", top.start)
                i += 1
            elif top.kind == "pre" and text.startswith("```", i):
                stack.pop()
                out.entity("pre", top.start, language=top.language)
                i += 3
            else:
                out.add(ch)
                i += 1
            continue
        at_line_start = i == 0 or text[i - 1] == "\n"
        if ch == "\n":
            out.add(ch)
            i += 1
            if quote_start is not None and not text.startswith(">", i):
                out.pos -= 1
                out.entity("blockquote", quote_start)
                out.pos += 1
                quote_start = None
            continue
        if ch not in _MDV2_RESERVED:
            out.add(ch)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if top is not None:
            closing = {
                "bold": ch == "*",
                "italic": ch == "_" and nxt != "_",
                "underline": ch == "_" and nxt == "_",
                "strikethrough": ch == "~",
                "spoiler": ch == "|" and nxt == "|",
                "text_link": ch == "]",
                "custom_emoji": ch == "]",
            }.get(top.kind, False)
            if top.kind == "italic" and ch == "_" and nxt == "_":
                # "___" closes underline+italic: treat a single "_" as the italic end.
                closing = not any(o.kind == "underline" for o in stack)
            if closing:
                stack.pop()
                if top.kind in ("text_link", "custom_emoji"):
                    i += 1
                    url = ""
                    if i < n and text[i] == "(":
                        j = i + 1
                        chars: list[str] = []
                        while j < n and text[j] != ")":
                            if text[j] == "\\" and j + 1 < n:
                                j += 1
                            chars.append(text[j])
                            j += 1
                        if j >= n:
                            raise EntityParseError(
                                f"Can't find end of a URL at byte offset {_byte_offset(text, i)}"
                            )
                        url = "".join(chars)
                        i = j + 1
                    if top.kind == "custom_emoji":
                        emoji = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                        if not emoji:
                            raise EntityParseError(
                                "Custom emoji entity must contain a tg://emoji URL"
                            )
                        out.entity("custom_emoji", top.start, custom_emoji_id=emoji.group(1))
                    elif url:
                        user = re.fullmatch(r"tg://user\?id=(\d+)", url)
                        if user:
                            out.entity("text_mention", top.start, user={"id": int(user.group(1))})
                        else:
                            out.entity("text_link", top.start, url=url)
                    continue
                width = 2 if top.kind in ("underline", "spoiler") else 1
                out.entity(top.kind, top.start)
                i += width
                continue
        begin = _byte_offset(text, i)
        if ch == "_":
            if nxt == "_":
                stack.append(_OpenMd("underline", out.pos, begin))
                i += 2
            else:
                stack.append(_OpenMd("italic", out.pos, begin))
                i += 1
        elif ch == "*":
            stack.append(_OpenMd("bold", out.pos, begin))
            i += 1
        elif ch == "~":
            stack.append(_OpenMd("strikethrough", out.pos, begin))
            i += 1
        elif ch == "|" and nxt == "|":
            stack.append(_OpenMd("spoiler", out.pos, begin))
            i += 2
        elif ch == "[":
            stack.append(_OpenMd("text_link", out.pos, begin))
            i += 1
        elif ch == "!" and nxt == "[":
            stack.append(_OpenMd("custom_emoji", out.pos, begin))
            i += 2
        elif ch == "`":
            if text.startswith("```", i):
                i += 3
                language: str | None = None
                newline = text.find("\n", i)
                end = text.find("```", i)
                if 0 <= newline < end and re.fullmatch(r"[^\s`]+", text[i:newline]):
                    language = text[i:newline]
                    i = newline + 1
                stack.append(_OpenMd("pre", out.pos, begin, language))
            else:
                stack.append(_OpenMd("code", out.pos, begin))
                i += 1
        elif ch == ">" and at_line_start:
            if quote_start is None:
                quote_start = out.pos
            i += 1
        else:
            raise _reserved(ch)
    if stack:
        top = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[top.kind]} entity at byte offset {top.byte_offset}"
        )
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    return out.text(), out.entities


# -- legacy Markdown --------------------------------------------------------------------------


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if ch not in "_*`[":
            out.add(ch)
            i += 1
            continue
        begin = _byte_offset(text, i)
        error = EntityParseError(f"Can't find end of the entity starting at byte offset {begin}")
        if ch == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise error
            label = text[i + 1 : end]
            i = end + 1
            url = ""
            if i < n and text[i] == "(":
                close = text.find(")", i + 1)
                if close < 0:
                    raise error
                url = text[i + 1 : close]
                i = close + 1
            start = out.pos
            out.add(label)
            if url:
                out.entity("text_link", start, url=url)
            continue
        if ch == "`" and text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise error
            body = text[i + 3 : end]
            language: str | None = None
            first, sep, rest = body.partition("\n")
            if sep and re.fullmatch(r"[^\s`]+", first):
                language, body = first, rest
            start = out.pos
            out.add(body)
            out.entity("pre", start, language=language)
            i = end + 3
            continue
        end = text.find(ch, i + 1)
        if end < 0:
            raise error
        start = out.pos
        out.add(text[i + 1 : end])
        out.entity({"*": "bold", "_": "italic", "`": "code"}[ch], start)
        i = end + 1
    return out.text(), out.entities
