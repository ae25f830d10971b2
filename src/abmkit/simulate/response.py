"""Channel response model shared by the history writer and MarketEnv: base rates, lift by
hidden buying state, fatigue by recent exposures. Sources in docs/simulator.md."""

from __future__ import annotations

import numpy as np

# Ad click-through rate per impression, by channel.
AD_CTR = {"linkedin": 0.0045, "display": 0.0009, "meta": 0.009, "google": 0.02}

# Exposure kind -> chain of (outcome, base rate, state sensitivity, parent outcome index).
# A base rate is conditional on the parent outcome; None = on the exposure itself.
CHAINS: dict[str, list[tuple[str, float | dict[str, float], float, int | None]]] = {
    "email_sent": [
        ("email_open", 0.25, 0.3, None),
        ("email_click", 0.10, 1.0, 0),
        ("email_reply", 0.03, 1.2, 0),
        ("meeting", 0.25, 1.5, 2),
    ],
    "ad_impression": [("ad_click", AD_CTR, 1.0, None), ("form_fill", 0.03, 1.5, 0)],
    "call": [("meeting", 0.03, 1.5, None)],
    "direct_mail": [("meeting", 0.03, 1.5, None)],
    "event": [("meeting", 0.06, 1.5, None)],
}
STATE_LIFT = np.array([1.0, 1.6, 2.4, 3.2])
"""Multiplier on response by hidden state (dormant, researching, evaluating, buying)."""
FATIGUE_DECAY = {"email": 0.85, "sales": 0.80, "direct_mail": 0.5, "events": 0.9}
AD_FATIGUE_DECAY = 0.93
"""Response is multiplied by decay ** (exposures of the same person/account on the channel
in the last FATIGUE_WINDOW_DAYS days)."""
FATIGUE_WINDOW_DAYS = 14
OPPORTUNITY_AFTER_MEETING = np.array([0.03, 0.10, 0.25, 0.45])
"""Chance that a meeting opens an opportunity, by hidden state."""
MAX_PROBABILITY = 0.95


def fatigue_decay(channel: np.ndarray) -> np.ndarray:
    """Per-exposure decay factor for each channel value."""
    decay = np.full(len(channel), AD_FATIGUE_DECAY)
    for name, value in FATIGUE_DECAY.items():
        decay[channel == name] = value
    return decay


def base_rate(rate: float | dict[str, float], channel: np.ndarray) -> np.ndarray:
    """Base probability per row (per-channel dicts are looked up; unknown channels get 0)."""
    if isinstance(rate, dict):
        out = np.zeros(len(channel))
        for name, value in rate.items():
            out[channel == name] = value
        return out
    return np.full(len(channel), rate)


def response_probability(
    rate: np.ndarray,
    state: np.ndarray,
    sensitivity: float,
    prior_exposures: np.ndarray | None,
    decay: np.ndarray,
) -> np.ndarray:
    """base * lift(state) ** sensitivity * decay ** prior_exposures, capped."""
    p = rate * STATE_LIFT[state] ** sensitivity
    if prior_exposures is not None:
        p = p * decay**prior_exposures
    return np.clip(p, 0.0, MAX_PROBABILITY)


def sample_chain(
    kind: str,
    channel: np.ndarray,
    state: np.ndarray,
    prior_exposures: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Sample the outcomes of `kind` exposures; fatigue acts on the first step of the chain."""
    chain = CHAINS.get(kind, [])
    draws = rng.random((len(channel), len(chain) + 1))
    decay = fatigue_decay(channel)
    happened: list[np.ndarray] = []
    outcomes: dict[str, np.ndarray] = {}
    for step, (outcome, rate, sensitivity, parent) in enumerate(chain):
        prior = prior_exposures if parent is None else None
        p = response_probability(base_rate(rate, channel), state, sensitivity, prior, decay)
        hit = draws[:, step] < p
        if parent is not None:
            hit &= happened[parent]
        happened.append(hit)
        outcomes[outcome] = outcomes.get(outcome, np.zeros(len(channel), bool)) | hit
    meeting = outcomes.get("meeting", np.zeros(len(channel), bool))
    outcomes["opportunity_created"] = meeting & (draws[:, -1] < OPPORTUNITY_AFTER_MEETING[state])
    return outcomes
