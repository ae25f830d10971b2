"""`abm score`: compute every account's scores as of the latest data and store what changed.

One refresh: fit (with reasons) → intent (third- and first-party, momentum) → engagement
(minutes, breadth) → opportunity status → stages and sales-ready → priority (with the
contribution of fit, intent and engagement) → tiers (capacities, hysteresis). Scores are as of
the latest event in the warehouse, not the wall clock, so re-running with no new data computes
the same numbers — and since rows are upserted, changes nothing. Stage and tier movements are
appended to `score_history` and `tier_changes`, each tier change with its reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
import pyarrow as pa

from abmkit.config.settings import Settings
from abmkit.score.clusters import cluster_accounts
from abmkit.score.committee import committee_reasons
from abmkit.score.fit import fit_scores
from abmkit.score.propensity import expected_acv, predict
from abmkit.score.signals import engagement, first_party_intent, naive, third_party_intent
from abmkit.score.stages import buying_stage, journey_stage, opportunity_status, sales_ready
from abmkit.score.tiers import (
    TierCut,
    assign_tiers,
    change_reason,
    combined_intent,
    eligibility,
    priority_parts,
)
from abmkit.store.models import ModelVersion
from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.merge import MergeCounts, apply_upsert, plan_upsert
from abmkit.warehouse.schemas import ACCOUNT_SCORES

HISTORY_KEYS = ["fit_bucket", "buying_stage", "journey_stage", "tier"]
ZERO = {"intent_3p": 0.0, "intent_1p": 0.0, "topics_surging": 0, "key_page_visits": 0,
        "engagement": 0.0, "engagement_minutes": 0.0, "engaged_contacts": 0,
        "engaged_personas": 0, "open_opportunities": 0}  # fmt: skip


@dataclass
class RefreshResult:
    as_of: dt.datetime | None
    accounts: int = 0
    changed: MergeCounts = field(default_factory=MergeCounts)
    tier_changes: int = 0
    history_rows: int = 0
    tiers: list[TierCut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def latest_data_time(wh: Warehouse) -> dt.datetime | None:
    """The moment of the latest signal: the last touch, or the end of the last intent week."""
    touches = wh.table("touches").ts.max().execute()
    week = wh.table("intent").week.max().execute()
    candidates = []
    if touches is not None and str(touches) != "NaT":
        candidates.append(naive(touches))
    if week is not None and str(week) != "NaT":
        day = week if isinstance(week, dt.date) else week.date()
        candidates.append(dt.datetime.combine(day, dt.time()) + dt.timedelta(days=7))
    return max(candidates) if candidates else None


def score_table(wh: Warehouse, settings: Settings, as_of: dt.datetime,
                model: ModelVersion | None = None) -> tuple[ir.Table, ir.Table]:  # fmt: skip
    """Every account with every score (tier not yet assigned), and the reasons (long form).
    With an active propensity model, priority is its expected value: propensity × the account's
    expected ACV; without one, the weighted mean of fit, intent and engagement."""
    fit, fit_reasons = fit_scores(wh, settings)
    previous = wh.table("account_scores").select("account_id", "tier")
    eng, _ = engagement(wh, settings, as_of, tiers=previous)
    parts = [fit, third_party_intent(wh, settings, as_of),
             first_party_intent(wh, settings, as_of), eng,
             opportunity_status(wh, settings, as_of)]  # fmt: skip
    t = wh.table("accounts").select("account_id", "account_type")
    for part in parts:
        t = t.left_join(part, "account_id").drop("account_id_right")
    t = t.mutate(**{c: t[c].fill_null(v) for c, v in ZERO.items()},
                 late_stage_open=t.late_stage_open.fill_null(False),
                 won_before=t.won_before.fill_null(False))  # fmt: skip
    t = t.mutate(intent=combined_intent(t.intent_3p, t.intent_1p))
    if model is not None:
        scored = predict(wh, settings, model, as_of)
        t = t.left_join(scored, "account_id").drop("account_id_right")
        t = t.left_join(expected_acv(wh), "account_id").drop("account_id_right")
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
    t = t.mutate(priority=priority.round(2), _value=value,
                 **{f"_c_{k}": v for k, v in contrib.items()})  # fmt: skip
    eligible, why_not = eligibility(t, settings)
    t = t.mutate(eligible=eligible, why_not=why_not)
    reasons = [fit_reasons, _intent_reasons(t), _engagement_reasons(t, settings),
               *_priority_reasons(t, settings, model),
               committee_reasons(wh, settings, as_of)]  # fmt: skip
    return t, ibis.union(*reasons)


def _intent_reasons(t: ir.Table) -> ir.Table:
    third = ibis.cases(
        (t.topics_surging > 0, t.topics_surging.cast(idt.string) + " relevant topics surging: "
         + t.top_topics),
        else_=ibis.literal("no relevant topic surging"),
    )  # fmt: skip
    first = ibis.cases(
        (t.key_page_visits > 0, t.key_page_visits.cast(idt.string) + " key-page visits lately"),
        (t.intent_1p > 0, ibis.literal("web visits, none to key pages")),
        else_=ibis.literal("no recent web visits"),
    )
    adds = t.intent_1p * (1.0 - t.intent_3p / 100.0)
    return ibis.union(
        t.select("account_id", score=ibis.literal("intent"), factor=ibis.literal("third_party"),
                 points=t.intent_3p.round(1), reason=third),
        t.select("account_id", score=ibis.literal("intent"), factor=ibis.literal("first_party"),
                 points=adds.round(1), reason=first),
    )  # fmt: skip


def _engagement_reasons(t: ir.Table, settings: Settings) -> ir.Table:
    days = settings.engagement.window_days
    words = ibis.cases(
        (t.engagement_minutes > 0,
         t.engagement_minutes.round(0).cast(idt.int64).cast(idt.string) + " minutes in "
         + f"{days} days from " + t.engaged_contacts.cast(idt.string) + " known people ("
         + t.engaged_personas.cast(idt.string) + " personas) and anonymous visits"),
        else_=ibis.literal(f"no engagement in {days} days"),
    )  # fmt: skip
    return t.select("account_id", score=ibis.literal("engagement"),
                    factor=ibis.literal("minutes"), points=t.engagement.round(1),
                    reason=words)  # fmt: skip


def _priority_reasons(t: ir.Table, settings: Settings,
                      model: ModelVersion | None) -> list[ir.Table]:  # fmt: skip
    w = settings.weights
    words = {"fit": w.fit, "intent": w.intent, "engagement": w.engagement}
    parts = []
    for name, weight in words.items():
        text = (ibis.literal(f"{name} ") + t[name].round(0).cast(idt.int64).cast(idt.string)
                + f" × weight {weight:g}")  # fmt: skip
        if model is not None:
            text = text + " (context: the model weighs every signal itself)"
        parts.append(t.select("account_id", score=ibis.literal("priority"),
                              factor=ibis.literal(name), points=t[f"_c_{name}"].round(1),
                              reason=text))  # fmt: skip
    if model is not None:
        pct = (t.propensity * 100).round(1).cast(idt.string)
        acv = t.expected_acv.round(0).cast(idt.int64).cast(idt.string)
        text = ibis.cases(
            (t.propensity.isnull(), ibis.literal("no propensity: an opportunity is already open")),
            else_="propensity " + pct + f"% (model {model.version}) × expected ACV $" + acv
            + " (" + t.acv_basis + ")",
        )  # fmt: skip
        parts.append(t.select("account_id", score=ibis.literal("priority"),
                              factor=ibis.literal("expected_value"),
                              points=t._value.fill_null(0.0).round(1), reason=text))  # fmt: skip
    return parts


def refresh(wh: Warehouse, settings: Settings, as_of: dt.datetime | None = None,
            model: ModelVersion | None = None) -> RefreshResult:  # fmt: skip
    """Score every account as of `as_of` (default: the latest data) and store what changed;
    `model` is the active propensity model (None: priority without one)."""
    as_of = as_of or latest_data_time(wh)
    result = RefreshResult(as_of)
    if as_of is None:
        result.notes.append("no touches or intent loaded yet: only fit is scored")
        as_of = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        result.as_of = as_of
    scored, reasons = score_table(wh, settings, as_of, model)
    if model is None:
        result.notes.append("no propensity model is active: priority blends fit, intent and "
                            "engagement (train one with `abm model train`)")  # fmt: skip
    scored = wh.con.create_table(ibis.util.gen_name("scored"), scored, temp=True)
    previous = wh.table("account_scores")
    tiers, cuts = assign_tiers(wh, scored, previous.select("account_id", "tier"), settings)
    result.tiers = cuts
    final = scored.left_join(tiers, "account_id").drop("account_id_right")
    final = final.left_join(_tier2_clusters(wh, final, settings), "account_id").drop(
        "account_id_right")  # fmt: skip
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    stamped = final.mutate(as_of=ibis.literal(as_of, idt.timestamp),
                           scored_at=ibis.literal(now, idt.timestamp))  # fmt: skip
    final = wh.con.create_table(ibis.util.gen_name("final"), stamped, temp=True)
    compare = [c for c in ACCOUNT_SCORES.names if c not in ("account_id", "scored_at", "as_of")]
    # Floats rounded, so that sums taken in a different order (parallel aggregation) do not
    # count as changes when nothing changed.
    rows = final.select(*[final[c].round(4).name(c) if ACCOUNT_SCORES[c].is_floating() else final[c]
                          for c in ACCOUNT_SCORES.names])  # fmt: skip
    plan = plan_upsert(wh, "account_scores", rows, "account_id", compare)
    keyed = reasons.mutate(reason_id=reasons.account_id + "|" + reasons.score + "|"
                           + reasons.factor)  # fmt: skip
    keyed = wh.con.create_table(ibis.util.gen_name("reasons"), keyed, temp=True)
    reason_plan = plan_upsert(wh, "score_reasons", keyed, "reason_id",
                              ["account_id", "score", "factor", "points", "reason"])  # fmt: skip
    changes = _tier_changes(final, previous, cuts, settings, as_of, now)
    history = _history_rows(wh, final, now)
    gone_scores = previous.anti_join(final, "account_id").select("account_id")
    gone_reasons = wh.table("score_reasons").anti_join(keyed, "reason_id").select("reason_id")
    gone = [ibis.util.gen_name("gone") for _ in range(2)]
    for name, ids in zip(gone, (gone_scores, gone_reasons), strict=True):
        wh.con.create_table(name, ids, temp=True)
    with wh.transaction():
        apply_upsert(wh, plan)
        apply_upsert(wh, reason_plan)
        _delete_missing(wh, "account_scores", "account_id", gone[0])
        _delete_missing(wh, "score_reasons", "reason_id", gone[1])
        if changes.num_rows:
            wh.con.insert("tier_changes", wh.stage(changes, prefix="tiers"))
        history_rows = int(history.count().execute())
        if history_rows:
            wh.con.insert("score_history", history)
    result.accounts = int(final.count().execute())
    result.changed = plan.counts.get(None, MergeCounts())
    result.tier_changes = changes.num_rows
    result.history_rows = history_rows
    return result


def _tier2_clusters(wh: Warehouse, final: ir.Table, settings: Settings) -> ir.Table:
    """(account_id, cluster, cluster_label) of the Tier 2 accounts."""
    acc = wh.table("accounts").select("account_id", "industry", "employees", "country",
                                      "technologies")  # fmt: skip
    members = final.filter(final.tier == 2).select("account_id", "top_topics").join(
        acc, "account_id")  # fmt: skip
    return wh.stage(cluster_accounts(members.to_pandas(), settings), prefix="clusters")


def _delete_missing(wh: Warehouse, table: str, key: str, gone: str) -> None:
    """Delete the rows of `table` whose key is in the temporary table named `gone`."""
    if wh.count(gone):
        wh.execute_sql(f'DELETE FROM "{table}" WHERE "{key}" IN (SELECT "{key}" FROM "{gone}")',
                       table=table)  # fmt: skip


def _tier_changes(final: ir.Table, previous: ir.Table, cuts: list[TierCut], settings: Settings,
                  as_of: dt.datetime, now: dt.datetime) -> pa.Table:  # fmt: skip
    prev = previous.select(_pid="account_id", from_tier="tier")
    t = final.left_join(prev, final.account_id == prev._pid).drop("_pid")
    moved = t.filter(~t.tier.identical_to(t.from_tier))
    rows = moved.select("account_id", "from_tier", "priority", "tier_rank", "eligible",
                        "why_not", to_tier=moved.tier).to_pyarrow().to_pylist()  # fmt: skip
    by_tier = {c.tier: c for c in cuts}
    return pa.table({
        "account_id": pa.array([r["account_id"] for r in rows], pa.string()),
        "as_of": pa.array([as_of] * len(rows), pa.timestamp("us")),
        "from_tier": pa.array([r["from_tier"] for r in rows], pa.int64()),
        "to_tier": pa.array([r["to_tier"] for r in rows], pa.int64()),
        "reason": pa.array([change_reason(r, by_tier, settings) for r in rows], pa.string()),
        "recorded_at": pa.array([now] * len(rows), pa.timestamp("us")),
    })  # fmt: skip


def _history_rows(wh: Warehouse, final: ir.Table, now: dt.datetime) -> ir.Table:
    """Rows for accounts whose bucket, stages or tier differ from their last history row."""
    h = wh.table("score_history")
    last = h.mutate(_n=ibis.row_number().over(group_by="account_id",
                                              order_by=ibis.desc("recorded_at")))  # fmt: skip
    previous = {f"_h_{k}": last[k] for k in HISTORY_KEYS}
    last = last.filter(last._n == 0).select(_hid="account_id", **previous)
    t = final.left_join(last, final.account_id == last._hid)
    differs = ibis.or_(*[~t[k].identical_to(t[f"_h_{k}"]) for k in HISTORY_KEYS])
    changed = t.filter(t._hid.isnull() | differs)
    rows = changed.select("account_id", "as_of", *HISTORY_KEYS, "priority",
                          recorded_at=ibis.literal(now, idt.timestamp))  # fmt: skip
    return wh.con.create_table(ibis.util.gen_name("history"), rows, temp=True)
