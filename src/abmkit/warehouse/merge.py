"""Upsert staged rows into a canonical table by natural key, counting what changed.

A row is *inserted* when its key is new, *updated* when any content column differs (NULL-safe),
*unchanged* otherwise; unchanged rows are not written at all, so loading the same file twice
changes nothing. Only the columns the file provided are compared and written: a HubSpot export
without revenue does not erase the revenue a Salesforce export gave.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir

from abmkit.warehouse.engine import Reuse, Warehouse

STATUS = "_status"


@dataclass(frozen=True)
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def classify(target: ir.Table, staged: ir.Table, key: str, compare: list[str]) -> ir.Table:
    """`staged` plus a `_status` column: inserted, updated or unchanged against `target`."""
    if isinstance(staged.op(), ops.JoinChain):  # a finished relation, to join again
        staged = staged.view()  # (a view is new each time: only when needed, so that the
        # statement is the same from one refresh to the next and compiled once)
    old = target.select(key, *compare).rename({f"_old_{c}": c for c in [key, *compare]})
    joined = staged.left_join(old, staged[key] == old[f"_old_{key}"])
    changed = [~joined[c].identical_to(joined[f"_old_{c}"]) for c in compare]
    status = ibis.cases(
        (joined[f"_old_{key}"].isnull(), "inserted"),
        (ibis.or_(*changed) if changed else ibis.literal(False), "updated"),
        else_="unchanged",
    )
    return joined.select(*staged.columns, **{STATUS: status})


@dataclass
class UpsertPlan:
    """What an upsert will write, counted before the write transaction opens (the engine plans
    joins on tables created inside an open transaction without their statistics). `staged`
    should be a materialized table, since the writes evaluate the classification again."""

    table: str
    key: str
    classified: ir.Table  # staged rows with `_status`, evaluated against the table when applied
    columns: list[str]
    counts: dict  # group (or None) -> MergeCounts
    staged: ir.Table | None = None  # set when the table was empty: every staged row is new

    def has(self, status: str) -> bool:
        return any(getattr(c, status) for c in self.counts.values())


def plan_upsert(wh: Warehouse, table: str, staged: ir.Table, key: str, compare: list[str],
                *, by: str | None = None,
                built: Reuse | None = None,
                ) -> UpsertPlan:  # fmt: skip
    """Classify `staged` against `table`; `compare` are the content columns. With `by`, counts
    are kept per value of that column (e.g. per file of a batch). `built` hands out
    expressions built before (a `Reuse`)."""
    build = built or Reuse()
    classified = build(f"{table} classified", lambda: classify(wh.table(table), staged, key,
                                                               compare))  # fmt: skip
    columns = [c for c in staged.columns if c in wh.table(table).columns]
    groups = [by] if by else []

    def totals_of() -> ir.Table:
        return staged.group_by(groups).agg(n=ibis._.count()) if by else staged.agg(
            n=ibis._.count())  # fmt: skip

    totals = wh.arrow(build(f"{table} totals", totals_of)).to_pylist()
    empty = not wh.count(table)
    if not empty:

        def counted_of() -> ir.Table:
            changed = classified.filter(classified[STATUS] != "unchanged")
            return changed.group_by([*groups, STATUS]).agg(n=ibis._.count())

        counted = wh.arrow(build(f"{table} counted", counted_of)).to_pylist()
    else:  # a first load: every row is new, no need to join against the table to know it
        counted = [r | {STATUS: "inserted"} for r in totals]
    counts = {}
    for row in totals:
        group = row.get(by) if by else None
        n = {r[STATUS]: int(r["n"]) for r in counted if not by or r[by] == group}
        ins, upd = n.get("inserted", 0), n.get("updated", 0)
        counts[group] = MergeCounts(ins, upd, int(row["n"]) - ins - upd)
    return UpsertPlan(table, key, classified, columns, counts, staged if empty else None)


def apply_upsert(wh: Warehouse, plan: UpsertPlan) -> None:
    """Write a planned upsert (call inside the load's transaction). Each statement classifies the
    staged rows against the table as it is then, so nothing is written twice; into a table that
    was empty when planned (a first load or a first refresh), the staged rows go straight in."""
    rows = plan.classified
    names = ", ".join(f'"{c}"' for c in plan.columns)
    if plan.staged is not None:  # into an empty table: no comparison to make
        wh.insert(plan.table, plan.staged.select(*plan.columns))
        return
    if plan.has("inserted"):
        wh.insert(plan.table, rows.filter(rows[STATUS] == "inserted").select(*plan.columns))
    if plan.has("updated"):
        changed = wh.compile(rows.filter(rows[STATUS] == "updated").select(*plan.columns))
        sets = ", ".join(f'"{c}" = "_source"."{c}"' for c in plan.columns if c != plan.key)
        values = ", ".join(f'"_source"."{c}"' for c in plan.columns)
        wh.execute_sql(
            f'MERGE INTO "{plan.table}" AS "_target" USING ({changed}) AS "_source" '
            f'ON ("_target"."{plan.key}" = "_source"."{plan.key}") '
            f"WHEN MATCHED THEN UPDATE SET {sets} "
            f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})",
            table=plan.table,
        )  # compiled once per statement shape (`Warehouse.compile`), unlike Ibis's own upsert


def upsert(wh: Warehouse, table: str, staged: ir.Table, key: str,
           compare: list[str]) -> MergeCounts:  # fmt: skip
    """Plan and apply in one go, in a transaction of its own (or the caller's)."""
    plan = plan_upsert(wh, table, staged, key, compare)
    with wh.transaction():
        apply_upsert(wh, plan)
    return plan.counts.get(None, MergeCounts())
