"""The paid budget of a workspace split across arms (ad channel × tier) by the bandit of
`decide/budget.py`, from the warehouse's own numbers, on its cadence.

An arm's spend is the cost of its channel's touches on accounts of its tier over the window;
its pipeline is the amount of opportunities those accounts opened in the window, shared equally
among the paid arms that touched the account in the 90 days before (linear credit), and so are
its results (opportunities). The split is kept in the agent's state, so each cycle moves from the
last one by at most `budget.max_change`; `abm agent budget` runs a cycle and shows it, `abm agent
watch` runs one whenever `budget.cadence_hours` have passed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import ibis

from abmkit.app import Abm
from abmkit.decide.budget import Allocation, Arm, allocate, due
from abmkit.errors import AbmError, GuardrailError

AD_CHANNELS = {"linkedin": "linkedin_audience", "google": "google_audience",
               "meta": "meta_audience", "display": "google_audience"}  # fmt: skip
"""Touch channels of paid media → the audience channel whose budget pays for them."""
LOOKBACK = dt.timedelta(days=90)
STATE = "budget_split"


def arm_name(channel: str, tier: int) -> str:
    return f"{channel.removesuffix('_audience')}-t{tier}"


def arms(abm: Abm, now: dt.datetime) -> list[Arm]:
    """Every channel × tier arm with its spend, pipeline and opportunities in the window."""
    wh = abm.warehouse
    since = now - dt.timedelta(days=abm.settings.budget.window_days)
    t = wh.table("touches")
    scores = wh.table("account_scores").select("account_id", "tier")
    paid = t.filter(t.channel.isin(list(AD_CHANNELS)) & (t.cost > 0) & t.account_id.notnull())
    spent = (paid.filter((paid.ts >= since) & (paid.ts <= now)).join(scores, "account_id")
             .group_by(["channel", "tier"]).aggregate(spend=lambda s: s.cost.sum()))  # fmt: skip
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for r in wh.arrow(spent).to_pylist():
        totals[arm_name(AD_CHANNELS[r["channel"]], r["tier"] or 3)][0] += r["spend"] or 0.0
    o = wh.table("opportunities")
    o = o.filter((o.created_at >= since.date()) & (o.created_at <= now.date()))
    o = o.filter(o.account_id.notnull()).join(scores, "account_id")
    touched = paid.select("account_id", "channel", "ts")
    j = o.join(touched, "account_id")
    created = j.created_at.cast("timestamp")
    j = j.filter((j.ts <= created) & (j.ts >= created - ibis.interval(days=LOOKBACK.days)))
    pairs = j.select("opportunity_id", "amount", "tier", "channel").distinct()
    credit: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for r in wh.arrow(pairs).to_pylist():
        credit[r["opportunity_id"]].append(
            (arm_name(AD_CHANNELS[r["channel"]], r["tier"] or 3), r["amount"] or 0.0)
        )
    for touches in credit.values():
        names = sorted({name for name, _ in touches})
        amount = touches[0][1]
        for name in names:
            totals[name][1] += amount / len(names)
            totals[name][2] += 1 / len(names)
    names = [arm_name(c, tier) for c in sorted(set(AD_CHANNELS.values())) for tier in (1, 2, 3)]
    return [Arm(n, totals[n][0], totals[n][1], totals[n][2]) for n in names]


def total_budget(abm: Abm) -> float:
    daily = abm.settings.guardrails.channel_daily_budget
    return float(sum(daily.get(c, 0.0) for c in set(AD_CHANNELS.values())))


def cycle(abm: Abm, now: dt.datetime, *, force: bool = False) -> Allocation | None:
    """One allocation cycle when it is due (or `force`): the new split, stored with its
    reasons; None when not due yet."""
    state = abm.app_store.state(STATE)
    last = dt.datetime.fromisoformat(state["at"]) if state.get("at") else None
    if not force and not due(last, now, abm.settings.budget.cadence_hours):
        return None
    found = arms(abm, now)
    total = total_budget(abm)
    current = state.get("split") or {a.name: total / len(found) for a in found}
    try:
        allocation = allocate(found, current, total, abm.settings.budget)
    except GuardrailError as exc:
        raise AbmError(f"budget allocation: {exc}") from exc
    abm.app_store.save_state(STATE, {"at": now.isoformat(), "split": allocation.budgets(),
                       "reasons": {a.name: a.reason for a in allocation.arms}})  # fmt: skip
    abm.app_store.record("budget.allocate", "paid", "ok", split=allocation.budgets())
    return allocation
