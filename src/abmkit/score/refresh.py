"""`abm score`: compute every account's scores as of the latest data and store what changed.

One refresh: fit (with reasons) → intent (third- and first-party, momentum) → engagement
(minutes, breadth) → opportunity status → stages and sales-ready → priority (with the
contribution of fit, intent and engagement) → tiers (capacities, hysteresis). Scores are as of
the latest event in the warehouse, not the wall clock, so re-running with no new data computes
the same numbers — and since rows are upserted, changes nothing. Stage and tier movements are
appended to `score_history` and `tier_changes`, each tier change with its reason. The reasons
of fit, the committee and the lookalike are written to `stored_reasons`; the view
`score_reasons`, defined again by each full refresh, adds those read from the scores
(`abmkit.score.reasons`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
import pyarrow as pa

from abmkit.config.settings import Settings
from abmkit.errors import AbmError
from abmkit.score.clusters import cluster_accounts
from abmkit.score.committee import committee_reasons
from abmkit.score.features import reach_days
from abmkit.score.fit import REASON_COLUMNS, fit_scores
from abmkit.score.incremental import (
    Prepared,
    ScopedWarehouse,
    last_run,
    merged_since,
    naive,
    profile_changes,
    settings_fingerprint,
    touched_accounts,
    unseen_loads,
)
from abmkit.score.lookalike import Lookalike, lookalike_frame, lookalike_reads, train_lookalike
from abmkit.score.propensity import expected_acv, predict
from abmkit.score.reasons import STORED, define_view
from abmkit.score.signals import (
    Moment,
    day_of,
    days_earlier,
    engagement,
    first_party_intent,
    third_party_intent,
)
from abmkit.score.stages import buying_stage, journey_stage, opportunity_status, sales_ready
from abmkit.score.tiers import (
    TierCut,
    assign_tiers,
    change_reasons,
    combined_intent,
    eligibility,
    priority_parts,
)
from abmkit.store.models import ModelVersion
from abmkit.warehouse.engine import Reuse, Warehouse
from abmkit.warehouse.merge import MergeCounts, apply_upsert, plan_upsert
from abmkit.warehouse.schemas import ACCOUNT_SCORES, SCORE_RUNS

HISTORY_KEYS = ["fit_bucket", "buying_stage", "journey_stage", "tier"]
CORE = [c for c in ACCOUNT_SCORES.names
        if c not in ("as_of", "tier", "cluster", "cluster_label", "scored_at")]  # fmt: skip
"""The stored columns a refresh computes before tiers and clusters are assigned."""
ZERO = {"intent_3p": 0.0, "intent_1p": 0.0, "topics_surging": 0, "key_page_visits": 0,
        "engagement": 0.0, "engagement_minutes": 0.0, "anonymous_minutes": 0.0,
        "engaged_contacts": 0, "engaged_personas": 0, "open_opportunities": 0}  # fmt: skip


@dataclass
class RefreshResult:
    as_of: dt.datetime | None
    mode: str = "full"  # or "incremental", or "as-of" (a chosen moment)
    accounts: int = 0
    rescored: int = 0  # accounts whose scores were computed afresh (the rest kept theirs)
    changed: MergeCounts = field(default_factory=MergeCounts)
    tier_changes: int = 0
    history_rows: int = 0
    tiers: list[TierCut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def latest_data_time(wh: Warehouse) -> dt.datetime | None:
    """The moment of the latest signal: the last touch, or the end of the last intent week."""
    touches = wh.scalar(wh.table("touches").ts.max())
    week = wh.scalar(wh.table("intent").week.max())
    candidates = []
    if touches is not None and str(touches) != "NaT":
        candidates.append(naive(touches))
    if week is not None and str(week) != "NaT":
        day = week if isinstance(week, dt.date) else week.date()
        candidates.append(dt.datetime.combine(day, dt.time()) + dt.timedelta(days=7))
    return max(candidates) if candidates else None


def score_table(wh: Warehouse, settings: Settings, as_of: Moment,
                model: ModelVersion | None = None,
                lookalike: Lookalike | Callable[[], Lookalike] | None = None,
                scan_at: Moment | None = None,
                ) -> tuple[ir.Table, ir.Table]:  # fmt: skip
    """Every account of `wh` (the warehouse, or a `ScopedWarehouse` of some accounts) with
    every score (tier not yet assigned), and the reasons to write (long form: those of fit, the
    buying committee and the lookalike; the others are read from the scores). With an active
    propensity model, priority is its expected value: propensity × the account's expected ACV;
    without one, the weighted mean of fit, intent and engagement. The lookalike score comes
    from `lookalike` (a model trained on every account, or what waits for one being trained:
    it is asked for once every other score is queued); without it, each account keeps the one
    it has. `scan_at` is the same moment as `as_of`, for the statements that scan the touches
    and intent (a literal there lets the engine skip old rows; the default is `as_of`)."""
    scan_at = as_of if scan_at is None else scan_at
    if not isinstance(wh, ScopedWarehouse):  # every account; each shared input computed once
        wh = ScopedWarehouse(wh)
    full = wh.base
    fit, fit_reasons = fit_scores(wh, settings)
    previous = wh.table("account_scores").select("account_id", "tier")
    if lookalike is None:
        stored = wh.table("account_scores").select("account_id", "lookalike")
        fit = fit.left_join(stored, "account_id").drop("account_id_right")
    eng, _ = engagement(wh, settings, scan_at, tiers=previous)
    parts = [fit, third_party_intent(wh, settings, scan_at),
             first_party_intent(wh, settings, scan_at), eng,
             opportunity_status(wh, settings, as_of)]  # fmt: skip
    t = wh.table("accounts").select("account_id", "account_type")
    for part in parts:  # each computed on its own: small queries compile and plan fast
        t = t.left_join(wh.temp("part", part), "account_id").drop("account_id_right")
    t = t.mutate(**{c: t[c].fill_null(v) for c, v in ZERO.items()},
                 late_stage_open=t.late_stage_open.fill_null(False),
                 won_before=t.won_before.fill_null(False),
                 won_later=t.won_later.fill_null(False))  # fmt: skip
    t = t.mutate(intent=combined_intent(t.intent_3p, t.intent_1p))
    if model is not None:
        scored = predict(wh, settings, model, scan_at)
        t = t.left_join(scored, "account_id").drop("account_id_right")
        # learned from every account's won deals, not only the ones being scored
        t = t.left_join(expected_acv(full), "account_id").drop("account_id_right")
        t = t.mutate(model_version=ibis.literal(model.version))
    else:
        nothing = {"propensity": idt.float64, "model_version": idt.string,
                   "expected_acv": idt.float64, "acv_basis": idt.string}  # fmt: skip
        t = t.mutate(**{c: ibis.null(kind) for c, kind in nothing.items()})
    t = t.mutate(buying_stage=buying_stage(t, settings), journey_stage=journey_stage(t, settings))
    t = t.mutate(sales_ready=sales_ready(t))
    contrib = priority_parts(t.fit, t.intent, t.engagement, settings)
    blend = contrib["fit"] + contrib["intent"] + contrib["engagement"]
    value = t.propensity * t.expected_acv
    priority = value.fill_null(0.0) if model is not None else blend
    t = t.mutate(priority=priority.round(2))
    eligible, why_not = eligibility(t, settings)
    t = wh.temp("scored", t.mutate(eligible=eligible, why_not=why_not))
    model_of = lookalike() if callable(lookalike) else lookalike
    if model_of is not None and model_of.scores is not None:
        t = t.left_join(wh.stage(model_of.scores, prefix="lookalike"), "account_id").drop(
            "account_id_right")  # fmt: skip
    elif model_of is not None:
        t = t.mutate(lookalike=ibis.null(idt.float64))
    # the reasons to write; those of intent, engagement and priority are read from the stored
    # scores (`abmkit.score.reasons`)
    reasons = [fit_reasons, committee_reasons(wh, settings, scan_at)]
    if model_of is not None and model_of.reasons is not None:
        reasons.append(wh.stage(model_of.reasons, prefix="lookalike_reasons"))
    elif model_of is None:  # the stored ones stand, as the score does
        stored_reasons = wh.table(STORED).filter(ibis._.score == "lookalike")
        reasons.append(stored_reasons.semi_join(t, "account_id").select(*REASON_COLUMNS))
    return t, ibis.union(*reasons)


def refresh(wh: Warehouse, settings: Settings, as_of: dt.datetime | None = None,
            model: ModelVersion | None = None, *, incremental: bool = False,
            identity_changed_at: dt.datetime | None = None) -> RefreshResult:  # fmt: skip
    """Score every account as of `as_of` (default: the latest data) and store what changed;
    `model` is the active propensity model (None: priority without one).

    `incremental`: re-score only the accounts touched by data loaded since the last refresh
    (see `abmkit.score.incremental`); `identity_changed_at` is when identity resolution last
    moved rows between accounts (a full refresh is needed after it)."""
    # the refresh's working tables go when it ends; Python builds each statement while the
    # engine runs the one before; statements whose text does not change from one refresh to the
    # next are kept compiled for the next process
    with wh.temporary(), wh.pipelined(), wh.keeping_statements():
        return _refresh(wh, settings, as_of, model, incremental, identity_changed_at)


def _refresh(wh: Warehouse, settings: Settings, as_of: dt.datetime | None,
             model: ModelVersion | None, incremental: bool,
             identity_changed_at: dt.datetime | None) -> RefreshResult:  # fmt: skip
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    fingerprint = settings_fingerprint(settings)
    unseen = unseen_loads(wh)  # what this refresh takes into account, read before scoring
    version = model.version if model is not None else None
    scope = None
    result = RefreshResult(as_of or latest_data_time(wh), mode="as-of" if as_of else "full")
    if incremental:
        if as_of is not None:
            raise AbmError("an incremental refresh scores as of the latest data: leave out as_of")
        previous_run = last_run(wh)
        why = _full_needed(wh, previous_run, unseen, fingerprint, version, identity_changed_at)
        if why:
            result.notes.append(f"full refresh instead of incremental: {why}")
        else:
            wh.hold_rows(False)  # a few accounts' rows: the engine's own tables (`hold_rows`)
            scope = touched_accounts(wh, unseen)
            result.mode = "incremental"
            result.rescored = int(wh.scalar(scope.count()))
            if not result.rescored:
                result.notes.append("nothing loaded since the last refresh touches an account")
                result.accounts = wh.count("account_scores")
                result.changed = MergeCounts(unchanged=result.accounts)
                result.tiers = _stored_cuts(wh, settings)
                with wh.transaction():
                    _record_run(wh, result, fingerprint, version, started, unseen)
                return result
    if result.as_of is None:
        result.notes.append("no touches or intent loaded yet: only fit is scored")
        result.as_of = _now()
    as_of, now = result.as_of, _now()
    # The moment and the time stamp come from a one-row table, not literals, so that the text
    # of the statements stays the same from one refresh to the next: an incremental refresh
    # builds and compiles them once per process, and any refresh reads from the workspace those
    # an earlier process compiled (`Warehouse.keeping_statements`). Except where a full refresh
    # scans the touches and intent (`scan_at`): there the engine filters millions of rows by a
    # constant, skipping whole row groups of older rows, and not by a value it reads.
    moments = {"as_of": pa.array([as_of], pa.timestamp("us")),
               "now": pa.array([now], pa.timestamp("us"))}  # fmt: skip
    clock = wh.stage(pa.table(moments), prefix="clock")
    at, stamp = clock.as_of.max().as_scalar(), clock.now.max().as_scalar()
    scan_at = at if scope is not None else ibis.literal(as_of, idt.timestamp)
    if scope is None:
        # The lookalike model learns from every account: trained on full refreshes only, in a
        # thread of its own while the engine computes the other scores.
        rows = [wh.arrow_later(t) for t in lookalike_reads(wh)]  # (read before the scores)

        def learn() -> Lookalike:
            return train_lookalike(lookalike_frame(*[r.result() for r in rows]), settings)

        with ThreadPoolExecutor(1, thread_name_prefix="lookalike") as pool:
            training = pool.submit(learn)
            scored, reasons = score_table(wh, settings, at, model, lookalike=training.result,
                                          scan_at=scan_at)  # fmt: skip
        # computed now, while Python places tiers and clusters: only written in the transaction
        reasons = wh.temp("reasons", reasons, native=True)
        note = training.result().note
        if note:
            result.notes.append(note)
        built = Reuse()  # a full refresh builds everything afresh
    else:
        prepared = _prepared_scores(wh, settings, clock, model, scope, fingerprint)
        scored, reasons, built = prepared.scored, prepared.reasons, Reuse(prepared.built)
    if model is None:
        result.notes.append("no propensity model is active: priority blends fit, intent and "
                            "engagement (train one with `abm model train`)")  # fmt: skip
    fresh = wh.temp("fresh", built("fresh", lambda: _core(scored.mutate(as_of=at))))
    previous = wh.table("account_scores")
    kept = standing = None
    if scope is not None:  # everyone else keeps their scores, and competes for tiers with them
        # (no account was removed since the last refresh: a merge or a load of accounts makes
        # the refresh a full one)
        kept = built("kept", lambda: previous.anti_join(scope, "account_id"))
        standing = wh.temp("standing", built("standing", lambda: _standing(kept, settings)))
    ranking = built("ranking", lambda: _ranking(fresh, standing))
    seats, cuts = assign_tiers(wh, ranking, previous.select("account_id", "tier"), settings,
                               built)  # fmt: skip
    tiers = wh.temp("tiers", seats)  # only the accounts with a seat
    result.tiers = cuts
    result.accounts = int(wh.scalar(built("accounts", lambda: ranking.count())))
    if scope is None:
        result.rescored = result.accounts
    clusters = _tier2_clusters(wh, tiers, fresh, kept, scope, settings, built)
    final = wh.temp("final", built("final", lambda: _final(fresh, kept, standing, tiers,
                                                           clusters, stamp, settings)))  # fmt: skip
    compare = [c for c in ACCOUNT_SCORES.names if c not in ("account_id", "scored_at", "as_of")]
    rows = built("stored", lambda: final.select(*ACCOUNT_SCORES.names))
    plan = plan_upsert(wh, "account_scores", rows, "account_id", compare, built=built)
    changes = _tier_changes(wh, final, previous, cuts, now, built)
    history = _history_rows(wh, final, stamp, built)
    # An account's reasons are replaced as a whole, and only where one of them moved: a
    # comparison per account instead of a key per reason.
    replaced = scope
    first = scope is None and not wh.count(STORED)
    if scope is None and not first:
        replaced = wh.temp("replaced", _moved_reasons(reasons, wh.table(STORED)))
        gone_scores = previous.anti_join(wh.table("accounts"), "account_id").select("account_id")
        gone = wh.temp("gone", gone_scores)
    with wh.transaction():
        apply_upsert(wh, plan)
        if first:  # nothing stored to compare with (a new workspace): straight in
            wh.insert(STORED, reasons.select(*REASON_COLUMNS))
        else:
            if scope is None:
                _delete_missing(wh, "account_scores", "account_id", gone)
            # (an incremental refresh removes no account: a merge or a load of accounts makes
            # the refresh a full one)
            _delete_missing(wh, STORED, "account_id", replaced)
            rows = reasons if scope is not None else reasons.semi_join(replaced, "account_id")
            wh.insert(STORED, built("reason rows", lambda: rows.select(*REASON_COLUMNS)))
        if scope is None:  # the settings' words for the reasons read from the scores
            define_view(wh, settings)
        if changes.num_rows:
            wh.insert("tier_changes", wh.stage(changes, prefix="changes"))
        history_rows = int(wh.scalar(built("history count", lambda: history.count())))
        if history_rows:
            wh.insert("score_history", history)
        result.changed = plan.counts.get(None, MergeCounts())
        result.tier_changes = changes.num_rows
        result.history_rows = history_rows
        _record_run(wh, result, fingerprint, version, started, unseen)
    return result


def _prepared_scores(wh: Warehouse, settings: Settings, clock: ir.Table,
                     model: ModelVersion | None, scope: ir.Table,
                     fingerprint: str) -> Prepared:  # fmt: skip
    """`score_table` over the accounts of `scope`, built once per connection, settings and
    model and then only run: one account's new touch should not pay for building and compiling
    some fifty statements again. The key holds everything the statements depend on besides the
    rows: the scoring settings and code, the model, and the names of the tables of the scope and
    the moment (the same from one refresh to the next: `Warehouse.temp` names by order, and by
    how deep in `temporary` blocks the refresh runs)."""
    version = model.version if model is not None else None
    key = ("incremental", fingerprint, version, scope.op().name, clock.op().name, wh._depth)
    prepared = wh.prepared.get(key)
    if not isinstance(prepared, Prepared):
        at = clock.as_of.max().as_scalar()
        touch_days, week_days = reach_days(settings, model is not None)
        since = (days_earlier(at, touch_days), day_of(at, week_days))
        view = ScopedWarehouse(wh, scope, since=since, record=True)
        scored, reasons = score_table(view, settings, at, model)
        view.recording = False  # its steps' Python parts read rows when they run
        if len(wh.prepared) >= 8:  # settings changed often in one process: keep the latest
            wh.prepared.clear()
        prepared = wh.prepared[key] = Prepared(view.steps, scored, reasons)
    prepared.run(wh)
    return prepared


def _stored_cuts(wh: Warehouse, settings: Settings) -> list[TierCut]:
    """Each tier's cut as the stored scores hold it (a refresh that re-scored no one)."""
    s = wh.table("account_scores")
    s = s.filter(s.tier.notnull())
    rows = wh.arrow(s.group_by("tier").agg(n=s.count(), low=s.priority.min())).to_pylist()
    got = {r["tier"]: r for r in rows}
    cfg = settings.tiers
    capacities = (cfg.tier1_capacity, cfg.tier2_capacity, cfg.tier3_capacity)
    return [TierCut(tier, capacity, int(got.get(tier, {}).get("n", 0)),
                    got.get(tier, {}).get("low"))
            for tier, capacity in enumerate(capacities, start=1)]  # fmt: skip


def _standing(kept: ir.Table, settings: Settings) -> ir.Table:
    """What tiers need of the accounts an incremental refresh does not re-score."""
    eligible, _ = eligibility(kept, settings)
    return kept.select("account_id", "priority", "tier", "cluster", "cluster_label",
                       eligible=eligible)  # fmt: skip


def _ranking(fresh: ir.Table, standing: ir.Table | None) -> ir.Table:
    """(account_id, priority, eligible) of every account, re-scored or not."""
    ranking = fresh.select("account_id", "priority", "eligible")
    if standing is None:
        return ranking
    return ibis.union(ranking, standing.select("account_id", "priority", "eligible"))


def _final(fresh: ir.Table, kept: ir.Table | None, standing: ir.Table | None,
           tiers: ir.Table, clusters: ir.Table, stamp: ir.TimestampScalar,
           settings: Settings) -> ir.Table:  # fmt: skip
    """The rows to store: every re-scored account, and of the others those whose tier or
    cluster moved, with their tier, cluster and time stamp."""

    def placed(rows: ir.Table) -> ir.Table:
        t = rows.left_join(tiers, "account_id").drop("account_id_right")
        t = t.left_join(clusters, "account_id").drop("account_id_right")
        return t.mutate(scored_at=stamp)

    final = placed(_core(fresh))  # typed as stored again, to stack with the rows that moved
    if kept is None or standing is None:
        return final
    now_at = placed(standing.select("account_id", _t="tier", _c="cluster", _l="cluster_label"))
    moved = now_at.filter(~now_at.tier.identical_to(now_at._t)
                          | ~now_at.cluster.identical_to(now_at._c)
                          | ~now_at.cluster_label.identical_to(now_at._l))  # fmt: skip
    rows = kept.semi_join(moved.select("account_id"), "account_id")
    eligible, why_not = eligibility(rows, settings)
    return ibis.union(final, placed(_core(rows.mutate(eligible=eligible, why_not=why_not))))


def _core(t: ir.Table) -> ir.Table:
    """The columns scored before tiers, typed as stored, with eligibility and its reason.
    Floats are rounded to 4 decimals, so that sums taken in a different order (parallel
    aggregation) do not count as changes when nothing changed."""

    def stored(c: str) -> ir.Value:
        kind = ACCOUNT_SCORES[c]
        value = t[c].cast(kind)
        return (value.round(4) if kind.is_floating() else value).name(c)

    return t.select(*[stored(c) for c in (*CORE, "as_of")], "eligible", "why_not")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _full_needed(wh: Warehouse, previous: dict | None, unseen: ir.Table, fingerprint: str,
                 version: str | None,
                 identity_changed_at: dt.datetime | None) -> str | None:  # fmt: skip
    """Why an incremental refresh cannot be exact now (None: it can)."""
    if previous is None:
        return "no earlier refresh to start from"
    if previous["mode"] == "as-of":
        return "the last refresh was scored as of a chosen moment"
    if previous["settings_hash"] != fingerprint:
        return ("the scoring settings or the scoring code changed since the last refresh (they "
                "apply to everyone)")  # fmt: skip
    if previous["model_version"] != version:
        return "the active propensity model changed since the last refresh"
    profile = profile_changes(wh, unseen)
    if profile:
        return (
            f"{', '.join(profile)} were loaded since the last refresh (they feed what is "
            "learned from every account, and rows may have moved between accounts)"
        )
    moved = identity_changed_at is not None and identity_changed_at >= previous["started_at"]
    if moved or merged_since(wh, previous["started_at"]):
        return "identity resolution moved rows between accounts since the last refresh"
    return None


def _record_run(wh: Warehouse, r: RefreshResult, fingerprint: str, version: str | None,
                started: dt.datetime, unseen: ir.Table) -> None:  # fmt: skip
    """The run's row in `score_runs`, and the loads it took into account in `score_loads` (call
    inside the refresh's transaction)."""
    run_id = uuid.uuid4().hex
    row = {"run_id": run_id, "mode": r.mode, "as_of": r.as_of,
           "settings_hash": fingerprint, "model_version": version, "accounts": r.accounts,
           "rescored": r.rescored, "inserted": r.changed.inserted, "updated": r.changed.updated,
           "tier_changes": r.tier_changes, "started_at": started, "finished_at": _now(),
           "note": "; ".join(r.notes) or None}  # fmt: skip
    run = wh.stage(pa.Table.from_pylist([row], schema=SCORE_RUNS.to_pyarrow()), prefix="run")
    wh.insert("score_runs", run)
    # the ID joined from the run's row, not a literal: the same statement every time
    wh.insert("score_loads", unseen.select("load_id").cross_join(run.select("run_id")))


def _tier2_clusters(wh: Warehouse, tiers: ir.Table, fresh: ir.Table, kept: ir.Table | None,
                    scope: ir.Table | None, settings: Settings,
                    built: Reuse) -> ir.Table:  # fmt: skip
    """(account_id, cluster, cluster_label) of the Tier 2 accounts, grouped afresh; an
    incremental refresh keeps the stored clusters when Tier 2 has the same members and none of
    the re-scored ones has other topics than stored (grouping the same accounts with the same
    traits again gives the same clusters). Either way a temporary table of the same name and
    columns."""
    members = tiers.filter(tiers.tier == 2).select("account_id")
    stored = wh.table("account_scores")
    if scope is not None:

        def moved() -> ir.Expr:
            before = stored.filter(stored.tier == 2).select("account_id")
            old = stored.select(_sid="account_id", _topics="top_topics")
            new = fresh.join(old, fresh.account_id == old._sid)
            retraited = new.filter(~new.top_topics.identical_to(new._topics)).select("account_id")
            return ibis.union(members.anti_join(before, "account_id"),
                              before.anti_join(members, "account_id"),
                              members.semi_join(retraited, "account_id")).count()  # fmt: skip

        if int(wh.scalar(built("clusters moved", moved))) == 0:
            return wh.temp("clusters", built("clusters kept", lambda: _clustered(
                stored.filter(stored.tier == 2))))  # fmt: skip
    topics = fresh.select("account_id", "top_topics")
    if kept is not None:
        topics = ibis.union(topics, kept.select("account_id", "top_topics"))
    acc = wh.table("accounts").select("account_id", "industry", "employees", "country",
                                      "technologies")  # fmt: skip
    frame = wh.arrow(members.join(topics, "account_id").join(acc, "account_id")).to_pandas()
    grouped = wh.stage(cluster_accounts(frame, settings), prefix="grouped")
    return wh.temp("clusters", _clustered(grouped))


def _clustered(t: ir.Table) -> ir.Table:
    """(account_id, cluster, cluster_label) typed as stored."""
    kinds = ACCOUNT_SCORES
    return t.select("account_id", cluster=t.cluster.cast(kinds["cluster"]),
                    cluster_label=t.cluster_label.cast(kinds["cluster_label"]))  # fmt: skip


def _moved_reasons(fresh: ir.Table, stored: ir.Table) -> ir.Table:
    """(account_id) of every account with a reason new, gone or in other points or words."""
    old = stored.select(_a="account_id", _s="score", _f="factor", _p="points", _r="reason")
    both = fresh.outer_join(old, [fresh.account_id == old._a, fresh.score == old._s,
                                  fresh.factor == old._f])  # fmt: skip
    moved = both.filter(both._a.isnull() | both.account_id.isnull()
                        | ~both.points.identical_to(both._p)
                        | ~both.reason.identical_to(both._r))  # fmt: skip
    return moved.select(account_id=ibis.coalesce(moved.account_id, moved._a)).distinct()


def _delete_missing(wh: Warehouse, table: str, key: str, gone: ir.Table) -> None:
    """Delete the rows of `table` whose key is in the (temporary) table `gone`."""
    if int(wh.scalar(gone.count())):
        ids = wh.compile(gone.select(key))
        wh.execute_sql(f'DELETE FROM "{table}" WHERE "{key}" IN ({ids})', table=table)


def _tier_changes(wh: Warehouse, final: ir.Table, previous: ir.Table, cuts: list[TierCut],
                  now: dt.datetime, built: Reuse) -> pa.Table:  # fmt: skip

    def moved() -> ir.Table:
        prev = previous.select(_pid="account_id", from_tier="tier")
        t = final.left_join(prev, final.account_id == prev._pid).drop("_pid")
        t = t.filter(~t.tier.identical_to(t.from_tier))
        return t.select("account_id", "as_of", "from_tier", "priority", "tier_rank", "eligible",
                        "why_not", to_tier=t.tier)  # fmt: skip

    rows = wh.arrow(built("tier changes", moved))
    return pa.table({
        "account_id": rows["account_id"].cast(pa.string()),
        "as_of": rows["as_of"].cast(pa.timestamp("us")),
        "from_tier": rows["from_tier"].cast(pa.int64()),
        "to_tier": rows["to_tier"].cast(pa.int64()),
        "reason": change_reasons(rows, {c.tier: c for c in cuts}),
        "recorded_at": pa.repeat(pa.scalar(now, pa.timestamp("us")), rows.num_rows),
    })  # fmt: skip


def _history_rows(wh: Warehouse, final: ir.Table, now: ir.TimestampScalar,
                  built: Reuse) -> ir.Table:  # fmt: skip
    """Rows for accounts whose bucket, stages or tier differ from their last history row."""
    return wh.temp("history", built("history", lambda: _history(wh, final, now)))


def _history(wh: Warehouse, final: ir.Table, now: ir.TimestampScalar) -> ir.Table:
    h = wh.table("score_history").semi_join(final.select("account_id"), "account_id")
    last = h.mutate(_n=ibis.row_number().over(group_by="account_id",
                                              order_by=ibis.desc("recorded_at")))  # fmt: skip
    previous = {f"_h_{k}": last[k] for k in HISTORY_KEYS}
    last = last.filter(last._n == 0).select(_hid="account_id", **previous)
    t = final.left_join(last, final.account_id == last._hid)
    differs = ibis.or_(*[~t[k].identical_to(t[f"_h_{k}"]) for k in HISTORY_KEYS])
    changed = t.filter(t._hid.isnull() | differs)
    return changed.select("account_id", "as_of", *HISTORY_KEYS, "priority",
                          recorded_at=now)  # fmt: skip
