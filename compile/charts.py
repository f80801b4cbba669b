"""PNG charts of a compilation (matplotlib, Agg backend, object API so it is safe in a worker
thread): reporting status by unit, cases by form of violence, participants by sex.

Which questions the last two show is data (``compile/charts.yaml``, or ``charts.yaml`` beside
a province's own form); labels of questions without a short label come from the form.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from compile.data import Compilation, UnitStatus
from compile.indicators import Column, applies
from kernel.i18n import t

SPEC = Path(__file__).parent / "charts.yaml"
CHARTS = ("status", "violence", "participants")
MAX_BARS = 60  # more groups than this are shown by kind of unit instead
COLOURS = {"on_time": "#2e7d32", "late": "#ef6c00", "missing": "#c62828"}
MALE, FEMALE = "#1565c0", "#ad1457"
DPI = 150


@dataclass(frozen=True)
class Bar:
    qid: str
    label: str


@lru_cache(maxsize=8)
def _spec(form_dir: str | None) -> dict[str, Any]:
    path = Path(form_dir) / "charts.yaml" if form_dir else SPEC
    if not path.exists():
        path = SPEC
    with path.open(encoding="utf-8") as fh:
        return dict(yaml.safe_load(fh) or {})


def bars(c: Compilation, chart: str, lang: str, form_dir: str | None = None) -> list[Bar]:
    """The questions a chart shows, in order, that exist and apply to the period."""
    spec = _spec(form_dir).get(chart)
    if spec is None and chart == "participants":
        spec = [{"id": q.id} for q in c.form.questions if q.type == "sex_count"]
    out = []
    for item in spec or []:
        item = item if isinstance(item, dict) else {"id": item}
        q = c.form.by_id.get(str(item["id"]))
        if q is None or not applies(c.form, q, c.period.kind):
            continue
        label = item.get("label")
        text = (label.get(lang) or label.get("vi")) if isinstance(label, dict) else q.text(lang)
        out.append(Bar(q.id, str(text)))
    return out


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _thousands(ax: Any) -> None:
    """Axis numbers grouped as Vietnamese write them: 25.000."""
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:,.0f}".replace(",", ".")))


def _subtitle(c: Compilation, lang: str) -> str:
    return f"{c.period.text(lang)} {c.period.year} — {c.root.name}"


def _wrap(label: str, width: int = 34) -> str:
    return "\n".join(textwrap.wrap(label, width)) or label


def status_groups(c: Compilation, lang: str) -> list[tuple[str, list[UnitStatus]]]:
    """Units grouped by the subtree's next level (a commune under the province is its own
    group, a district holds its communes); by kind of unit when there are too many groups."""
    depth = c.root.path.strip("/").count("/") + 1  # ids in the root's path
    groups: dict[int, list[UnitStatus]] = {}
    for u in c.units:
        ids = [int(x) for x in u.path.strip("/").split("/")]
        key = ids[depth] if len(ids) > depth else ids[-1]  # the root's child, or the root
        groups.setdefault(key, []).append(u)
    if len(groups) > MAX_BARS:
        by_kind: dict[str, list[UnitStatus]] = {}
        for u in c.units:
            by_kind.setdefault(u.kind, []).append(u)
        return [(_kind_name(k, lang), us) for k, us in sorted(by_kind.items())]
    names = {u.id: u.name for u in c.units} | c.children | {c.root.id or 0: c.root.name}
    return [(names.get(k, str(k)), us) for k, us in sorted(groups.items())]


def _kind_name(kind: str, lang: str) -> str:
    key = f"admin.kind_{kind}"
    text = t(lang, key)
    return kind if text == key else text


STATUS_KEYS = (
    ("on_time", "admin.st_on_time"),
    ("late", "admin.st_late"),
    ("missing", "admin.st_missing"),
)
MAX_TABLE_ROWS = 15  # units not on time listed under a flat subtree's bar


def _counts(units: list[UnitStatus]) -> dict[str, int]:
    return {
        "on_time": sum(1 for u in units if u.on_time),
        "late": sum(1 for u in units if u.submitted and not u.on_time),
        "missing": sum(1 for u in units if not u.submitted),
    }


def status_chart(c: Compilation, lang: str = "vi") -> bytes:
    """Reporting status that reads at a glance: for a subtree with a level in between
    (districts), one stacked bar per group with its counts; for a flat subtree (every unit a
    group of its own, e.g. a province's 18 communes and departments), one stacked bar of the
    whole subtree and a small table of the units that are late or have not reported."""
    groups = status_groups(c, lang)
    if all(len(us) == 1 for _, us in groups):
        return _status_flat(c, lang)
    return _status_grouped(c, lang, groups)


def _stacked(ax: Any, y: list[int], counts: list[dict[str, int]], lang: str) -> list[int]:
    """Stacked horizontal bars with each segment's count written inside when it fits."""
    left = [0] * len(y)
    width = max([1, *(sum(x.values()) for x in counts)])
    for key, label in STATUS_KEYS:
        values = [x[key] for x in counts]
        ax.barh(y, values, left=left, color=COLOURS[key], label=t(lang, label), height=0.7)
        for yi, lft, v in zip(y, left, values, strict=True):
            if v and v / width >= 0.04:
                ax.text(
                    lft + v / 2, yi, str(v), ha="center", va="center", fontsize=8, color="white"
                )
        left = [a + b for a, b in zip(left, values, strict=True)]
    return left


def _legend_below(ax: Any, fig: Any, axes_height_in: float) -> None:
    ax.legend(
        loc="upper center",
        # just under the x label: 0.5 inch below the axes, whatever the figure's height
        bbox_to_anchor=(0.5, -0.5 / axes_height_in),
        ncol=3,
        fontsize=8,
        frameon=False,
    )


def _status_grouped(c: Compilation, lang: str, groups: list[tuple[str, list[UnitStatus]]]) -> bytes:
    labels = [_wrap(name, 40) for name, _ in groups]
    fig = _figure(8, max(2.6, 0.9 + 0.3 * len(groups)))
    ax = fig.add_subplot(1, 1, 1)
    y = list(range(len(groups)))[::-1]
    left = _stacked(ax, y, [_counts(us) for _, us in groups], lang)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(-0.6, len(groups) - 0.4)
    ax.set_xlabel(t(lang, "admin.chart_units_axis"))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(t(lang, "admin.chart_status") + "\n" + _subtitle(c, lang), fontsize=11)
    ax.set_xlim(0, max([1, *left]) * 1.04)
    _legend_below(ax, fig, 0.77 * fig.get_figheight())
    _thousands(ax)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return _png(fig)


def _status_flat(c: Compilation, lang: str) -> bytes:
    behind = sorted(
        (u for u in c.units if not u.on_time),
        key=lambda u: (u.submitted, -u.days_late(c.today), u.name),
    )
    shown = behind[:MAX_TABLE_ROWS]
    rows = [
        [
            u.name,
            t(lang, "admin.st_late" if u.submitted else "admin.st_missing"),
            str(
                u.days_late(c.today)
                if not u.submitted
                else ((u.first_submitted_on or u.due) - u.due).days
            ),
        ]
        for u in shown
    ]
    if len(behind) > len(shown):
        rows.append([t(lang, "admin.chart_more_units", n=len(behind) - len(shown)), "", ""])
    table_h = 0.23 * (len(rows) + 1) if rows else 0.4
    fig = _figure(8, 1.9 + table_h)
    bar_ax = fig.add_axes((0.08, 1 - 1.35 / fig.get_figheight(), 0.88, 0.45 / fig.get_figheight()))
    left = _stacked(bar_ax, [0], [_counts(c.units)], lang)
    bar_ax.set_yticks([])
    bar_ax.set_xlim(0, max(1, left[0]))
    bar_ax.xaxis.get_major_locator().set_params(integer=True)
    bar_ax.set_title(t(lang, "admin.chart_status") + "\n" + _subtitle(c, lang), fontsize=11)
    bar_ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, fontsize=8, frameon=False
    )
    tab_ax = fig.add_axes((0.08, 0.02, 0.88, table_h / fig.get_figheight()))
    tab_ax.axis("off")
    if not rows:
        tab_ax.text(0.5, 0.5, t(lang, "admin.chart_all_on_time"), ha="center", va="center")
        return _png(fig)
    heads = [t(lang, k) for k in ("admin.col_unit", "admin.col_status", "admin.col_days_late")]
    table = tab_ax.table(
        cellText=rows, colLabels=heads, colWidths=[0.6, 0.22, 0.18], loc="upper center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.25)
    for (r, col), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        cell.get_text().set_horizontalalignment("left" if col == 0 and r > 0 else "center")
        if r == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#eeeeee")
    return _png(fig)


def violence_chart(c: Compilation, lang: str = "vi", form_dir: str | None = None) -> bytes:
    items = bars(c, "violence", lang, form_dir)
    values = [u.values for u in c.submitted]
    totals = [Column(c.form.by_id[b.qid]).total(values) or 0 for b in items]
    fig = _figure(8, max(2.6, 1.0 + 0.45 * len(items)))
    ax = fig.add_subplot(1, 1, 1)
    y = list(range(len(items)))[::-1]
    ax.barh(y, totals, color="#6a1b9a", height=0.6)
    for yi, v in zip(y, totals, strict=True):
        ax.text(v, yi, f" {v:,}".replace(",", "."), va="center", fontsize=8)
    ax.set_yticks(y, [_wrap(b.label) for b in items], fontsize=9)
    ax.set_xlabel(t(lang, "admin.chart_cases_axis"))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlim(0, max([1, *totals]) * 1.15)
    _thousands(ax)
    ax.set_title(t(lang, "admin.chart_violence") + "\n" + _subtitle(c, lang), fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return _png(fig)


def participants_chart(c: Compilation, lang: str = "vi", form_dir: str | None = None) -> bytes:
    items = bars(c, "participants", lang, form_dir)
    values = [u.values for u in c.submitted]
    men = [Column(c.form.by_id[b.qid], "m").total(values) or 0 for b in items]
    women = [Column(c.form.by_id[b.qid], "f").total(values) or 0 for b in items]
    fig = _figure(8, max(2.6, 1.0 + 0.7 * len(items)))
    ax = fig.add_subplot(1, 1, 1)
    base = list(range(len(items)))[::-1]
    h = 0.38
    ax.barh([b + h / 2 for b in base], men, height=h, color=MALE, label=t(lang, "admin.col_m"))
    ax.barh([b - h / 2 for b in base], women, height=h, color=FEMALE, label=t(lang, "admin.col_f"))
    for b, m, f in zip(base, men, women, strict=True):
        ax.text(m, b + h / 2, f" {m:,}".replace(",", "."), va="center", fontsize=8)
        ax.text(f, b - h / 2, f" {f:,}".replace(",", "."), va="center", fontsize=8)
    ax.set_yticks(base, [_wrap(b.label) for b in items], fontsize=9)
    ax.set_xlabel(t(lang, "admin.chart_people_axis"))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlim(0, max([1, *men, *women]) * 1.18)
    _thousands(ax)
    ax.set_title(t(lang, "admin.chart_participants") + "\n" + _subtitle(c, lang), fontsize=11)
    # Under the axis, never over a bar's label (it used to sit in the lower right corner).
    _legend_below(ax, fig, 0.77 * fig.get_figheight())
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return _png(fig)


def build_charts(c: Compilation, lang: str = "vi", form_dir: str | None = None) -> dict[str, bytes]:
    return {
        "status": status_chart(c, lang),
        "violence": violence_chart(c, lang, form_dir),
        "participants": participants_chart(c, lang, form_dir),
    }
