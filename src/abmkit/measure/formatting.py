"""How the report's numbers are written: one formatter per kind of column, for every face.

The CLI tables, the HTML page and anything else that shows a `Report` format a cell with
`format_value(column, value, measure)`, so a pipeline of 1234567.8 reads "$1,234,568" in the
terminal and in the browser alike. A column's kind comes from its name (`COLUMN_KINDS`); the
columns whose kind depends on the row — a KPI's `value`, a lift row's `treated` … `high` — take
it from the row's `unit` or `metric` (`MEASURE_KINDS`). Missing values read "—".
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pandas as pd

Kind = Literal["share", "points", "dollars", "dollars_change", "unit_cost", "days", "count",
               "credit", "ratio",
               "score",
               "score_change", "date", "tier", "flag", "model", "metric",
               "text"]  # fmt: skip

MISSING = "—"
# Kinds that are numbers (right-aligned in a table); the others are labels.
NUMERIC_KINDS: frozenset[Kind] = frozenset(
    {
        "share",
        "points",
        "dollars",
        "dollars_change",
        "unit_cost",
        "days",
        "count",
        "credit",
        "ratio",
        "score",
        "score_change",
    }
)

COLUMN_KINDS: dict[str, Kind] = {
    "accounts": "count", "engaged_accounts": "count", "opportunities": "count", "won": "count",
    "closed": "count",
    "deals_won": "count", "conversions": "credit", "treated_accounts": "count",
    "holdout_accounts": "count",
    "engagement_rate": "share", "win_rate": "share", "committee_penetration": "share",
    "pipeline": "dollars", "pipeline_per_account": "dollars", "revenue": "dollars",
    "acv": "dollars",
    "median_days": "days", "median_velocity_days": "days",
    "priority": "score", "priority_change": "score_change",
    "week": "date", "tier": "tier", "significant": "flag", "model": "model", "metric": "metric",
}  # fmt: skip

# Kinds of a row's measure: a KPI's unit, or a lift row's metric.
MEASURE_KINDS: dict[str, Kind] = {
    "share": "share", "dollars": "dollars", "days": "days", "ratio": "ratio", "count": "count",
    "unit_cost": "unit_cost",
    "opportunity_rate": "share", "pipeline_per_account": "dollars",
}  # fmt: skip

# Columns that hold a value of the row's measure, and those that hold a difference of two.
MEASURED_COLUMNS = frozenset({"value", "treated", "holdout"})
DIFFERENCE_COLUMNS = frozenset({"difference", "low", "high"})
_CHANGE_OF: dict[Kind, Kind] = {"share": "points", "dollars": "dollars_change",
                                "score": "score_change"}  # fmt: skip

MODEL_LABELS = {"first": "First touch", "last": "Last touch", "linear": "Linear",
                "u_shaped": "U-shaped", "w_shaped": "W-shaped", "time_decay": "Time decay",
                "markov": "Markov", "shapley": "Shapley"}  # fmt: skip

COLUMN_LABELS: dict[str, str] = {
    "account_id": "Account ID", "acv": "ACV",
    "median_velocity_days": "Median velocity", "median_days": "Median time in stage",
    "from_stage": "From", "to_stage": "To", "deals_won": "Deals won",
    "treated_accounts": "Treated accounts", "holdout_accounts": "Holdout accounts",
    "low": "Low (95%)", "high": "High (95%)", "priority_change": "Priority change",
}  # fmt: skip


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pandas' NA: the values a report shows as "—"."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _share(v: Any) -> str:
    return f"{float(v):.1%}"


def _points(v: Any) -> str:
    return f"{float(v) * 100:+.1f} pp"


def _dollars(v: Any) -> str:
    x = round(float(v))
    return f"-${-x:,}" if x < 0 else f"${x:,}"


def _dollars_change(v: Any) -> str:
    x = round(float(v))
    return f"+${x:,}" if x > 0 else _dollars(x)


def _days(v: Any) -> str:
    return f"{float(v):,.1f} days"


def _count(v: Any) -> str:
    return f"{round(float(v)):,}"


def _credit(v: Any) -> str:
    return f"{float(v):,.1f}"


def _ratio(v: Any) -> str:
    return f"{float(v):,.2f}×"


def _score(v: Any) -> str:
    return f"{float(v):,.1f}"


def _score_change(v: Any) -> str:
    return f"{float(v):+,.1f}"


def _date(v: Any) -> str:
    if isinstance(v, dt.datetime | pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(pd.Timestamp(v).strftime("%Y-%m-%d"))


def _tier(v: Any) -> str:
    text = str(v).strip()
    if text.lower() in ("none", ""):
        return "No tier"
    return f"Tier {text.removesuffix('.0')}"


def _flag(v: Any) -> str:
    return "yes" if bool(v) else "no"


def _model(v: Any) -> str:
    return MODEL_LABELS.get(str(v), str(v))


def _metric(v: Any) -> str:
    return _sentence_case(str(v))


def _sentence_case(name: str) -> str:
    """Underscores to spaces and a capital first letter; "ACV lift" stays as it is."""
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def _unit_cost(v: Any) -> str:
    """What one unit of something cost, in dollars to the tenth of a cent: "$0.005"."""
    return f"${float(v):,.3f}"


def _text(v: Any) -> str:
    return str(v)


FORMATTERS: dict[Kind, Callable[[Any], str]] = {
    "share": _share, "points": _points, "dollars": _dollars, "dollars_change": _dollars_change,
    "unit_cost": _unit_cost,
    "days": _days, "count": _count, "credit": _credit, "ratio": _ratio, "score": _score,
    "score_change": _score_change, "date": _date, "tier": _tier, "flag": _flag,
    "model": _model, "metric": _metric, "text": _text,
}  # fmt: skip


def kind_of(column: str, measure: str | None = None) -> Kind:
    """The kind of a column; `measure` (a row's unit or metric) decides for the measured ones."""
    if column in MEASURED_COLUMNS | DIFFERENCE_COLUMNS and measure in MEASURE_KINDS:
        kind = MEASURE_KINDS[measure]
        return _CHANGE_OF.get(kind, kind) if column in DIFFERENCE_COLUMNS else kind
    return COLUMN_KINDS.get(column, "text")


def format_kind(kind: Kind, value: Any) -> str:
    """One value written as its kind says; "—" when missing."""
    return MISSING if is_missing(value) else FORMATTERS[kind](value)


def format_value(column: str, value: Any, measure: str | None = None) -> str:
    """One cell of a report table, written the same way in every face of the report."""
    return format_kind(kind_of(column, measure), value)


def measure_of(row: Mapping[str, Any]) -> str | None:
    """The measure a row's values are in: a lift row's metric, else a KPI row's unit."""
    measure = row.get("metric", row.get("unit"))
    return None if is_missing(measure) else str(measure)


def format_row(row: Mapping[str, Any]) -> dict[str, str]:
    """Every cell of one report row, formatted."""
    measure = measure_of(row)
    return {col: format_value(col, value, measure) for col, value in row.items()}


def format_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A report table as strings (same columns, same order), ready for a terminal or a page."""
    rows = [format_row(row) for row in frame.to_dict(orient="records")]
    return pd.DataFrame(rows, columns=list(frame.columns), dtype=object)


def column_label(column: str) -> str:
    """A column's header: "pipeline_per_account" → "Pipeline per account"."""
    return COLUMN_LABELS.get(column, _sentence_case(column))
