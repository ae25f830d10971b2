"""The report's charts as Vega-Lite specs (dicts), built with Altair from the report tables.

One function per chart — `funnel`, `tiers`, `attribution`, `lift` — each returning the spec, or
None when its table has nothing to draw (the page then says so in a sentence). The data go into
the spec inline as plain records, with the labels and tooltips written by the shared formatter,
so a tooltip reads exactly like the table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import altair as alt
import pandas as pd

from abmkit.measure.formatting import MEASURE_KINDS, format_value, is_missing

FONT = ('-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
        'sans-serif')  # fmt: skip
INK, MUTED, GRID = "#1f2933", "#616e7c", "#e4e7eb"
ACCENT = "#2f6fde"
PALETTE = ["#2f6fde", "#12a594", "#f59f00", "#e8590c", "#7048e8", "#c2255c", "#5c940d",
           "#868e96"]  # fmt: skip
WIDTH = 1000
# Dollar axes in SI steps ("$1.5M"), with a plain "$0" rather than "$0M".
DOLLAR_LABELS = "datum.value == 0 ? '$0' : format(datum.value, '$~s')"


def vegalite_version() -> str:
    """The Vega-Lite version Altair writes specs for ("6.4"), which the bundle must match."""
    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


def _has(frame: pd.DataFrame, columns: Iterable[str]) -> bool:
    return not frame.empty and set(columns) <= set(frame.columns)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain JSON values (no NaN, no numpy scalars) for the inline data."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [{str(k): _plain(v) for k, v in row.items()} for row in rows]


def _plain(value: Any) -> Any:
    if is_missing(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _utc_ms(day: str) -> int:
    """Milliseconds since the epoch of a UTC date, as Vega-Lite takes for axis values."""
    return int(pd.Timestamp(day, tz="UTC").timestamp() * 1000)


def styled(chart: Any) -> dict[str, Any]:
    """The house style (type, colours, quiet axes) on a top-level chart, as its spec."""
    return dict(
        chart.configure(font=FONT, background="white", padding=8)
        .configure_view(stroke=None)
        .configure_axis(labelColor=MUTED, titleColor=INK, gridColor=GRID, domainColor=GRID,
                        tickColor=GRID, labelFontSize=12, titleFontSize=12, titleFontWeight=600)
        .configure_legend(labelColor=INK, titleColor=INK, labelFontSize=12, titleFontSize=12,
                          orient="right")
        .configure_header(labelColor=INK, labelFontSize=13, labelFontWeight=600)
        .configure_title(color=INK, fontSize=13, fontWeight=600, anchor="start", offset=10)
        .configure_range(category=PALETTE)
        .to_dict()
    )  # fmt: skip


def funnel(stages: pd.DataFrame) -> dict[str, Any] | None:
    """Accounts per journey stage over the weeks: one line per stage, stages in funnel order;
    a single week (a new workspace) is drawn as one bar per stage instead of lone dots."""
    if not _has(stages, ("week", "stage", "accounts")):
        return None
    data = stages[["week", "stage", "accounts"]].copy()
    order = [str(s) for s in pd.unique(data["stage"])]
    data["week"] = [format_value("week", w) for w in data["week"]]
    data["accounts_text"] = [format_value("accounts", n) for n in data["accounts"]]
    color = alt.Color("stage:N", title="Journey stage", sort=order, scale=alt.Scale(domain=order))
    tooltip = [alt.Tooltip("week:N", title="Week"), alt.Tooltip("stage:N", title="Stage"),
               alt.Tooltip("accounts_text:N", title="Accounts")]  # fmt: skip
    base = alt.Chart(alt.Data(values=records(data)))
    weeks = list(pd.unique(data["week"]))
    if len(weeks) == 1:
        return styled(_funnel_snapshot(base, order, color, tooltip, weeks[0]))
    ticks = [_utc_ms(w) for w in weeks]  # the Mondays, not d3's Sunday weeks
    chart = base.mark_line(point=alt.OverlayMarkDef(size=36), strokeWidth=2.5).encode(
        x=alt.X("utcyearmonthdate(week):T", title="Week", scale=alt.Scale(padding=14),
                axis=alt.Axis(format="%b %-d", labelAngle=0, values=ticks, grid=False)),
        y=alt.Y("accounts:Q", title="Accounts"), color=color, tooltip=tooltip,
    ).properties(width=WIDTH - 120, height=300)  # fmt: skip
    return styled(chart)


def _funnel_snapshot(base: alt.Chart, order: list[str], color: alt.Color, tooltip: list[Any],
                     week: str) -> alt.LayerChart:  # fmt: skip
    x = alt.X("stage:N", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelFontSize=13))
    y = alt.Y("accounts:Q", title="Accounts")
    bars = base.mark_bar(size=64, cornerRadiusTopLeft=3, cornerRadiusTopRight=3).encode(
        x=x, y=y, color=alt.Color(color.shorthand, sort=order, scale=alt.Scale(domain=order),
                                  legend=None), tooltip=tooltip)  # fmt: skip
    labels = base.mark_text(dy=-8, color=INK, fontSize=12).encode(x=x, y=y, text="accounts_text:N")
    return alt.LayerChart(layer=[bars, labels]).properties(
        width=WIDTH - 120, height=260, title=f"Week of {week}: one week of history so far"
    )


def tiers(table: pd.DataFrame) -> dict[str, Any] | None:
    """Pipeline and pipeline per account, side by side, one bar per tier."""
    cols = ("tier", "pipeline", "pipeline_per_account")
    if not _has(table, cols) or not (table["pipeline"].fillna(0) > 0).any():
        return None
    data = pd.DataFrame({"tier": [format_value("tier", t) for t in table["tier"]]})
    for col in cols[1:]:
        data[col] = table[col].to_numpy()
        data[f"{col}_text"] = [format_value(col, v) for v in table[col]]
    order = list(data["tier"])
    base = alt.Chart(alt.Data(values=records(data))).encode(
        x=alt.X("tier:N", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelFontSize=13)),
    )  # fmt: skip
    panels = [
        _tier_panel(base, col, title)
        for col, title in (
            ("pipeline", "Pipeline"),
            ("pipeline_per_account", "Pipeline per account"),
        )
    ]
    return styled(alt.hconcat(*panels, spacing=48))


def _tier_panel(base: alt.Chart, column: str, title: str) -> alt.LayerChart:
    y = alt.Y(f"{column}:Q", title=None, axis=alt.Axis(labelExpr=DOLLAR_LABELS))
    bars = base.mark_bar(color=ACCENT, cornerRadiusTopLeft=3, cornerRadiusTopRight=3,
                         size=56).encode(y=y, tooltip=[alt.Tooltip("tier:N", title="Tier"),
                         alt.Tooltip(f"{column}_text:N", title=title)])  # fmt: skip
    labels = base.mark_text(dy=-8, color=INK, fontSize=12).encode(y=y, text=f"{column}_text:N")
    return alt.LayerChart(layer=[bars, labels]).properties(
        width=(WIDTH - 100) // 2, height=240, title=title
    )


def attribution(table: pd.DataFrame) -> dict[str, Any] | None:
    """Credit per channel by model, pipeline above revenue: grouped bars, one colour a model."""
    cols = ("model", "channel", "pipeline", "revenue")
    if not _has(table, cols) or not (table[["pipeline", "revenue"]].fillna(0) > 0).any().any():
        return None
    long = table[list(cols)].melt(id_vars=["model", "channel"], var_name="measure",
                                  value_name="credit")  # fmt: skip
    long["credit_text"] = [format_value(m, v) for m, v in zip(long["measure"], long["credit"],
                                                              strict=True)]  # fmt: skip
    long["measure"] = long["measure"].str.capitalize()
    long["model"] = [format_value("model", m) for m in long["model"]]
    models = list(pd.unique(long["model"]))
    channels = [str(c) for c in pd.unique(long["channel"])]
    chart = alt.Chart(alt.Data(values=records(long))).mark_bar().encode(
        x=alt.X("channel:N", sort=channels, title=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("model:N", sort=models),
        y=alt.Y("credit:Q", title="Credit", axis=alt.Axis(labelExpr=DOLLAR_LABELS)),
        color=alt.Color("model:N", sort=models, title="Model", scale=alt.Scale(domain=models)),
        tooltip=[alt.Tooltip("channel:N", title="Channel"),
                 alt.Tooltip("model:N", title="Model"), alt.Tooltip("measure:N", title="Of"),
                 alt.Tooltip("credit_text:N", title="Credit")],
    ).properties(width=WIDTH - 140, height=200).facet(
        row=alt.Row("measure:N", title=None, sort=["Pipeline", "Revenue"],
                    header=alt.Header(labelAngle=0, labelAlign="left", labelAnchor="start",
                                      labelOrient="top")),
        spacing=24,
    ).resolve_scale(y="independent")  # fmt: skip
    return styled(chart)


def lift(table: pd.DataFrame) -> dict[str, Any] | None:
    """Treated − holdout with its interval, per scope; one panel a metric, zero dashed."""
    cols = ("scope", "metric", "difference", "low", "high")
    if not _has(table, cols):
        return None
    known = table.dropna(subset=["difference", "low", "high"])
    panels = [_lift_panel(str(metric), rows) for metric, rows in
              known.groupby("metric", sort=False)]  # fmt: skip
    if not panels:
        return None
    return styled(alt.vconcat(*panels, spacing=32).resolve_scale(color="shared"))


def _lift_panel(metric: str, rows: pd.DataFrame) -> alt.LayerChart:
    share = MEASURE_KINDS.get(metric) == "share"
    scale = 100.0 if share else 1.0  # shares are drawn in percentage points
    data = pd.DataFrame({"scope": rows["scope"].astype(str).to_numpy()})
    for col in ("difference", "low", "high"):
        data[col] = rows[col].to_numpy(dtype=float) * scale
        data[f"{col}_text"] = [format_value(col, v, metric) for v in rows[col]]
    flags = rows["significant"] if "significant" in rows else pd.Series(False, index=rows.index)
    data["significant"] = ["no" if is_missing(f) else format_value("significant", f)
                           for f in flags]  # fmt: skip
    y = alt.Y("scope:N", title=None, sort=list(data["scope"]),
              axis=alt.Axis(labelFontSize=13, labelLimit=220))  # fmt: skip
    axis = alt.Axis(format="+,.1~f" if share else "$,.0f", labelFlush=False)
    title = "percentage points" if share else "dollars per account"
    base = alt.Chart(alt.Data(values=records(data)))
    zero = base.mark_rule(color=MUTED, strokeDash=[4, 4]).encode(x=alt.datum(0))
    interval = base.mark_rule(strokeWidth=3, color="#9aa5b1").encode(
        y=y, x=alt.X("low:Q", title=f"Treated − holdout, {title}", axis=axis), x2="high:Q"
    )
    tooltip = [alt.Tooltip("scope:N", title="Scope"),
               alt.Tooltip("difference_text:N", title="Difference"),
               alt.Tooltip("low_text:N", title="Low (95%)"),
               alt.Tooltip("high_text:N", title="High (95%)")]  # fmt: skip
    dots = base.mark_point(filled=True, size=110, opacity=1).encode(
        y=y,
        x="difference:Q",
        tooltip=tooltip,
        color=alt.Color(
            "significant:N",
            title="Significant",
            scale=alt.Scale(domain=["yes", "no"], range=[ACCENT, "#9aa5b1"]),
        ),
    )
    return alt.LayerChart(layer=[zero, interval, dots]).properties(
        width=WIDTH - 260, height=max(60, 44 * len(data)),
        title=format_value("metric", metric))  # fmt: skip
