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
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from abmkit.config.settings import Settings
from abmkit.errors import AbmError
from abmkit.warehouse.engine import ArrowData, Warehouse

SOURCES = ("accounts", "contacts", "touches", "intent", "opportunities")
"""The tables scores are made from; each has `account_id`."""
ACTIVITY = ("touches", "intent")
"""What an incremental refresh follows; a load into any other source table needs a full one."""
PROFILE = ("accounts", "contacts", "opportunities", "attributes")
SCORING_SECTIONS = ("icp", "weights", "thresholds", "intent", "engagement", "stages",
                    "propensity", "tiers", "committee", "personas", "crm")  # fmt: skip
SCORING_VERSION = 3
"""Raised whenever the way a score or reason is computed changes, so that an incremental
refresh after an upgrade is a full one."""


def naive(value: object) -> dt.datetime:
    """A timestamp from the engine (datetime or pandas Timestamp) as a naive datetime."""
    value = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=None)


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
    rows = wh.arrow(runs.order_by(ibis.desc("started_at")).limit(1)).to_pylist()
    return rows[0] if rows else None


def unseen_loads(wh: Warehouse) -> ir.Table:
    """(load_id, table_name, changed) of the loads no refresh has taken into account yet, read
    once at the start of a refresh (a temporary table of the engine's own: an incremental
    refresh finds its accounts by joining the activity tables to these few rows)."""
    loads = wh.table("loads").anti_join(wh.table("score_loads"), "load_id")
    changed = loads.inserted.fill_null(0) + loads.updated.fill_null(0)
    return wh.temp("unseen", loads.select("load_id", "table_name", changed=changed), native=True)


def profile_changes(wh: Warehouse, unseen: ir.Table) -> list[str]:
    """The tables besides activity that unseen loads wrote rows into."""
    hits = unseen.filter(unseen.table_name.isin(PROFILE) & (unseen.changed > 0))
    return sorted(set(wh.arrow(hits.select("table_name")).column(0).to_pylist()))


def merged_since(wh: Warehouse, moment: dt.datetime) -> bool:
    """Whether an account was merged into another since `moment`."""
    merges = wh.table("account_merges")
    latest = wh.scalar(merges.merged_at.max())  # the same statement every time: compiled once
    return latest is not None and str(latest) != "NaT" and naive(latest) >= moment


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
    contacts also those behind the accounts' touches, wherever they belong; with `since`, only
    touches and intent weeks recent enough for a score to read: `features.reach_days`); every
    other table, and everything else, is the warehouse itself. Scores are per account, so
    computing them over these small tables gives the same numbers as over the full ones, in a
    fraction of the time. Without `ids` it sees every account.

    Either way it keeps `memo`: what several scores of one refresh read (contacts with their
    personas, recent touches with the person behind them) is computed once per refresh.

    With `record`, nothing runs while the scores are built: each temporary table (and each set
    of rows made in Python, such as a model's predictions) becomes a `Step`, to run in order by
    `Prepared.run`. Building the expressions then happens once per connection and settings;
    every later incremental refresh only runs the same, already compiled, statements."""

    def __init__(self, base: Warehouse, ids: ir.Table | None = None, *,
                 since: tuple[ir.Value, ir.Value] | None = None,
                 record: bool = False):  # fmt: skip  # noqa: D107
        self.__dict__.update(base.__dict__)  # the same connection, engine and settings
        self.base = base
        self._ids = ids
        self._since = since  # (touch time, intent week) before which no score reads a row
        self._tables: dict[str, ir.Table] = {}
        self.memo: dict[str, ir.Table] = {}
        self.steps: list[Step] = []
        self.recording = record

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
                if self._since is not None and name in ACTIVITY:
                    column, since = ("ts", self._since[0]) if name == "touches" else (
                        "week", self._since[1])  # fmt: skip
                    full = full.filter(full[column] > since)  # recent row groups only
                rows = full.semi_join(self._ids, "account_id")
                self._tables[name] = self.temp(f"scoped_{name}", rows)
        return self._tables[name]

    # -- recording ------------------------------------------------------------------------
    def temp(self, prefix: str, t: ir.Table, *, native: bool = False) -> ir.Table:
        if not self.recording:
            return super().temp(prefix, t, native=native)
        # (an incremental refresh keeps its steps in the engine's own tables: `hold_rows`)
        return self._record(Step(self._step_name(prefix), t.schema(), query=t))

    def stage(self, data: ArrowData | ir.Table, *, prefix: str = "stage") -> ir.Table:
        if not self.recording:
            return super().stage(data, prefix=prefix)
        if not isinstance(data, pa.Table):
            raise AbmError(f"a prepared refresh can only keep fixed rows ({prefix})")
        return self.derived(prefix, ibis.Schema.from_pyarrow(data.schema), lambda: data)

    def derived(self, prefix: str, schema: ibis.Schema,
                produce: Callable[[], pa.Table]) -> ir.Table:  # fmt: skip
        if not self.recording:
            return super().derived(prefix, schema, produce)
        return self._record(Step(self._step_name(prefix), schema, produce=produce))

    def arrow(self, t: ir.Table) -> pa.Table:
        self._reading()
        return super().arrow(t)

    def scalar(self, t: ir.Scalar) -> object:
        self._reading()
        return super().scalar(t)

    def _reading(self) -> None:
        if self.recording:  # a step's rows would be read before any step ran
            raise AbmError("a prepared refresh read data while its statements were being built")

    def _record(self, step: Step) -> ir.Table:
        self.steps.append(step)
        return self._bound(step.name, step.schema)

    def _step_name(self, prefix: str) -> str:
        return f"_abmp_{prefix}_{len(self.steps) + 1}"


@dataclass
class Step:
    """One temporary table of a prepared refresh: rows computed by the engine (`query`) or
    made in Python (`produce`)."""

    name: str
    schema: ibis.Schema
    query: ir.Table | None = None
    produce: Callable[[], pa.Table] | None = None


@dataclass
class Prepared:
    """The scores of an incremental refresh as built once: its steps and the two results
    (scores, reasons), expressions over the steps' tables."""

    steps: list[Step]
    scored: ir.Table
    reasons: ir.Table
    built: dict = field(default_factory=dict)  # the rest of its expressions (a `Reuse` store)

    def run(self, wh: Warehouse) -> None:
        """Fill every step's table afresh, in order (dropped with the refresh's others)."""
        for step in self.steps:
            rows = step.query if step.query is not None else step.produce()  # type: ignore[misc]
            wh.fill(step.name, step.schema, rows)


def memoized(wh: Warehouse, key: str, build: Callable[[], ir.Table]) -> ir.Table:
    """`build()` computed once per refresh when `wh` is a refresh's view (else as it is)."""
    if not isinstance(wh, ScopedWarehouse):
        return build()
    if key not in wh.memo:
        wh.memo[key] = wh.temp(key, build())
    return wh.memo[key]
