"""The planner: "now + calendar + overrides + who has submitted" → outbox rows.

Run on every tick (every 15 minutes and once at start), it writes, for the local day of
``now`` and from the reminder time (08:00) on:

- **deadline reminders** (kind ``reminder``) to every active officer of each reporting unit
  that has not submitted the period, on the days of ``Calendar.deadline_days``;
- **Action Month alerts** (kind ``alert``) to every active officer of each reporting unit who
  has not muted them, on the days of ``Calendar.action_days``;
- **one digest a day** (kind ``digest``) to each admin of a unit above late units, listing
  them with their days late, and any account found unreachable since the last digest.

A unit has *submitted* a period when its report has at least one submitted version
(``Report.version > 0``): a report reopened for revision (status ``draft`` again) still
counts, so nobody is nagged while correcting a report already handed in.

Every row has a unique key: what, for whom (the officer), which occurrence (the day), e.g.
``remind:2026:2026-12-04:off:17``. Planning the same day again writes nothing new, so ticks
are idempotent and a bot that was down at 08:00 catches up at its next tick that day. Texts
are rendered now, in the recipient's language, with the one-step "start the report" choice.
Each officer hears on one account: the reachable one they used last.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ChannelAccount, Conversation, Officer, Outbox, Report, ReportValue, Unit
from db.outbox import enqueue_many
from db.schedule import DeadlineOverride, UnreachableNotice
from kernel.calendar import ActionMonth, Calendar, ReportPeriod, is_working_day
from kernel.clock import to_local, to_utc
from kernel.i18n import normalise_lang, t
from kernel.messages import Choice
from services import overrides as overrides_mod

START_REPORT = "start_report"  # the option that opens /baocao at the first unanswered question
REMINDER_FLOW = "reminder"  # the conversation a sent reminder leaves, so "1" means START_REPORT
KINDS = ("reminder", "alert", "digest")  # outbox kinds this feature writes
NOTICE_LOOKBACK = timedelta(days=10)


# -- what is planned ---------------------------------------------------------------------------


@dataclass
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

    def row(self, now: datetime) -> dict[str, object]:
        return dict(
            key=self.key,
            kind=self.kind,
            channel=self.channel,
            chat_id=self.chat_id,
            account_id=self.account_id,
            unit_id=self.unit_id,
            batch=self.batch,
            text=self.text,
            choices=[[c.key, c.label, c.alias] for c in self.choices],
            numbered=True,
            status="pending",
            attempts=0,
            last_error=None,
            not_before=self.not_before,
            created_at=now,
            sent_at=None,
        )


@dataclass
class PlanResult:
    planned: list[Planned] = field(default_factory=list)  # new (written unless dry run)
    existing: int = 0  # already in the outbox from an earlier tick
    written: int = 0
    idle: str | None = None  # why nothing was looked at (outside hours, nothing due today)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.planned if p.kind == kind)


@dataclass
class _Recipient:
    officer_id: int
    unit_id: int
    name: str
    role: str
    muted: bool
    account_id: int
    channel: str
    chat_id: str
    lang: str


@dataclass
class _Unit:
    id: int
    code: str
    name: str
    path: str
    reports: bool

    @property
    def ancestors(self) -> list[int]:
        return [int(x) for x in self.path.strip("/").split("/") if x][:-1]


# -- texts -----------------------------------------------------------------------------------


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


def action_text(
    cal: Calendar,
    lang: str,
    channel: str,
    month: ActionMonth,
    occurrence: str,
    today: date,
    mention: ReportPeriod | None,
) -> tuple[str, list[Choice]]:
    label = month.text(lang)
    start, end = fmt(month.start), fmt(month.end)
    if occurrence == "heads_up":
        lines = [
            _t(
                lang,
                "remind.am_heads_up",
                label=label,
                start=start,
                end=end,
                days=_days_to(lang, (month.start - today).days),
            )
        ]
    else:
        key = {"kickoff": "remind.am_kickoff", "closing": "remind.am_closing"}.get(
            occurrence, "remind.am_weekly"
        )
        lines = [
            _t(
                lang,
                key,
                label=label,
                start=start,
                end=end,
                days=_days_to(lang, (month.end - today).days),
            )
        ]
        theme = month.theme_text(lang)
        if occurrence == "kickoff" and theme:
            lines.append(_t(lang, "remind.am_theme", year=month.year, theme=theme))
        lines.append(_t(lang, "remind.am_record"))
        if occurrence == "kickoff" and mention is not None:
            lines.append(
                _t(
                    lang,
                    "remind.am_report",
                    title=mention.text(lang),
                    year=mention.year,
                    due=fmt(mention.due),
                    days=_days_to_due(lang, (mention.due - today).days),
                )
            )
    hint, choices = _start(cal, lang, channel)
    lines.append(hint)
    lines.append(_t(lang, "remind.am_mute_hint"))
    return "\n".join(lines), choices


def digest_text(
    cal: Calendar,
    lang: str,
    today: date,
    late: Sequence[tuple[ReportPeriod, _Unit, int]],
    lost: Sequence[tuple[str, str, str]],
) -> str:
    lines = [_t(lang, "remind.digest_title", date=fmt(today))]
    budget = cal.rules.digest_max_lines
    by_period: dict[str, list[tuple[ReportPeriod, _Unit, int]]] = defaultdict(list)
    for item in late:
        by_period[item[0].period].append(item)
    for items in sorted(by_period.values(), key=lambda xs: (xs[0][0].year, xs[0][0].kind)):
        p = items[0][0]
        lines.append("")
        lines.append(
            _t(lang, "remind.digest_period", title=p.text(lang), year=p.year, n=len(items))
        )
        items = sorted(items, key=lambda x: (-x[2], x[1].name))
        shown = items[: max(budget, 0)]
        budget -= len(shown)
        for _, unit, days in shown:
            lines.append(_t(lang, "remind.digest_line", unit=unit.name, n=days))
        if len(items) > len(shown):
            lines.append(_t(lang, "remind.digest_more", n=len(items) - len(shown)))
    if lost:
        lines.append("")
        lines.append(_t(lang, "remind.digest_lost_title"))
        for name, unit_name, channel in lost:
            lines.append(
                _t(lang, "remind.digest_lost_line", name=name, unit=unit_name, channel=channel)
            )
    return "\n".join(lines)


# -- planning --------------------------------------------------------------------------------


class _Periods:
    """Report periods per (year, kind, override date), computed once per plan."""

    def __init__(self, cal: Calendar) -> None:
        self.cal = cal
        self._periods: dict[tuple[int, str, date | None], ReportPeriod] = {}
        self._days: dict[tuple[int, str, date | None], dict[date, str]] = {}

    def get(self, year: int, kind: str, ov: date | None) -> ReportPeriod:
        k = (year, kind, ov)
        if k not in self._periods:
            found = self.cal.periods(year, {kind: ov} if ov else None)
            self._periods[k] = next(p for p in found if p.kind == kind)
        return self._periods[k]

    def days(self, year: int, kind: str, ov: date | None) -> dict[date, str]:
        k = (year, kind, ov)
        if k not in self._days:
            self._days[k] = self.cal.deadline_days(self.get(year, kind, ov))
        return self._days[k]


def digest_day(cal: Calendar, today: date) -> bool:
    return is_working_day(today) or not cal.rules.digest_working_days_only


async def plan(
    s: AsyncSession,
    now: datetime,
    *,
    cal: Calendar,
    tz: str = "Asia/Ho_Chi_Minh",
    dry_run: bool = False,
) -> PlanResult:
    """Plan everything due on the local day of ``now`` (from ``rules.at`` until
    ``rules.until``) that is not in the outbox yet; write it unless ``dry_run``."""
    rules = cal.rules
    local = to_local(now, tz)
    today = local.date()
    if not rules.at <= local.time().replace(tzinfo=None) < rules.until:
        return PlanResult(idle="outside hours")
    send_at = to_utc(datetime.combine(today, rules.at), tz)
    years = (today.year - 1, today.year)
    kinds = cal.report_kinds
    periods = _Periods(cal)
    ov_rows = (
        await s.exec(select(DeadlineOverride).where(col(DeadlineOverride.year).in_(years)))
    ).all()
    ov_dates: dict[tuple[int, str], set[date | None]] = {
        (y, k): {None} for y in years for k in kinds
    }
    for ov_row in ov_rows:
        if ov_row.kind in kinds:
            ov_dates[(ov_row.year, ov_row.kind)].add(ov_row.due)
    is_digest_day = digest_day(cal, today)

    # Is anything due today at all? (Most ticks of the year stop here, after one query.)
    deadline_active = False
    late_possible = False
    for (y, k), dates in ov_dates.items():
        for ov in dates:
            p = periods.get(y, k, ov)
            deadline_active |= today in periods.days(y, k, ov)
            late_possible |= is_digest_day and p.due < today <= p.lock
    months = [
        (m, occ)
        for y in (*years, today.year + 1)  # a January month's heads-up comes in December
        for m in cal.action_months(y)
        if (occ := cal.action_days(m).get(today)) is not None
    ]
    notices: list[UnreachableNotice] = []
    if is_digest_day:
        notices = list(
            (
                await s.exec(
                    select(UnreachableNotice).where(
                        col(UnreachableNotice.at) > now - NOTICE_LOOKBACK,
                        col(UnreachableNotice.at) <= now,
                    )
                )
            ).all()
        )
    if not (deadline_active or late_possible or months or notices):
        return PlanResult(idle="nothing due today")

    # Units, with their overrides resolved up the tree.
    units = {
        int(row[0]): _Unit(int(row[0]), row[1], row[2], row[3], bool(row[4]))
        for row in (
            await s.exec(  # type: ignore[call-overload]  # 5 columns: SQLAlchemy select
                sa_select(
                    col(Unit.id), col(Unit.code), col(Unit.name), col(Unit.path), col(Unit.reports)
                )
            )
        ).all()
    }
    resolved = overrides_mod.resolve(((x.id, x.path) for x in units.values()), ov_rows)
    reporting = [x for x in units.values() if x.reports]

    remind: dict[tuple[int, str], ReportPeriod] = {}
    late: dict[tuple[int, str], ReportPeriod] = {}
    unit_periods: dict[int, dict[tuple[int, str], ReportPeriod]] = {}
    # Units with the same overrides (most have none) share their periods: computed once.
    groups: dict[tuple[tuple[tuple[int, str], date], ...], list[_Unit]] = defaultdict(list)
    for u in reporting:
        groups[tuple(sorted(resolved.get(u.id, {}).items()))].append(u)
    for signature, members in groups.items():
        ov_u = dict(signature)
        mine: dict[tuple[int, str], ReportPeriod] = {}
        for y in years:
            for k in kinds:
                ov = ov_u.get((y, k))
                p = periods.get(y, k, ov)
                mine[(y, k)] = p
                if today in periods.days(y, k, ov):
                    remind.update(((u.id, p.period), p) for u in members)
                if is_digest_day and p.due < today <= p.lock:
                    late.update(((u.id, p.period), p) for u in members)
        unit_periods.update((u.id, mine) for u in members)

    # Who has submitted (only the periods concerned today).
    wanted_periods = {p.period for p in remind.values()} | {p.period for p in late.values()}
    submitted: set[tuple[int, str]] = set()
    drafts: dict[tuple[int, str], int] = {}
    if wanted_periods:
        for unit_id, period_id, version, report_id in (
            await s.exec(
                select(Report.unit_id, Report.period, Report.version, Report.id).where(
                    col(Report.period).in_(wanted_periods)
                )
            )
        ).all():
            if version > 0:
                submitted.add((unit_id, period_id))
            elif (unit_id, period_id) in remind and report_id is not None:
                drafts[(unit_id, period_id)] = report_id
    for pair in submitted:
        remind.pop(pair, None)
        late.pop(pair, None)
    answered: dict[int, int] = {}
    draft_ids = list(drafts.values())
    for i in range(0, len(draft_ids), 1000):
        for report_id, n in (
            await s.exec(
                select(ReportValue.report_id, func.count())
                .where(col(ReportValue.report_id).in_(draft_ids[i : i + 1000]))
                .group_by(col(ReportValue.report_id))
            )
        ).all():
            answered[report_id] = int(n)

    if not (remind or late or months or notices):
        return PlanResult(idle="everyone has submitted")

    recipients = await _recipients(s)
    by_unit: dict[int, list[_Recipient]] = defaultdict(list)
    for rcp in recipients:
        by_unit[rcp.unit_id].append(rcp)

    # What today's rows are called, and which of them an earlier tick has written already.
    day = today.isoformat()
    batches = {f"remind:{period_id}:{day}" for _, period_id in remind}
    batches |= {f"action:{m.id}:{m.year}:{day}" for m, _ in months}
    if is_digest_day and (late or notices):
        batches.add(f"digest:{day}")
    existing: set[str] = set()
    for batch in batches:
        existing |= set((await s.exec(select(Outbox.key).where(Outbox.batch == batch))).all())
    out: list[Planned] = []
    already = 0

    def known(key: str) -> bool:
        nonlocal already
        if key in existing:
            already += 1
            return True
        return False

    def add(kind: str, batch: str, key: str, r: _Recipient, text: str, ch: list[Choice]) -> None:
        unit = units[r.unit_id]
        out.append(
            Planned(
                key=key,
                kind=kind,
                batch=batch,
                officer_id=r.officer_id,
                officer_name=r.name,
                unit_id=unit.id,
                unit_name=unit.name,
                account_id=r.account_id,
                channel=r.channel,
                chat_id=r.chat_id,
                text=text,
                choices=ch,
                not_before=send_at,
            )
        )

    # Deadline reminders.
    for (unit_id, period_id), p in sorted(remind.items()):
        batch = f"remind:{period_id}:{day}"
        n_answered = answered.get(drafts.get((unit_id, period_id), -1), 0)
        texts: dict[tuple[str, str], tuple[str, list[Choice]]] = {}
        for rcp in by_unit.get(unit_id, []):
            key = f"{batch}:off:{rcp.officer_id}"
            if known(key):
                continue
            if (rcp.lang, rcp.channel) not in texts:
                texts[(rcp.lang, rcp.channel)] = deadline_text(
                    cal, rcp.lang, rcp.channel, p, units[unit_id].name, today, n_answered
                )
            text, ch = texts[(rcp.lang, rcp.channel)]
            add("reminder", batch, key, rcp, text, ch)

    # Action Month alerts.
    for m, occ in months:
        batch = f"action:{m.id}:{m.year}:{day}"
        alerts: dict[tuple[str, str, date | None], tuple[str, list[Choice]]] = {}
        mentions = occ == "kickoff" and m.kickoff_mentions in kinds
        for unit in reporting:
            mention: ReportPeriod | None = None
            if mentions and m.kickoff_mentions is not None:
                # The unit's own deadline (overrides included) for that report of the year.
                mention = unit_periods[unit.id].get((m.year, m.kickoff_mentions)) or periods.get(
                    m.year, m.kickoff_mentions, None
                )
            for rcp in by_unit.get(unit.id, []):
                if rcp.muted:
                    continue
                key = f"{batch}:off:{rcp.officer_id}"
                if known(key):
                    continue
                memo = (rcp.lang, rcp.channel, mention.due if mention else None)
                if memo not in alerts:
                    alerts[memo] = action_text(cal, rcp.lang, rcp.channel, m, occ, today, mention)
                text, ch = alerts[memo]
                add("alert", batch, key, rcp, text, ch)

    # The standing agencies' digests.
    if is_digest_day and (late or notices):
        batch = f"digest:{day}"
        late_under: dict[int, list[tuple[ReportPeriod, _Unit, int]]] = defaultdict(list)
        for (unit_id, _), p in late.items():
            unit = units[unit_id]
            for anc in unit.ancestors:
                late_under[anc].append((p, unit, (today - p.due).days))
        last_digest = await _last_digests(s, now) if notices else {}
        officers = {rcp.officer_id: rcp for rcp in recipients}
        notice_officers = await _officer_names(
            s,
            {notice.officer_id for notice in notices if notice.officer_id is not None}
            - set(officers),
        )
        for rcp in recipients:
            if rcp.role != "admin" or known(f"{batch}:off:{rcp.officer_id}"):
                continue
            admin_unit = units.get(rcp.unit_id)
            if admin_unit is None:
                continue
            since = last_digest.get(rcp.officer_id)
            lost = []
            for notice in notices:
                n_unit = units.get(notice.unit_id) if notice.unit_id is not None else None
                if n_unit is None or not n_unit.path.startswith(admin_unit.path):
                    continue
                if since is not None and notice.at <= since:
                    continue
                who = officers.get(notice.officer_id) if notice.officer_id is not None else None
                name = who.name if who else notice_officers.get(notice.officer_id or 0, "?")
                lost.append((name, n_unit.name, notice.channel.capitalize()))
            lines = late_under.get(rcp.unit_id, [])
            if not lines and not lost:
                continue
            add(
                "digest",
                batch,
                f"{batch}:off:{rcp.officer_id}",
                rcp,
                digest_text(cal, rcp.lang, today, lines, lost),
                [],
            )

    result = PlanResult(planned=out, existing=already)
    if out and not dry_run:
        result.written = await enqueue_many(s, [p.row(now) for p in out])
    return result


async def _recipients(s: AsyncSession) -> list[_Recipient]:
    """Active officers, each with the reachable account they used last."""
    rows = (
        await s.exec(  # type: ignore[call-overload]  # 10 columns: SQLAlchemy select
            sa_select(
                col(Officer.id),
                col(Officer.unit_id),
                col(Officer.full_name),
                col(Officer.role),
                col(Officer.mute_action_months),
                col(ChannelAccount.id),
                col(ChannelAccount.channel),
                col(ChannelAccount.chat_id),
                col(ChannelAccount.lang),
                col(Conversation.updated_at),
            )
            .join(ChannelAccount, col(ChannelAccount.officer_id) == col(Officer.id))
            .outerjoin(Conversation, col(Conversation.account_id) == col(ChannelAccount.id))
            .where(col(Officer.active).is_(True), col(ChannelAccount.unreachable).is_(False))
        )
    ).all()
    best: dict[int, tuple[Any, _Recipient]] = {}
    langs: dict[str, str] = {}
    for oid, uid, name, role, muted, acc_id, channel, chat_id, lang, used in rows:
        if lang not in langs:
            langs[lang] = normalise_lang(lang)
        rank = (used.timestamp() if used else 0.0, acc_id)
        if oid not in best or rank > best[oid][0]:
            best[oid] = (
                rank,
                _Recipient(oid, uid, name, role, muted, acc_id, channel, chat_id, langs[lang]),
            )
    return [r for _, r in sorted(best.values(), key=lambda x: x[1].officer_id)]


async def _officer_names(s: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    ids = list(ids)
    if not ids:
        return {}
    rows = (
        await s.exec(select(Officer.id, Officer.full_name).where(col(Officer.id).in_(ids)))
    ).all()
    return {int(i or 0): n for i, n in rows}


async def _last_digests(s: AsyncSession, now: datetime) -> dict[int, datetime]:
    """Officer id → when their latest digest was planned (within the lookback)."""
    rows = (
        await s.exec(
            select(Outbox.key, Outbox.created_at).where(
                Outbox.kind == "digest", col(Outbox.created_at) > now - NOTICE_LOOKBACK
            )
        )
    ).all()
    out: dict[int, datetime] = {}
    for key, created in rows:
        oid = int(key.rsplit(":", 1)[1])
        if oid not in out or created > out[oid]:
            out[oid] = created
    return out


# -- before sending --------------------------------------------------------------------------


async def stale_rows(s: AsyncSession, rows: Sequence[Outbox]) -> dict[int, str]:
    """Rows of this feature that must not go out any more, with the reason: the unit has
    submitted since the reminder was planned, the officer was deactivated or unlinked, or
    muted Action Month alerts. The dispatcher cancels them just before sending."""
    mine = [r for r in rows if r.kind in KINDS and r.id is not None]
    if not mine:
        return {}
    out: dict[int, str] = {}
    acc_ids = {r.account_id for r in mine if r.account_id is not None}
    officers: dict[int, tuple[bool, bool]] = {}
    if acc_ids:
        for acc_id, active, muted in (
            await s.exec(
                select(ChannelAccount.id, Officer.active, Officer.mute_action_months)
                .join(Officer, col(Officer.id) == col(ChannelAccount.officer_id))
                .where(col(ChannelAccount.id).in_(acc_ids))
            )
        ).all():
            officers[int(acc_id or 0)] = (bool(active), bool(muted))
    reminder_periods: dict[tuple[int, str], list[int]] = defaultdict(list)
    for r in mine:
        assert r.id is not None
        state = officers.get(r.account_id or -1)
        if state is None or not state[0]:
            out[r.id] = "officer inactive"
        elif r.kind == "alert" and state[1]:
            out[r.id] = "muted"
        elif r.kind == "reminder" and r.unit_id is not None and r.batch:
            reminder_periods[(r.unit_id, r.batch.split(":")[1])].append(r.id)
    if reminder_periods:
        period_ids = {p for _, p in reminder_periods}
        unit_ids = {u for u, _ in reminder_periods}
        for unit_id, period_id in (
            await s.exec(
                select(Report.unit_id, Report.period).where(
                    col(Report.period).in_(period_ids),
                    col(Report.unit_id).in_(unit_ids),
                    col(Report.version) > 0,
                )
            )
        ).all():
            for row_id in reminder_periods.get((unit_id, period_id), []):
                out[row_id] = "submitted"
    return out


# -- after sending ---------------------------------------------------------------------------


async def remember_start_menu(s: AsyncSession, row: Outbox, now: datetime) -> None:
    """After a reminder with the "start now" choice was sent: unless the recipient is in the
    middle of a conversation, remember its menu, so that typing "1" (or tapping the button)
    opens the report. Conditional update: a conversation started meanwhile is left alone."""
    if row.account_id is None or not any(c and c[0] == START_REPORT for c in row.choices):
        return
    await s.exec(  # type: ignore[call-overload]
        update(Conversation)
        .where(
            col(Conversation.account_id) == row.account_id,
            (col(Conversation.flow).is_(None)) | (col(Conversation.flow) == REMINDER_FLOW),
        )
        .values(flow=REMINDER_FLOW, state={}, menu={"c": row.choices, "n": row.numbered})
    )
