"""Budget allocation: the program's paid budget split across arms (a channel for a tier or a
cluster of accounts) by pipeline per dollar, with a Thompson-sampling bandit.

Every `cadence_hours` the agent sums each arm's last `window_days` (spend, pipeline created,
opportunities) and calls `allocate`. Each arm's opportunities per dollar get a Gamma posterior
(results ~ Poisson(rate × spend), a weak prior at the rate pooled over all arms) and its mean deal
size a Gamma posterior shrunk toward the pooled deal size; their product is pipeline per dollar.
The share of joint draws in which an arm is best is its target share. The split moves from the
reference (the current split carried to the new total) toward the target by `step`, then within
bounds that say, in order of precedence: paused arms get nothing, active arms keep their floors,
no arm moves by more than `max_change` of the total (this wins over a floor), and the budgets add
up to the total to the cent. docs/budget.md explains the model and the defaults.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from pydantic import Field, field_validator

from abmkit.config.base import Section
from abmkit.errors import GuardrailError

CENTS = 100  # budgets are whole cents
INTERVAL = (0.05, 0.95)  # the reported 90% interval of pipeline per dollar
ALL_ARMS = "*"  # in a floor dict: the floor of every arm not named


class BudgetSettings(Section):
    """How the paid budget is split across arms (channel × tier or cluster) every cycle."""

    cadence_hours: float = Field(48.0, gt=0, description="Hours between two re-allocations.")
    window_days: int = Field(
        30, ge=1, description="Days of spend, pipeline and opportunities each re-allocation reads."
    )
    floor_share: float | dict[str, float] = Field(
        0.05,
        description="Least share of the total an active arm keeps, so every arm goes on "
        "learning: one share for all, or a map arm → share (`*` for arms not named; no floor "
        "for an arm the map leaves out). Floors adding up to more than 1 are scaled to fit.",
    )
    max_change: float = Field(
        0.2, ge=0, le=1,
        description="Most an arm's budget may gain or lose in one cycle, as a share of the "
        "total (as guardrails.max_budget_change). It wins over a floor.",
    )  # fmt: skip
    step: float = Field(
        0.5, gt=0, le=1,
        description="Share of the gap between the current split and the bandit's target that "
        "one cycle closes (before the maximum change).",
    )  # fmt: skip
    pause_after_cost_multiple: float = Field(
        3.0, gt=0,
        description="An arm that spent more than this many times target_cost_per_result in "
        "the window without an opportunity is paused.",
    )  # fmt: skip
    target_cost_per_result: float = Field(
        2000.0, gt=0,
        description="What one opportunity may cost, in dollars: the auto-pause threshold and "
        "the pooled prior's rate before there is data. Set it to your own.",
    )  # fmt: skip
    prior_results: float = Field(
        1.0, gt=0,
        description="Weight of the pooled prior on each arm's opportunity rate, in "
        "opportunities (1: weak, an arm's own data soon dominates).",
    )  # fmt: skip
    prior_deal_size: float = Field(
        25000.0, gt=0,
        description="Mean pipeline per opportunity, in dollars, assumed before any "
        "opportunity exists; it scales the reported figures, not the split.",
    )  # fmt: skip
    deal_size_prior_results: float = Field(
        5.0, gt=0,
        description="Opportunities' worth of weight pulling an arm's mean deal size toward "
        "the pooled one (and the pooled one toward prior_deal_size).",
    )  # fmt: skip
    samples: int = Field(
        4000, ge=100, le=1_000_000, description="Joint posterior draws per re-allocation."
    )
    seed: int = Field(
        0, description="Seed of the draws when the caller passes none: same data, same split."
    )

    @field_validator("floor_share")
    @classmethod
    def _shares(cls, value: float | dict[str, float]) -> float | dict[str, float]:
        values = value.values() if isinstance(value, dict) else [value]
        if any(not 0 <= share <= 1 for share in values):
            raise ValueError("a floor is a share of the total, between 0 and 1")
        return value

    def floor_for(self, name: str) -> float:
        """The floor share of one arm."""
        if isinstance(self.floor_share, dict):
            return self.floor_share.get(name, self.floor_share.get(ALL_ARMS, 0.0))
        return self.floor_share


@dataclass(frozen=True)
class Arm:
    """One place budget can go, with its data over the window: dollars spent, pipeline dollars
    created and opportunities (results). `paused` keeps it off whatever its data says."""

    name: str
    spend: float
    pipeline: float
    results: float
    paused: bool = False

    def __post_init__(self) -> None:
        for label in ("spend", "pipeline", "results"):
            value = getattr(self, label)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"arm {self.name!r}: {label} must be 0 or more, not {value!r}")


@dataclass(frozen=True)
class ArmAllocation:
    """One arm's new budget and why; pipeline per dollar as the posterior mean and 90% interval."""

    name: str
    budget: float
    previous: float
    reference: float
    floor: float
    prob_best: float
    mean: float
    low: float
    high: float
    paused: bool
    reason: str


@dataclass(frozen=True)
class Allocation:
    """The split of one cycle: every arm's budget (adding up to `total` to the cent) and notes
    on the whole (a changed total, floors the maximum change kept from holding)."""

    total: float
    arms: tuple[ArmAllocation, ...]
    notes: tuple[str, ...]

    def budgets(self) -> dict[str, float]:
        return {arm.name: arm.budget for arm in self.arms}

    def __getitem__(self, name: str) -> ArmAllocation:
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(name)


@dataclass(frozen=True)
class Posterior:
    """Pipeline per dollar of every arm: opportunities per dollar ~ Gamma(rate_shape, rate_rate)
    times mean deal size ~ Gamma(deal_shape, deal_scale), independent."""

    rate_shape: np.ndarray
    rate_rate: np.ndarray
    deal_shape: np.ndarray
    deal_scale: np.ndarray

    def mean(self) -> np.ndarray:
        return self.rate_shape / self.rate_rate * self.deal_shape * self.deal_scale

    def draw(self, rng: np.random.Generator, samples: int) -> np.ndarray:
        """`samples` joint draws, one row each, one column per arm."""
        size = (samples, len(self.rate_shape))
        rates = rng.gamma(self.rate_shape, 1 / self.rate_rate, size=size)
        return rates * rng.gamma(self.deal_shape, self.deal_scale, size=size)


@dataclass(frozen=True)
class Bounds:
    """Where each arm's budget (in cents) may land: `lo`/`hi`; `floor` and the change limits
    they came from; `short` is true when the maximum change keeps a floor from holding."""

    lo: np.ndarray
    hi: np.ndarray
    floor: np.ndarray
    change: int  # the maximum change, in cents
    short: bool


@dataclass(frozen=True)
class Cycle:
    """One re-allocation, per arm in cents: the current budgets, the reference the maximum change
    counts from, the proposal before the bounds, the probability of being best, the new budgets;
    and pipeline per dollar (posterior mean, 5% and 95% quantiles)."""

    old: np.ndarray
    ref: np.ndarray
    proposal: np.ndarray
    best: np.ndarray
    new: np.ndarray
    limits: Bounds
    even: bool  # no active arm had a budget: the reference is an even split
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def posterior(arms: list[Arm], settings: BudgetSettings) -> Posterior:
    """Gamma-Poisson rates from a prior pooled over every arm (an arm with no spend starts at
    the pooled rate), and mean deal sizes shrunk toward the pooled mean deal size."""
    spend, results, pipeline = (np.array([getattr(a, f) for a in arms], dtype=float)
                                for f in ("spend", "results", "pipeline"))  # fmt: skip
    weight, kappa = settings.prior_results, settings.deal_size_prior_results
    prior_spend = weight * settings.target_cost_per_result  # `weight` results at the target
    pooled_rate = (results.sum() + weight) / (spend.sum() + prior_spend)
    pooled_deal = (pipeline.sum() + kappa * settings.prior_deal_size) / (results.sum() + kappa)
    deal = (pipeline + kappa * pooled_deal) / (results + kappa)
    return Posterior(weight + results, weight / pooled_rate + spend, kappa + results,
                     deal / (kappa + results))  # fmt: skip


def prob_best(draws: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Share of the draws in which each active arm is best (paused arms: 0)."""
    best = np.where(active, draws, -np.inf).argmax(axis=1)
    return np.bincount(best, minlength=draws.shape[1]) / len(draws) * active


def pause_reason(arm: Arm, settings: BudgetSettings) -> str | None:
    """Why an arm gets nothing this cycle, or None when it is active."""
    if arm.paused:
        return "paused by hand"
    limit = settings.pause_after_cost_multiple * settings.target_cost_per_result
    if arm.results == 0 and arm.spend > limit:
        return (f"paused: spent {_money(arm.spend)} with no opportunity, over "
                f"{settings.pause_after_cost_multiple:g}× the "
                f"{_money(settings.target_cost_per_result)} target")  # fmt: skip
    return None


def reference(current: np.ndarray, active: np.ndarray, total: int) -> np.ndarray:
    """What the maximum change counts from, in cents: the active arms' current budgets scaled
    to the new total (paused arms' money is handed on in proportion), or an even split when
    they have none."""
    weights = np.where(active, current, 0.0)
    if total == 0 or not active.any():
        return np.zeros(len(current), np.int64)
    if weights.sum() <= 0:
        weights = active.astype(float)
    return _largest_remainder(weights / weights.sum() * total, total)


def bounds(ref: np.ndarray, floors: np.ndarray, active: np.ndarray, change: int) -> Bounds:
    """Bounds in cents, in order of precedence: paused arms 0; floors; the maximum change. An
    arm at or below its floor never loses; one below it is lifted as far as the others can give
    without losing more than the maximum change."""
    total = int(ref.sum())
    hi = np.where(active, ref + change, 0)
    hard = np.maximum(np.maximum(ref - change, 0), np.minimum(floors, ref))
    lift = np.maximum(hard, np.minimum(floors, hi)) - hard
    room = total - int(hard.sum())
    theta = 1.0 if lift.sum() <= room else room / lift.sum()
    lo = np.where(active, hard + np.floor(theta * lift).astype(np.int64), 0)
    return Bounds(lo, hi, floors, change, short=bool((active & (lo < floors)).any()))


def fit_total(proposal: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float) -> np.ndarray:
    """The split nearest `proposal` within [lo, hi] that adds up to `total`: proposal + λ,
    clipped, with λ found exactly between the breakpoints where an arm meets a bound."""
    points = np.sort(np.concatenate([lo - proposal, hi - proposal]))
    sums = np.clip(proposal[None, :] + points[:, None], lo, hi).sum(axis=1)
    k = int(np.searchsorted(sums, total))
    if k == 0 or k == len(points):
        shift = points[min(k, len(points) - 1)]
    else:
        gap = sums[k] - sums[k - 1]
        part = (total - sums[k - 1]) / gap if gap > 0 else 0.0
        shift = points[k - 1] + part * (points[k] - points[k - 1])
    return np.clip(proposal + shift, lo, hi)


def to_cents(split: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: int) -> np.ndarray:
    """Whole cents adding up to `total` within the whole-cent bounds: round down, then hand the
    cents left to the arms with the largest remainders (or take from the smallest)."""
    cents = np.clip(np.floor(split + 1e-6).astype(np.int64), lo, hi)
    left = total - int(cents.sum())
    order = np.argsort(-(split - cents), kind="stable")
    while left != 0:
        sign = 1 if left > 0 else -1
        room = cents < hi if sign > 0 else cents > lo
        pick = order[room[order]] if sign > 0 else order[::-1][room[order[::-1]]]
        take = pick[: abs(left)]
        if len(take) == 0:
            raise ValueError("no whole-cent split fits these bounds")
        cents[take] += sign
        left -= sign * len(take)
    return cents


def allocate(
    arms: Iterable[Arm],
    current: Mapping[str, float],
    total: float,
    settings: BudgetSettings | None = None,
    rng: np.random.Generator | int | None = None,
) -> Allocation:
    """The next split of `total` dollars over `arms`, given the `current` budgets (an arm not
    named has none). `rng` is a generator or a seed (default: `settings.seed`)."""
    settings = settings or BudgetSettings()
    arms = list(arms)
    _check(arms, current, total)
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(
        settings.seed if rng is None else rng)  # fmt: skip
    paused = [pause_reason(arm, settings) for arm in arms]
    active = np.array([why is None for why in paused])
    total_c = round(total * CENTS)
    if total_c > 0 and not active.any():
        raise GuardrailError("every arm is paused: no arm can receive the budget")
    post = posterior(arms, settings)
    draws = post.draw(generator, settings.samples)
    best = prob_best(draws, active)
    old = np.array([current.get(arm.name, 0.0) for arm in arms], dtype=float) * CENTS
    ref = reference(old, active, total_c)
    floors = _floors(arms, active, settings, total_c)
    limits = bounds(ref, floors, active, math.floor(settings.max_change * total_c + 1e-9))
    proposal = ref + settings.step * (best * total_c - ref)
    new = to_cents(fit_total(proposal, limits.lo, limits.hi, total_c), limits.lo, limits.hi,
                   total_c)  # fmt: skip
    cycle = Cycle(old, ref, proposal, best, new, limits, not (old * active).any(), post.mean(),
                  *np.quantile(draws, INTERVAL, axis=0))  # fmt: skip
    rows = tuple(_row(arm, i, paused[i], cycle, settings) for i, arm in enumerate(arms))
    return Allocation(total_c / CENTS, rows, _notes(cycle, active, total_c, settings))


def due(last_run: dt.datetime | None, now: dt.datetime, cadence_hours: float) -> bool:
    """Whether a re-allocation is due: never run, or `cadence_hours` have passed."""
    return last_run is None or now - last_run >= dt.timedelta(hours=cadence_hours)


def _check(arms: list[Arm], current: Mapping[str, float], total: float) -> None:
    names = [arm.name for arm in arms]
    if not names:
        raise ValueError("no arms to allocate the budget to")
    if len(set(names)) != len(names):
        raise ValueError("arm names must be unique")
    unknown = sorted(set(current) - set(names))
    if unknown:
        raise ValueError(f"current budgets name arms not given: {', '.join(unknown)}")
    if not math.isfinite(total) or total < 0:
        raise ValueError(f"the total budget must be 0 or more, not {total!r}")
    if any(not math.isfinite(value) or value < 0 for value in current.values()):
        raise ValueError("current budgets must be 0 or more")


def _floors(
    arms: list[Arm], active: np.ndarray, settings: BudgetSettings, total: int
) -> np.ndarray:
    """Floors in cents for the active arms, scaled down together when they add up to more
    than the total."""
    shares = np.array([settings.floor_for(arm.name) for arm in arms]) * active
    shares = shares / max(1.0, float(shares.sum()))
    return np.floor(shares * total + 1e-6).astype(np.int64)  # never more than the total


def _row(
    arm: Arm, i: int, paused: str | None, cycle: Cycle, settings: BudgetSettings
) -> ArmAllocation:
    return ArmAllocation(
        arm.name, int(cycle.new[i]) / CENTS, float(cycle.old[i]) / CENTS,
        int(cycle.ref[i]) / CENTS, int(cycle.limits.floor[i]) / CENTS, float(cycle.best[i]),
        float(cycle.mean[i]), float(cycle.low[i]), float(cycle.high[i]), paused is not None,
        paused or _reason(arm, i, cycle, settings),
    )  # fmt: skip


def _reason(arm: Arm, i: int, cycle: Cycle, settings: BudgetSettings) -> str:
    """The move of one active arm in words: which bound held it, or the bandit's target."""
    new, ref, floor = int(cycle.new[i]), int(cycle.ref[i]), int(cycle.limits.floor[i])
    proposal, change = float(cycle.proposal[i]), cycle.limits.change
    maximum = f"{_share(settings.max_change)} maximum change"
    moved = _delta(new - ref)
    if cycle.even:
        moved += f" from an even split ({_money(ref / CENTS)})"
    elif ref != round(cycle.old[i]):
        moved += (
            f" from {_money(ref / CENTS)} (its current {_money(cycle.old[i] / CENTS)} rescaled)"
        )
    if new < floor:
        who = "its own" if new >= ref + change else "the other arms'"
        text = (f"{moved}, below its {_money(floor / CENTS)} floor: {who} {maximum} allows "
                "no more this cycle")  # fmt: skip
    elif floor > 0 and new == floor:
        text = f"held at the floor ({_money(floor / CENTS)}), {moved}"
    elif (new >= ref + change and proposal > new) or (new <= ref - change and proposal < new):
        text = f"{moved}, limited by the {maximum}"
    else:
        text = f"{moved} toward the bandit's target (best in {cycle.best[i]:.0%} of draws)"
    if arm.spend == 0:
        text += "; no data yet, explores from the pooled rate"
    return text


def _notes(cycle: Cycle, active: np.ndarray, total: int, settings: BudgetSettings
           ) -> tuple[str, ...]:  # fmt: skip
    """What the whole cycle needs said: a changed total, paused arms' money, floors not held."""
    old, notes = cycle.old, []
    before = int(round(old.sum()))
    if cycle.even:
        notes.append("no current budgets: the maximum change counts from an even split")
    elif before != total:
        notes.append(f"the total moved from {_money(before / CENTS)} to {_money(total / CENTS)}: "
                     "each arm's maximum change counts from its current budget scaled to the "
                     "new total")  # fmt: skip
    freed = old[~active].sum()
    if freed > 0 and not cycle.even:
        notes.append(f"{_money(freed / CENTS)} of paused arms went to the active arms in "
                     "proportion to their budgets before the change limits")  # fmt: skip
    if cycle.limits.short:
        notes.append(f"floors and the {_share(settings.max_change)} maximum change conflict: "
                     "the maximum change wins and some arms stay below their floors this "
                     "cycle")  # fmt: skip
    return tuple(notes)


def _largest_remainder(split: np.ndarray, total: int) -> np.ndarray:
    return to_cents(split, np.zeros(len(split), np.int64), np.full(len(split), total), total)


def _money(dollars: float) -> str:
    return f"${dollars:,.0f}" if round(dollars * CENTS) % CENTS == 0 else f"${dollars:,.2f}"


def _delta(cents: int) -> str:
    if cents == 0:
        return "unchanged"
    return ("+" if cents > 0 else "-") + _money(abs(cents) / CENTS)


def _share(value: float) -> str:
    return f"{value * 100:g}%"
