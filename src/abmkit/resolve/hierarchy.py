"""Parent/subsidiary roll-up: each account's ultimate parent, so activity at a subsidiary can be
counted toward the whole group."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from abmkit.warehouse.engine import Warehouse

MAX_DEPTH = 10  # deeper chains are treated as broken (a loop in the CRM data)


def ultimate_parents(wh: Warehouse, max_depth: int = MAX_DEPTH) -> ir.Table:
    """(account_id, ultimate_parent_id, depth): depth 0 for accounts without a parent. A chain
    that does not end within `max_depth` steps (a cycle) keeps the last parent reached."""
    acc = wh.table("accounts").select("account_id", "parent_account_id")
    known = acc.select(_pid="account_id")
    links = (
        acc.join(known, acc.parent_account_id == known._pid)
        .select(_child="account_id", _parent="parent_account_id")
        .view()
    )
    walk = acc.select("account_id", top=acc.account_id, depth=ibis.literal(0, "int64"))
    for _ in range(max_depth):
        walk = walk.view()
        step = walk.left_join(links, walk.top == links._child)
        walk = step.select(
            "account_id",
            top=step._parent.fill_null(step.top),
            depth=step.depth + ibis.cases((step._parent.notnull(), 1), else_=0),
        )
    return walk.rename(ultimate_parent_id="top")


def roll_up(wh: Warehouse, table: str) -> ir.Table:
    """`table` (anything with account_id) with the ultimate parent's ID added as `group_id`."""
    t = wh.table(table)
    tops = ultimate_parents(wh).select(_aid="account_id", group_id="ultimate_parent_id")
    joined = t.left_join(tops, t.account_id == tops._aid)
    return joined.drop("_aid").mutate(group_id=ibis._.group_id.fill_null(ibis._.account_id))
