"""`abm report` and `abm attribution`: the measurement faces of the CLI.

Tables in the terminal are formatted by `abmkit.measure.formatting`, the same functions the
HTML report uses, so both show the same numbers; `--format csv|json` gives the raw values.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from abmkit.cli.common import SetOpt, WorkspaceOpt, open_app
from abmkit.errors import AbmError
from abmkit.measure.formatting import column_label, format_table
from abmkit.measure.report import (
    ATTRIBUTION_MODELS,
    SECTION_TITLES,
    SECTIONS,
    records,
    report_json,
)

console = Console()

TITLES = SECTION_TITLES


HIDDEN = {"kpis": ("note", "unit"), "movers": ("account_id",)}
"""Columns a terminal table leaves out (the notes are long; the domain names the account)."""


class OutFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


AttributionModel = StrEnum(  # type: ignore[misc]
    "AttributionModel", {m: m for m in ATTRIBUTION_MODELS}
)


class Level(StrEnum):
    channel = "channel"
    campaign = "campaign"


def print_frame(frame: pd.DataFrame, title: str, *, hide: tuple[str, ...] = (),
                by: str | None = None) -> None:  # fmt: skip
    """A report table in the terminal, every cell written by the shared formatter; with `by`,
    turned on its side (one column per value of `by`, one row per figure) to fit a terminal."""
    shown = format_table(frame)  # every column first: a row's unit decides how its value reads
    shown = shown.drop(columns=[c for c in hide if c in shown.columns])
    if by is not None:
        side = shown.set_index(by).T
        side.columns = [str(c) for c in shown[by]]
        side.insert(0, "figure", [column_label(c) for c in side.index])
        shown = side.reset_index(drop=True)
    table = Table(title=title)
    for col in shown.columns:
        table.add_column(column_label(col), justify="left" if shown[col].map(_texty).all()
                         else "right")  # fmt: skip
    for row in shown.itertuples(index=False):
        table.add_row(*(escape(str(v)) for v in row))
    console.print(table)


def print_lift(frame: pd.DataFrame, confidence: float | None = None) -> None:
    """The lift table folded to fit a terminal: each group's figure with its accounts, the
    difference with its interval; the notes, once per scope, under it."""
    shown = format_table(frame)
    level = f" ({confidence:.0%} intervals)" if confidence else ""
    table = Table(title=TITLES["lift"] + level)
    for col in (
        "Scope",
        "Metric",
        "Treated (accounts)",
        "Holdout (accounts)",
        "Difference",
        "Interval",
        "Significant",
    ):
        table.add_column(col, justify="left" if col in ("Scope", "Metric") else "right")
    for row in shown.to_dict(orient="records"):
        table.add_row(*(escape(v) for v in (
            row["scope"], row["metric"], f"{row['treated']} ({row['treated_accounts']})",
            f"{row['holdout']} ({row['holdout_accounts']})", row["difference"],
            f"{row['low']} to {row['high']}", row["significant"])))  # fmt: skip
    console.print(table)
    for scope, note in frame[["scope", "note"]].drop_duplicates().itertuples(index=False):
        if isinstance(note, str) and note:
            console.print(f"[yellow]{escape(str(scope))}: {escape(note)}[/]")


def _texty(value: str) -> bool:
    return not any(ch.isdigit() for ch in value) or value == "—"


def write_csv(frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    sys.stdout.write(buffer.getvalue())


def report_command(
    html: Annotated[Path | None, typer.Option("--html", help="Also write the report as one "
                                              "self-contained HTML file (opens offline).")] = None,
    section: Annotated[list[str] | None, typer.Option(
        help=f"Only these sections: {', '.join(SECTIONS)} (repeatable; default all).")] = None,
    days: Annotated[int, typer.Option(min=1, help="Days the report covers, up to --as-of.")] = 90,
    as_of: Annotated[datetime | None, typer.Option(help="The report's last moment (default: the "
                                                   "latest scores).")] = None,
    weeks: Annotated[int, typer.Option(min=1, help="Weeks of funnel history shown.")] = 12,
    fmt: Annotated[OutFormat, typer.Option("--format", help="table, csv (one section) or "
                                           "json.")] = OutFormat.table,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """KPIs and funnel by tier, attribution and holdout lift — in the terminal, as CSV/JSON for
    notebooks, or as an HTML page."""
    from abmkit.measure.report import build_report

    chosen = list(section or SECTIONS)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise AbmError(f"unknown section {unknown[0]!r}; one of {', '.join(SECTIONS)}")
    if fmt == OutFormat.csv and len(chosen) != 1:
        raise AbmError(f"CSV holds one table: choose it with --section ({', '.join(SECTIONS)})")
    with open_app(workspace, set_) as abm:
        report = build_report(abm, as_of=as_of, days=days, weeks=weeks)
    if html is not None:
        from abmkit.measure.html import write_html

        written = write_html(report, html)
        Console(stderr=True).print(f"Wrote {written}")
    if fmt == OutFormat.json:
        data = report_json(report, chosen)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    if fmt == OutFormat.csv:
        write_csv(report.table(chosen[0]))
        return
    since = f"{report.since:%Y-%m-%d} to " if report.since else ""
    console.print(f"[bold]Report of {escape(report.workspace)}[/], {since}"
                  f"{report.as_of:%Y-%m-%d %H:%M}")  # fmt: skip
    for note in report.notes:
        console.print(f"[yellow]{escape(note)}[/]")
    for name in chosen:
        frame = report.table(name)
        if frame.empty:
            console.print(f"[dim]{TITLES[name]}: nothing to show yet.[/]")
            continue
        if name == "lift":
            print_lift(frame)
        else:
            print_frame(frame, TITLES[name], hide=HIDDEN.get(name, ()),
                        by="tier" if name == "tiers" else None)  # fmt: skip


def attribution_command(
    paths: Annotated[Path | None, typer.Option("--paths", help="An aggregated-path file "
                                               "(path;total_conversions;total_conversion_value;"
                                               "total_null, channels joined by ' > '); no "
                                               "workspace needed.")] = None,
    model: Annotated[list[AttributionModel] | None, typer.Option(
        help=f"Model(s): {', '.join(ATTRIBUTION_MODELS)} (repeatable; default all).")] = None,
    level: Annotated[Level | None, typer.Option(help="Credit channels or campaigns (default: "
                                                "measure.attribution.level).")] = None,
    lookback: Annotated[str | None, typer.Option(help="Touches this long before an "
                                                 "opportunity count, e.g. 90d, 12w (default: "
                                                 "measure.attribution.lookback_days).")] = None,
    days: Annotated[int, typer.Option(min=1, help="Opportunities created in this many days up "
                                      "to --as-of are attributed.")] = 365,
    as_of: Annotated[datetime | None, typer.Option(help="The period's last moment (default: "
                                                   "the latest scores).")] = None,
    order: Annotated[int, typer.Option(min=1, max=4, help="Markov chain order (1: first "
                                       "order).")] = 1,
    fmt: Annotated[OutFormat, typer.Option("--format", help="table, csv or json.")]
    = OutFormat.table,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:  # fmt: skip
    """Who gets the credit for pipeline and revenue: per channel (or campaign) and model, over
    every account's touches before each opportunity — or over an aggregated-path file."""
    chosen = tuple(m.value for m in model) if model else ATTRIBUTION_MODELS
    if paths is not None:
        frame, title = _from_paths(paths, chosen, order)
    else:
        frame, title = _from_workspace(workspace, set_, chosen, level, lookback, days, as_of,
                                       order)  # fmt: skip
    if fmt == OutFormat.json:
        sys.stdout.write(json.dumps(records(frame), indent=2) + "\n")
    elif fmt == OutFormat.csv:
        write_csv(frame)
    else:
        print_frame(frame, title)


def _from_paths(path: Path, models: tuple[str, ...], order: int) -> tuple[pd.DataFrame, str]:
    from abmkit.measure.attribution import applicable_models, attribute, read_paths

    journeys = read_paths(path)
    usable = applicable_models(journeys)  # a path file has no touch times: no time decay
    if len(models) == 1 and models[0] not in usable:
        raise AbmError(f"{models[0]} needs touch times, which a path file does not have")
    rows = []
    for name in (m for m in models if m in usable):
        options = {"order": order} if name == "markov" else {}
        rows += [{"model": name, **row} for row in attribute(journeys, name, **options).rows()]
    return pd.DataFrame(rows), f"Attribution of {path.name}"


def _from_workspace(workspace: Path, sets: list[str] | None, models: tuple[str, ...],
                    level: Level | None, lookback: str | None, days: int,
                    as_of: datetime | None, order: int) -> tuple[pd.DataFrame, str]:  # fmt: skip
    import datetime as dt

    from abmkit.measure.journeys import lookback_days
    from abmkit.measure.kpis import Period
    from abmkit.measure.report import attribution_table, report_moment

    try:
        span = lookback_days(lookback) if lookback else None
    except ValueError as exc:
        raise AbmError(f"--lookback: {exc}") from None
    with open_app(workspace, sets) as abm:
        end = as_of or report_moment(abm)
        period = Period(end - dt.timedelta(days=days), end)
        frame, journeys = attribution_table(abm, period, models, level=level.value
                                            if level else None, lookback=span,
                                            markov_order=order)  # fmt: skip
    title = (f"Attribution of {journeys.opportunities:,} opportunities created "
             f"{period.first_day} to {period.last_day}")  # fmt: skip
    if journeys.untouched:
        title += (f" ({journeys.untouched:,} more, ${journeys.untouched_pipeline:,.0f}, had no "
                  "touch in the lookback)")  # fmt: skip
    return frame, title
