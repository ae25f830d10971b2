"""Tiers with capacities, stable between refreshes, each change with its reason.

Eligible accounts (fit ≥ `tiers.tier3_min_fit`, not excluded by the ICP, not customers unless
`expansion_mode`) fill Tier 1, then Tier 2, then Tier 3 in order of priority, up to each tier's
capacity. Hysteresis: an account already in a tier (or a better one) competes for it with its
priority raised by `hysteresis` (10% by default), so a challenger must beat it by that margin
to take its seat and accounts do not flap between refreshes on noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from abmkit.config.settings import Settings
from abmkit.warehouse.engine import Reuse, Warehouse


@dataclass(frozen=True)
class TierCut:
    tier: int
    capacity: int | None  # None: no limit
    filled: int
    cut: float | None  # the lowest (raw) priority that got a seat


def combined_intent(third: Any, first: Any) -> Any:
    """Intent from its two sources, 0-100, by noisy-OR (Ibis values or pandas Series)."""
    return 100.0 * (1.0 - (1.0 - third / 100.0) * (1.0 - first / 100.0))


def priority_parts(fit: Any, intent: Any, engagement: Any, settings: Settings) -> dict[str, Any]:
    """The weighted contributions of fit, intent and engagement to the blended priority (they
    add up to it); Ibis values or pandas Series."""
    w = settings.weights
    total = (w.fit + w.intent + w.engagement) or 1.0
    return {"fit": fit * (w.fit / total), "intent": intent * (w.intent / total),
            "engagement": engagement * (w.engagement / total)}  # fmt: skip


def assign_tiers(wh: Warehouse, scored: ir.Table, previous: ir.Table, settings: Settings,
                 built: Reuse | None = None,
                 ) -> tuple[ir.Table, list[TierCut]]:  # fmt: skip
    """(account_id, tier_rank, tier) of the accounts of `scored` that got a seat (the others
    are not tiered), and each tier's cut.

    `scored` has account_id, priority and eligible; `previous` has account_id and tier.
    `built` hands out expressions built before (a `Reuse`)."""
    cfg = settings.tiers
    build = built or Reuse()

    def pool_of() -> ir.Table:
        prev = previous.select(_pid="account_id", _prev="tier")
        t = scored.left_join(prev, scored.account_id == prev._pid).drop("_pid")
        return t.filter(t.eligible)

    t = wh.temp("tiering", build("tiers pool", pool_of))
    taken: list[ir.Table] = []
    cuts = []
    for tier, capacity in ((1, cfg.tier1_capacity), (2, cfg.tier2_capacity),
                           (3, cfg.tier3_capacity)):  # fmt: skip

        def seats_of(tier: int = tier, capacity: int | None = capacity,
                     taken: tuple = tuple(taken)) -> ir.Table:  # fmt: skip
            pool = t
            for seats in taken:
                pool = pool.anti_join(seats, "account_id")
            incumbent = pool._prev.notnull() & (pool._prev <= tier)
            boost = ibis.cases((incumbent, 1.0 + cfg.hysteresis), else_=1.0)
            ranked = pool.mutate(_adj=pool.priority.fill_null(0) * boost).mutate(
                tier_rank=ibis.row_number().over(order_by=[ibis.desc("_adj"), "account_id"]) + 1
            )
            if capacity is not None:
                ranked = ranked.filter(ranked.tier_rank <= capacity)
            return ranked.select("account_id", "tier_rank", tier=ibis.literal(tier, idt.int64),
                                 _p=ranked.priority)  # fmt: skip

        seats = wh.temp("seats", build(f"tier {tier} seats", seats_of))

        def cut_of(s: ir.Table = seats) -> ir.Table:
            return s.agg(n=s.count(), low=s._p.min())

        got = wh.arrow(build(f"tier {tier} cut", cut_of)).to_pylist()[0]
        cuts.append(TierCut(tier, capacity, int(got["n"]), got["low"]))
        taken.append(seats)
    return build("seated", lambda: ibis.union(*[s.drop("_p") for s in taken])), cuts


def change_reasons(rows: pa.Table, cuts: dict[int, TierCut]) -> pa.Array:
    """Why each account's tier changed, in words, for `rows` (from_tier, to_tier, priority,
    tier_rank, eligible, why_not): "entered Tier 2: priority 71 ranks 14 of 300 Tier 2 seats",
    "rose from Tier 2 to Tier 1: …", "fell from …", "left Tier 3: <why not eligible>", "left Tier
    3: outranked, priority 40 (the Tier 3 cut is 44)". Whole columns at once (a first refresh
    records one change per tiered account); priorities are shown rounded to a whole number,
    halves to even, as Python's format does."""
    old, new = rows["from_tier"], rows["to_tier"]
    shown = np.rint(pc.fill_null(rows["priority"], 0.0).to_numpy(zero_copy_only=False))
    p = pa.array(shown.astype(np.int64)).cast(pa.string())
    o, n = pc.cast(old, pa.string()), pc.cast(new, pa.string())
    seats = {t: f"{c.capacity} Tier {t} seats" if c.capacity is not None else f"Tier {t}"
             for t, c in cuts.items()}  # fmt: skip
    # each tier's words by position (index = tier; 0 and any unknown tier: none)
    words = pa.array([seats.get(t) for t in range(max(seats, default=0) + 1)], pa.string())
    seat = pc.take(words, pc.fill_null(new, 0))

    def join(*parts: pa.ChunkedArray | str) -> pa.ChunkedArray:
        return pc.binary_join_element_wise(*parts, "")

    where = join("priority ", p, " ranks ", pc.cast(rows["tier_rank"], pa.string()), " of ", seat)
    verb = pc.if_else(pc.less(new, old), "rose", "fell")
    last = cuts[3].cut if 3 in cuts else None
    below = f" (the Tier 3 cut is {last:.0f})" if last is not None else ""
    left = join("left Tier ", o, ": ")
    branch = pc.make_struct(pc.is_null(old), pc.is_valid(new), pc.invert(rows["eligible"]),
                            field_names=["entered", "moved", "ineligible"])  # fmt: skip
    reasons = pc.case_when(branch,
                           join("entered Tier ", n, ": ", where),
                           join(verb, " from Tier ", o, " to Tier ", n, ": ", where),
                           join(left, rows["why_not"]),
                           join(left, "outranked, priority ", p, below))  # fmt: skip
    return reasons.combine_chunks() if isinstance(reasons, pa.ChunkedArray) else reasons


def eligibility(t: ir.Table, settings: Settings) -> tuple[ir.BooleanValue, ir.StringValue]:
    """Whether an account may be tiered, and if not, why (over fit, fit_excluded, journey)."""
    cfg = settings.tiers
    customer = (t.journey_stage == "Customer") & ibis.literal(not cfg.expansion_mode)
    why = ibis.cases(
        (t.fit_excluded.notnull(), t.fit_excluded),
        (customer, ibis.literal("a customer (tiers.expansion_mode is off)")),
        (t.fit < cfg.tier3_min_fit,
         "fit " + t.fit.cast(idt.string) + f" is below {cfg.tier3_min_fit} (tiers.tier3_min_fit)"),
        else_=ibis.null(idt.string),
    )  # fmt: skip
    return why.isnull(), why
