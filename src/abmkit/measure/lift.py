"""Lift against randomized holdouts: what the plays changed, with an interval a reader can check.

For every recorded holdout scope (`abmkit.measure.holdout`) each assigned account has two
outcomes: whether an opportunity was created on or after the day it was assigned (warehouse
table `opportunities`), and the pipeline (the sum of those opportunities' amounts). Treated
accounts are compared with held-out ones:

- **opportunity_rate**: the difference of two proportions with Newcombe's hybrid score interval
  (the Wilson intervals of each rate combined; method 10 of Newcombe 1998), which keeps close
  to its nominal coverage with few events and rates near zero, where the Wald interval fails.
- **pipeline_per_account**: the difference of two means with a seeded residual bootstrap (both
  groups' deviations drawn from one pool, basic interval): most accounts have no pipeline and a
  few rare large deals make most of it, which a small holdout resampled alone cannot show
  (`residual_bootstrap` says why; benchmarks/bench_lift.py measures the coverage of both).

A difference is `significant` when its interval leaves out zero and the sample is large enough
to judge: at least `measure.holdout.min_accounts` accounts in each group and at least
`MIN_EVENTS` accounts with an opportunity in the two groups together. Otherwise `note` says
plainly that the sample is too small. The note also gives the minimum detectable effect (80%
power, two-sided at the confidence level), so a reader knows what size of lift the holdout can
see at all. The statistics are pure functions over NumPy arrays (`compare_rates`,
`compare_means`); `lift` reads the workspace and calls them per scope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from abmkit.errors import AbmError
from abmkit.measure import holdout

if TYPE_CHECKING:
    from abmkit.app import Abm

COLUMNS = ["scope", "metric", "treated", "treated_accounts", "holdout", "holdout_accounts",
           "difference", "low", "high", "significant", "note"]  # fmt: skip
METRICS = ("opportunity_rate", "pipeline_per_account")
MIN_EVENTS = 5
"""Fewer accounts with an opportunity than this in both groups together: too small to judge."""
POWER = 0.8
RESAMPLES = 9999


@dataclass(frozen=True)
class Comparison:
    """Treated against holdout on one metric: the two values, their difference with its
    interval, whether it is significant, and a plain note."""

    treated: float
    treated_accounts: int
    holdout: float
    holdout_accounts: int
    difference: float
    low: float
    high: float
    significant: bool
    note: str


# -- the statistics ---------------------------------------------------------------------------
def wilson(events: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval for a proportion (no continuity correction)."""
    p = events / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(x1: int, n1: int, x2: int, n2: int, confidence: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 − p2 from the two Wilson intervals."""
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    return d - float(np.hypot(p1 - l1, u2 - p2)), d + float(np.hypot(u1 - p1, p2 - l2))


def compare_rates(treated: np.ndarray, holdout: np.ndarray, *, confidence: float = 0.95,
                  min_accounts: int = 30) -> Comparison:  # fmt: skip
    """The rate of an outcome (0/1 per account) among treated accounts minus among held-out
    ones, with Newcombe's hybrid score interval."""
    t, h = np.asarray(treated, dtype=float), np.asarray(holdout, dtype=float)
    if not len(t) or not len(h):
        return _empty(t, h)
    x1, x2 = int(t.sum()), int(h.sum())
    low, high = newcombe(x1, len(t), x2, len(h), confidence)
    pooled = (x1 + x2) / (len(t) + len(h))
    spread = np.sqrt(pooled * (1 - pooled) * (1 / len(t) + 1 / len(h)))
    mde = f"{100 * _mde(spread, confidence):.1f} percentage points"
    return _compared(t, h, low, high, min_accounts, x1 + x2, mde, "with an opportunity")


def compare_means(treated: np.ndarray, holdout: np.ndarray, *, confidence: float = 0.95,
                  min_accounts: int = 30, seed: int = 0, resamples: int = RESAMPLES,
                  method: str = "residual") -> Comparison:  # fmt: skip
    """The mean of an amount per treated account minus per held-out account, with a seeded
    bootstrap interval: `residual` (the default, see `residual_bootstrap`), or one of
    `scipy.stats.bootstrap`'s methods (BCa, percentile, basic) resampling each group alone."""
    t, h = np.asarray(treated, dtype=float), np.asarray(holdout, dtype=float)
    if not len(t) or not len(h):
        return _empty(t, h)
    if method == "residual":
        low, high = residual_bootstrap(t, h, confidence, seed, resamples)
    else:
        low, high = group_bootstrap(t, h, confidence, seed, resamples, method)
    spread = float(np.sqrt(_pooled_variance(t, h) * (1 / len(t) + 1 / len(h))))
    events = int((t != 0).sum() + (h != 0).sum())
    mde = _mde(spread, confidence)
    text = f"${mde:,.0f} per account" if np.isfinite(mde) else ""
    return _compared(t, h, low, high, min_accounts, events, text, "with pipeline")


def residual_bootstrap(t: np.ndarray, h: np.ndarray, confidence: float, seed: int,
                       resamples: int = RESAMPLES) -> tuple[float, float]:  # fmt: skip
    """A basic (pivotal) bootstrap interval for mean(t) − mean(h) that draws both groups'
    deviations from their means out of one pool (a residual bootstrap of pipeline ~ group).

    Why pooled: a holdout is small, and pipeline per account is ruled by rare large deals; a
    holdout of 75 accounts usually has none, so resampling it alone (scipy's BCa or percentile)
    sees almost no spread and covered the true effect in 70–78% of simulated markets. The pool
    holds the treated accounts' large deals too, so the holdout's mean varies as much as such
    an account's could; its skew stays in the resamples, and the basic interval turns it the
    right way round (a mean that is usually low is usually low by more than the rare high)."""
    d = float(t.mean() - h.mean())
    pool = np.concatenate([t - t.mean(), h - h.mean()])
    if not pool.any():
        return d, d
    pool *= np.sqrt(len(pool) / max(len(pool) - 2, 1))  # two means were estimated
    rng = np.random.default_rng(seed)
    errors = np.concatenate([_resampled_mean(pool, len(t), n, rng) -
                             _resampled_mean(pool, len(h), n, rng)
                             for n in _batches(resamples, len(pool))])  # fmt: skip
    tail = (1 - confidence) / 2
    low, high = np.quantile(errors, [tail, 1 - tail])
    return d - float(high), d - float(low)


def _resampled_mean(pool: np.ndarray, size: int, times: int,
                    rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    return pool[rng.integers(0, len(pool), (times, size))].mean(axis=1)


def _batches(total: int, width: int, cells: int = 4_000_000) -> list[int]:
    """`total` resamples in batches of at most `cells` drawn values each (bounded memory)."""
    step = max(1, cells // max(width, 1))
    return [min(step, total - k) for k in range(0, total, step)]


def _pooled_variance(t: np.ndarray, h: np.ndarray) -> float:
    n = len(t) + len(h)
    if n <= 2:
        return float("nan")
    return float((((t - t.mean()) ** 2).sum() + ((h - h.mean()) ** 2).sum()) / (n - 2))


def group_bootstrap(t: np.ndarray, h: np.ndarray, confidence: float, seed: int,
                    resamples: int, method: str) -> tuple[float, float]:  # fmt: skip
    """An interval for mean(t) − mean(h) by `scipy.stats.bootstrap`, each group resampled
    alone (kept to compare with `residual_bootstrap`: benchmarks/bench_lift.py)."""
    d = float(t.mean() - h.mean())
    if np.ptp(t) == 0 and np.ptp(h) == 0:
        return d, d  # nothing varies: every resample gives the same difference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate BCa warns; percentile then
        result = stats.bootstrap(
            (t, h), _difference, vectorized=True, n_resamples=resamples, batch=1000,
            confidence_level=confidence, method=method,
            random_state=np.random.default_rng(seed),
        )  # fmt: skip
        ci = result.confidence_interval
        if not (np.isfinite(ci.low) and np.isfinite(ci.high)) and method != "percentile":
            return group_bootstrap(t, h, confidence, seed, resamples, "percentile")
    return float(ci.low), float(ci.high)


def _difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return a.mean(axis=axis) - b.mean(axis=axis)


def _mde(spread: float, confidence: float) -> float:
    """The smallest true difference found significant with probability POWER."""
    z = stats.norm.ppf(0.5 + confidence / 2) + stats.norm.ppf(POWER)
    return float(z * spread)


def _compared(t: np.ndarray, h: np.ndarray, low: float, high: float, min_accounts: int,
              events: int, mde: str, what: str) -> Comparison:  # fmt: skip
    """The comparison with its verdict: significant only when the interval leaves out zero
    and the sample is large enough to judge."""
    small = too_small(len(t), len(h), events, min_accounts, what)
    parts = [f"{small} — too small a sample to judge"] if small else []
    if events and mde:
        parts.append(f"smallest lift detectable at {POWER:.0%} power: {mde}")
    return Comparison(float(t.mean()), len(t), float(h.mean()), len(h),
                      float(t.mean() - h.mean()), float(low), float(high),
                      bool((low > 0 or high < 0) and not small), "; ".join(parts))  # fmt: skip


def too_small(treated: int, held: int, events: int, min_accounts: int,
              what: str = "with an opportunity") -> str:  # fmt: skip
    """Why a comparison is too small to judge ('' when it is not)."""
    if min(treated, held) < min_accounts:
        which = "holdout" if held < treated else "treated"
        return (f"{min(treated, held):,} {which} accounts (measure.holdout.min_accounts is "
                f"{min_accounts})")  # fmt: skip
    if events < MIN_EVENTS:
        return f"{events} accounts {what} in both groups together (fewer than {MIN_EVENTS})"
    return ""


def _empty(t: np.ndarray, h: np.ndarray) -> Comparison:
    nan = float("nan")
    missing = "no holdout accounts" if not len(h) else "no treated accounts"
    return Comparison(float(t.mean()) if len(t) else nan, len(t),
                      float(h.mean()) if len(h) else nan, len(h), nan, nan, nan, False,
                      f"{missing} — too small a sample to judge")  # fmt: skip


# -- the workspace ----------------------------------------------------------------------------
def lift(abm: Abm, *, scope: str | None = None, since: dt.date | None = None,
         until: dt.date | None = None) -> pd.DataFrame:  # fmt: skip
    """Per recorded holdout scope (or one) and metric: treated against holdout, the difference
    with its interval at `measure.holdout.confidence`, significance and a note (`COLUMNS`).
    Opportunities count from the later of an account's assignment day and `since`, up to
    `until` (inclusive) when given."""
    h = abm.settings.measure.holdout
    assigned = holdout.assignments(abm, scope)
    if scope and assigned.empty:
        known = ", ".join(s.scope for s in holdout.listing(abm)) or "none"
        raise AbmError(f"no holdout assignments in scope {scope!r}; recorded scopes: {known}")
    outcomes = account_outcomes(abm, assigned, since, until)
    rows = []
    for name, part in outcomes.groupby("scope", sort=True):
        treated = part[part["group"] == holdout.TREATED]
        held = part[part["group"] == holdout.HOLDOUT]
        rate = compare_rates(treated["opportunity"].to_numpy(), held["opportunity"].to_numpy(),
                             confidence=h.confidence, min_accounts=h.min_accounts)  # fmt: skip
        mean = compare_means(treated["pipeline"].to_numpy(), held["pipeline"].to_numpy(),
                             confidence=h.confidence, min_accounts=h.min_accounts,
                             seed=_seed(str(name)))  # fmt: skip
        rows += [_row(str(name), METRICS[0], rate), _row(str(name), METRICS[1], mean)]
    return pd.DataFrame(rows, columns=COLUMNS)


def account_outcomes(abm: Abm, assigned: pd.DataFrame, since: dt.date | None,
                     until: dt.date | None) -> pd.DataFrame:  # fmt: skip
    """`assigned` with each account's outcomes: opportunity (bool), pipeline (float)."""
    out = assigned.assign(opportunity=False, pipeline=0.0)
    if assigned.empty:
        return out
    first = pd.to_datetime(assigned["assigned_at"]).dt.normalize()
    start = first if since is None else first.clip(lower=pd.Timestamp(since))
    opps = _opportunities(abm, start.min().date(), until)
    if opps.empty:
        return out
    both = out.assign(start=start).merge(opps, on="account_id")
    both = both[both["created_at"] >= both["start"]]
    per = both.groupby(["scope", "account_id"]).agg(n=("created_at", "size"),
                                                     amount=("amount", "sum"))  # fmt: skip
    keyed = out.set_index(["scope", "account_id"])
    keyed.loc[per.index, "opportunity"] = per["n"] > 0
    keyed.loc[per.index, "pipeline"] = per["amount"].astype(float)
    return keyed.reset_index()


def _opportunities(abm: Abm, since: dt.date, until: dt.date | None) -> pd.DataFrame:
    """account_id, amount (0 when missing), created_at of opportunities created from `since`."""
    o = abm.warehouse.table("opportunities")
    keep = o.account_id.notnull() & (o.created_at >= since)
    if until is not None:
        keep &= o.created_at <= until
    rows = abm.warehouse.arrow(o.filter(keep).select("account_id", "amount", "created_at"))
    frame = rows.to_pandas()
    frame["amount"] = frame["amount"].fillna(0.0).astype(float)
    frame["created_at"] = pd.to_datetime(frame["created_at"])
    return frame


def _row(scope: str, metric: str, c: Comparison) -> dict:
    return {"scope": scope, "metric": metric, "treated": c.treated,
            "treated_accounts": c.treated_accounts, "holdout": c.holdout,
            "holdout_accounts": c.holdout_accounts, "difference": c.difference, "low": c.low,
            "high": c.high, "significant": c.significant, "note": c.note}  # fmt: skip


def _seed(scope: str) -> int:
    """The bootstrap's seed for a scope: the same numbers every time lift is asked."""
    return int.from_bytes(hashlib.sha256(scope.encode()).digest()[:4], "big")
