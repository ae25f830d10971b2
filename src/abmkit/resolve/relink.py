"""Re-link whole tables to accounts — after accounts, contacts or IP ranges arrive late, after a
merge, or after a threshold changed. Only rows whose link changes are written."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from abmkit.config.settings import Settings
from abmkit.resolve.link import LINK_COLUMNS, link_records
from abmkit.resolve.names import normalize_company_name
from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.lookups import map_distinct
from abmkit.warehouse.merge import upsert
from abmkit.warehouse.schemas import CANONICAL

# IP ranges and contacts first: touches are linked through them.
RELINK_ORDER = ("ip_ranges", "contacts", "opportunities", "intent", "touches")


@dataclass(frozen=True)
class RelinkCount:
    table: str
    rows: int
    changed: int


def with_name_keys(wh: Warehouse, t: ir.Table) -> ir.Table:
    """Add `account_name_key` (normalized company name) for tables that carry account_name."""
    if "account_name" not in t.columns:
        return t
    return map_distinct(t, "account_name", normalize_company_name, "account_name_key", wh.stage)


def relink_all(wh: Warehouse, settings: Settings) -> list[RelinkCount]:
    """Re-link every table that refers to accounts, one table (and transaction) after another."""
    out = []
    for name in RELINK_ORDER:
        spec = CANONICAL[name]
        table = wh.table(name)
        given = ibis.cases((table.match_method == "id", table.account_id), else_=None)
        current = with_name_keys(wh, table.mutate(account_id=given.cast("string")))
        linked = link_records(wh, spec, current, settings)
        ready = wh.con.create_table(
            ibis.util.gen_name("relinked"), linked.select(spec.key, *LINK_COLUMNS), temp=True
        )
        counts = upsert(wh, name, ready, spec.key, LINK_COLUMNS)
        out.append(RelinkCount(name, counts.updated + counts.unchanged, counts.updated))
    return out
