"""The e-mail channel: sends the outbox rows of kind ``email`` (``services/mail.py``) through
an SMTP server with ``aiosmtplib``, the report files attached.

The files are built when the message is sent, from the database as it is then (the submitted
version named in the row's key is the latest one for a report row, since a later version
queues its own message): the unit's XLSX and DOCX for a submitted report, the subtree's for a
compilation. Errors are typed for the outbox dispatcher: a refused recipient or a permanent
(5xx) answer is ``Rejected`` (never retried); a network error, a timeout or a temporary (4xx)
answer is ``Transient`` (retried with backoff, then ``failed``, which the admin sees in
/tinhhinh). Nothing of the text is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib
from starlette.routing import BaseRoute

from compile.build import render
from compile.data import gather
from db.engine import Database
from db.models import Unit
from kernel.channel import Capabilities, OutboxItem, Rejected, Transient
from kernel.clock import utcnow
from kernel.messages import Reply
from kernel.settings import Services, SmtpSettings

log = logging.getLogger("bdg.mail")

EMAIL = Capabilities("E-mail", files=True, max_text=1_000_000, rate=2.0, chat_rate=1.0)
MEDIA = {
    "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "png": ("image", "png"),
}
Sender = Callable[..., Awaitable[Any]]


class EmailChannel:
    name = "email"
    capabilities = EMAIL

    def __init__(
        self,
        db: Database,
        services: Services,
        smtp: SmtpSettings,
        *,
        send: Sender = aiosmtplib.send,
    ) -> None:
        self.db = db
        self.services = services
        self.smtp = smtp
        self._send = send

    async def start(self, *, webhook: bool) -> None:
        return None

    async def run_polling(self, stop: asyncio.Event) -> None:
        await stop.wait()  # nothing comes in by e-mail

    def web_routes(self) -> list[BaseRoute]:
        return []

    async def stop(self) -> None:
        return None

    async def send(self, chat_id: str, reply: Reply) -> list[str]:
        """A plain message (no report attached): the first line is the subject."""
        return [await self._deliver(chat_id, reply.text, list(reply.files))]

    async def send_outbox(self, item: OutboxItem, reply: Reply) -> list[str]:
        files = await self.files_for(item)
        return [await self._deliver(item.chat_id, reply.text, files)]

    async def files_for(self, item: OutboxItem) -> list[tuple[str, bytes, str]]:
        """The XLSX and DOCX of the row's unit (``mail:report:…``) or subtree
        (``mail:compiled:…``) for the period named in the batch."""
        parts = (item.batch or "").split(":")
        if len(parts) != 3 or parts[0] != "mail" or item.unit_id is None:
            return []
        period = parts[2]
        async with self.db.session() as s:
            unit = await s.get(Unit, item.unit_id)
            if unit is None:
                raise Rejected("unit gone")
            c = await gather(s, unit, period, services=self.services, now=utcnow())
        out = []
        for fmt in ("xlsx", "docx"):
            built = await asyncio.to_thread(render, c, fmt, form_dir=self.services.form_dir)
            out += [(f.name, f.data, fmt) for f in built]
        return out

    def message(self, to: str, text: str, files: list[tuple[str, bytes, str]]) -> EmailMessage:
        subject, _, body = text.partition("\n")
        msg = EmailMessage()
        msg["From"] = self.smtp.sender or ""
        msg["To"] = to
        msg["Subject"] = subject.strip()
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=(self.smtp.sender or "bdg").rpartition("@")[2])
        msg.set_content(body.strip() + "\n")
        for name, data, kind in files:
            fmt = name.rsplit(".", 1)[-1] if "." in name else kind
            maintype, subtype = MEDIA.get(fmt, ("application", "octet-stream"))
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        return msg

    async def _deliver(self, to: str, text: str, files: list[tuple[str, bytes, str]]) -> str:
        msg = self.message(to, text, files)
        try:
            await self._send(
                msg,
                hostname=self.smtp.host,
                port=self.smtp.port,
                username=self.smtp.user,
                password=self.smtp.password,
                start_tls=self.smtp.starttls and not self.smtp.tls,
                use_tls=self.smtp.tls,
                timeout=self.smtp.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise Rejected("recipient refused") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise Rejected(f"SMTP {exc.code}") from exc
            raise Transient(f"SMTP {exc.code}") from exc
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise Transient(type(exc).__name__) from exc
        return str(msg["Message-ID"])
