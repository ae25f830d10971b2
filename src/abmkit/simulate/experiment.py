"""A randomized holdout experiment on the simulated market, with a known treatment effect.

The market's hidden buying states (`states.py`) are the starting point: at the end of the
simulated window, the seller's target accounts are split into treated and holdout groups with
the same hash as a workspace (`abmkit.measure.holdout.group_of`). Then `weeks` more weeks of
the state chain run, in which treatment raises a treated account's weekly chance of starting
to research (dormant → researching) and of moving on to evaluate (researching → evaluating)
by the factor 1 + `effect`. Opportunities open as in `pipeline.py`: with chance
`OPPORTUNITY_ON_BUYING` on entering the buying state, plus the dormant accounts' noise; their
amounts are drawn from the segment's lognormal, clipped like the CRM history's.

The **true effect** is computed exactly, not simulated: each account's state distribution is
propagated through the chain under treatment and under control, and E[Y(1)] − E[Y(0)] is
averaged over the accounts in the experiment, for the opportunity rate (at least one
opportunity in the window) and for pipeline per account (expected opportunities × the clipped
lognormal's mean amount). The hidden states serve only to run the market and compute that
truth; the measurement (`abmkit.measure.lift`) sees nothing but groups and outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from abmkit.measure.holdout import HOLDOUT, group_of

from .config import MarketConfig, rng_for
from .pipeline import AMOUNT_MEDIAN, AMOUNT_SIGMA, NOISE_PER_WEEK, OPPORTUNITY_ON_BUYING
from .states import BUYING, DORMANT, EVALUATING, RESEARCHING, TRANSITIONS, entry_probability
from .world import World, build_world

AMOUNT_FLOOR, AMOUNT_CAP = 5_000.0, 2_000_000.0
"""The clip `pipeline.py` applies to every drawn amount."""


@dataclass
class Experiment:
    """Per-account outcomes with their group, and the exact true effect."""

    outcomes: pd.DataFrame
    """account_id, segment, group ("treated" | "holdout"), opportunity (bool), pipeline."""
    true_effect: dict[str, float]
    """opportunity_rate and pipeline_per_account: mean of E[Y(1)] − E[Y(0)] over the accounts."""
    effect: float
    weeks: int
    share: float

    def group(self, name: str, column: str) -> np.ndarray:
        return self.outcomes.loc[self.outcomes["group"] == name, column].to_numpy()


def run_experiment(cfg: MarketConfig, *, effect: float, weeks: int = 26, share: float = 0.1,
                   salt: str | None = None, scope: str = "tier:1",
                   world: World | None = None) -> Experiment:  # fmt: skip
    """Assign the market's target accounts, run `weeks` weeks with treatment, and return the
    outcomes and the true effect. The salt defaults to one per market seed, so markets of
    different seeds draw independent groups; `world` (built from `cfg`) saves rebuilding it."""
    world = world or build_world(cfg)
    accounts, start = world.accounts, world.states[:, -1]
    targets = np.flatnonzero(accounts["is_targeted"].to_numpy())
    ids = accounts["Id"].to_numpy()[targets]
    salt = salt if salt is not None else f"experiment-{cfg.seed}"
    group = np.array([group_of(salt, scope, str(a), share) for a in ids], dtype=object)
    segment = accounts["segment"].to_numpy()[targets]
    propensity = accounts["propensity"].to_numpy()[targets]
    treated = group != HOLDOUT
    rows = {arm: chain(segment, propensity, 1 + effect * arm) for arm in (0, 1)}
    rng = rng_for(cfg, "experiment")
    opened, pipeline = simulate(start[targets], np.where(treated[:, None, None], rows[1],
                                                         rows[0]), segment, weeks, rng)  # fmt: skip
    frame = pd.DataFrame({"account_id": ids, "segment": segment, "group": group,
                          "opportunity": opened, "pipeline": pipeline})  # fmt: skip
    truth = true_effect(start[targets], rows[1], rows[0], segment, weeks)
    return Experiment(frame, truth, effect, weeks, share)


def chain(segment: np.ndarray, propensity: np.ndarray, lift: float) -> np.ndarray:
    """Weekly transition matrices (accounts, 4, 4) with the two forward moves × `lift`."""
    rows = TRANSITIONS[segment].copy()
    entry = np.clip(entry_probability(propensity) * lift, 0, 1)
    rows[:, DORMANT, DORMANT], rows[:, DORMANT, RESEARCHING] = 1 - entry, entry
    back = rows[:, RESEARCHING, DORMANT]
    move = np.minimum(rows[:, RESEARCHING, EVALUATING] * lift, 1 - back)
    rows[:, RESEARCHING, EVALUATING], rows[:, RESEARCHING, RESEARCHING] = move, 1 - back - move
    return rows


def simulate(state: np.ndarray, rows: np.ndarray, segment: np.ndarray, weeks: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Run the chain and draw opportunities: (any opened, their pipeline) per account."""
    n = len(state)
    count = np.zeros(n, dtype=np.int64)
    index = np.arange(n)
    for _ in range(weeks):
        cumulative = np.cumsum(rows[index, state], axis=1)
        nxt = np.minimum((rng.random(n)[:, None] > cumulative).sum(axis=1), BUYING)
        entered = (nxt == BUYING) & (state != BUYING) & (rng.random(n) < OPPORTUNITY_ON_BUYING)
        noise = (nxt == DORMANT) & (rng.random(n) < NOISE_PER_WEEK)
        count += entered + noise
        state = nxt
    pipeline = np.zeros(n)
    for i in np.flatnonzero(count):
        draws = AMOUNT_MEDIAN[segment[i]] * rng.lognormal(0, AMOUNT_SIGMA[segment[i]], count[i])
        pipeline[i] = np.round(np.clip(draws, AMOUNT_FLOOR, AMOUNT_CAP), -2).sum()
    return count > 0, pipeline


def expected_outcomes(state: np.ndarray, rows: np.ndarray, segment: np.ndarray,
                      weeks: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Exactly, per account: P(at least one opportunity) and E[pipeline] over `weeks`."""
    n = len(state)
    dist = np.zeros((n, 4))
    dist[np.arange(n), state] = 1.0
    none = dist.copy()  # mass of the paths that have not opened an opportunity yet
    expected = np.zeros(n)
    for _ in range(weeks):
        expected += _openings(dist, rows)
        dist = np.einsum("ni,nij->nj", dist, rows)
        none = _without_opening(none, rows)
    return 1.0 - none.sum(axis=1), expected * mean_amount(segment)


def _openings(dist: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Expected opportunities opened in one week from the state distribution `dist`."""
    into_buying = np.einsum("ni,ni->n", dist[:, :BUYING], rows[:, :BUYING, BUYING])
    to_dormant = np.einsum("ni,ni->n", dist, rows[:, :, DORMANT])
    return OPPORTUNITY_ON_BUYING * into_buying + NOISE_PER_WEEK * to_dormant


def _without_opening(none: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One week of the no-opportunity-yet mass: what enters buying keeps 1 − the opening
    chance, what lands in dormant keeps 1 − the noise chance."""
    entering = np.einsum("ni,ni->n", none[:, :BUYING], rows[:, :BUYING, BUYING])
    step = np.einsum("ni,nij->nj", none, rows)
    step[:, BUYING] -= OPPORTUNITY_ON_BUYING * entering
    step[:, DORMANT] *= 1 - NOISE_PER_WEEK
    return step


def mean_amount(segment: np.ndarray) -> np.ndarray:
    """E[clip(median × LogNormal(0, σ), floor, cap)] per account's segment (the rounding to
    hundreds changes it by nothing measurable and is left out)."""
    mu, sigma = np.log(AMOUNT_MEDIAN[segment]), AMOUNT_SIGMA[segment]
    lo, hi = (np.log(AMOUNT_FLOOR) - mu) / sigma, (np.log(AMOUNT_CAP) - mu) / sigma
    middle = np.exp(mu + sigma**2 / 2) * (stats.norm.cdf(hi - sigma) - stats.norm.cdf(lo - sigma))
    return AMOUNT_FLOOR * stats.norm.cdf(lo) + middle + AMOUNT_CAP * stats.norm.sf(hi)


def true_effect(state: np.ndarray, treated: np.ndarray, control: np.ndarray,
                segment: np.ndarray, weeks: int) -> dict[str, float]:  # fmt: skip
    """Mean over the accounts of E[Y(1)] − E[Y(0)], for both metrics."""
    rate1, pipe1 = expected_outcomes(state, treated, segment, weeks)
    rate0, pipe0 = expected_outcomes(state, control, segment, weeks)
    return {"opportunity_rate": float(np.mean(rate1 - rate0)),
            "pipeline_per_account": float(np.mean(pipe1 - pipe0))}  # fmt: skip
