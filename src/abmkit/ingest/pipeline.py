"""Load files into one canonical table: read → map → type → check → derive → link → upsert.

Reading, typing and checking happen in a local DuckDB; only good rows travel to the warehouse,
where linking and the upsert run inside one transaction together with the quarantine rows and the
load records. Files of the same shape are processed as one batch (a year of weekly intent files
costs one pass), yet each file stays all-or-nothing: a file with a bad row is rejected whole
(unless `quarantine`), and a failure or a kill before the commit leaves the warehouse as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
import pyarrow as pa

from abmkit.config.settings import Settings
from abmkit.errors import InputError, Problem
from abmkit.ingest.derive import derive
from abmkit.ingest.mapping import Mapping, load_mapping_file, plan_columns
from abmkit.ingest.presets import auto as auto_mapping
from abmkit.ingest.presets import preset as find_preset
from abmkit.ingest.presets import resolve_extends
from abmkit.ingest.readers import (
    FILE,
    ROW,
    Probe,
    RawBatch,
    RawFile,
    peek_field_count,
    probe,
    read_batch,
)
from abmkit.ingest.validate import (
    build_typed,
    collect,
    conflicting_keys,
    problems_of,
    required_columns_missing,
    skipped_rows,
)
from abmkit.resolve.link import assign_account_ids, link_records, parent_links
from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.loads import LoadRecord, quarantine_rows, record_load
from abmkit.warehouse.merge import UpsertPlan, apply_upsert, plan_upsert
from abmkit.warehouse.schemas import CANONICAL, TableSpec

Progress = Callable[[str, float], None]  # (what is happening, fraction done)
PAUSE_ENV = "ABMKIT_TEST_PAUSE_BEFORE_COMMIT"  # crash tests: hold the transaction open here
Result = LoadRecord | InputError


@dataclass(frozen=True)
class Source:
    """Where a file's mapping comes from: a preset name, a mapping file, or neither (auto)."""

    preset: str | None = None
    mapping_file: Path | None = None

    @property
    def label(self) -> str:
        return self.preset or (str(self.mapping_file) if self.mapping_file else "auto")


def choose_mapping(source: Source, table: str, path: Path, settings: Settings) -> Mapping:
    configured = settings.ingest.mappings
    if source.mapping_file:
        mapping = load_mapping_file(source.mapping_file)
        count = peek_field_count(path) if mapping.extends == "bombora" else 0
        mapping = resolve_extends(mapping, table, column_count=count, configured=configured)
    elif source.preset:
        count = peek_field_count(path)
        mapping = find_preset(source.preset, table, column_count=count, configured=configured)
    else:
        mapping = auto_mapping(table)
    if mapping.table and mapping.table != table:
        raise InputError.single(str(path), f"the mapping is for {mapping.table}, not {table}")
    return mapping


def ingest_files(
    wh: Warehouse, settings: Settings, table: str, paths: list[Path], source: Source = Source(),
    *, quarantine: bool = False, progress: Progress | None = None,
) -> list[Result]:  # fmt: skip
    """Load each file all-or-nothing; a rejected file does not stop the others.

    Returns, in the order of `paths`, a LoadRecord per loaded file or the InputError that
    rejected it (a rejected file is also recorded in the loads table).
    """
    spec = CANONICAL[table]
    results: dict[int, Result] = {}
    report = progress or (lambda stage, fraction: None)
    with wh.scratch() as engine:
        groups: dict[tuple, list[tuple[int, Probe]]] = {}
        for i, path in enumerate(paths):
            report(f"looking at {path.name}", 0.1 * i / len(paths))
            try:
                mapping = choose_mapping(source, table, path, settings)
                found = probe(path, engine, header=mapping.header, names=mapping.names,
                              encoding=mapping.encoding)  # fmt: skip
            except InputError as exc:
                results[i] = _rejected(wh, spec, path, source, exc)
                continue
            groups.setdefault((mapping.model_dump_json(), found.shape), []).append((i, found))
        for (mapping_json, _), members in groups.items():
            mapping = Mapping.model_validate_json(mapping_json)
            for positions, batch, failed in _read(engine, members, settings, report):
                if isinstance(batch, InputError):  # a file that cannot be read at all
                    results[positions[0]] = _rejected(wh, spec, paths[positions[0]], source,
                                                      batch)  # fmt: skip
                    continue
                loaded = ingest_batch(wh, settings, spec, batch, failed, mapping, source,
                                      engine=engine, quarantine=quarantine,
                                      report=report)  # fmt: skip
                results.update(dict(zip(positions, loaded, strict=True)))
    return [results[i] for i in range(len(paths))]


def ingest_file(wh: Warehouse, settings: Settings, table: str, path: Path,
                source: Source = Source(), *, quarantine: bool = False) -> LoadRecord:  # fmt: skip
    """Load one file; raise its InputError if it was rejected."""
    (result,) = ingest_files(wh, settings, table, [path], source, quarantine=quarantine)
    if isinstance(result, InputError):
        raise result
    return result


def _read(engine, members: list[tuple[int, Probe]], settings: Settings, report: Progress):
    """Read files of one shape in one scan; if the scan fails, each file alone, so one
    unreadable file does not take the others with it. Yields (positions, the batch or the
    error, the files of the batch that have no rows)."""
    rows = sum(p.path.stat().st_size for _, p in members)
    report(f"reading {len(members)} files ({rows / 1e6:,.0f} MB)", 0.15)
    limit = settings.ingest.max_field_bytes
    try:
        batch, failed = read_batch([p for _, p in members], engine, limit)
        yield [i for i, _ in members], batch, failed
        return
    except InputError as exc:
        if len(members) == 1:
            yield [members[0][0]], exc, {}
            return
    for i, p in members:
        try:
            batch, failed = read_batch([p], engine, limit)
            yield [i], batch, failed
        except InputError as exc:
            yield [i], exc, {}


def ingest_batch(
    wh: Warehouse, settings: Settings, spec: TableSpec, batch: RawBatch,
    failed: dict[int, InputError], mapping: Mapping, source: Source, *, engine,
    quarantine: bool, report: Progress,
) -> list[Result]:  # fmt: skip
    clock = time.perf_counter()
    raws = batch.files
    report(f"checking {sum(r.rows_read for r in raws):,} rows of {len(raws)} files", 0.4)
    records = [_record(spec, raw, source) for raw in raws]
    try:
        checked = _check(engine, batch, spec, mapping, settings)
    except InputError as exc:  # a file-level problem (e.g. a missing column) rejects them all
        return [_rejected(wh, spec, r.path, source, exc) for r in raws]
    by_file = {str(r.path): [p for p in checked.bad if p.file == str(r.path)] for r in raws}
    rejected = {i for i, r in enumerate(raws) if by_file[str(r.path)]} if not quarantine else set()
    rejected |= set(failed)
    keep = [i for i in range(len(raws)) if i not in rejected]
    for i, count in checked.skipped.items():
        records[i].skipped = count
    if keep:
        good = checked.rows_of(keep, engine)
        report("linking to accounts", 0.65)
        plans = _prepare(wh, spec, good, checked.attributes, settings, records)
        report("writing", 0.9)
        with wh.transaction():
            for plan in plans:
                apply_upsert(wh, plan)
            if spec.name == "accounts":
                _link_parents(wh)
            seconds = (time.perf_counter() - clock) / len(raws)
            for i in keep:
                records[i].seconds = seconds
                _quarantine(wh, batch, i, by_file[str(raws[i].path)], records[i])
                record_load(wh, records[i])
            _pause_for_crash_test()
    limit = settings.ingest.max_problems_shown
    return [
        _rejected(wh, spec, r.path, source,
                  failed.get(i) or InputError(by_file[str(r.path)], limit=limit), r)
        if i in rejected else records[i]
        for i, r in enumerate(raws)
    ]  # fmt: skip


def _record(spec: TableSpec, raw: RawFile, source: Source) -> LoadRecord:
    return LoadRecord(f"load_{uuid.uuid4().hex[:12]}", spec.name, str(raw.path), raw.checksum,
                      source.label, _now(), rows_read=raw.rows_read)  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _check(engine, batch: RawBatch, spec: TableSpec, mapping: Mapping, settings: Settings):
    """Typed, derived good rows; every problem; custom attributes in long form."""
    first = str(batch.path(0))
    targets, attribute_columns = plan_columns(mapping, batch.columns, list(spec.columns), first)
    required_columns_missing(spec, targets, mapping, first)
    typed = build_typed(batch, spec, targets, mapping, settings.ingest.date_order,
                        settings.ingest.max_field_bytes)  # fmt: skip
    # One pass types, derives and keeps what the checks read (the helpers), so ten million rows
    # are written once here, not once typed and again derived.
    checked = engine.create_table(
        ibis.util.gen_name("checked"), derive(engine, spec, typed.table, settings), temp=True
    )
    derived = checked.drop(*typed.helpers)
    keyed = derived.mutate(_key=_provisional_key(spec, derived))
    repeated = _repeated_keys(engine, keyed)  # usually none: no conflicts, no de-duplication
    if repeated is not None and spec.strongest:  # e.g. two domains of one company, one topic
        keyed = _keep_strongest(keyed, spec.strongest, repeated)
    parts = [problems_of(checked, typed.checks, batch), *_derived_problems(spec, keyed, targets)]
    if repeated is not None:
        among = keyed.semi_join(repeated, "_key")  # only rows whose key repeats can conflict
        parts.append(conflicting_keys(among, "_key", targets.get(spec.key, spec.key)))
    problems = engine.create_table(ibis.util.gen_name("problems"), ibis.union(*parts), temp=True)
    bad = collect(problems, batch)
    good = keyed
    if bad:
        bad_rows = problems.select(FILE, "row").distinct()
        good = good.anti_join(
            bad_rows, (good[FILE] == bad_rows[FILE]) & (good[ROW] == bad_rows.row)
        )
    attributes = _attributes_long(batch, attribute_columns) if spec.custom_attributes else None
    return Checked(good, bad, attributes, _skipped_by_file(batch, targets, mapping), repeated)


@dataclass
class Checked:
    """A checked batch: good rows (with their provisional `_key`), every problem, custom
    attributes in long form, rows skipped per file, and the keys that repeat (None: none do)."""

    good: ir.Table
    bad: list[Problem]
    attributes: ir.Table | None
    skipped: dict[int, int]
    repeated: ir.Table | None

    def rows_of(self, files: list[int], engine) -> ir.Table:
        """Good rows of the given files, one per key: across files the later file wins, as if
        loaded after the other (rejected files must be left out first, so they cannot win).
        Materialized when bad rows or repeated keys make it more than a projection, since
        linking reads it several times."""
        good = self.good.filter(self.good[FILE].isin(files))
        if self.repeated is not None:  # rank only the few rows whose key repeats
            order = [ibis.desc(FILE), ROW]
            dups = good.semi_join(self.repeated, "_key")
            dups = dups.mutate(_n=ibis.row_number().over(group_by=dups._key, order_by=order))
            firsts = dups.filter(dups._n == 0).drop("_n")
            good = good.anti_join(self.repeated, "_key").union(firsts)
        good = good.drop("_key")
        if self.bad or self.repeated is not None:
            good = engine.create_table(ibis.util.gen_name("good"), good, temp=True)
        return good


def _keep_strongest(keyed: ir.Table, column: str, repeated: ir.Table) -> ir.Table:
    """One row per key within each file: the one with the highest `column` (then the first)."""
    order = [ibis.desc(column), ROW]
    dups = keyed.semi_join(repeated, "_key")
    ranked = dups.mutate(_s=ibis.row_number().over(group_by=[FILE, "_key"], order_by=order))
    return keyed.anti_join(repeated, "_key").union(ranked.filter(ranked._s == 0).drop("_s"))


def _repeated_keys(engine, keyed: ir.Table) -> ir.Table | None:
    """The keys that occur more than once in the batch, as a small table; None when none do."""
    counts = keyed.group_by("_key").agg(_n=ibis._.count())
    repeated = counts.filter(counts._n > 1).select("_key")
    table = engine.create_table(ibis.util.gen_name("repeated"), repeated, temp=True)
    return table if int(table.count().execute()) else None


def _skipped_by_file(batch: RawBatch, targets: dict[str, str], mapping: Mapping) -> dict[int, int]:
    if not mapping.skip_empty:
        return {}
    t = batch.table.filter(skipped_rows(batch, targets, mapping))
    rows = t.group_by(FILE).agg(n=ibis._.count()).to_pyarrow().to_pylist()
    return {int(r[FILE]): int(r["n"]) for r in rows}


def _provisional_key(spec: TableSpec, t: ir.Table) -> ir.StringValue:
    if spec.name == "accounts":  # no ID yet: the same domain, else the same name, is one account
        prefixes = {"account_id": "", "domain": "d:", "name_key": "n:"}
        parts = [prefix + t[c] for c, prefix in prefixes.items() if c in t.columns]
        return ibis.coalesce(
            *parts, "r:" + t[FILE].cast(idt.string) + ":" + t[ROW].cast(idt.string)
        )
    return t[spec.key].cast(idt.string)


def _derived_problems(spec: TableSpec, t: ir.Table, targets: dict[str, str]) -> list[ir.Table]:
    checks = []
    if spec.name == "ip_ranges":
        for col, num in (("start_ip", "start_num"), ("end_ip", "end_num")):
            if col in targets:
                checks.append((t[num].isnull() & t[col].notnull(), targets[col],
                               "not an IPv4 address"))  # fmt: skip
    if spec.name == "intent" and "domain" in targets:
        checks.append((t.domain.isnull(), targets["domain"], "not a company domain"))
    return [
        t.filter(cond).select(
            t[FILE], row=t[ROW], column_name=ibis.literal(col), reason=ibis.literal(reason)
        )  # fmt: skip
        for cond, col, reason in checks
    ]


def _attributes_long(batch: RawBatch, columns: dict[str, str]) -> ir.Table | None:
    if not columns:
        return None
    t = batch.table.select(FILE, ROW, **{name: batch.table[src] for name, src in columns.items()})
    long = t.pivot_longer(~ibis.selectors.cols(FILE, ROW), names_to="name", values_to="value")
    return long.filter(long.value.notnull())


def _prepare(wh: Warehouse, spec: TableSpec, good: ir.Table, attributes: ir.Table | None,
             settings: Settings, records: list[LoadRecord]) -> list[UpsertPlan]:  # fmt: skip
    """Stage, link and classify the good rows; fill the records' counts. Nothing is written to
    a canonical table yet: the plans are applied inside the transaction."""
    staged = wh.stage(good, prefix=spec.name)
    if spec.name == "accounts":
        linked = assign_account_ids(wh, staged)
    elif spec.resolves_accounts:
        linked = link_records(wh, spec, staged, settings)
    else:
        linked = staged
    stamp = _now()
    by_file = ibis.cases(*[(linked[FILE] == i, r.load_id) for i, r in enumerate(records)])
    linked = linked.mutate(load_id=by_file, loaded_at=ibis.literal(stamp, idt.timestamp))
    ready = wh.con.create_table(ibis.util.gen_name("ready"), linked, temp=True)
    columns = [c for c in ready.columns if c in wh.table(spec.name).columns]
    compare = [c for c in spec.content_columns if c in columns]
    plan = plan_upsert(wh, spec.name, ready.select(FILE, *columns), spec.key, compare, by=FILE)
    unmatched = _unmatched_by_file(ready) if spec.resolves_accounts else {}
    for i, record in enumerate(records):
        c = plan.counts.get(i)
        if c is not None:
            record.inserted, record.updated, record.unchanged = c.inserted, c.updated, c.unchanged
        record.unmatched = unmatched.get(i, 0)
    if attributes is None:
        return [plan]
    return [plan, _attribute_plan(wh, spec, ready, attributes, stamp)]


def _unmatched_by_file(ready: ir.Table) -> dict[int, int]:
    rows = ready.filter(ready.account_id.isnull()).group_by(FILE).agg(n=ibis._.count())
    return {int(r[FILE]): int(r["n"]) for r in rows.to_pyarrow().to_pylist()}


def _attribute_plan(wh: Warehouse, spec: TableSpec, ready: ir.Table, attributes: ir.Table,
                    stamp: dt.datetime) -> UpsertPlan:  # fmt: skip
    """Custom columns become (entity, entity_id, name, value) rows, upserted like the rest."""
    long = wh.stage(attributes, prefix="attrs")
    ids = ready.select(FILE, ROW, "load_id", _entity_id=ready[spec.key])
    joined = long.join(ids, [FILE, ROW])
    entity = spec.entity
    rows = joined.select(
        joined[FILE],
        attribute_id=ibis.literal(entity + "|") + joined._entity_id + "|" + joined.name,
        entity=ibis.literal(entity), entity_id=joined._entity_id, name=joined.name,
        value=joined.value, load_id=joined.load_id, loaded_at=ibis.literal(stamp, idt.timestamp),
    )  # fmt: skip
    latest = rows.mutate(_n=ibis.row_number().over(group_by="attribute_id",  # later file wins
                                                   order_by=ibis.desc(FILE)))  # fmt: skip
    return plan_upsert(wh, "attributes", latest.filter(latest._n == 0).drop("_n", FILE),
                       "attribute_id", ["entity", "entity_id", "name", "value"])  # fmt: skip


def _link_parents(wh: Warehouse) -> None:
    links = parent_links(wh)
    if int(links.count().execute()):
        wh.con.upsert("accounts", links, on="account_id")


def _quarantine(wh: Warehouse, batch: RawBatch, index: int, bad: list[Problem],
                record: LoadRecord) -> None:  # fmt: skip
    rows = sorted({p.row for p in bad if p.row is not None})
    raw_rows = _raw_rows(batch, index, rows) if rows else {}
    record.quarantined = len(rows)
    table = pa.table({
        "load_id": [record.load_id] * len(bad), "table_name": [record.table_name] * len(bad),
        "file": [p.file for p in bad], "row": [p.row for p in bad],
        "column_name": [p.column for p in bad], "reason": [p.reason for p in bad],
        "raw": [raw_rows.get(p.row, "") if p.row is not None else "" for p in bad],
    })  # fmt: skip
    quarantine_rows(wh, record.table_name, record.file, table)


def _raw_rows(batch: RawBatch, index: int, rows: list[int]) -> dict[int, str]:
    """The original values of bad rows: as JSON by column, or the line itself when the line
    could not be split into columns."""
    wanted = ibis.memtable({ROW: pa.array(rows, pa.int64())})
    mine = batch.table.filter(batch.table[FILE] == index).drop(FILE)
    found = mine.semi_join(wanted, ROW).to_pyarrow().to_pylist()
    values = {r.pop(ROW): json.dumps(r, ensure_ascii=False) for r in found}
    rejected = batch.files[index].rejected_text
    return {**{row: text for row, text in rejected.items() if row in rows}, **values}


def _rejected(wh: Warehouse, spec: TableSpec, path: Path, source: Source, exc: InputError,
              raw: RawFile | None = None) -> InputError:  # fmt: skip
    """Record a rejected file in the loads table (outcome and reason); no data table changes."""
    record = LoadRecord(f"load_{uuid.uuid4().hex[:12]}", spec.name, str(path),
                        raw.checksum if raw else "", source.label, _now(),
                        rows_read=raw.rows_read if raw else 0, outcome="rejected",
                        message=str(exc)[:4000])  # fmt: skip
    with contextlib.suppress(Exception):  # the record is a courtesy; never mask the real error
        record_load(wh, record)
    return exc


def _pause_for_crash_test() -> None:
    marker = os.environ.get(PAUSE_ENV)
    if marker:
        Path(marker).write_text("paused before commit\n")
        time.sleep(3600)
