"""What an incremental refresh re-scores: the accounts touched by data loaded since the last one.

Every refresh records a row in `score_runs` with its **watermark**: the latest `loaded_at` of the
tables scores are made from, read before scoring. An incremental refresh re-scores the accounts
with a row loaded after that watermark in any of those tables (a new touch, intent week,
contact, opportunity or firmographic change), plus accounts that have no score yet; every other
account keeps its stored scores. Tiers are then re-assigned over all accounts, so capacities
hold and an account pushed out of its tier by a rising one is recorded with its reason.

An incremental refresh is only exact when nothing else moved since the last run, so it falls
back to a full refresh, and says why, when there was no earlier run, when the scoring settings
or the active model changed (a changed weight applies to everyone), or when identity resolution
moved rows between accounts (a relink or merge).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from abmkit.config.settings import Settings
from abmkit.warehouse.engine import Warehouse

SOURCES = ("accounts", "contacts", "touches", "intent", "opportunities")
"""The tables scores are made from; each has `account_id` and `loaded_at`."""
SCORING_SECTIONS = ("icp", "weights", "thresholds", "intent", "engagement", "stages",
                    "propensity", "tiers", "committee", "personas", "crm")  # fmt: skip


def settings_fingerprint(settings: Settings) -> str:
    """A hash of every setting that changes a score: equal hashes, equal rules."""
    chosen = settings.model_dump(mode="json", include=set(SCORING_SECTIONS))
    text = json.dumps(chosen, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_watermark(wh: Warehouse) -> dt.datetime | None:
    """The latest `loaded_at` over the source tables (None: nothing loaded)."""
    parts = [wh.table(name).select(at=ibis._.loaded_at) for name in SOURCES]
    value = ibis.union(*parts).at.max().execute()
    if value is None or str(value) == "NaT":
        return None
    value = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=None)


def last_run(wh: Warehouse) -> dict | None:
    """The latest recorded refresh (a `score_runs` row), or None."""
    runs = wh.table("score_runs")
    rows = runs.order_by(ibis.desc("finished_at")).limit(1).to_pyarrow().to_pylist()
    return rows[0] if rows else None


def touched_accounts(wh: Warehouse, since: dt.datetime) -> ir.Table:
    """Distinct account IDs with a source row loaded after `since`, and accounts not scored
    yet, materialized as a temporary table (account_id)."""
    changed = [
        wh.table(name).filter(ibis._.loaded_at > since).select("account_id")
        for name in SOURCES
    ]  # fmt: skip
    unscored = wh.table("accounts").select("account_id").anti_join(
        wh.table("account_scores"), "account_id")  # fmt: skip
    ids = ibis.union(*changed, unscored).filter(ibis._.account_id.notnull()).distinct()
    return wh.temp("touched", ids)


class ScopedWarehouse(Warehouse):
    """The warehouse as seen by one refresh: with `ids`, the source tables (and the accounts'
    custom attributes) hold just those accounts' rows, copied once into temporary tables; every
    other table, and everything else, is the warehouse itself. Scores are per account, so
    computing them over these small tables gives the same numbers as over the full ones, in a
    fraction of the time. Without `ids` it sees every account.

    Either way it keeps `memo`: what several scores of one refresh read (contacts with their
    personas, recent touches with the person behind them) is computed once per refresh."""

    def __init__(self, base: Warehouse, ids: ir.Table | None = None):  # noqa: D107
        self.__dict__.update(base.__dict__)  # the same connection, engine and settings
        self._ids = ids
        self._tables: dict[str, ir.Table] = {}
        self.memo: dict[str, ir.Table] = {}

    def table(self, name: str) -> ir.Table:
        if name not in (*SOURCES, "attributes"):
            return super().table(name)
        if name not in self._tables:
            full = super().table(name)
            if self._ids is None:
                self._tables[name] = full
            elif name == "attributes":
                ids = self._ids.select(entity_id="account_id")
                rows = full.filter(full.entity == "account").semi_join(ids, "entity_id")
                self._tables[name] = self.temp(f"scoped_{name}", rows)
            else:
                rows = full.semi_join(self._ids, "account_id")
                self._tables[name] = self.temp(f"scoped_{name}", rows)
        return self._tables[name]


def memoized(wh: Warehouse, key: str, build: Callable[[], ir.Table]) -> ir.Table:
    """`build()` computed once per refresh when `wh` is a refresh's view (else as it is)."""
    if not isinstance(wh, ScopedWarehouse):
        return build()
    if key not in wh.memo:
        wh.memo[key] = wh.temp(key, build())
    return wh.memo[key]
