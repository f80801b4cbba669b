"""The planner's texts: each decided message rendered in its recipient's language (catalog
domain ``reminders.po``), with the one-step "start the report" choice.

Texts shared by many recipients are rendered once: a deadline reminder per (language,
channel, period, answers) with the unit's name filled in last, an Action Month alert per
(language, channel, occurrence, mentioned deadline)."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from db.outbox import new_row
from kernel.calendar import ActionMonth, Calendar, ReportPeriod
from kernel.i18n import t
from kernel.messages import Choice
from scheduler.decide import Alert, CompileDue, Deadline, LateUnit, Lost, Message

START_REPORT = "start_report"  # the option that opens /baocao at the first unanswered question
_UNIT = "\x00unit\x00"  # stands for the unit's name in a deadline text shared by many units


@dataclass(slots=True)
class Planned:
    key: str
    kind: str
    batch: str
    officer_id: int
    officer_name: str
    unit_id: int
    unit_name: str
    account_id: int
    channel: str
    chat_id: str
    text: str
    choices: list[Choice]
    not_before: datetime


def columns(planned: Sequence[Planned], now: datetime) -> dict[str, list[object]]:
    """The outbox rows of ``planned`` column by column (``db.outbox.enqueue_columns``),
    without a dict per row. Columns every row shares come from ``new_row``; each choices
    list is stored once (rows sharing their choices share that value, serialised once)."""
    n = len(planned)
    shared: dict[int, list[list[str | None]]] = {}

    def stored(choices: list[Choice]) -> list[list[str | None]]:
        held = shared.get(id(choices))
        if held is None:
            held = shared[id(choices)] = [[c.key, c.label, c.alias] for c in choices]
        return held

    varying: dict[str, list[object]] = {
        "key": [p.key for p in planned],
        "kind": [p.kind for p in planned],
        "channel": [p.channel for p in planned],
        "chat_id": [p.chat_id for p in planned],
        "text": [p.text for p in planned],
        "account_id": [p.account_id for p in planned],
        "unit_id": [p.unit_id for p in planned],
        "batch": [p.batch for p in planned],
        "choices": [stored(p.choices) for p in planned],
        "not_before": [p.not_before for p in planned],
    }
    fixed = new_row(key="", kind="", channel="", chat_id="", text="", now=now)
    return {k: varying[k] if k in varying else [v] * n for k, v in fixed.items()}


# -- texts -------------------------------------------------------------------------------------


def _t(lang: str, key: str, **kw: object) -> str:
    """A catalog text with string parameters HTML-escaped (texts are Telegram-HTML)."""
    return t(lang, key, **{k: html.escape(v) if isinstance(v, str) else v for k, v in kw.items()})


def fmt(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def _days_to_due(lang: str, days: int) -> str:
    if days > 0:
        return _t(lang, "days.left", n=days)
    if days == 0:
        return _t(lang, "days.today")
    return _t(lang, "days.late", n=-days)


def _days_to(lang: str, days: int) -> str:
    return _t(lang, "remind.in_days", n=days) if days > 0 else _t(lang, "remind.today")


def _start(cal: Calendar, lang: str, channel: str) -> tuple[str, list[Choice]]:
    label = _t(lang, "remind.start_label")
    key = "remind.start_button" if channel in cal.rules.button_channels else "remind.start_type"
    return _t(lang, key, label=label), [Choice(START_REPORT, label)]


def deadline_text(
    cal: Calendar,
    lang: str,
    channel: str,
    period: ReportPeriod,
    unit_name: str,
    today: date,
    answered: int,
) -> tuple[str, list[Choice]]:
    days = (period.due - today).days
    lines = [
        _t(
            lang,
            "remind.before" if days >= 0 else "remind.late",
            title=period.text(lang),
            year=period.year,
            unit=unit_name,
            due=fmt(period.due),
            days=_days_to_due(lang, days),
            lock=fmt(period.lock),
        )
    ]
    if answered:
        lines.append(_t(lang, "remind.progress", n=answered))
    hint, choices = _start(cal, lang, channel)
    lines.append(hint)
    return "\n".join(lines), choices


def compile_text(lang: str, c: CompileDue, unit_name: str, today: date) -> str:
    """The agency's compilation reminder (to its admins): no case detail, counts only."""
    p = c.period
    days = (p.due - today).days
    lines = [
        _t(
            lang,
            "remind.compile_before" if days >= 0 else "remind.compile_late",
            title=p.text(lang),
            year=p.year,
            unit=unit_name,
            due=fmt(p.due),
            days=_days_to_due(lang, days),
        )
    ]
    if c.waiting:
        lines.append(_t(lang, "remind.compile_waiting", n=c.waiting))
    lines.append(_t(lang, "remind.compile_hint"))
    return "\n".join(lines)


def _action_lines(
    lang: str, month: ActionMonth, occurrence: str, today: date, mention: ReportPeriod | None
) -> list[str]:
    label = month.text(lang)
    start, end = fmt(month.start), fmt(month.end)
    if occurrence == "heads_up":
        days = _days_to(lang, (month.start - today).days)
        return [_t(lang, "remind.am_heads_up", label=label, start=start, end=end, days=days)]
    key = {"kickoff": "remind.am_kickoff", "closing": "remind.am_closing"}.get(
        occurrence, "remind.am_weekly"
    )
    days = _days_to(lang, (month.end - today).days)
    lines = [_t(lang, key, label=label, start=start, end=end, days=days)]
    theme = month.theme_text(lang)
    if occurrence == "kickoff" and theme:
        lines.append(_t(lang, "remind.am_theme", year=month.year, theme=theme))
    lines.append(_t(lang, "remind.am_record"))
    if occurrence == "kickoff" and mention is not None:
        due_in = _days_to_due(lang, (mention.due - today).days)
        lines.append(
            _t(
                lang,
                "remind.am_report",
                title=mention.text(lang),
                year=mention.year,
                due=fmt(mention.due),
                days=due_in,
            )
        )
    return lines


def action_text(
    cal: Calendar,
    lang: str,
    channel: str,
    month: ActionMonth,
    occurrence: str,
    today: date,
    mention: ReportPeriod | None,
) -> tuple[str, list[Choice]]:
    lines = _action_lines(lang, month, occurrence, today, mention)
    hint, choices = _start(cal, lang, channel)
    lines.append(hint)
    lines.append(_t(lang, "remind.am_mute_hint"))
    return "\n".join(lines), choices


def digest_text(
    cal: Calendar, lang: str, today: date, late: Sequence[LateUnit], lost: Sequence[Lost]
) -> str:
    lines = [_t(lang, "remind.digest_title", date=fmt(today))]
    budget = cal.rules.digest_max_lines
    by_period: dict[str, list[LateUnit]] = defaultdict(list)
    for item in late:
        by_period[item.period.period].append(item)
    for items in sorted(by_period.values(), key=lambda xs: (xs[0].period.year, xs[0].period.kind)):
        p = items[0].period
        lines.append("")
        lines.append(
            _t(lang, "remind.digest_period", title=p.text(lang), year=p.year, n=len(items))
        )
        items = sorted(items, key=lambda x: (-x.days, x.unit.name))
        shown = items[: max(budget, 0)]
        budget -= len(shown)
        for x in shown:
            lines.append(_t(lang, "remind.digest_line", unit=x.unit.name, n=x.days))
        if len(items) > len(shown):
            lines.append(_t(lang, "remind.digest_more", n=len(items) - len(shown)))
    if lost:
        lines.append("")
        lines.append(_t(lang, "remind.digest_lost_title"))
        for who in lost:
            lines.append(
                _t(
                    lang,
                    "remind.digest_lost_line",
                    name=who.name,
                    unit=who.unit_name,
                    channel=who.channel,
                )
            )
    return "\n".join(lines)


# -- rendering decided messages ----------------------------------------------------------------


class Renderer:
    """Renders the messages of one day, sharing texts between recipients where they match."""

    def __init__(self, cal: Calendar, today: date) -> None:
        self.cal = cal
        self.today = today
        self._memo: dict[tuple[object, ...], tuple[str, list[Choice]]] = {}

    def deadline(
        self, lang: str, channel: str, unit_name: str, c: Deadline
    ) -> tuple[str, list[Choice]]:
        memo = ("deadline", lang, channel, c.period.period, c.period.due, c.answered)
        if memo not in self._memo:
            self._memo[memo] = deadline_text(
                self.cal, lang, channel, c.period, _UNIT, self.today, c.answered
            )
        unit_memo = (*memo, unit_name)  # a unit's officers share one text
        if unit_memo not in self._memo:
            text, choices = self._memo[memo]
            self._memo[unit_memo] = text.replace(_UNIT, html.escape(unit_name)), choices
        return self._memo[unit_memo]

    def alert(self, lang: str, channel: str, c: Alert) -> tuple[str, list[Choice]]:
        m = c.month
        due = c.mention.due if c.mention else None
        memo = ("alert", lang, channel, m.id, m.year, c.occurrence, due)
        if memo not in self._memo:
            self._memo[memo] = action_text(
                self.cal, lang, channel, m, c.occurrence, self.today, c.mention
            )
        return self._memo[memo]

    def text(self, msg: Message) -> tuple[str, list[Choice]]:
        to, c = msg.to, msg.content
        if isinstance(c, Deadline):
            return self.deadline(to.lang, to.channel, msg.unit.name, c)
        if isinstance(c, Alert):
            return self.alert(to.lang, to.channel, c)
        if isinstance(c, CompileDue):
            return compile_text(to.lang, c, msg.unit.name, self.today), []
        return digest_text(self.cal, to.lang, self.today, c.late, c.lost), []

    def planned(self, msg: Message, not_before: datetime) -> Planned:
        text, choices = self.text(msg)
        to = msg.to
        return Planned(
            key=msg.key,
            kind=msg.kind,
            batch=msg.batch,
            officer_id=to.officer_id,
            officer_name=to.name,
            unit_id=msg.unit.id,
            unit_name=msg.unit.name,
            account_id=to.account_id,
            channel=to.channel,
            chat_id=to.chat_id,
            text=text,
            choices=choices,
            not_before=not_before,
        )


def render(
    cal: Calendar, today: date, not_before: datetime, messages: Sequence[Message]
) -> list[Planned]:
    r = Renderer(cal, today)
    return [r.planned(m, not_before) for m in messages]
