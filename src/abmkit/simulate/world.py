"""The hidden world: companies, people and weekly buying states, built from a MarketConfig."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import MarketConfig
from .firmographics import build_accounts
from .people import build_contacts
from .states import simulate_states


@dataclass
class World:
    """Everything the files are drawn from; rebuilt identically from the config alone."""

    cfg: MarketConfig
    accounts: pd.DataFrame
    contacts: pd.DataFrame
    states: np.ndarray
    """Hidden state per (account, week), weeks counted from history start."""
    contact_start: np.ndarray
    """First contact row of each account (contacts are contiguous per account)."""
    contact_count: np.ndarray

    def week_state(self, week: int) -> np.ndarray:
        """Hidden states in touch-window week `week` (0 = the week starting at cfg.start)."""
        return self.states[:, self.cfg.history_weeks + week]

    def random_contact(
        self, account: np.ndarray, rng: np.random.Generator, committee_only: bool = False
    ) -> np.ndarray:
        """One random contact row per given account (committee members first when asked)."""
        count = self.contact_count[account]
        if committee_only:
            count = np.minimum(count, self.accounts["committee_size"].to_numpy()[account])
        return self.contact_start[account] + (rng.random(len(account)) * count).astype(np.int64)


def build_world(cfg: MarketConfig) -> World:
    """Companies, contacts and the state chain; deterministic in cfg."""
    accounts = build_accounts(cfg)
    contacts = build_contacts(cfg, accounts)
    states = simulate_states(cfg, accounts)
    count = np.bincount(contacts["account_index"].to_numpy(), minlength=len(accounts))
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    return World(cfg, accounts, contacts, states, start, count)
