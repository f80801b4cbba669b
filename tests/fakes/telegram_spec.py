"""Bot API schema loading, request-body decoding and spec-driven parameter validation.

Used by :mod:`tests.fakes.telegram_api`. The schema is the machine-readable Bot API description
(``api.min.json``: ``methods`` -> ``{name: {fields: [...], returns: [...]}}`` and ``types``).
Its location defaults to the copy in telegram_bot_api/ and can be overridden with the
``BDG_TELEGRAM_API_SPEC`` environment variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

SPEC_ENV_VAR = "BDG_TELEGRAM_API_SPEC"
# A copy of the machine-readable spec (MIT, see LICENSE beside it) travels with the tests.
DEFAULT_SPEC_PATH = Path(__file__).parent / "telegram_bot_api" / "api.min.json"

_PRIMITIVES = frozenset({"Integer", "String", "Boolean", "Float", "True", "InputFile"})
_DISCRIMINATOR_RE = re.compile(r'(?:must be|always)\s+"?([a-z_]+)"?')
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

# Human readable names Telegram uses in a few of its "can't parse ..." messages.
_PARAM_OBJECT_NAMES = {"reply_markup": "reply keyboard markup"}


class ApiError(Exception):
    """An error envelope the fake server answers with."""

    def __init__(
        self, status: int, description: str, parameters: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = dict(parameters) if parameters else None

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart/form-data request."""

    name: str
    filename: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


class _Mismatch(Exception):
    """Internal: a value does not match one candidate type."""

    def __init__(self, message: str, depth: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.depth = depth


def human_type_name(type_name: str) -> str:
    """``InlineKeyboardButton`` -> ``inline keyboard button``."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type_name).lower()


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, UploadedFile):
        return "InputFile"
    return type(value).__name__


class ApiSpec:
    """The Bot API schema plus a validator/coercer for method parameters."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.version: str = str(raw.get("version", "?"))
        self.methods: dict[str, dict[str, Any]] = dict(raw["methods"])
        self.types: dict[str, dict[str, Any]] = dict(raw["types"])
        self._by_lower = {name.lower(): name for name in self.methods}
        self._discriminators: dict[str, dict[str, str]] = {}
        for name, info in self.types.items():
            subtypes = info.get("subtypes")
            if not subtypes:
                continue
            mapping: dict[str, str] = {}
            for sub in subtypes:
                for fld in self.types.get(sub, {}).get("fields", []):
                    if fld["name"] in ("type", "source", "status"):
                        match = _DISCRIMINATOR_RE.search(fld.get("description", ""))
                        if match:
                            mapping[f"{fld['name']}={match.group(1)}"] = sub
            self._discriminators[name] = mapping

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> ApiSpec:
        resolved = Path(path or os.environ.get(SPEC_ENV_VAR) or DEFAULT_SPEC_PATH)
        return _load_cached(str(resolved.resolve()))

    # -- lookup -------------------------------------------------------------------------------

    def canonical_method(self, name: str) -> str | None:
        """Bot API method names are case-insensitive."""
        return self._by_lower.get(name.lower())

    def returns(self, method: str) -> list[str]:
        return list(self.methods[method].get("returns", []))

    def fields(self, method: str) -> list[dict[str, Any]]:
        return list(self.methods[method].get("fields", []))

    # -- validation ---------------------------------------------------------------------------

    def validate_call(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile],
    ) -> dict[str, Any]:
        """Validate raw request parameters of ``method`` and return them coerced.

        ``params`` holds query/form/JSON values (strings for query and form fields, native JSON
        values for JSON bodies), ``files`` the multipart file parts by field name. Empty strings
        and JSON nulls count as absent, as on the real server. Raises :class:`ApiError`.
        """
        spec_fields = {f["name"]: f for f in self.fields(method)}
        attached = _attach_references(params)
        for name in files:
            if name not in spec_fields and name not in attached:
                raise bad_request(f"unknown parameter {name}")
        for name in params:
            if name not in spec_fields:
                raise bad_request(f"unknown parameter {name}")

        present: dict[str, Any] = {}
        for name in spec_fields:
            if name in files:
                present[name] = files[name]
                continue
            value = params.get(name)
            if value is None or (value == "" and (method, name) not in _EMPTY_ALLOWED):
                continue
            present[name] = value

        for name, fld in spec_fields.items():
            if fld.get("required") and name not in present:
                raise _missing_parameter(method, name)

        coerced: dict[str, Any] = {}
        for name, value in present.items():
            coerced[name] = self._coerce_param(name, value, spec_fields[name]["types"], files)
        return coerced

    def validate_object(self, type_name: str, value: Any) -> Any:
        """Validate a (JSON-decoded) value against one schema type; raises :class:`ApiError`."""
        try:
            return self._coerce(value, [type_name], {}, nested=True, depth=0)
        except _Mismatch as exc:
            raise bad_request(exc.message) from None

    def _coerce_param(
        self, name: str, value: Any, types: list[str], files: Mapping[str, UploadedFile]
    ) -> Any:
        try:
            return self._coerce(value, types, files, nested=False, depth=0, param=name)
        except _Mismatch as exc:
            raise bad_request(exc.message) from None

    def _coerce(
        self,
        value: Any,
        types: list[str],
        files: Mapping[str, UploadedFile],
        *,
        nested: bool,
        depth: int,
        param: str | None = None,
        owner: str | None = None,
        field_name: str | None = None,
    ) -> Any:
        best: _Mismatch | None = None
        for type_name in types:
            try:
                return self._coerce_one(
                    value,
                    type_name,
                    files,
                    nested=nested,
                    depth=depth,
                    param=param,
                    owner=owner,
                    field_name=field_name,
                )
            except _Mismatch as exc:
                if best is None or exc.depth > best.depth:
                    best = exc
        if best is not None and best.depth > depth:
            raise best
        expected = " or ".join(types)
        if owner is not None:
            raise _Mismatch(
                f'can\'t parse {human_type_name(owner)}: Field "{field_name}" must be of type '
                f"{expected}",
                depth,
            )
        if param is not None:
            if best is not None and best.message.startswith("can't parse"):
                raise best
            raise _Mismatch(
                f'wrong type of parameter "{param}": expected {expected}, got {_describe(value)}',
                depth,
            )
        raise best or _Mismatch(f"expected {expected}", depth)

    def _coerce_one(
        self,
        value: Any,
        type_name: str,
        files: Mapping[str, UploadedFile],
        *,
        nested: bool,
        depth: int,
        param: str | None,
        owner: str | None,
        field_name: str | None,
    ) -> Any:
        top_level = not nested
        fail = _Mismatch("type mismatch", depth)
        if type_name.startswith("Array of "):
            inner = type_name[len("Array of ") :]
            if isinstance(value, str) and top_level:
                try:
                    value = json.loads(value)
                except ValueError:
                    raise _Mismatch(f"can't parse {param} JSON array", depth) from None
            if not isinstance(value, list):
                raise fail
            return [
                self._coerce(
                    item,
                    [inner],
                    files,
                    nested=True,
                    depth=depth + 1,
                    param=param,
                    owner=owner,
                    field_name=field_name,
                )
                for item in value
            ]
        if isinstance(value, UploadedFile):
            if type_name == "InputFile":
                return value
            raise fail
        if type_name == "InputFile":
            if isinstance(value, str) and value.startswith("attach://"):
                attach = value[len("attach://") :]
                if attach not in files:
                    raise _Mismatch(f'file attachment "{attach}" not found in the request', 99)
                return files[attach]
            raise fail
        if type_name == "Integer":
            if isinstance(value, bool):
                raise fail
            if isinstance(value, int):
                return value
            if top_level and isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
                return int(value.strip())
            raise fail
        if type_name == "Float":
            if isinstance(value, bool):
                raise fail
            if isinstance(value, int | float):
                return float(value)
            if top_level and isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip()):
                return float(value.strip())
            raise fail
        if type_name in ("Boolean", "True"):
            result: bool
            if isinstance(value, bool):
                result = value
            elif top_level and isinstance(value, int) and value in (0, 1):
                result = bool(value)
            elif top_level and isinstance(value, str) and value.lower() in ("true", "1"):
                result = True
            elif top_level and isinstance(value, str) and value.lower() in ("false", "0"):
                result = False
            else:
                raise fail
            if type_name == "True" and not result:
                raise fail
            return result
        if type_name == "String":
            if isinstance(value, str):
                return value
            # The real server flattens top-level JSON scalars to strings.
            if top_level and isinstance(value, int | float) and not isinstance(value, bool):
                return json.dumps(value)
            raise fail
        info = self.types.get(type_name)
        if info is None:
            raise _Mismatch(f"unknown schema type {type_name}", depth)
        if isinstance(value, str) and top_level:
            try:
                value = json.loads(value)
            except ValueError:
                what = _PARAM_OBJECT_NAMES.get(param or "", human_type_name(type_name))
                raise _Mismatch(f"can't parse {what} JSON object", depth) from None
        if not isinstance(value, dict):
            if top_level:
                what = _PARAM_OBJECT_NAMES.get(param or "", human_type_name(type_name))
                raise _Mismatch(f"can't parse {what} JSON object", depth)
            raise fail
        return self._coerce_object(value, type_name, files, depth=depth + 1, param=param)

    def _coerce_object(
        self,
        value: dict[str, Any],
        type_name: str,
        files: Mapping[str, UploadedFile],
        *,
        depth: int,
        param: str | None,
    ) -> dict[str, Any]:
        info = self.types[type_name]
        subtypes: list[str] = list(info.get("subtypes", []))
        if subtypes:
            mapping = self._discriminators.get(type_name, {})
            for key in ("type", "source", "status"):
                if key in value and f"{key}={value[key]}" in mapping:
                    return self._coerce_object(
                        value, mapping[f"{key}={value[key]}"], files, depth=depth, param=param
                    )
            if mapping:
                raise _Mismatch(
                    f"can't parse {human_type_name(type_name)}: unsupported type "
                    f"{json.dumps(value.get('type'))}",
                    depth,
                )
            best: _Mismatch | None = None
            for sub in subtypes:
                try:
                    return self._coerce_object(value, sub, files, depth=depth, param=param)
                except _Mismatch as exc:
                    if best is None or exc.depth > best.depth:
                        best = exc
            raise best or _Mismatch(f"can't parse {human_type_name(type_name)}", depth)
        spec_fields = {f["name"]: f for f in info.get("fields", [])}
        where = human_type_name(type_name)
        for key in value:
            if key not in spec_fields:
                raise _Mismatch(f'can\'t parse {where}: unknown field "{key}"', depth)
        for name, fld in spec_fields.items():
            if fld.get("required") and value.get(name) is None:
                raise _Mismatch(f'can\'t parse {where}: Field "{name}" must be specified', depth)
        # Discriminated subtypes: the tag must match the documented value.
        for key in ("type", "source", "status"):
            fld = spec_fields.get(key)
            if fld is None or key not in value:
                continue
            match = _DISCRIMINATOR_RE.search(fld.get("description", ""))
            if match and value[key] != match.group(1):
                raise _Mismatch(
                    f'can\'t parse {where}: Field "{key}" must be "{match.group(1)}"', depth
                )
        result: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            result[key] = self._coerce(
                item,
                spec_fields[key]["types"],
                files,
                nested=True,
                depth=depth,
                param=param,
                owner=type_name,
                field_name=key,
            )
        return result


@cache
def _load_cached(path: str) -> ApiSpec:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Bot API schema not found at {path}; set {SPEC_ENV_VAR} to api.min.json"
        ) from None
    return ApiSpec(raw)


# Parameters for which an empty string is meaningful (setWebhook with url="" removes it).
_EMPTY_ALLOWED = frozenset({("setWebhook", "url")})

_MISSING_MESSAGES: dict[tuple[str | None, str], str] = {
    (None, "chat_id"): "chat_id is empty",
    (None, "text"): "message text is empty",
    (None, "message_id"): "message identifier is not specified",
    (None, "callback_query_id"): (
        "query is too old and response timeout expired or query ID is invalid"
    ),
    (None, "document"): "there is no document in the request",
    (None, "photo"): "there is no photo in the request",
    (None, "file_id"): "invalid file_id",
    (None, "url"): "bad webhook: An HTTPS URL must be provided for webhook",
}


def _missing_parameter(method: str, name: str) -> ApiError:
    detail = _MISSING_MESSAGES.get((method, name)) or _MISSING_MESSAGES.get((None, name))
    return bad_request(detail or f'parameter "{name}" is required')


def _attach_references(params: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.update(re.findall(r"attach://([A-Za-z0-9_.\-]+)", value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for value in params.values():
        walk(value)
    return found


# -- request body decoding -------------------------------------------------------------------


def _header_params(header: str) -> tuple[str, dict[str, str]]:
    """Split ``value; a="b"; c=d`` into the main value and its parameters."""
    main, _, rest = header.partition(";")
    params: dict[str, str] = {}
    for match in re.finditer(r'\s*([A-Za-z0-9_\-*]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?', rest):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[key] = raw
    return main.strip().lower(), params


def _unescape_form_param(value: str) -> str:
    # httpx (and browsers) percent-encode '"' and control characters in quoted params.
    return re.sub(r"%(22|0A|0D|[01][0-9A-F])", lambda m: chr(int(m.group(1), 16)), value)


def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    _, ct_params = _header_params(content_type)
    boundary = ct_params.get("boundary")
    if not boundary:
        raise bad_request("can't find boundary in multipart/form-data Content-Type")
    delimiter = b"--" + boundary.encode("latin-1")
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    chunks = body.split(delimiter)
    if len(chunks) < 2:
        raise bad_request("can't parse multipart/form-data body")
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise bad_request("can't parse multipart/form-data body")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, val = line.partition(":")
            headers[key.strip().lower()] = val.strip()
        _, disposition = _header_params(headers.get("content-disposition", ""))
        name = disposition.get("name")
        if name is None:
            continue
        name = _unescape_form_param(name)
        filename = disposition.get("filename")
        if "filename*" in disposition:
            encoded = disposition["filename*"]
            _, _, filename = encoded.partition("''")
            from urllib.parse import unquote

            filename = unquote(filename)
        if filename is not None:
            files[name] = UploadedFile(
                name=name,
                filename=_unescape_form_param(filename),
                content_type=headers.get("content-type", "application/octet-stream"),
                data=content,
            )
        else:
            fields[name] = content.decode("utf-8", "replace")
    return fields, files


def parse_body(
    body: bytes, content_type: str | None
) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Decode a request body the way the Bot API server does.

    Returns ``(params, files)``; ``params`` values are strings for form encodings and native
    JSON values for ``application/json``.
    """
    if not body:
        return {}, {}
    main, params = _header_params(content_type or "")
    if main == "application/json":
        try:
            decoded = json.loads(body.decode(params.get("charset", "utf-8")))
        except (ValueError, LookupError):
            raise bad_request("can't parse JSON object") from None
        if not isinstance(decoded, dict):
            raise bad_request("JSON object expected in the request body")
        return decoded, {}
    if main == "application/x-www-form-urlencoded" or not main:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("request body is not valid UTF-8") from None
        return dict(parse_qsl(text, keep_blank_values=True)), {}
    if main == "multipart/form-data":
        fields, files = parse_multipart(body, content_type or "")
        return dict(fields), files
    raise bad_request(f"unsupported Content-Type {main}")
