"""The measurement report as one self-contained HTML page (`abm report --html out.html`).

The page carries everything it needs: the styles, the data, and Vega, Vega-Lite and vega-embed
inline (from `vl-convert-python`), so it opens from a laptop, an e-mail attachment or a shared
drive with no network at all; a Content-Security-Policy forbids every fetch to keep it so. The
charts are Altair (Vega-Lite) specs built from the `Report` tables; every number in a table goes
through `format_value`, the same formatter the CLI uses, so the page and the terminal agree.
A section without data says so in a sentence instead of drawing an empty chart.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from abmkit import __version__
from abmkit.measure import charts
from abmkit.measure.formatting import (
    NUMERIC_KINDS,
    column_label,
    format_table,
    is_missing,
    kind_of,
    measure_of,
)
from abmkit.measure.report import Report

__all__ = ["render_html", "write_html", "javascript_bundle"]

HIDDEN_COLUMNS = {"movers": ("account_id",)}
WRAPPED_COLUMNS = frozenset({"note"})  # free text that may wrap; every other cell stays on a line

# What each number means, shown under its section; kept in one place so it matches the builder.
DEFINITIONS: dict[str, list[tuple[str, str]]] = {
    "tiers": [
        ("Engagement rate", "share of the tier's accounts with at least one engaged touch."),
        ("Pipeline", "the amount of every opportunity created (a missing amount counts as 0)."),
        ("Pipeline per account", "pipeline divided by the tier's accounts, so tiers of different "
         "sizes compare fairly."),
        ("Win rate", "won ÷ closed opportunities; open deals are not in the denominator."),
        ("Median velocity", "median days from the account's first engaged touch (in the "
         "attribution lookback before the opportunity) to the win."),
        ("Committee penetration", "average buying-committee coverage: a persona engaged lately "
         "counts fully, one known but silent half."),
    ],
    "lift": [
        ("Difference", "treated − holdout: what the program added (the opportunity rate in "
         "percentage points, pipeline in dollars per account)."),
        ("Low / High", "the 95% interval of the difference; when it excludes zero the lift is "
         "significant."),
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Table:
    """A report table ready for the page: headers and cells as (text, CSS class)."""

    headers: list[tuple[str, str]]
    rows: list[list[tuple[str, str]]]
    tall: bool = False


@dataclass
class Section:
    """One part of the page: a title, what it shows, a chart or a sentence, and tables."""

    key: str
    title: str
    intro: str
    chart: dict[str, Any] | None = None
    chart_empty: str | None = None
    tables: list[tuple[str, Table | str]] = field(default_factory=list)
    definitions: list[tuple[str, str]] = field(default_factory=list)


def _css(column: str, measure: str | None = None) -> str:
    if kind_of(column, measure) in NUMERIC_KINDS:
        return "num"
    return "wrap" if column in WRAPPED_COLUMNS else ""


def html_table(frame: pd.DataFrame, hide: tuple[str, ...] = ()) -> Table:
    """A report table formatted by the shared formatter; numbers right-aligned."""
    cols = [c for c in frame.columns if c not in hide]
    text = format_table(frame[cols])
    measures = [measure_of(row) for row in frame.to_dict(orient="records")]
    rows = [
        [(cell, _css(c, measure)) for c, cell in zip(cols, row, strict=True)]
        for row, measure in zip(text.itertuples(index=False), measures, strict=True)
    ]
    heads = [(column_label(c), _css(c, "dollars")) for c in cols]
    return Table(heads, rows, tall=len(rows) > 12)


def _table_or(frame: pd.DataFrame, empty: str, hide: tuple[str, ...] = ()) -> Table | str:
    return empty if frame.empty else html_table(frame, hide)


def funnel_section(report: Report) -> Section:
    moves = report.table("funnel_moves")
    if not moves.empty and "week" in moves.columns:
        moves = moves.sort_values("week", ascending=False, kind="stable")
    return Section(
        "funnel", "Funnel progression",
        "How many target accounts sit at each journey stage, week by week (each account is at "
        "exactly one: Qualified → Aware → Engaged → MQA → Opportunity → Customer). The table "
        "counts the accounts that moved to the next stage each week, and the median time they "
        "had spent in the earlier one.",
        chart=charts.funnel(report.table("funnel_stages")),
        chart_empty="No journey-stage history yet: the funnel appears after the first scoring "
        "runs.",
        tables=[("Stage moves by week, newest first",
                 _table_or(moves, "No account moved between stages in this period."))],
    )  # fmt: skip


def tiers_section(report: Report) -> Section:
    tiers = report.table("tiers")
    return Section(
        "tiers", "Pipeline by tier",
        "Pipeline created by the accounts of each tier, in total and per account. Tier 1 gets "
        "the most attention; “No tier” is every account outside the tiers, the baseline.",
        chart=charts.tiers(tiers),
        chart_empty="No opportunities yet, so there is no pipeline to compare across tiers."
        if not tiers.empty else "No tiered accounts yet: scoring assigns the tiers.",
        tables=[("Tiers", _table_or(tiers, "No tiered accounts yet."))],
        definitions=[] if tiers.empty else DEFINITIONS["tiers"],
    )  # fmt: skip


def acv_section(report: Report) -> Section:
    return Section(
        "acv", "Deal size: ABM vs non-ABM",
        "Average contract value (ACV) is revenue ÷ deals won, for tiered (ABM) accounts and "
        "for the others.",
        tables=[("", _table_or(report.table("acv"),
                               "No deals won yet, so there is no contract value to compare."))],
    )  # fmt: skip


def movers_section(report: Report) -> Section:
    return Section(
        "movers", "Top movers this week",
        "Accounts whose journey stage changed in the latest week, with their priority and how "
        "much it moved: the ones for sales to look at now.",
        tables=[("", _table_or(report.table("movers"),
                               "No account changed stage in the latest week.",
                               HIDDEN_COLUMNS["movers"]))],
    )  # fmt: skip


def attribution_section(report: Report) -> Section:
    table = report.table("attribution")
    return Section(
        "attribution", "Attribution by channel",
        "How each model splits the credit for pipeline and revenue across channels. Models "
        "disagree by design; a channel that leads under most of them earned its place.",
        chart=charts.attribution(table),
        chart_empty="No opportunities yet: attribution credits channels once accounts open "
        "pipeline.",
        tables=[("Credit per channel and model", _table_or(table, "No attributed conversions."))],
    )  # fmt: skip


def lift_section(report: Report) -> Section:
    table = report.table("lift")
    chart = charts.lift(table)
    how = (" The dot is the difference; the bar is its 95% interval; the dashed line is no "
           "effect." if chart else "")  # fmt: skip
    return Section(
        "lift", "Incrementality: treated vs holdout",
        "Lift compares accounts the program worked (treated) with a randomized holdout it left "
        "alone." + how,
        chart=chart,
        chart_empty="No holdout yet: lift is measured once a randomized holdout of target "
        "accounts is set aside and time has passed." if table.empty else
        "The samples are still too small to estimate lift; see the notes below.",
        tables=[("", _table_or(table, "No holdout comparison yet."))],
        definitions=[] if table.empty else DEFINITIONS["lift"],
    )  # fmt: skip


def kpi_cards(report: Report) -> list[dict[str, str]]:
    """The headline numbers: name, formatted value, what it means."""
    kpis = report.table("kpis")
    if kpis.empty:
        return []
    values = format_table(kpis)["value"]
    notes = kpis["note"] if "note" in kpis else pd.Series("", index=kpis.index)
    return [{"name": column_label(str(name)), "value": str(value),
             "note": "" if is_missing(note) else str(note)}
            for name, value, note in zip(kpis["name"], values, notes, strict=True)]  # fmt: skip


def sections(report: Report) -> list[Section]:
    """The page's sections, in reading order."""
    return [build(report) for build in (funnel_section, tiers_section, attribution_section,
                                        lift_section, acv_section, movers_section)]  # fmt: skip


@lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega, Vega-Lite (the version Altair writes) and vega-embed as one inline script."""
    import vl_convert

    # The stub marks `snippet` required; its default assigns vegaEmbed, vega, vegaLite to window.
    version = charts.vegalite_version()
    bundle = str(vl_convert.javascript_bundle(vl_version=version))  # type: ignore[call-arg]
    if "</script" in bundle.lower():  # would end the inline <script> early
        raise RuntimeError("the Vega bundle cannot be inlined: it contains '</script'")
    return bundle


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' that HTML would read."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("abmkit.measure", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)  # fmt: skip


def render_html(report: Report) -> str:
    """The whole report as one HTML document that opens with no network."""
    parts = sections(report)
    specs = {f"chart-{s.key}": s.chart for s in parts if s.chart is not None}
    return _ENV.get_template("report.html.j2").render(
        workspace=report.workspace, as_of=f"{report.as_of:%Y-%m-%d %H:%M}",
        since=f"{report.since:%Y-%m-%d}" if report.since else None,
        notes=report.notes,
        kpis=kpi_cards(report), sections=parts, version=__version__,
        specs=Markup(_script_json(specs)),
        bundle=Markup(javascript_bundle()) if specs else None,
    )  # fmt: skip


def write_html(report: Report, path: Path | str) -> Path:
    """Write the report to `path` atomically: a temp file beside it, synced, then renamed over
    it, so a reader never sees half a page and a failure leaves the old file as it was."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    html = render_html(report)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644  # mkstemp makes 0600
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(html)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
