"""What is in a workspace: rows per table, and how well each source's rows link to accounts."""

from __future__ import annotations

from dataclasses import dataclass

import ibis

from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.schemas import CANONICAL


@dataclass(frozen=True)
class MatchRate:
    table: str
    source: str
    rows: int
    matched: int
    by_method: dict[str, int]

    @property
    def rate(self) -> float:
        return self.matched / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class Status:
    tables: dict[str, int]
    match_rates: list[MatchRate]
    loads: int
    rejected_loads: int
    quarantined_rows: int


def match_rates(wh: Warehouse) -> list[MatchRate]:
    """Per table and source: rows, rows linked to an existing account, and links by method."""
    accounts = wh.table("accounts").select(_acc="account_id")
    out = []
    for name, spec in CANONICAL.items():
        if not spec.resolves_accounts:
            continue
        t = wh.table(name)
        known = t.left_join(accounts, t.account_id == accounts._acc)
        linked = known._acc.notnull()
        method = ibis.cases((linked, known.match_method.fill_null("id")), else_="unmatched")
        grouped = known.group_by(source=known.source.fill_null("(none)"), method=method).agg(
            n=known.count()
        )
        for source, group in _by_source(grouped.to_pyarrow().to_pylist()).items():
            matched = sum(n for m, n in group.items() if m != "unmatched")
            out.append(MatchRate(name, source, sum(group.values()), matched, group))
    return out


def _by_source(rows: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in sorted(rows, key=lambda r: (r["source"], r["method"])):
        out.setdefault(r["source"], {})[r["method"]] = int(r["n"])
    return out


def workspace_status(wh: Warehouse) -> Status:
    loads = wh.table("loads")
    return Status(
        tables={name: wh.count(name) for name in CANONICAL},
        match_rates=match_rates(wh),
        loads=wh.count("loads"),
        rejected_loads=int(loads.filter(loads.outcome != "ok").count().execute()),
        quarantined_rows=int(
            wh.table("quarantine").select("file", "row").distinct().count().execute()
        ),  # fmt: skip
    )
