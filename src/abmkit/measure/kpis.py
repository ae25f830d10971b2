"""Account-level KPIs and the funnel: the numbers an ABM program is judged by, by tier.

The rules every figure here shares:

- **Target accounts** are the accounts in tiers 1–3 at the start of the period — their latest
  recorded tier by then (`score_history`), or their first when their history begins later — so
  an account that won a deal and became a customer during the period (customers leave the tiers)
  still counts where it stood; the others are `none`, the non-ABM accounts figures are compared
  with.
- **The period** runs from `since` to `as_of` (both days included): opportunities count when
  created in it, wins and losses when closed in it, spend when its campaign started in it.
- **Engaged**: at least one touch of a kind that earns engagement minutes (not an ad shown or
  an e-mail sent) in the engagement window (`engagement.window_days`) before `as_of`.
- **Win rate** = deals won ÷ deals closed in the period. **Velocity** = days from the account's
  first engaged touch in the attribution lookback before the opportunity was created, to the
  day it was won (the opportunity's creation when no engaged touch preceded it).
- **Committee penetration**: the average buying-committee coverage (0–1: a persona engaged
  lately counts fully, one known but silent half) of the tier's accounts.
- **The funnel** reads the stage history every refresh records (`score_history`): an account's
  journey stage in a week is its latest recorded stage by the end of that week; a move is a
  change of recorded stage, timed from when the account entered the stage it left.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from abmkit.config.scoring import JOURNEY_STAGES
from abmkit.config.settings import Settings
from abmkit.decide.observe import program_spend
from abmkit.score.outcomes import linked_opportunities
from abmkit.score.signals import earns_minutes
from abmkit.warehouse.engine import Warehouse

NONE = "none"
TIER_ORDER = ("1", "2", "3", NONE)


@dataclass(frozen=True)
class Period:
    """The days a report covers: `since` to `as_of`, both included."""

    since: dt.datetime
    as_of: dt.datetime

    @property
    def first_day(self) -> dt.date:
        return self.since.date()

    @property
    def last_day(self) -> dt.date:
        return self.as_of.date()


def _tier_label(tier: ir.IntegerValue) -> ir.StringValue:
    return ibis.ifelse(tier.isnull(), NONE, tier.cast(idt.string))


def start_tiers(wh: Warehouse, period: Period) -> ir.Table:
    """(account_id, tier) for every scored account: the tier it held at the start of the
    period — its latest recorded tier by then, or its first when its history begins later."""
    h = wh.table("score_history")
    since = ibis.literal(period.since, idt.timestamp)

    def latest(t: ir.Table, newest: bool, key: str) -> ir.Table:
        order = [ibis.desc("as_of") if newest else ibis.asc("as_of"), ibis.desc("recorded_at")]
        t = t.mutate(_n=ibis.row_number().over(group_by="account_id", order_by=order))
        return t.filter(t._n == 0).select(**{key: t.account_id, f"{key}_tier": t.tier})

    before = latest(h.filter(h.as_of <= since), True, "_b")
    after = latest(h.filter(h.as_of > since), False, "_a")
    s = wh.table("account_scores").select("account_id")
    t = s.left_join(before, s.account_id == before._b)
    t = t.left_join(after, t.account_id == after._a)
    tier = ibis.ifelse(t._b.notnull(), t._b_tier, t._a_tier)
    return t.select("account_id", tier=_tier_label(tier))


def _opportunities(wh: Warehouse) -> ir.Table:
    o = linked_opportunities(wh)
    return o.select("opportunity_id", "account_id", "created_at", "closed_at", "won", "closed",
                    "amount")  # fmt: skip


def _within(day: ir.DateValue, period: Period) -> ir.BooleanValue:
    return (day >= period.first_day) & (day <= period.last_day)


def engaged_accounts(wh: Warehouse, settings: Settings, as_of: dt.datetime) -> ir.Table:
    """Accounts with at least one engaged touch in the engagement window before `as_of`."""
    t = wh.table("touches")
    start = as_of - dt.timedelta(days=settings.engagement.window_days)
    t = t.filter(t.account_id.notnull() & earns_minutes(t.kind, settings)
                 & (t.ts > start) & (t.ts <= as_of))  # fmt: skip
    return t.select("account_id").distinct()


def first_engagement(wh: Warehouse, settings: Settings, o: ir.Table) -> ir.Table:
    """(opportunity_id, first_engaged): each opportunity's account's first engaged touch in the
    attribution lookback before the opportunity was created (NULL when there was none)."""
    t = wh.table("touches")
    t = t.filter(t.account_id.notnull() & earns_minutes(t.kind, settings))
    t = t.select(_acc="account_id", _ts="ts")
    end = o.created_at.cast(idt.timestamp) + ibis.interval(days=1)
    start = end - ibis.interval(days=settings.measure.attribution.lookback_days)
    j = o.left_join(t, (o.account_id == t._acc) & (t._ts >= start) & (t._ts < end))
    return j.group_by("opportunity_id").agg(first_engaged=j._ts.min())


def tiers_table(wh: Warehouse, settings: Settings, period: Period,
                tiers: ir.Table | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per tier (1, 2, 3, none): engagement, pipeline, wins, velocity, committee;
    `tiers`: `start_tiers` already computed (else computed here)."""
    acc = start_tiers(wh, period) if tiers is None else tiers
    engaged = engaged_accounts(wh, settings, period.as_of).select(
        _eid="account_id", _engaged=ibis.literal(1)
    )
    o = _opportunities(wh)
    created = o.filter(_within(o.created_at, period))
    made = (
        created.group_by("account_id")
        .agg(_opps=created.count(), _pipeline=created.amount.sum())
        .rename(_mid="account_id")
    )
    closed = o.filter(o.closed & _within(o.closed_at, period))
    ended = closed.group_by("account_id").agg(
        _closed=closed.count(), _won=closed.count(where=closed.won),
        _revenue=closed.amount.sum(where=closed.won),
    ).rename(_cid="account_id")  # fmt: skip
    c = wh.table("score_reasons")
    c = c.filter(c.score == "committee")
    coverage = (
        c.group_by("account_id").agg(_coverage=c.points.sum() / 100.0).rename(_vid="account_id")
    )
    t = acc.left_join(engaged, acc.account_id == engaged._eid)
    t = t.left_join(made, t.account_id == made._mid)
    t = t.left_join(ended, t.account_id == ended._cid)
    t = t.left_join(coverage, t.account_id == coverage._vid)
    per = t.group_by("tier").agg(
        accounts=t.count(),
        engaged_accounts=t._engaged.count(),
        opportunities=t._opps.sum(),
        pipeline=t._pipeline.sum(),
        closed=t._closed.sum(),
        won=t._won.sum(),
        revenue=t._revenue.sum(),
        committee_penetration=t._coverage.fill_null(0.0).mean(),
    )
    frame = wh.arrow(per).to_pandas()
    frame = _velocity(wh, settings, period, acc, frame)
    return _tier_rows(frame)


def _velocity(wh: Warehouse, settings: Settings, period: Period, tiers: ir.Table,
              frame: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    o = _opportunities(wh)
    won = o.filter(o.won & o.closed_at.notnull() & _within(o.closed_at, period))
    first = first_engagement(wh, settings, won)
    w = won.join(first, "opportunity_id")
    began = ibis.coalesce(w.first_engaged.date(), w.created_at)
    days = w.closed_at.delta(began, unit="day")
    acc = tiers.rename(_tid="account_id")
    w = w.join(acc, w.account_id == acc._tid).select("tier", days=days)
    speed = wh.arrow(w).to_pandas()
    median = speed.groupby("tier")["days"].median() if len(speed) else pd.Series(dtype=float)
    frame["median_velocity_days"] = frame["tier"].map(median).astype(float)
    return frame


def _tier_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Every tier in order (a tier without accounts shows zeros), with the derived ratios."""
    base = pd.DataFrame({"tier": list(TIER_ORDER)})
    frame = base.merge(frame, on="tier", how="left")
    counts = ["accounts", "engaged_accounts", "opportunities", "closed", "won"]
    frame[counts] = frame[counts].fillna(0).astype(np.int64)
    frame[["pipeline", "revenue"]] = frame[["pipeline", "revenue"]].fillna(0.0).astype(float)
    frame["engagement_rate"] = _share(frame["engaged_accounts"], frame["accounts"])
    frame["pipeline_per_account"] = _share(frame["pipeline"], frame["accounts"])
    frame["win_rate"] = _share(frame["won"], frame["closed"])
    return frame[["tier", "accounts", "engaged_accounts", "engagement_rate", "opportunities",
                  "pipeline", "pipeline_per_account", "closed", "won", "revenue", "win_rate",
                  "median_velocity_days", "committee_penetration"]]  # fmt: skip


def _share(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num.astype(float) / den.where(den > 0)).astype(float)


def acv_table(wh: Warehouse, period: Period, tiers: ir.Table | None = None) -> pd.DataFrame:
    """Average contract value of deals won in the period: ABM (tiered) vs non-ABM accounts;
    `tiers` as in `tiers_table`."""
    o = _opportunities(wh)
    won = o.filter(o.won & o.closed_at.notnull() & _within(o.closed_at, period))
    acc = (start_tiers(wh, period) if tiers is None else tiers).rename(_tid="account_id")
    w = won.join(acc, won.account_id == acc._tid)
    group = ibis.ifelse(w.tier == NONE, "non-ABM", "ABM")
    per = w.group_by(group=group).agg(deals_won=w.count(), revenue=w.amount.sum())
    frame = pd.DataFrame({"group": ["ABM", "non-ABM"]}).merge(
        wh.arrow(per).to_pandas(), on="group", how="left"
    )
    frame["deals_won"] = frame["deals_won"].fillna(0).astype(np.int64)
    frame["revenue"] = frame["revenue"].fillna(0.0).astype(float)
    frame["acv"] = _share(frame["revenue"], frame["deals_won"])
    return frame


def stage_entries(wh: Warehouse) -> ir.Table:
    """Each time an account's recorded journey stage changed: (account_id, as_of, stage,
    previous, previous_at) — previous NULL for the first record of an account."""
    h = wh.table("score_history")
    order = [h.as_of, h.recorded_at]
    h = h.mutate(_prev=h.journey_stage.lag().over(group_by="account_id", order_by=order))
    e = h.filter(h._prev.isnull() | (h._prev != h.journey_stage))
    return e.select(
        "account_id", "as_of", "tier", stage=e.journey_stage,
        previous=e.journey_stage.lag().over(group_by="account_id", order_by=e.as_of),
        previous_at=e.as_of.lag().over(group_by="account_id", order_by=e.as_of),
    )  # fmt: skip


def _week_starts(period: Period, weeks: int) -> list[dt.date]:
    last = period.last_day - dt.timedelta(days=period.last_day.weekday())
    return [last - dt.timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


def funnel_stages(wh: Warehouse, period: Period, weeks: int = 12) -> pd.DataFrame:
    """Target accounts at each journey stage at the end of each of the last `weeks` weeks that
    have a recorded stage (the week of `as_of` ends at `as_of`)."""
    starts = _week_starts(period, weeks)
    ends = [min(dt.datetime.combine(s + dt.timedelta(days=7), dt.time()), period.as_of
                + dt.timedelta(microseconds=1)) for s in starts]  # fmt: skip
    grid = wh.stage(
        pa.table(
            {"week": pa.array(starts, pa.date32()), "_end": pa.array(ends, pa.timestamp("us"))}
        ),
        prefix="weeks",
    )
    h = wh.table("score_history")
    j = h.cross_join(grid)
    j = j.filter(j.as_of < j._end)
    j = j.mutate(_n=ibis.row_number().over(group_by=["account_id", "week"],
                                           order_by=[ibis.desc("as_of"),
                                                     ibis.desc("recorded_at")]))  # fmt: skip
    j = j.filter((j._n == 0) & j.tier.notnull())
    per = j.group_by(["week", "journey_stage"]).agg(accounts=j.count())
    frame = wh.arrow(per).to_pandas().rename(columns={"journey_stage": "stage"})
    if frame.empty:
        return pd.DataFrame({"week": [], "stage": [], "accounts": []})
    rank = {s: i for i, s in enumerate(JOURNEY_STAGES)}
    frame["_rank"] = frame["stage"].map(rank).fillna(len(rank))
    frame = frame.sort_values(["week", "_rank"]).drop(columns="_rank")
    frame["accounts"] = frame["accounts"].astype(np.int64)
    return frame.reset_index(drop=True)


def funnel_moves(wh: Warehouse, period: Period, weeks: int = 12) -> pd.DataFrame:
    """Weekly cohorts of stage moves: accounts that moved from one journey stage to another in
    a week, and the median days they had spent in the stage they left."""
    e = stage_entries(wh)
    first = _week_starts(period, weeks)[0]
    e = e.filter(e.previous.notnull() & (e.as_of.date() >= first)
                 & (e.as_of <= period.as_of))  # fmt: skip
    e = e.select(week=e.as_of.truncate("W").date(), from_stage=e.previous, to_stage=e.stage,
                 days=e.as_of.epoch_seconds() - e.previous_at.epoch_seconds())  # fmt: skip
    rows = wh.arrow(e).to_pandas()
    if rows.empty:
        return pd.DataFrame({"week": [], "from_stage": [], "to_stage": [], "accounts": [],
                             "median_days": []})  # fmt: skip
    rows["days"] = rows["days"].astype(float) / 86_400.0
    per = rows.groupby(["week", "from_stage", "to_stage"], as_index=False).agg(
        accounts=("days", "size"), median_days=("days", "median")
    )
    rank = {s: i for i, s in enumerate(JOURNEY_STAGES)}
    per["_a"] = per["from_stage"].map(rank)
    per["_b"] = per["to_stage"].map(rank)
    per = per.sort_values(["week", "_a", "_b"]).drop(columns=["_a", "_b"])
    per["accounts"] = per["accounts"].astype(np.int64)
    return per.reset_index(drop=True)


def movers(wh: Warehouse, period: Period, limit: int = 10) -> pd.DataFrame:
    """Target accounts whose journey stage moved forward in the last 7 days, furthest first,
    then by priority; priority_change is against the account's state before the move."""
    e = stage_entries(wh)
    week_ago = period.as_of - dt.timedelta(days=7)
    e = e.filter(e.previous.notnull() & (e.as_of > week_ago) & (e.as_of <= period.as_of))
    h = wh.table("score_history")
    before = h.filter(h.as_of <= week_ago)
    before = before.mutate(_n=ibis.row_number().over(group_by="account_id",
                                                     order_by=ibis.desc("as_of")))  # fmt: skip
    before = before.filter(before._n == 0).select(_bid="account_id", _was=before.priority)
    s = wh.table("account_scores").filter(ibis._.tier.notnull())
    a = wh.table("accounts").select(_aid="account_id", name="name", domain="domain")
    now = s.select(_sid="account_id", _tier="tier", priority="priority")
    t = e.join(now, e.account_id == now._sid)
    t = t.join(a, t.account_id == a._aid)
    t = t.left_join(before, t.account_id == before._bid)
    rows = wh.arrow(t.select("account_id", "name", "domain", "as_of", tier=t._tier,
                             from_stage=t.previous, to_stage=t.stage, priority=t.priority,
                             priority_change=t.priority - t._was)).to_pandas()  # fmt: skip
    columns = ["account_id", "name", "domain", "tier", "from_stage", "to_stage", "priority",
               "priority_change"]  # fmt: skip
    if rows.empty:
        return pd.DataFrame({c: [] for c in columns})
    rank = {s: i for i, s in enumerate(JOURNEY_STAGES)}
    rows["_gain"] = rows["to_stage"].map(rank) - rows["from_stage"].map(rank)
    rows = rows[rows["_gain"] > 0].sort_values("as_of").drop_duplicates("account_id", keep="last")
    rows = rows.sort_values(["_gain", "priority", "account_id"], ascending=[False, False, True])
    return rows[columns].head(limit).reset_index(drop=True)


def headline(tiers: pd.DataFrame, acv: pd.DataFrame, spend: float) -> pd.DataFrame:
    """The KPI cards: name, value, unit, note — target accounts only unless said."""
    target = tiers[tiers["tier"] != NONE]
    accounts = int(target["accounts"].sum())
    pipeline = float(target["pipeline"].sum())
    all_pipeline = float(tiers["pipeline"].sum())
    closed, won = int(target["closed"].sum()), int(target["won"].sum())
    weights = target["accounts"].where(target["accounts"] > 0)
    penetration = (float((target["committee_penetration"] * weights).sum() / weights.sum())
                   if accounts else float("nan"))  # fmt: skip
    acv_of = dict(zip(acv["group"], acv["acv"], strict=True))
    rows = [
        ("Target accounts", accounts, "count", "Accounts in tiers 1–3."),
        ("Engagement rate", target["engaged_accounts"].sum() / accounts if accounts else None,
         "share", "Target accounts with at least one engaged touch in the engagement window."),
        ("Pipeline from target accounts", pipeline, "dollars",
         "Amounts of the opportunities they opened in the period."),
        ("Pipeline per target account", pipeline / accounts if accounts else None, "dollars",
         "Pipeline ÷ target accounts."),
        ("Win rate (target accounts)", won / closed if closed else None, "share",
         "Deals won ÷ deals closed in the period."),
        ("ACV, ABM ÷ non-ABM", _ratio(acv_of.get("ABM"), acv_of.get("non-ABM")), "ratio",
         "Average won deal of target accounts over that of the others."),
        ("Cost per pipeline dollar", spend / all_pipeline if all_pipeline else None, "unit_cost",
         "Program spend in the period ÷ all pipeline created in it."),
        ("Committee penetration", penetration, "share",
         "Average buying-committee coverage of target accounts."),
    ]  # fmt: skip
    return pd.DataFrame(
        [{"name": n, "value": _number(v), "unit": u, "note": note} for n, v, u, note in rows]
    )


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) or b == 0:
        return None
    return a / b


def _number(v: float | int | None) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def spend(wh: Warehouse, period: Period) -> float:
    return program_spend(wh, period.first_day, period.last_day)
