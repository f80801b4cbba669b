"""A loopback stand-in for the Zalo Official Account APIs (OAuth v4, OA messages, ZNS), for
tests. It behaves as docs/zalo-oa.md says the platform does:

* ``POST /v4/oa/access_token`` (form: app_id, grant_type, refresh_token | code; header
  ``secret_key``): a new access token valid ``access_ttl`` seconds (90,000 = 25 h) and a new
  refresh token; the refresh token used is dead from then on, so using it twice fails
  (``{"error": -14014, …}``). :meth:`FakeZaloOA.issue_refresh_token` makes the first one.
* ``POST /v3.0/oa/message/cs`` (header ``access_token``): a consultation message, accepted only
  within ``window_seconds`` of the user's last interaction (an event pushed through
  :meth:`FakeZaloOA.event`, or :meth:`FakeZaloOA.interact`), else ``-230``; a user who
  unfollowed gets ``-213``. Text up to ``max_text`` characters, up to ``max_buttons`` buttons.
* ``POST /v3.0/oa/message/transaction``: a template message to a follower, any time, only with
  an approved template id (``approved``), else ``-240``.
* ``POST /message/template`` (ZNS): to a phone number with an approved ZNS template id.
* ``GET /v2.0/oa/getoa``: the OA's identity.
* Every error is ``{"error": <negative>, "message": …}`` on **HTTP 200**; an expired or unknown
  access token is ``-216``. :meth:`FakeZaloOA.inject` queues errors for a path.
* Webhook events built by :meth:`FakeZaloOA.event` carry ``X-ZEvent-Signature: mac=`` +
  sha256(app_id + body + timestamp + OA secret key).

The server runs uvicorn + Starlette in a background thread on 127.0.0.1 (ephemeral port), so
sync and async tests, and bot processes, can all use it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.loopback import QuickServer, ServerContext, loopback_socket

__all__ = ["FakeZaloOA", "OASent", "SIGNATURE_HEADER", "sign"]

SIGNATURE_HEADER = "X-ZEvent-Signature"

ERR_TOKEN = -216
ERR_WINDOW = -230
ERR_NOT_FOLLOWER = -213
ERR_TEMPLATE = -240
ERR_PARAMS = -201
ERR_RATE = -32
ERR_REFRESH = -14014
ERR_SECRET = -14002


def sign(app_id: str, body: str, timestamp: str, key: str) -> str:
    """The ``X-ZEvent-Signature`` value of an event."""
    return "mac=" + hashlib.sha256((app_id + body + timestamp + key).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OASent:
    """One message the fake accepted. ``kind`` is ``cs``, ``transaction`` or ``zns``."""

    kind: str
    to: str  # user id, or phone for zns
    message_id: str
    time: float
    access_token: str
    text: str | None = None
    buttons: tuple[tuple[str, str], ...] = ()
    template_id: str | None = None
    template_data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TokenCall:
    grant_type: str
    refresh_token: str | None
    ok: bool
    time: float


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message})  # HTTP 200, like the platform


class FakeZaloOA(ServerContext):
    def __init__(
        self,
        app_id: str = "4412345678901234567",
        secret_key: str = "app-secret-key-123",
        oa_secret: str = "oa-secret-key-456",
    ) -> None:
        self.app_id = app_id
        self.secret_key = secret_key
        self.oa_secret = oa_secret
        self.oa_id = "579745863508352884"
        self.url = ""
        self.access_ttl = 90_000.0
        self.window_seconds = 48 * 3600.0
        self.max_text = 2000
        self.max_buttons = 5
        self.approved: set[str] = set()
        self.approved_zns: set[str] = set()
        self.sent: list[OASent] = []
        self.token_calls: list[TokenCall] = []
        self.rejected: list[tuple[str, int]] = []  # (path, error) of refused calls
        self._lock = threading.RLock()
        self._access: dict[str, float] = {}  # token -> expires (time.time())
        self._refresh: dict[str, bool] = {}  # token -> still usable
        self._codes: set[str] = set()
        self._last: dict[str, float] = {}  # user -> last interaction (time.time())
        self._unfollowed: set[str] = set()
        self._faults: dict[str, list[int]] = {}
        self._app = Starlette(
            routes=[
                Route("/v4/oa/access_token", self._token, methods=["POST"]),
                Route("/v3.0/oa/message/cs", self._cs, methods=["POST"]),
                Route("/v3.0/oa/message/transaction", self._transaction, methods=["POST"]),
                Route("/message/template", self._zns, methods=["POST"]),
                Route("/v2.0/oa/getoa", self._getoa, methods=["GET"]),
            ]
        )
        self._server: QuickServer | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        sock = loopback_socket()
        self._sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self._app, lifespan="off", log_config=None, log_level="warning", access_log=False
        )
        self._server = QuickServer(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("FakeZaloOA did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    # -- test side -------------------------------------------------------------------------

    def issue_refresh_token(self) -> str:
        """A fresh refresh token, as the OA admin gets from the permission flow."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = True
        return token

    def issue_code(self) -> str:
        code = "code-" + secrets.token_urlsafe(12)
        with self._lock:
            self._codes.add(code)
        return code

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working now."""
        with self._lock:
            self._access = dict.fromkeys(self._access, 0.0)

    def interact(self, user_id: str, ago: float = 0.0) -> None:
        """Record that ``user_id`` interacted ``ago`` seconds ago (opens or closes the window)."""
        with self._lock:
            self._last[user_id] = time.time() - ago
            self._unfollowed.discard(user_id)

    def unfollow(self, user_id: str) -> None:
        with self._lock:
            self._unfollowed.add(user_id)

    def inject(self, path: str, error: int, times: int = 1) -> None:
        """The next ``times`` calls to ``path`` answer ``error`` (HTTP 200)."""
        with self._lock:
            self._faults.setdefault(path, []).extend([error] * times)

    def event(
        self,
        user_id: str,
        text: str | None = None,
        *,
        event_name: str | None = None,
        msg_id: str | None = None,
        timestamp_ms: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A signed webhook event (body, headers); a message also opens the user's window."""
        name = event_name or ("user_send_text" if text is not None else "follow")
        ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        event: dict[str, Any] = {
            "app_id": self.app_id,
            "oa_id": self.oa_id,
            "user_id_by_app": "app-" + user_id,
            "event_name": name,
            "timestamp": ts,
            "sender": {"id": user_id},
            "recipient": {"id": self.oa_id},
        }
        if name == "follow" or name == "unfollow":
            event["sender"] = {"id": self.oa_id}
            event["follower"] = {"id": user_id}
            event["recipient"] = {"id": self.oa_id}
        if name.startswith("user_send"):
            message: dict[str, Any] = {"msg_id": msg_id or secrets.token_hex(16)}
            if text is not None:
                message["text"] = text
            event["message"] = message
        if extra:
            event.update(extra)
        body = json.dumps(event, ensure_ascii=False)
        if name == "unfollow":
            self.unfollow(user_id)
        elif timestamp_ms is None:
            self.interact(user_id)
        headers = {
            SIGNATURE_HEADER: sign(self.app_id, body, ts, self.oa_secret),
            "Content-Type": "application/json",
        }
        return body.encode(), headers

    def sent_to(self, user_id: str, kind: str | None = None) -> list[OASent]:
        with self._lock:
            return [m for m in self.sent if m.to == user_id and (kind is None or m.kind == kind)]

    def texts(self, user_id: str) -> list[str]:
        return [m.text or "" for m in self.sent_to(user_id, "cs")]

    async def await_text(
        self,
        substring: str,
        user_id: str,
        timeout: float = 10,  # noqa: ASYNC109
        *,
        start: int = 0,
    ) -> str:
        deadline = time.monotonic() + timeout
        while True:
            found = next((x for x in self.texts(user_id)[start:] if substring in x), None)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no OA text containing {substring!r} within {timeout} s; "
                    f"sent: {self.texts(user_id)!r}"
                )
            await asyncio.sleep(0.01)

    # -- HTTP ------------------------------------------------------------------------------

    def _fault(self, path: str) -> int | None:
        with self._lock:
            queue = self._faults.get(path)
            return queue.pop(0) if queue else None

    async def _token(self, request: Request) -> JSONResponse:
        # Form-encoded, parsed by hand (Starlette's form parser needs python-multipart).
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = str(form.get("grant_type") or "")
        given = str(form.get("refresh_token") or "") or None
        now = time.time()
        ok = False
        with self._lock:
            try:
                if request.headers.get("secret_key") != self.secret_key:
                    return _error(ERR_SECRET, "Invalid secret key")
                if form.get("app_id") != self.app_id:
                    return _error(ERR_SECRET, "Invalid app id")
                if grant == "refresh_token":
                    if given is None or not self._refresh.get(given):
                        return _error(ERR_REFRESH, "Invalid refresh token")
                    self._refresh[given] = False  # single use
                elif grant == "authorization_code":
                    code = str(form.get("code") or "")
                    if code not in self._codes:
                        return _error(ERR_REFRESH, "Invalid authorization code")
                    self._codes.discard(code)
                else:
                    return _error(ERR_PARAMS, "Invalid grant_type")
                access = "at-" + secrets.token_urlsafe(24)
                refresh = "rt-" + secrets.token_urlsafe(24)
                self._access[access] = now + self.access_ttl
                self._refresh[refresh] = True
                ok = True
            finally:
                self.token_calls.append(TokenCall(grant, given, ok, time.monotonic()))
        return JSONResponse(
            {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": str(int(self.access_ttl)),
            }
        )

    def _authorised(self, request: Request) -> str | None:
        token = request.headers.get("access_token") or ""
        with self._lock:
            expires = self._access.get(token)
        return token if expires is not None and expires > time.time() else None

    async def _body(self, request: Request) -> dict[str, Any] | None:
        try:
            data = json.loads(await request.body())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _refuse(self, path: str, code: int, message: str) -> JSONResponse:
        with self._lock:
            self.rejected.append((path, code))
        return _error(code, message)

    async def _message(self, request: Request, kind: str) -> JSONResponse:
        path = request.url.path
        if (fault := self._fault(path)) is not None:
            return self._refuse(path, fault, "injected")
        token = self._authorised(request)
        if token is None:
            return self._refuse(path, ERR_TOKEN, "Access token is invalid")
        data = await self._body(request)
        if data is None:
            return self._refuse(path, ERR_PARAMS, "Parameters are invalid")
        if kind == "zns":
            return self._zns_send(path, token, data)
        recipient = data.get("recipient")
        message = data.get("message")
        user = recipient.get("user_id") if isinstance(recipient, dict) else None
        if not isinstance(user, str) or not user or not isinstance(message, dict):
            return self._refuse(path, ERR_PARAMS, "Parameters are invalid")
        with self._lock:
            if user in self._unfollowed:
                return self._refuse(path, ERR_NOT_FOLLOWER, "User has not followed the OA")
            last = self._last.get(user)
        if kind == "cs":
            if last is None or time.time() - last > self.window_seconds:
                return self._refuse(path, ERR_WINDOW, "User has not interacted in the window")
            return self._cs_send(path, token, user, message)
        payload = (message.get("attachment") or {}).get("payload") or {}
        template = payload.get("template_id")
        if template not in self.approved:
            return self._refuse(path, ERR_TEMPLATE, "Template is not approved")
        data_ = payload.get("template_data")
        return self._record(
            OASent(
                "transaction",
                user,
                secrets.token_hex(8),
                time.monotonic(),
                token,
                template_id=str(template),
                template_data=dict(data_) if isinstance(data_, dict) else {},
            )
        )

    def _cs_send(self, path: str, token: str, user: str, message: dict[str, Any]) -> JSONResponse:
        text = message.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= self.max_text:
            return self._refuse(path, ERR_PARAMS, "Text is empty or too long")
        buttons: list[tuple[str, str]] = []
        attachment = message.get("attachment")
        if attachment is not None:
            raw = (
                (attachment.get("payload") or {}).get("buttons")
                if isinstance(attachment, dict)
                else None
            )
            if not isinstance(raw, list) or not 1 <= len(raw) <= self.max_buttons:
                return self._refuse(path, ERR_PARAMS, "Too many buttons")
            for b in raw:
                if not isinstance(b, dict) or b.get("type") != "oa.query.show":
                    return self._refuse(path, ERR_PARAMS, "Invalid button")
                buttons.append((str(b.get("title")), str(b.get("payload"))))
        return self._record(
            OASent(
                "cs",
                user,
                secrets.token_hex(8),
                time.monotonic(),
                token,
                text=text,
                buttons=tuple(buttons),
            )
        )

    def _zns_send(self, path: str, token: str, data: dict[str, Any]) -> JSONResponse:
        phone = data.get("phone")
        if not isinstance(phone, str) or not phone.isdigit():
            return self._refuse(path, ERR_PARAMS, "Invalid phone")
        if data.get("template_id") not in self.approved_zns:
            return self._refuse(path, ERR_TEMPLATE, "Template is not approved")
        td = data.get("template_data")
        return self._record(
            OASent(
                "zns",
                phone,
                secrets.token_hex(8),
                time.monotonic(),
                token,
                template_id=str(data.get("template_id")),
                template_data=dict(td) if isinstance(td, dict) else {},
            )
        )

    def _record(self, sent: OASent) -> JSONResponse:
        with self._lock:
            self.sent.append(sent)
        return JSONResponse(
            {"error": 0, "message": "Success", "data": {"message_id": sent.message_id}}
        )

    async def _cs(self, request: Request) -> JSONResponse:
        return await self._message(request, "cs")

    async def _transaction(self, request: Request) -> JSONResponse:
        return await self._message(request, "transaction")

    async def _zns(self, request: Request) -> JSONResponse:
        return await self._message(request, "zns")

    async def _getoa(self, request: Request) -> JSONResponse:
        if self._authorised(request) is None:
            return _error(ERR_TOKEN, "Access token is invalid")
        return JSONResponse(
            {"error": 0, "message": "Success", "data": {"oa_id": self.oa_id, "name": "UBND xã"}}
        )
