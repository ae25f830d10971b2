"""Turn a raw text table into typed canonical columns and collect every problem with its cell.

Typed columns are computed once, with the text they came from kept beside them; every check is
then an Ibis filter over that materialized table: a value that had text but did not parse, a
required value that is empty, a value over the size limit, a number out of range, a key that
appears twice in one file with different content. Each problem names the file, the row and the
source column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


@dataclass(frozen=True)
class Check:
    """One rule over the materialized typed table: which rows break it and how to say so."""

    column: str | None  # source column named in the problem (None: each over-long column)
    reason: str
    breaks: Callable[[ir.Table], ir.BooleanValue]
    shows: str | None = None  # column of the typed table whose text is quoted in the reason
    limit: int | None = None  # the size check's limit


@dataclass
class Typed:
    """Typed canonical columns plus helpers the checks read: `_src_<col>` (the text a parsed
    column came from), `_missing_<n>` (a required value is empty) and `_longest` (the longest
    cell of the row)."""

    table: ir.Table
    checks: list[Check]

    @property
    def helpers(self) -> list[str]:
        return [c for c in self.table.columns
                if c.startswith(("_src_", "_missing_")) or c == "_longest"]  # fmt: skip


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
    """Typed canonical columns and what the checks need, computed in one pass over raw rows.
    Checks then run on the materialized result, so no parse is evaluated twice. Rows that
    `mapping.skip_empty` marks as 'no data' are left out (see `skipped_rows`)."""
    t = raw.table.filter(~skipped_rows(raw, targets, mapping)) if mapping.skip_empty else raw.table
    columns: dict[str, ir.Value] = {FILE: t[FILE], ROW: t[ROW]}
    columns["_longest"] = ibis.greatest(*[t[c].length().fill_null(0) for c in raw.columns])
    checks = [Check(None, f"characters; the limit is {max_field_bytes:,} "
                    "(ingest.max_field_bytes)", lambda m: m._longest > max_field_bytes,
                    limit=max_field_bytes)]  # fmt: skip
    for dst, src in targets.items():
        to = spec.columns[dst]
        value = parse_as(t[src], to, date_order)
        columns[dst] = (value * mapping.scale[dst]).cast(to) if dst in mapping.scale else value
        if not to.is_string():
            columns[f"_src_{dst}"] = t[src]
            checks.append(Check(src, f"not {TYPE_WORDS[str(to)]}", _unparsed(dst), f"_src_{dst}"))
        if (spec.name, dst) in RANGES:
            low, high = RANGES[(spec.name, dst)]
            checks.append(Check(src, f"outside {low:g}..{high:g}", _outside(dst, low, high)))
    for i, alt in enumerate(spec.required):
        given = [a for a in alt.split("|") if a in targets]
        if given:  # otherwise provided by a constant or the file name
            # judged on the text as given: deriving may clear a value (a free-mail domain)
            columns[f"_missing_{i}"] = ibis.and_(*[t[targets[a]].isnull() for a in given])
            names = " or ".join(targets[a] for a in given)
            checks.append(Check(targets[given[0]], f"required value {names} is empty",
                                _flagged(f"_missing_{i}")))  # fmt: skip
    for dst, constant in mapping.constants.items():
        columns[dst] = ibis.literal(constant).cast(spec.columns[dst])
    if "source" in spec.columns and "source" not in targets and "source" not in mapping.constants:
        columns["source"] = _sources_from_filenames(raw, t)
    if mapping.week_from_filename and "week" not in targets:
        columns["week"] = _weeks_from_filenames(raw, t)
    return Typed(t.select(**columns), checks)


def skipped_rows(raw: RawBatch, targets: dict[str, str], mapping: Mapping) -> ir.BooleanValue:
    """Rows where a `skip_empty` column is empty."""
    sources = [targets[c] for c in mapping.skip_empty if c in targets]
    return ibis.or_(*[raw.table[s].isnull() for s in sources]) if sources else ibis.literal(False)


def _unparsed(dst: str) -> Callable[[ir.Table], ir.BooleanValue]:
    return lambda m: m[f"_src_{dst}"].notnull() & m[dst].isnull()


def _outside(dst: str, low: float, high: float) -> Callable[[ir.Table], ir.BooleanValue]:
    return lambda m: ((m[dst] < low) | (m[dst] > high)).fill_null(False)


def _flagged(helper: str) -> Callable[[ir.Table], ir.BooleanValue]:
    return lambda m: m[helper]


def problems_of(typed: ir.Table, checks: list[Check], raw: RawBatch) -> ir.Table:
    """One row per problem (__file, row, column_name, reason), from the materialized table."""
    parts = []
    for c in checks:
        bad = typed.filter(c.breaks(typed))
        if c.column is None:  # over-long values: say which column and how long
            flagged = bad.select(FILE, ROW)
            for col in raw.columns:
                hit = flagged.join(raw.table.select(FILE, ROW, _v=raw.table[col]), [FILE, ROW])
                size = hit._v.length()
                parts.append(_problem(hit, size > c.limit, col, ibis.literal("value of ")
                                      + size.cast(dt.string) + " " + c.reason))  # fmt: skip
        elif c.shows:
            quoted = ibis.literal(c.reason + ": '") + bad[c.shows].left(40) + "'"
            parts.append(_problem(bad, ibis.literal(True), c.column, quoted))
        else:
            parts.append(_problem(bad, ibis.literal(True), c.column, ibis.literal(c.reason)))
    return ibis.union(*parts)


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


def conflicting_keys(table: ir.Table, key: str, source_column: str) -> ir.Table:
    """Rows whose key also appears on an earlier row of the same file with different content.
    (Across files of one batch the later file wins, as if they were loaded one after another.)"""
    repeated = table.group_by(FILE, key).agg(n=ibis._.count()).filter(ibis._.n > 1)
    if not int(repeated.count().execute()):  # the usual case: every key once, nothing to compare
        return table.filter(ibis.literal(False)).select(
            table[FILE], row=table[ROW], column_name=ibis.literal(source_column),
            reason=ibis.literal(""))  # fmt: skip
    content = [c for c in table.columns if c != ROW]
    table = table.semi_join(repeated, [FILE, key])
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
