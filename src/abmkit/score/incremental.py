"""What an incremental refresh re-scores: accounts touched by activity loaded since the last one.

Every refresh records the loads (files) it has taken into account in `score_loads`, in the same
transaction as the scores. An incremental refresh re-scores the accounts with a touch or an
intent row written by any other load, over copies of just those accounts' rows; every other
account keeps its stored scores. Tiers are then re-assigned over all accounts, so capacities
hold and an account pushed out of its tier by a rising one is recorded with its reason. Loads,
not clocks, say what is new, so a load that commits while a refresh runs is picked up by the
next one, whatever the time stamps.

An incremental refresh is only exact when nothing else moved, so it falls back to a full refresh,
and says why, when there was no earlier refresh or it was scored as of a chosen moment; when the
scoring settings, the scoring code or the active model changed (a changed weight applies to
everyone); when accounts, contacts, opportunities or custom attributes were loaded (they feed
what is learned from every account — the lookalike model, expected deal sizes — and rows that
move between accounts change both); or when identity resolution moved rows (a relink or merge).
Untouched accounts keep the decay of their own `as_of`: run a full refresh daily.
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
"""The tables scores are made from; each has `account_id`."""
ACTIVITY = ("touches", "intent")
"""What an incremental refresh follows; a load into any other source table needs a full one."""
PROFILE = ("accounts", "contacts", "opportunities", "attributes")
SCORING_SECTIONS = ("icp", "weights", "thresholds", "intent", "engagement", "stages",
                    "propensity", "tiers", "committee", "personas", "crm")  # fmt: skip
SCORING_VERSION = 2
"""Raised whenever the way a score or reason is computed changes, so that an incremental
refresh after an upgrade is a full one."""


def settings_fingerprint(settings: Settings) -> str:
    """A hash of every setting that changes a score, and of the scoring code's version: equal
    hashes, equal rules."""
    chosen = settings.model_dump(mode="json", include=set(SCORING_SECTIONS))
    chosen["_version"] = SCORING_VERSION
    text = json.dumps(chosen, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def last_run(wh: Warehouse) -> dict | None:
    """The latest recorded refresh (a `score_runs` row), or None."""
    runs = wh.table("score_runs")
    rows = runs.order_by(ibis.desc("started_at")).limit(1).to_pyarrow().to_pylist()
    return rows[0] if rows else None


def unseen_loads(wh: Warehouse) -> ir.Table:
    """(load_id, table_name, changed) of the loads no refresh has taken into account yet, read
    once at the start of a refresh (a temporary table)."""
    loads = wh.table("loads").anti_join(wh.table("score_loads"), "load_id")
    changed = loads.inserted.fill_null(0) + loads.updated.fill_null(0)
    return wh.temp("unseen", loads.select("load_id", "table_name", changed=changed))


def profile_changes(unseen: ir.Table) -> list[str]:
    """The tables besides activity that unseen loads wrote rows into."""
    hits = unseen.filter(unseen.table_name.isin(PROFILE) & (unseen.changed > 0))
    return sorted(set(hits.table_name.to_pyarrow().to_pylist()))


def merged_since(wh: Warehouse, moment: dt.datetime) -> bool:
    """Whether an account was merged into another since `moment`."""
    merges = wh.table("account_merges")
    return int(merges.filter(merges.merged_at >= moment).count().execute()) > 0


def touched_accounts(wh: Warehouse, unseen: ir.Table) -> ir.Table:
    """Distinct account IDs with a touch or intent row written by an unseen load, and accounts
    not scored yet, as a temporary table (account_id)."""
    ids = unseen.select("load_id")
    changed = [wh.table(name).semi_join(ids, "load_id").select("account_id")
               for name in ACTIVITY]  # fmt: skip
    unscored = wh.table("accounts").select("account_id").anti_join(
        wh.table("account_scores"), "account_id")  # fmt: skip
    touched = ibis.union(*changed, unscored).filter(ibis._.account_id.notnull()).distinct()
    return wh.temp("touched", touched)


class ScopedWarehouse(Warehouse):
    """The warehouse as seen by one refresh: with `ids`, the source tables (and the accounts'
    custom attributes) hold just those accounts' rows, copied once into temporary tables (the
    contacts also those behind the accounts' touches, wherever they belong); every
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
            elif name == "contacts":  # theirs, and whoever is behind their touches
                touches = self.table("touches")
                by_id = touches.filter(touches.contact_id.notnull()).select("contact_id")
                by_mail = touches.filter(touches.email.notnull()).select("email")
                rows = ibis.union(full.semi_join(self._ids, "account_id"),
                                  full.semi_join(by_id, "contact_id"),
                                  full.semi_join(by_mail, "email"), distinct=True)  # fmt: skip
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
