"""The hidden truth, written apart under truth/ (parquet); no export refers to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import catalog as cat
from .states import STATES
from .world import World


def write_truth(world: World, opportunities: pd.DataFrame, folder: Path) -> None:
    """accounts_truth, account_weeks, committee, opportunity_truth and simulation.json."""
    folder.mkdir(parents=True, exist_ok=True)
    accounts_truth(world).to_parquet(folder / "accounts_truth.parquet", index=False)
    account_weeks(world).to_parquet(folder / "account_weeks.parquet", index=False)
    committee(world).to_parquet(folder / "committee.parquet", index=False)
    opportunity_truth(opportunities).to_parquet(folder / "opportunity_truth.parquet", index=False)
    (folder / "simulation.json").write_text(world.cfg.to_json())


def accounts_truth(world: World) -> pd.DataFrame:
    """One row per account: segment, fit, propensity, committee size, weeks in market."""
    a = world.accounts
    window = world.states[:, world.cfg.history_weeks :]
    return pd.DataFrame(
        {
            "account_id": a["Id"],
            "domain": a["domain"],
            "segment": np.array(cat.SEGMENTS, dtype=object)[a["segment"].to_numpy()],
            "fit": a["fit"],
            "propensity": a["propensity"],
            "committee_size": a["committee_size"],
            "is_targeted": a["is_targeted"],
            "was_customer": a["was_customer"],
            "in_market_weeks": (window > 0).sum(axis=1),
            "buying_weeks": (window == 3).sum(axis=1),
        }
    )


def account_weeks(world: World) -> pd.DataFrame:
    """Hidden state per account and week (history and touch window), long format."""
    n, weeks = world.states.shape
    start = world.cfg.history_start_day + 7 * np.arange(weeks)
    return pd.DataFrame(
        {
            "account_id": np.repeat(world.accounts["Id"].to_numpy(), weeks),
            "week_start": np.tile(start, n).astype("datetime64[ms]"),
            "state": pd.Categorical.from_codes(world.states.ravel().astype(np.int64), STATES),
            "in_touch_window": np.tile(np.arange(weeks) >= world.cfg.history_weeks, n),
        }
    )


def committee(world: World) -> pd.DataFrame:
    """Buying-committee role of each contact (`other` = not in the committee)."""
    c = world.contacts
    return pd.DataFrame(
        {
            "contact_id": c["Id"],
            "account_id": c["AccountId"],
            "role": c["role"],
            "is_committee": c["is_committee"],
            "in_nurture": c["in_nurture"],
        }
    )


def opportunity_truth(opps: pd.DataFrame) -> pd.DataFrame:
    """Why each opportunity exists and how it was meant to end."""
    return pd.DataFrame(
        {
            "opportunity_id": opps["Id"],
            "account_id": opps["AccountId"],
            "segment": np.array(cat.SEGMENTS, dtype=object)[opps["segment"].to_numpy()],
            "from_in_market": opps["in_market"],
            "p_win": opps["p_win"],
            "won": opps["won"],
            "cycle_days": opps["cycle_days"],
            "amount": opps["amount"],
        }
    )
