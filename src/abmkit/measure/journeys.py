"""Account-level journeys from the warehouse: the touches that led each account to an opportunity.

A journey is one opportunity of one account and, in order, every touch of that account — all its
contacts' and the anonymous visits resolved to it — in the `lookback` days before the day the
opportunity was created (touches on that day count: the meeting that opened it, say). It
converts once; its value is the opportunity's amount (pipeline) and, for a won deal, the same
amount as revenue. Accounts touched in the `lookback` days before `as_of` that opened no
opportunity in the period are journeys that ended in nothing (the Markov chain and Shapley's
coalitions need them; the heuristics ignore them).

Which touches count (`measure.attribution.touches`): `engaged` — the kinds that earn engagement
minutes, so an ad shown or an e-mail sent does not take credit for a deal nobody at the account
noticed — or `all`. Credit goes to the touch's channel, or with `level="campaign"` to its
campaign (touches without one to `(no campaign) <channel>`).

The selection runs in the warehouse (one join of touches to opportunities on the account and a
time window); what comes back is one row per touch of a journey, turned into flat arrays.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from abmkit.config.settings import Settings
from abmkit.measure.attribution import Paths
from abmkit.score.outcomes import linked_opportunities
from abmkit.score.signals import earns_minutes
from abmkit.warehouse.engine import Warehouse

DAY_SECONDS = 86_400.0
NO_CAMPAIGN = "(no campaign) "


@dataclass(frozen=True)
class Journeys:
    """Flat journeys: `channel[i]` indexes `channels`; journey j owns `lengths[j]` touches in a
    row, oldest first; `age_days` is how long before its journey's end each touch was."""

    channels: tuple[str, ...]
    channel: np.ndarray
    lengths: np.ndarray
    age_days: np.ndarray
    converted: np.ndarray
    pipeline: np.ndarray
    revenue: np.ndarray
    untouched: int
    """Opportunities in the period with no touch in their lookback: credited to no channel."""
    untouched_pipeline: float
    untouched_revenue: float

    def paths(self, value: str = "pipeline") -> Paths:
        """The journeys as attribution paths, valued by pipeline or revenue."""
        amount = self.pipeline if value == "pipeline" else self.revenue
        conv = self.converted.astype(float)
        return Paths.from_arrays(self.channels, self.channel, self.lengths, conv, amount,
                                 1.0 - conv, age_days=self.age_days)  # fmt: skip

    @property
    def opportunities(self) -> int:
        return int(self.converted.sum())


def lookback_days(text: str | int) -> int:
    """`90d`, `12w`, `3m` (30-day months) or a plain number of days."""
    raw = str(text).strip().lower()
    unit = {"d": 1, "w": 7, "m": 30}.get(raw[-1:])
    number = raw[:-1] if unit else raw
    try:
        days = int(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"lookback {text!r} is not like 90d, 12w or 3m") from None
    if days < 1:
        raise ValueError(f"lookback {text!r} must be at least one day")
    return days


def touch_label(t: ir.Table, level: str) -> ir.StringValue:
    """What gets the credit for a touch: its channel (else its kind), or its campaign."""
    channel = t.channel.fill_null(t.kind).fill_null("(unknown)")
    if level == "channel":
        return channel
    if level != "campaign":
        raise ValueError(f"level must be channel or campaign, not {level!r}")
    return t.campaign_id.fill_null(NO_CAMPAIGN + channel)


def account_journeys(wh: Warehouse, settings: Settings, as_of: dt.datetime,
                     since: dt.datetime, *, lookback: int | None = None,
                     level: str | None = None, touches: str | None = None) -> Journeys:  # fmt: skip
    """The journeys of the opportunities created from `since` to `as_of` (and of the accounts
    touched but not converted), per the attribution settings unless overridden."""
    cfg = settings.measure.attribution
    lookback = lookback or cfg.lookback_days
    level = level or cfg.level
    which = touches or cfg.touches
    t = wh.table("touches")
    t = t.filter(t.account_id.notnull() & (t.ts <= ibis.literal(as_of, idt.timestamp)))
    if which == "engaged":
        t = t.filter(earns_minutes(t.kind, settings))
    label = touch_label(t, level)
    if level == "campaign":  # show campaigns by name when the campaigns table has one
        c = wh.table("campaigns").select(_cid="campaign_id", _cname="name")
        t = t.left_join(c, t.campaign_id == c._cid)
        label = ibis.coalesce(t._cname, touch_label(t, level))
    t = t.select("account_id", "ts", "touch_id", label=label)

    o = linked_opportunities(wh)
    o = o.filter(o.created_at.notnull() & (o.created_at >= since.date())
                 & (o.created_at <= as_of.date()))  # fmt: skip
    o = o.select(
        journey="o:" + o.opportunity_id, _acc=o.account_id,
        _end=o.created_at.cast(idt.timestamp) + ibis.interval(days=1),
        pipeline=o.amount, revenue=ibis.ifelse(o.won, o.amount, 0.0),
    )  # fmt: skip
    window = ibis.interval(days=lookback)
    joined = o.join(t, (o._acc == t.account_id) & (t.ts >= o._end - window) & (t.ts < o._end))
    converted = joined.select("journey", "ts", "touch_id", "label", "pipeline", "revenue",
                              age=_seconds(joined._end, joined.ts))  # fmt: skip

    opened = o.select(_acc2="_acc")
    start = ibis.literal(as_of - dt.timedelta(days=lookback), idt.timestamp)
    quiet = t.filter(t.ts >= start).anti_join(opened, t.account_id == opened._acc2)
    end = ibis.literal(as_of, idt.timestamp)
    nulls = quiet.select(journey="n:" + quiet.account_id, ts="ts", touch_id="touch_id",
                         label="label", pipeline=ibis.literal(0.0), revenue=ibis.literal(0.0),
                         age=_seconds(end, quiet.ts))  # fmt: skip
    rows = wh.arrow(converted.union(nulls).order_by(["journey", "ts", "touch_id"]))
    untouched = o.anti_join(t, (o._acc == t.account_id) & (t.ts >= o._end - window)
                            & (t.ts < o._end))  # fmt: skip
    lost = wh.arrow(untouched.aggregate(n=untouched.count(), pipeline=untouched.pipeline.sum(),
                                        revenue=untouched.revenue.sum()))  # fmt: skip
    return _flatten(rows, lost.to_pylist()[0])


def _seconds(end: ir.TimestampValue, ts: ir.TimestampValue) -> ir.FloatingValue:
    """Days from `ts` to `end`, as a float (epoch seconds: one form every engine computes)."""
    return (end.epoch_seconds() - ts.epoch_seconds()).cast(idt.float64) / DAY_SECONDS


def _flatten(rows: pa.Table, lost: dict) -> Journeys:
    journey = rows.column("journey").combine_chunks()
    labels = pc.dictionary_encode(rows.column("label").combine_chunks())
    names = tuple(str(x) for x in labels.dictionary.to_pylist())
    if len(journey):
        starts = np.flatnonzero(
            np.r_[True, pc.not_equal(journey[1:], journey[:-1]).to_numpy(zero_copy_only=False)]
        )
    else:
        starts = np.zeros(0, np.int64)
    lengths = np.diff(np.r_[starts, len(journey)]).astype(np.int64)
    first = journey.take(pa.array(starts, pa.int64()))
    pipeline = rows.column("pipeline").to_numpy()[starts] if len(starts) else np.zeros(0)
    revenue = rows.column("revenue").to_numpy()[starts] if len(starts) else np.zeros(0)
    is_null = pc.starts_with(first, "n:").to_numpy(zero_copy_only=False).astype(bool)
    return Journeys(
        channels=names,
        channel=labels.indices.to_numpy(zero_copy_only=False).astype(np.int64),
        lengths=lengths,
        age_days=rows.column("age").to_numpy(),
        converted=~is_null,
        pipeline=np.asarray(pipeline, float),
        revenue=np.asarray(revenue, float),
        untouched=int(lost["n"] or 0),
        untouched_pipeline=float(lost["pipeline"] or 0.0),
        untouched_revenue=float(lost["revenue"] or 0.0),
    )
