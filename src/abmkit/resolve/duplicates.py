"""Duplicate accounts: find likely pairs, and merge one into another keeping everything.

A merge moves every row that points at the merged account (in any warehouse table with an
`account_id` column — contacts, touches, intent, opportunities, and score history tables later
issues add), re-points children, unions custom attributes (the surviving account's values win),
fills the survivor's empty fields, and records the merge so later loads that still carry the old
ID land on the survivor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import sqlglot as sg
import sqlglot.expressions as sge

from abmkit.errors import AbmError
from abmkit.resolve.fuzzy import find_duplicate_pairs
from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.schemas import VIEWS


@dataclass(frozen=True)
class DuplicatePair:
    account_id: str
    other_account_id: str
    name: str
    other_name: str
    score: float
    reason: str


def find_duplicate_accounts(wh: Warehouse, threshold: float) -> list[DuplicatePair]:
    """Pairs sharing a domain (score 100), then pairs whose normalized names score ≥ threshold."""
    acc = wh.table("accounts").select("account_id", "name", "domain", "name_key", "country")
    rows = acc.order_by("account_id").to_pyarrow().to_pylist()
    pairs: dict[tuple[str, str], DuplicatePair] = {}
    by_domain: dict[str, dict] = {}
    for row in rows:
        first = by_domain.setdefault(row["domain"], row) if row["domain"] else row
        if first is not row:
            pairs[(first["account_id"], row["account_id"])] = _pair(
                first, row, 100.0, "same domain"
            )
    keyed = [r for r in rows if r["name_key"]]
    for i, j, score in find_duplicate_pairs([r["name_key"] for r in keyed], threshold):
        a, b = keyed[i], keyed[j]
        if a["domain"] and b["domain"] and a["domain"] != b["domain"]:
            continue  # different registrable domains: related companies, not duplicates
        pairs.setdefault((a["account_id"], b["account_id"]), _pair(a, b, score, "similar name"))
    return sorted(pairs.values(), key=lambda p: (-p.score, p.account_id))


def _pair(a: dict, b: dict, score: float, reason: str) -> DuplicatePair:
    return DuplicatePair(a["account_id"], b["account_id"], a["name"], b["name"], score, reason)


CURRENT_SCORES = ("account_scores", "stored_reasons")
"""Tables holding each account's current scores: the merged account's rows are dropped, not
re-pointed (the survivor has its own; history and tier changes are kept, as a log)."""


def merge_accounts(wh: Warehouse, source_id: str, into_id: str, reason: str = "manual") -> None:
    """Fold account `source_id` into `into_id` in one transaction."""
    acc = wh.table("accounts")
    found = set(acc.filter(acc.account_id.isin([source_id, into_id])).account_id.to_pyarrow()
                .to_pylist())  # fmt: skip
    missing = [a for a in (source_id, into_id) if a not in found]
    if missing or source_id == into_id:
        raise AbmError(
            f"cannot merge {source_id} into {into_id}: "
            + (f"no account {missing[0]}" if missing else "same account")
        )
    with wh.transaction():
        _fill_survivor(wh, source_id, into_id)
        _merge_attributes(wh, source_id, into_id)
        for table in wh.con.list_tables():
            if table in CURRENT_SCORES:  # one row per account: the next refresh rescores it
                _delete(wh, table, "account_id", source_id)
            elif _is_data_table(table) and "account_id" in wh.table(table).columns:
                _update(wh, table, "account_id", source_id, into_id)
        _update(wh, "accounts", "parent_account_id", source_id, into_id)
        _delete(wh, "accounts", "account_id", source_id)
        wh.con.insert("account_merges", ibis.memtable([{
            "from_account_id": source_id, "into_account_id": into_id,
            "merged_at": dt.datetime.now(dt.UTC).replace(tzinfo=None), "reason": reason,
        }], schema=wh.table("account_merges").schema()))  # fmt: skip


def _fill_survivor(wh: Warehouse, source_id: str, into_id: str) -> None:
    acc = wh.table("accounts")
    src = acc.filter(acc.account_id == source_id).view()
    dst = acc.filter(acc.account_id == into_id)
    fields = [c for c in acc.columns if c not in ("account_id", "load_id", "loaded_at")]
    filled = dst.cross_join(src.rename({f"_s_{c}": c for c in acc.columns}))
    merged = filled.select(
        "account_id", **{c: filled[c].fill_null(filled[f"_s_{c}"]) for c in fields}
    )
    wh.con.upsert("accounts", merged, on="account_id")


def _merge_attributes(wh: Warehouse, source_id: str, into_id: str) -> None:
    attrs = wh.table("attributes")
    mine = attrs.filter((attrs.entity == "account") & (attrs.entity_id == into_id))
    theirs = attrs.filter((attrs.entity == "account") & (attrs.entity_id == source_id))
    moved = theirs.anti_join(mine, "name").mutate(
        entity_id=ibis.literal(into_id),
        attribute_id=ibis.literal(f"account|{into_id}|") + theirs.name,
    )
    wh.con.insert("attributes", moved.select(*attrs.columns))
    condition = sg.and_(sg.column("entity").eq(sge.Literal.string("account")),
                        sg.column("entity_id").eq(sge.Literal.string(source_id)))  # fmt: skip
    wh.execute_sql(sg.delete("attributes", where=condition).sql(wh.con.dialect), table="attributes")


def _update(wh: Warehouse, table: str, column: str, old: str, new: str) -> None:
    stmt = sge.update(table, {column: sge.Literal.string(new)},
                     where=sg.column(column).eq(sge.Literal.string(old)))  # fmt: skip
    wh.execute_sql(stmt.sql(wh.con.dialect), table=table)


def _delete(wh: Warehouse, table: str, column: str, value: str) -> None:
    stmt = sg.delete(table, where=sg.column(column).eq(sge.Literal.string(value)))
    wh.execute_sql(stmt.sql(wh.con.dialect), table=table)


def _is_data_table(name: str) -> bool:
    return name != "accounts" and name not in VIEWS and not name.startswith(("_", "ibis_"))
