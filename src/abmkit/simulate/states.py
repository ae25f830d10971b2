"""Hidden buying state of each account: a weekly Markov chain with segment-specific moves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import MarketConfig, rng_for

STATES = ["dormant", "researching", "evaluating", "buying"]
DORMANT, RESEARCHING, EVALUATING, BUYING = range(4)

# Weekly transition rows per segment (SMB, Mid-Market, Enterprise); the dormant row is set
# per account from its propensity (see entry_probability). Larger companies move slower.
TRANSITIONS = np.array(
    [
        [[1, 0, 0, 0], [0.15, 0.70, 0.15, 0], [0.20, 0, 0.60, 0.20], [0.60, 0, 0, 0.40]],
        [[1, 0, 0, 0], [0.13, 0.75, 0.12, 0], [0.15, 0, 0.70, 0.15], [0.50, 0, 0, 0.50]],
        [[1, 0, 0, 0], [0.10, 0.80, 0.10, 0], [0.11, 0, 0.78, 0.11], [0.40, 0, 0, 0.60]],
    ]
)
WEEKLY_ENTRY = 0.016
"""Weekly chance that an account of average propensity (0.5) starts researching."""
INITIAL_STATE = [0.90, 0.05, 0.03, 0.02]


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
