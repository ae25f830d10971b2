"""Write the scores back to the CRM: every scored account's row, from the warehouse, in the
format of `act/crm.py` (a Salesforce Bulk API 2.0 update CSV, or HubSpot batch-update bodies).
Only accounts keyed by that CRM's record id can be written; the others are counted apart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import ibis

from abmkit.act import crm
from abmkit.warehouse.engine import Warehouse

Crm = Literal["salesforce", "hubspot"]
REASONS_PER_ACCOUNT = 3


@dataclass(frozen=True)
class Export:
    text: str
    written: int
    skipped: int


def score_rows(wh: Warehouse) -> list[dict]:
    """One row per scored account with the fields `act/crm.py` writes; `reasons` are the
    account's strongest reasons (by points), joined."""
    s = wh.table("account_scores")
    r = wh.table("score_reasons").filter(lambda t: t.reason.notnull() & (t.points != 0))
    ranked = r.mutate(n=ibis.row_number().over(group_by=r.account_id,
                                               order_by=ibis.desc(r.points.abs())))  # fmt: skip
    top = ranked.filter(ranked.n < REASONS_PER_ACCOUNT)
    rows = wh.arrow(s.select("account_id", "tier", "priority", "fit", "intent", "engagement",
                             "buying_stage", "journey_stage", "sales_ready", "top_topics",
                             "as_of")).to_pylist()  # fmt: skip
    reasons: dict[str, list[tuple[int, str]]] = {}
    for x in wh.arrow(top.select("account_id", "n", "reason")).to_pylist():
        reasons.setdefault(x["account_id"], []).append((x["n"], x["reason"]))
    for row in rows:
        row["reasons"] = "; ".join(text for _, text in sorted(reasons.get(row["account_id"], [])))
    return rows


def export(wh: Warehouse, to: Crm, *, native: bool = True, batch_size: int = 100) -> Export:
    """The write-back file for `to`, with how many accounts it holds and how many were left
    out for not being keyed by that CRM's record id."""
    known, unknown = crm.split_by_crm_id(score_rows(wh), to)
    if to == "salesforce":
        text = crm.salesforce_bulk_csv(known)
    else:
        bodies = crm.hubspot_batch_update(known, native=native, batch_size=batch_size)
        text = json.dumps(bodies, indent=2, ensure_ascii=False) + "\n"
    return Export(text, len(known), len(unknown))


def fields(to: Crm, *, native: bool = True) -> dict[str, str]:
    """What to create in the CRM first: Salesforce field metadata files by path, or the HubSpot
    property definitions as one JSON file."""
    if to == "salesforce":
        return crm.salesforce_field_files()
    defs = crm.hubspot_properties(native=native)
    return {"hubspot-properties.json": json.dumps(defs, indent=2, ensure_ascii=False) + "\n"}
