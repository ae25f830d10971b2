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


def change_reason(row: dict, cuts: dict[int, TierCut], settings: Settings) -> str:
    """Why an account's tier changed, in words (row: from_tier, to_tier, priority, tier_rank,
    eligible, why_not)."""
    old, new, p = row["from_tier"], row["to_tier"], row["priority"] or 0.0
    if new is not None:
        cut = cuts[new]
        seats = f"{cut.capacity} Tier {new} seats" if cut.capacity is not None else f"Tier {new}"
        where = f"priority {p:.0f} ranks {row['tier_rank']} of {seats}"
        if old is None:
            return f"entered Tier {new}: {where}"
        verb = "rose" if new < old else "fell"
        return f"{verb} from Tier {old} to Tier {new}: {where}"
    if not row["eligible"]:
        return f"left Tier {old}: {row['why_not']}"
    last = cuts[3].cut
    below = f" (the Tier 3 cut is {last:.0f})" if last is not None else ""
    return f"left Tier {old}: outranked, priority {p:.0f}{below}"


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
