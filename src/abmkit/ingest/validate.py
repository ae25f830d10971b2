"""Turn a raw text table into typed canonical columns and collect every problem with its cell.

All checks are Ibis expressions over the raw table: a value that had text but did not parse, a
required value that is empty, a value over the size limit, a score out of range, a key that
appears twice with different content. Each problem names the row and the source column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from abmkit.errors import InputError, Problem
from abmkit.ingest.mapping import Mapping
from abmkit.ingest.parse import parse_as
from abmkit.ingest.readers import FILE, ROW, RawBatch
from abmkit.warehouse.schemas import TableSpec

RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("intent", "score"): (0, 100),
    ("accounts", "employees"): (0, 1e8),
    ("accounts", "revenue"): (0, 1e13),
    ("opportunities", "amount"): (-1e12, 1e12),
    ("touches", "cost"): (0, 1e9),
}
TYPE_WORDS = {"int64": "a whole number", "float64": "a number", "date": "a date",
              "timestamp": "a date and time", "boolean": "true/false"}  # fmt: skip
PROBLEM_COLUMNS = (FILE, "row", "column_name", "reason")


@dataclass
class Typed:
    """The typed rows of one file and the problems found in them."""

    table: ir.Table  # canonical columns present in the files, plus `__file` and `__row`
    targets: dict[str, str]  # canonical column -> source column
    problems: ir.Table  # __file, row, column_name, reason


def required_columns_missing(spec: TableSpec, targets: dict[str, str], mapping: Mapping,
                             file: str) -> None:  # fmt: skip
    """File-level check: each required column (or one of `a|b` alternatives) is provided."""
    have = set(targets) | set(mapping.constants)
    if mapping.week_from_filename:
        have.add("week")
    missing = [alt for alt in spec.required if not any(a in have for a in alt.split("|"))]
    if missing:
        wanted = " and ".join(" or ".join(repr(a) for a in alt.split("|")) for alt in missing)
        raise InputError.single(file, f"missing required column {wanted} for {spec.name}", row=1)


def week_from_filename(path: Path) -> str | None:
    match = re.search(r"(20\d{2})[-_]?([01]\d)[-_]?([0-3]\d)", path.name)
    return "-".join(match.groups()) if match else None


def build_typed(raw: RawBatch, spec: TableSpec, targets: dict[str, str], mapping: Mapping,
                date_order: str, max_field_bytes: int) -> Typed:  # fmt: skip
    t = raw.table
    columns: dict[str, ir.Value] = {FILE: t[FILE], ROW: t[ROW]}
    checks: list[ir.Table] = [_too_long(t, raw.columns, max_field_bytes)]
    for dst, src in targets.items():
        to = spec.columns[dst]
        value = parse_as(t[src], to, date_order)
        if dst in mapping.scale:
            value = (value * mapping.scale[dst]).cast(to)
        columns[dst] = value
        if not to.is_string():
            reason = ibis.literal(f"not {TYPE_WORDS[str(to)]}: '") + t[src].left(40) + "'"
            checks.append(_problem(t, t[src].notnull() & value.isnull(), src, reason))
        if (spec.name, dst) in RANGES:
            low, high = RANGES[(spec.name, dst)]
            bad = value.notnull() & ((value < low) | (value > high))
            checks.append(_problem(t, bad, src, ibis.literal(f"outside {low:g}..{high:g}")))
    for dst, constant in mapping.constants.items():
        columns[dst] = ibis.literal(constant).cast(spec.columns[dst])
    if "source" in spec.columns and "source" not in targets and "source" not in mapping.constants:
        columns["source"] = _sources_from_filenames(raw, t)
    if mapping.week_from_filename and "week" not in targets:
        columns["week"] = _weeks_from_filenames(raw, t)
    typed = t.select(**columns)
    checks.extend(_required_empty(t, spec, targets))
    return Typed(typed, targets, ibis.union(*checks))


def source_from_filename(path: Path) -> str:
    """`web_visits_202511.csv` → `web_visits`: the file's family, for match rates per source."""
    stem = path.name.split(".")[0]
    return re.sub(r"[_\-\s]*\d[\d_\-]*$", "", stem) or stem


def _sources_from_filenames(raw: RawBatch, t: ir.Table) -> ir.StringValue:
    names = [(t[FILE] == i, ibis.literal(source_from_filename(f.path)))
             for i, f in enumerate(raw.files)]  # fmt: skip
    return ibis.cases(*names, else_=ibis.null(dt.string))


def _weeks_from_filenames(raw: RawBatch, t: ir.Table) -> ir.DateValue:
    weeks = []
    for i, f in enumerate(raw.files):
        week = week_from_filename(f.path)
        if week is None:
            raise InputError.single(str(f.path), "no week: name the file with its date, "
                                    "e.g. surge_20250719.csv")  # fmt: skip
        weeks.append((t[FILE] == i, ibis.literal(week).cast(dt.date)))
    return ibis.cases(*weeks, else_=ibis.null(dt.date))


def _problem(t: ir.Table, condition: ir.BooleanValue, column: str, reason: ir.Value) -> ir.Table:
    return t.filter(condition).select(
        t[FILE], row=t[ROW], column_name=ibis.literal(column), reason=reason.cast(dt.string)
    )


def _too_long(t: ir.Table, columns: list[str], limit: int) -> ir.Table:
    parts = [
        _problem(t, t[c].length() > limit, c,
                 ibis.literal("value of ") + t[c].length().cast(dt.string)
                 + f" characters; the limit is {limit:,} (ingest.max_field_bytes)")
        for c in columns
    ]  # fmt: skip
    return ibis.union(*parts)


def _required_empty(t: ir.Table, spec: TableSpec, targets: dict[str, str]) -> list[ir.Table]:
    out = []
    for alt in spec.required:
        sources = [targets[a] for a in alt.split("|") if a in targets]
        if not sources:
            continue  # provided by a constant or the file name
        empty = ibis.and_(*[t[s].isnull() for s in sources])
        names = " or ".join(sources)
        out.append(_problem(t, empty, sources[0], ibis.literal(f"required value {names} is empty")))
    return out


def conflicting_keys(table: ir.Table, key: str, source_column: str) -> ir.Table:
    """Rows whose key also appears on an earlier row of the same file with different content.
    (Across files of one batch the later file wins, as if they were loaded one after another.)"""
    content = [c for c in table.columns if c != ROW]
    distinct = table.select(*content).distinct()
    counts = distinct.group_by(FILE, key).agg(versions=distinct.count())
    clashing = counts.filter(counts.versions > 1).select(FILE, key)
    rows = table.semi_join(clashing, [FILE, key])
    first = rows.group_by(FILE, key).agg(first_row=rows[ROW].min())
    joined = rows.join(first, [FILE, key])
    later = joined.filter(joined[ROW] > joined.first_row)
    return later.select(
        later[FILE],
        row=later[ROW],
        column_name=ibis.literal(source_column),
        reason=ibis.literal("duplicate key '") + later[key].cast(dt.string)
        + "' with different values (first on row " + later.first_row.cast(dt.string) + ")",
    )  # fmt: skip


def collect(problems: ir.Table, batch: RawBatch) -> list[Problem]:
    """Every problem, in file and row order, naming the file, row and source column."""
    ordered = problems.distinct().order_by([FILE, "row", "column_name"])
    rows = ordered.to_pyarrow().to_pylist()
    found = [Problem(str(batch.path(p[FILE])), int(p["row"]), p["column_name"], p["reason"])
             for p in rows]  # fmt: skip
    structural = [p for f in batch.files for p in f.problems]
    return sorted(structural + found, key=lambda p: (p.file, p.row or 0, p.column or ""))
