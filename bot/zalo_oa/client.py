"""Async client for the Zalo Official Account APIs: OAuth v4 tokens, consultation and
transaction messages, ZNS template messages (docs/zalo-oa.md).

Every answer is JSON with an ``error`` field (0 = success) and a ``message``, usually on HTTP
200, so the body is always checked and the HTTP status is never trusted on its own. Errors are
typed (:class:`OAError` subclasses) and carry the platform's code, never a token or a text.
Sending is never retried here: retry policy is the caller's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

# Error codes of the platform (docs/zalo-oa.md lists where they come from).
ERR_TOKEN = -216
ERR_WINDOW = -230
ERR_NOT_FOLLOWER = -213
ERR_TEMPLATE = -240
ERR_PARAMS = -201
ERR_RATE = -32

CS_PATH = "/v3.0/oa/message/cs"
TRANSACTION_PATH = "/v3.0/oa/message/transaction"
ZNS_PATH = "/message/template"
OAUTH_PATH = "/v4/oa/access_token"
OA_INFO_PATH = "/v2.0/oa/getoa"


class OAError(Exception):
    """An error answer (``code`` is the platform's ``error``, or the HTTP status, or None for
    a transport error). The message never holds a token or a message text."""

    def __init__(self, code: int | None, message: str, *, path: str = "") -> None:
        super().__init__(f"{path or 'call'} error {code}: {message[:120]}")
        self.code = code
        self.path = path


class OATokenInvalid(OAError):
    """-216: the access token is invalid or expired (refresh and try again once)."""


class OAOutsideWindow(OAError):
    """-230: the user has not interacted within the consultation window."""


class OANotFollower(OAError):
    """-213: the user does not follow the OA (unfollowed or blocked it)."""


class OATemplateRefused(OAError):
    """-240: the template id is not approved (or unknown)."""


class OARateLimited(OAError):
    """-32: too many requests / quota exceeded."""


class OABadRequest(OAError):
    """-201 and other refusals of the request itself."""


class OAServerError(OAError):
    """HTTP 5xx, an answer that is not JSON, or a network error."""


class OAAuthError(OAError):
    """The OAuth endpoint refused (wrong secret key, a used or expired refresh token)."""


_BY_CODE: dict[int, type[OAError]] = {
    ERR_TOKEN: OATokenInvalid,
    ERR_WINDOW: OAOutsideWindow,
    ERR_NOT_FOLLOWER: OANotFollower,
    ERR_TEMPLATE: OATemplateRefused,
    ERR_RATE: OARateLimited,
    ERR_PARAMS: OABadRequest,
}


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: float  # seconds


@dataclass(frozen=True)
class Button:
    title: str
    payload: str  # sent back as the user's text when tapped (type oa.query.show)


class OAClient:
    """One OA app. Pass ``http`` to share an ``httpx.AsyncClient`` (not closed by close())."""

    def __init__(
        self,
        *,
        app_id: str,
        secret_key: str,
        api_url: str,
        oauth_url: str,
        zns_url: str,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.app_id = app_id
        self._secret_key = secret_key
        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/")
        self.zns_url = zns_url.rstrip("/")
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)

    def __repr__(self) -> str:
        return f"OAClient(app_id={self.app_id!r}, api_url={self.api_url!r})"

    async def close(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # -- plumbing ----------------------------------------------------------------------------

    async def _request(
        self, method: str, url: str, path: str, **kw: Any
    ) -> tuple[int, dict[str, Any]]:
        try:
            response = await self._http.request(method, url, **kw)
        except httpx.TransportError as exc:
            raise OAServerError(None, type(exc).__name__, path=path) from None
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise OAServerError(response.status_code, "not a JSON answer", path=path)
        return response.status_code, data

    @staticmethod
    def _code(data: dict[str, Any]) -> int:
        raw = data.get("error", 0)
        if isinstance(raw, bool):
            return 0
        try:
            return int(raw)
        except (TypeError, ValueError):
            return ERR_PARAMS

    async def _api(
        self, access_token: str, path: str, body: dict[str, Any], *, base: str | None = None
    ) -> dict[str, Any]:
        status, data = await self._request(
            "POST",
            (base or self.api_url) + path,
            path,
            json=body,
            headers={"access_token": access_token},
        )
        code = self._code(data)
        if code == 0 and status < 400:
            result = data.get("data")
            return result if isinstance(result, dict) else {}
        message = str(data.get("message") or "no message")
        if code == 0:
            code = status
        if status >= 500 and code == status:
            raise OAServerError(code, message, path=path)
        raise _BY_CODE.get(code, OAError)(code, message, path=path)

    # -- OAuth v4 ----------------------------------------------------------------------------

    async def refresh(self, refresh_token: str) -> Tokens:
        """Spend ``refresh_token`` (single use) for a new access token and refresh token."""
        return await self._oauth({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def exchange_code(self, code: str) -> Tokens:
        return await self._oauth({"grant_type": "authorization_code", "code": code})

    async def _oauth(self, form: dict[str, str]) -> Tokens:
        status, data = await self._request(
            "POST",
            self.oauth_url + OAUTH_PATH,
            OAUTH_PATH,
            data={"app_id": self.app_id, **form},
            headers={"secret_key": self._secret_key},
        )
        access, refresh = data.get("access_token"), data.get("refresh_token")
        if isinstance(access, str) and access and isinstance(refresh, str) and refresh:
            try:
                expires = float(data.get("expires_in") or 90000)
            except (TypeError, ValueError):
                expires = 90000.0
            return Tokens(access, refresh, expires)
        if status >= 500:
            raise OAServerError(status, "OAuth server error", path=OAUTH_PATH)
        message = str(data.get("error_description") or data.get("message") or "refused")
        raise OAAuthError(self._code(data) or status, message, path=OAUTH_PATH)

    # -- messages ----------------------------------------------------------------------------

    async def oa_info(self, access_token: str) -> dict[str, Any]:
        status, data = await self._request(
            "GET", self.api_url + OA_INFO_PATH, OA_INFO_PATH, headers={"access_token": access_token}
        )
        code = self._code(data)
        if code:
            raise _BY_CODE.get(code, OAError)(code, str(data.get("message")), path=OA_INFO_PATH)
        result = data.get("data")
        return result if isinstance(result, dict) else {}

    async def send_cs(
        self, access_token: str, user_id: str, text: str, buttons: list[Button] | None = None
    ) -> str:
        message: dict[str, Any] = {"text": text}
        if buttons:
            message["attachment"] = {
                "type": "template",
                "payload": {
                    "buttons": [
                        {"title": b.title, "type": "oa.query.show", "payload": b.payload}
                        for b in buttons
                    ]
                },
            }
        data = await self._api(
            access_token, CS_PATH, {"recipient": {"user_id": user_id}, "message": message}
        )
        return str(data.get("message_id", ""))

    async def send_transaction(
        self, access_token: str, user_id: str, template_id: str, fields: dict[str, str]
    ) -> str:
        body = {
            "recipient": {"user_id": user_id},
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {"template_id": template_id, "template_data": fields},
                }
            },
        }
        data = await self._api(access_token, TRANSACTION_PATH, body)
        return str(data.get("message_id", ""))

    async def send_zns(
        self,
        access_token: str,
        phone: str,
        template_id: str,
        fields: dict[str, str],
        tracking_id: str,
    ) -> str:
        body = {
            "phone": phone,
            "template_id": template_id,
            "template_data": fields,
            "tracking_id": tracking_id,
        }
        data = await self._api(access_token, ZNS_PATH, body, base=self.zns_url)
        return str(data.get("message_id", ""))
