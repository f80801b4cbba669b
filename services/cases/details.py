"""A case's details as an officer reads them, in the chat (``/vuviec VV-…``) and on the web
desk's cases board: the head (code, status, urgency, clocks), the answers given as choices,
the decrypted description and contact, and the history. Both front ends call these
functions; the chat joins the lines into one message, the desk lays them out (Jinja escapes
every piece; the few catalog texts with chat markup are stripped of it there).

Reading the protected fields is the caller's audited act (``cases.read``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession

from db import cases as store
from db.cases import Case, CaseEvent
from db.models import Officer, Unit
from kernel.clock import to_local
from kernel.i18n import t
from services.cases import actions, texts
from services.cases.config import config


@dataclass(frozen=True)
class View:
    """Who reads: their language, the deployment's time zone, and now."""

    lang: str
    tz: str
    now: datetime
    # The chat's texts are Telegram HTML: what a person typed (a description, a note, a
    # name) is escaped into them, or a "<" would make Telegram refuse the whole message. The
    # desk leaves them raw for Jinja to escape.
    markup: bool = False

    def t(self, key: str, **kw: object) -> str:
        if self.markup:
            kw = {k: escape(v) if isinstance(v, str) else v for k, v in kw.items()}
        return t(self.lang, key, **kw)

    def date(self, d: date | datetime) -> str:
        if isinstance(d, datetime):
            return to_local(d, self.tz).strftime("%H:%M %d/%m/%Y")
        return d.strftime("%d/%m/%Y")


def urgency(v: View, case: Case) -> str:
    """ "Khẩn cấp (đang nguy hiểm, trẻ em)" or "Thông thường"."""
    reasons = []
    if case.danger_now:
        reasons.append(v.t("case.reason_danger"))
    if case.child:
        reasons.append(v.t("case.reason_child"))
    if "sexual" in case.forms:
        reasons.append(v.t("case.reason_sexual"))
    text = v.t("case.urgency_high" if case.urgent else "case.urgency_normal")
    return text + (" (" + ", ".join(reasons) + ")" if reasons else "")


def clocks(v: View, case: Case) -> list[str]:
    return texts.clock_lines(v.lang, case, v.now, v.tz, config().escalate_minutes)


def head_lines(v: View, case: Case, unit: Unit) -> list[str]:
    """Code, place, status, urgency with its reasons, when it was received, the clocks."""
    lines = [
        v.t("case.detail_title", code=case.code or "", unit=unit.name),
        v.t("case.detail_status", status=texts.label(v.lang, "status", case.status)),
        v.t("case.detail_urgency", urgency=urgency(v, case)),
    ]
    if case.alerted_at is not None:
        lines.append(v.t("case.detail_received", time=v.date(case.alerted_at)))
    if case.submitted_at is None:
        lines.append(v.t("case.detail_unfinished"))
    return lines + clocks(v, case)


def field_pairs(v: View, case: Case) -> list[tuple[str, str]]:
    """The answers given as choices (never free text): (question, answer)."""
    lang = v.lang
    when = (
        v.date(case.occurred_on) if case.occurred_on else texts.label(lang, "when", case.occurred)
    )
    fields = [
        ("case.sum.danger", texts.label(lang, "danger", "yes" if case.danger_now else "no")),
        ("case.sum.affected", texts.label(lang, "aff", case.affected or "other")),
        ("case.sum.sex", texts.label(lang, "sex", case.victim_sex)),
        ("case.sum.age", texts.label(lang, "age", case.age_group)),
        ("case.sum.forms", texts.labels(lang, "form", case.forms)),
        ("case.sum.relation", texts.label(lang, "rel", case.relation)),
        ("case.sum.when", when),
        ("case.sum.help", texts.labels(lang, "help", case.help_needed)),
    ]
    if case.reported_by is not None:
        fields += [
            ("case.sum.source", texts.label(lang, "src", case.source)),
            ("case.sum.actions", texts.labels(lang, "act", case.actions_taken)),
        ]
    return [(v.t(key), value) for key, value in fields]


def opened(v: View, case: Case, token: str | None, field: str) -> str | None:
    """A protected text decrypted, or the words saying no key of this process opens it."""
    text = actions.decrypt(case, token, field)
    if text is actions.UNDECRYPTABLE:
        return v.t("case.undecryptable")
    return text if isinstance(text, str) else None


def private_lines(v: View, case: Case) -> list[str]:
    """The decrypted description and contact, or when they were purged."""
    if case.purged_at is not None:
        return [v.t("case.detail_purged", time=v.date(case.purged_at))]
    description = opened(v, case, case.description_enc, "description")
    contact = opened(v, case, case.contact_enc, "contact")
    none = v.t("case.value_none")
    lines = [v.t("case.detail_description", text=description or none)]
    if case.reported_by is None and case.anonymous:
        lines.append(v.t("case.detail_anonymous"))
    else:
        lines.append(v.t("case.detail_contact", text=contact or none))
    return lines


async def _name(s: AsyncSession, officer_id: int | None) -> str:
    if officer_id is None:
        return ""
    officer = await s.get(Officer, officer_id)
    return officer.full_name if officer else ""


async def event_text(s: AsyncSession, v: View, case: Case, ev: CaseEvent) -> tuple[str, str]:
    """One step of the history, and its note decrypted ("" when it has none)."""
    who = await _name(s, ev.officer_id)
    when = v.date(ev.at)
    status = texts.label(v.lang, "status", ev.to_status)
    simple: dict[str, tuple[str, dict[str, object]]] = {
        "create": ("case.ev_create", {}),
        "status": ("case.ev_status", {"who": who, "status": status}),
        "note": ("case.ev_note", {"who": who}),
        "escalate": ("case.ev_escalate", {"level": ev.level or 0}),
        "nc_request": ("case.ev_nc_request", {}),
        "nc_clock": ("case.ev_nc_clock", {}),
        "erased": ("case.ev_erased", {}),
    }
    if ev.kind in simple:
        key, kw = simple[ev.kind]
        text = v.t(key, time=when, **kw)
    elif ev.kind == "nc_decision":
        decision = v.t(f"case.nc.{ev.to_status or 'refused'}")
        text = v.t("case.ev_nc_decision", time=when, decision=decision, who=who)
    elif ev.kind == "assign":
        text = v.t("case.ev_assign", time=when, who=who, to=await _name(s, ev.assignee_id))
    else:
        text = v.t("case.ev_clock", time=when)
    return text, opened(v, case, ev.note_enc, "note") or ""


async def render(s: AsyncSession, v: View, case: Case, unit: Unit) -> str:
    """The chat's message of ``/vuviec VV-…`` (Telegram HTML)."""
    lines = head_lines(v, case, unit)
    lines.append("")
    lines += [f"• {label}: <b>{escape(value)}</b>" for label, value in field_pairs(v, case)]
    lines += private_lines(v, case)
    lines.append(v.t(f"case.detail_consent_{case.consent or 'not_asked'}"))
    if case.reported_by is not None:
        reporter = await _name(s, case.reported_by)
        if reporter:
            lines.append(v.t("case.detail_by_officer", name=reporter))
    history = await store.events(s, case.id or 0)
    if history:
        lines.append("")
        lines.append(v.t("case.history_title"))
        for ev in history:
            text, note = await event_text(s, v, case, ev)
            if note:
                text += "\n  " + v.t("case.ev_note_text", text=note)
            lines.append("– " + text)
    return "\n".join(lines)
