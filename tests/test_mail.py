"""Reports by e-mail (issue 15) through a loopback SMTP server (``aiosmtpd``): a submitted
report goes to the agency's address with its XLSX and DOCX, a temporary failure is retried
through the outbox, a permanent one is shown to the admin in /tinhhinh, and a compilation
goes to the level above."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlmodel import select

from bot.cli import main
from bot.doctor import Report, check_smtp
from bot.mail import EmailChannel
from db import queries
from db.engine import Database
from db.models import Outbox
from handlers.dispatch import Dispatcher
from kernel.settings import Services, Settings, SmtpSettings
from scheduler.dispatcher import OutboxDispatcher
from services import mail
from tests.chat import Chat, Clock
from tests.conftest import local
from tests.reminders_support import fast_settings
from tests.test_report_flow import fill


@dataclass
class Inbox:
    """The loopback server's handler: keeps what it accepts; answers the next ``fail``
    deliveries with ``code``."""

    got: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    fail: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]  # noqa: N802, ANN001
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802, ANN001
        if self.fail:
            return self.fail.pop(0)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.got.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (the controller connects to its own)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def mail_dispatcher(demo_db: Database, clock: Clock) -> Dispatcher:
    return Dispatcher(demo_db, Services(mail=True), clock=clock)


def _channel(db: Database, port: int) -> EmailChannel:
    settings = SmtpSettings(
        BDG_SMTP_HOST="127.0.0.1",
        BDG_SMTP_PORT=port,
        BDG_SMTP_STARTTLS=False,
        BDG_SMTP_FROM="bdg@sonv.hatinh.gov.vn",
        BDG_SMTP_TIMEOUT=5,
    )  # type: ignore[call-arg]
    return EmailChannel(db, Services(mail=True), settings)


async def _rows(db: Database) -> list[Outbox]:
    async with db.session() as s:
        return list((await s.exec(select(Outbox).where(Outbox.channel == "email"))).all())


async def _submit(mail_dispatcher: Dispatcher, db: Database) -> Chat:
    chat = Chat(mail_dispatcher, user="lan", channel="terminal", lang="vi")
    await chat.register(db, "28303")
    await chat.send("/baocao")
    await fill(chat, db)
    assert "BC-2026-28303-1" in await chat.send("gửi")
    return chat


async def test_a_submitted_report_is_mailed_after_a_temporary_failure(
    mail_dispatcher: Dispatcher, demo_db: Database, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    async with demo_db.session() as s:
        province = await queries.unit_by_code(s, "42")
        assert province is not None
        await mail.set_addresses(s, province, ["ThuongTruc@SoNV.HaTinh.gov.vn"], now=clock())
    await _submit(mail_dispatcher, demo_db)
    [row] = await _rows(demo_db)
    assert row.key == "mail:report:2026:" + str(row.unit_id) + ":v1:thuongtruc@sonv.hatinh.gov.vn"
    assert row.status == "pending"

    inbox.fail.append("451 4.3.0 try again later")
    out = OutboxDispatcher(demo_db, {"email": _channel(demo_db, port)}, settings=fast_settings())
    stats = await out.run_once()
    assert stats.retries == 1 and stats.sent == 1
    [row] = await _rows(demo_db)
    assert row.status == "sent" and row.attempts == 2 and "SMTP 451" in (row.last_error or "")

    [(to, msg)] = inbox.got
    assert to == ["thuongtruc@sonv.hatinh.gov.vn"]
    assert msg["Subject"] == "Báo cáo tổng kết năm 2026 — Xã Thạch Lạc"
    assert msg["From"] == "bdg@sonv.hatinh.gov.vn"
    names = sorted(p.get_filename() for p in msg.iter_attachments())
    assert names == [
        "bao-cao-tong-hop-2026-28303.docx",
        "tong-hop-2026-28303.xlsx",
    ]
    body = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Xã Thạch Lạc đã gửi báo cáo tổng kết năm 2026 (số BC-2026-28303-1" in body
    # A second pass sends nothing again.
    assert (await out.run_once()).sent == 0 and len(inbox.got) == 1


async def test_a_refused_address_fails_and_the_admin_sees_it(
    mail_dispatcher: Dispatcher,
    make_chat: Callable[..., Chat],
    demo_db: Database,
    clock: Clock,
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    inbox.refuse.add("sai@example.vn")
    async with demo_db.session() as s:
        province = await queries.unit_by_code(s, "42")
        assert province is not None
        await mail.set_addresses(s, province, ["sai@example.vn"], now=clock())
    await _submit(mail_dispatcher, demo_db)
    out = OutboxDispatcher(demo_db, {"email": _channel(demo_db, port)}, settings=fast_settings())
    stats = await out.run_once()
    assert stats.failed == 1 and stats.retries == 0 and not inbox.got
    [row] = await _rows(demo_db)
    assert row.status == "failed" and row.last_error == "Rejected: recipient refused"

    admin = Chat(mail_dispatcher, user="admin-terminal", channel="terminal", lang="vi")
    await admin.register(demo_db, "42-SNV", role="admin", name="Trần Văn Bình", position="CV")
    text = await admin.send("/tinhhinh")
    assert (
        "⚠️ 1 thư điện tử gửi báo cáo không gửi được (lỗi cuối: Rejected: recipient refused)" in text
    )


async def test_a_compilation_goes_to_the_level_above(
    mail_dispatcher: Dispatcher, demo_db: Database, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    async with demo_db.session() as s:
        province = await queries.unit_by_code(s, "42")
        assert province is not None
        await mail.set_addresses(s, province, ["tonghop@sonv.hatinh.gov.vn"], now=clock())
    await _submit(mail_dispatcher, demo_db)
    admin = Chat(mail_dispatcher, user="admin-terminal", channel="terminal", lang="vi")
    await admin.register(demo_db, "42-SNV", role="admin", name="Trần Văn Bình", position="CV")
    clock.set(local("2026-12-08T09:00"))  # after the units' deadline: /tonghop is the compilation
    await admin.send("/tonghop")
    rows = await _rows(demo_db)
    assert sorted(r.batch or "" for r in rows) == ["mail:compiled:2026", "mail:report:2026"]
    await OutboxDispatcher(
        demo_db, {"email": _channel(demo_db, port)}, clock=clock, settings=fast_settings()
    ).run_once()
    subjects = sorted(m["Subject"] for _, m in inbox.got)
    assert "Tổng hợp báo cáo tổng kết năm 2026 — Tỉnh Hà Tĩnh" in subjects
    compiled = next(m for _, m in inbox.got if m["Subject"].startswith("Tổng hợp"))
    names = sorted(p.get_filename() for p in compiled.iter_attachments())
    assert names == ["bao-cao-tong-hop-2026-42.docx", "tong-hop-2026-42.xlsx"]


def test_cli_sets_and_checks_addresses(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    r = CliRunner()
    assert r.invoke(main, ["seed-demo"]).exit_code == 0
    res = r.invoke(main, ["units", "email", "42", "a@sonv.hatinh.gov.vn", "B@sonv.hatinh.gov.vn"])
    assert res.exit_code == 0, res.output
    assert "42 Tỉnh Hà Tĩnh: a@sonv.hatinh.gov.vn, b@sonv.hatinh.gov.vn" in res.output
    assert "chưa cấu hình máy chủ thư" in res.output
    res = r.invoke(main, ["units", "email", "42", "not-an-address"])
    assert res.exit_code == 1 and "không hợp lệ: not-an-address" in res.output
    assert "Traceback" not in res.output
    res = r.invoke(main, ["units", "email", "42", "--clear"])
    assert "chưa có địa chỉ thư điện tử" in res.output


async def test_doctor_checks_the_mail_server(smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    good = Settings(
        smtp=SmtpSettings(
            BDG_SMTP_HOST="127.0.0.1",
            BDG_SMTP_PORT=port,
            BDG_SMTP_STARTTLS=False,
            BDG_SMTP_FROM="bdg@sonv.hatinh.gov.vn",
        )  # type: ignore[call-arg]
    )  # type: ignore[call-arg]
    report = Report()
    await check_smtp(good, report)
    assert [(c.status, c.key) for c in report.checks] == [("ok", "doctor.smtp_ok")]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    bad = Settings(smtp=good.smtp.model_copy(update={"port": closed}))  # type: ignore[call-arg]
    report = Report()
    await check_smtp(bad, report)
    [check] = report.checks
    assert check.status == "fail" and check.key == "doctor.smtp_failed"
    assert check.fix == "doctor.fix_smtp" and check.params["error"]
