"""Opportunities: opened mostly when an account enters the buying state, plus some noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import MarketConfig, rng_for
from .ids import salesforce_ids
from .states import BUYING
from .world import World

STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]
# Per segment (SMB, Mid-Market, Enterprise): median amount USD, sigma, median cycle days, win rate.
AMOUNT_MEDIAN = np.array([16_000.0, 50_000.0, 250_000.0])
AMOUNT_SIGMA = np.array([0.25, 0.4, 0.6])
CYCLE_MEDIAN = np.array([45.0, 90.0, 180.0])
CYCLE_SIGMA = 0.25
WIN_RATE = np.array([0.28, 0.22, 0.18])
OPPORTUNITY_ON_BUYING = 0.7
"""Chance that entering the buying state opens an opportunity in the CRM."""
NOISE_PER_WEEK = 0.0004
"""Weekly chance of an opportunity from a dormant account (bad fit, tyre-kickers)."""
NOISE_WIN_FACTOR = 0.4
LEAD_SOURCES = (
    ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
    [0.45, 0.10, 0.15, 0.05, 0.25],
)
PRODUCTS = ["Platform", "Data Cloud", "Analytics Add-on", "Expansion", "Services"]


def build_opportunities(world: World) -> pd.DataFrame:
    """Opportunities with export columns and hidden truth columns (origin, cycle_days, p_win)."""
    cfg = world.cfg
    rng = rng_for(cfg, "opportunities")
    account, week, in_market = _openings(world.states, rng)
    created = cfg.history_start_day + week * 7 + rng.integers(0, 7, len(week))
    keep = created < cfg.end_day
    account, created, in_market = account[keep], created[keep], in_market[keep]
    order = np.lexsort((account, created))
    frame = pd.DataFrame(
        {"account_index": account[order], "created": created[order], "in_market": in_market[order]}
    )
    _add_terms(frame, world, rng)
    _add_status(frame, cfg)
    _add_export_fields(frame, world, rng)
    return frame


def _openings(states: np.ndarray, rng: np.random.Generator):
    """(account, week, in_market) of each new opportunity."""
    entered = (states[:, 1:] == BUYING) & (states[:, :-1] != BUYING)
    entered &= rng.random(entered.shape) < OPPORTUNITY_ON_BUYING
    noise = (states[:, 1:] == 0) & (rng.random(entered.shape) < NOISE_PER_WEEK)
    a1, w1 = np.nonzero(entered)
    a2, w2 = np.nonzero(noise)
    flag = np.concatenate([np.ones(len(a1), bool), np.zeros(len(a2), bool)])
    return np.concatenate([a1, a2]), np.concatenate([w1, w2]) + 1, flag


def _add_terms(frame: pd.DataFrame, world: World, rng: np.random.Generator) -> None:
    n = len(frame)
    account = frame["account_index"].to_numpy()
    segment = world.accounts["segment"].to_numpy()[account]
    fit = world.accounts["fit"].to_numpy()[account]
    frame["segment"] = segment
    amount = AMOUNT_MEDIAN[segment] * rng.lognormal(0, AMOUNT_SIGMA[segment])
    frame["amount"] = np.round(np.clip(amount, 5_000, 2_000_000), -2)
    p_win = WIN_RATE[segment] * (0.6 + 0.8 * fit)
    p_win = np.where(frame["in_market"], p_win * 1.15, p_win * NOISE_WIN_FACTOR)
    frame["p_win"] = np.clip(p_win, 0.01, 0.9)
    frame["won"] = rng.random(n) < frame["p_win"].to_numpy()
    cycle = CYCLE_MEDIAN[segment] * rng.lognormal(0, CYCLE_SIGMA, n)
    frame["cycle_days"] = np.maximum(np.round(cycle), 7).astype(np.int64)


def _add_status(frame: pd.DataFrame, cfg: MarketConfig) -> None:
    created = frame["created"].to_numpy().astype("datetime64[D]")
    close = created + frame["cycle_days"].to_numpy().astype("timedelta64[D]")
    closed = close < cfg.end_day
    age = (cfg.end_day - created).astype(np.int64)
    progress = np.clip(age / frame["cycle_days"].to_numpy() * 8, 0, 7).astype(int)
    stage = np.where(closed, np.where(frame["won"], 8, 9), progress)
    frame["close"] = close
    frame["is_closed"] = closed
    frame["StageName"] = np.array(STAGES, dtype=object)[stage]


def _add_export_fields(frame: pd.DataFrame, world: World, rng: np.random.Generator) -> None:
    accounts = world.accounts
    account = frame["account_index"].to_numpy()
    frame["Id"] = salesforce_ids("006", len(frame))
    frame["AccountId"] = accounts["Id"].to_numpy()[account]
    product = np.array(PRODUCTS, dtype=object)[rng.integers(0, len(PRODUCTS), len(frame))]
    year = frame["created"].dt.year.astype(str).to_numpy()
    frame["Name"] = accounts["Name"].to_numpy()[account] + " - " + product + " " + year
    customer = accounts["was_customer"].to_numpy()[account]
    frame["Type"] = np.where(customer, "Existing Customer - Upgrade", "New Business")
    names, weights = LEAD_SOURCES
    frame["LeadSource"] = np.array(names, dtype=object)[
        rng.choice(len(names), len(frame), p=weights)
    ]
    frame["OwnerId"] = accounts["OwnerId"].to_numpy()[account]


def account_types(world: World, opportunities: pd.DataFrame) -> np.ndarray:
    """`Customer` for earlier customers and accounts with a won deal by the export date."""
    won = opportunities.loc[opportunities["is_closed"] & opportunities["won"], "account_index"]
    customer = world.accounts["was_customer"].to_numpy().copy()
    customer[won.to_numpy()] = True
    return np.where(customer, "Customer", "Prospect")
