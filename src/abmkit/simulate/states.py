"""Hidden buying state of each account: a weekly Markov chain with segment-specific moves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import MarketConfig, rng_for

STATES = ["dormant", "researching", "evaluating", "buying"]
DORMANT, RESEARCHING, EVALUATING, BUYING = range(4)

# Weekly transition rows per segment (SMB, Mid-Market, Enterprise); the dormant row is set
# per account from its propensity (see entry_probability). Research lasts about 7, 8 and 10
# weeks and evaluation about 4.5, 5.5 and 7 (the mean stay is 1 ÷ (1 − the diagonal)), so
# the first research comes some 3 months before an opportunity, longer for larger companies:
# Bombora reads a surge as 3 weeks against the 12 before them, and 6sense back-tests accounts
# scored 90 days ahead of the opportunities they open (REFERENCE.md). Six in ten researchers
# go on to evaluate and about two in three evaluators to buy; the others drop back to dormant.
TRANSITIONS = np.array(
    [
        [[1, 0, 0, 0], [0.06, 0.85, 0.09, 0], [0.07, 0, 0.78, 0.15], [0.60, 0, 0, 0.40]],
        [[1, 0, 0, 0], [0.05, 0.875, 0.075, 0], [0.06, 0, 0.82, 0.12], [0.50, 0, 0, 0.50]],
        [[1, 0, 0, 0], [0.04, 0.90, 0.06, 0], [0.05, 0, 0.86, 0.09], [0.40, 0, 0, 0.60]],
    ]
)
WEEKLY_ENTRY = 0.009
"""Weekly chance that an account of average propensity (0.5) starts researching: with the
longer journeys, about 8% of accounts are in market at a time (the "95-5 rule")."""
INITIAL_STATE = [0.91, 0.06, 0.02, 0.01]


def entry_probability(propensity: np.ndarray) -> np.ndarray:
    """Weekly chance of dormant -> researching: proportional to the hidden propensity."""
    return np.clip(WEEKLY_ENTRY * 2 * propensity, 0, 0.5)


def advance_states(
    state: np.ndarray, segment: np.ndarray, propensity: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One week of the chain for every account at once."""
    rows = TRANSITIONS[segment, state].copy()
    dormant = state == DORMANT
    entry = entry_probability(propensity[dormant])
    rows[dormant, DORMANT] = 1 - entry
    rows[dormant, RESEARCHING] = entry
    cumulative = np.cumsum(rows, axis=1)
    draw = rng.random(len(state))[:, None]
    return np.minimum((draw > cumulative).sum(axis=1), BUYING).astype(np.int8)


def simulate_states(cfg: MarketConfig, accounts: pd.DataFrame) -> np.ndarray:
    """State per (account, week) over history + touch window: int8 array (accounts, weeks)."""
    rng = rng_for(cfg, "states")
    segment = accounts["segment"].to_numpy()
    propensity = accounts["propensity"].to_numpy()
    total = cfg.history_weeks + cfg.weeks
    states = np.empty((len(accounts), total), dtype=np.int8)
    states[:, 0] = rng.choice(4, size=len(accounts), p=INITIAL_STATE)
    for week in range(1, total):
        states[:, week] = advance_states(states[:, week - 1], segment, propensity, rng)
    return states
