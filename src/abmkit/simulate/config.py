"""MarketConfig: every knob of the synthetic B2B market, with its meaning."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class MarketConfig:
    """Settings of one simulated market. Same config (and seed) => byte-identical files."""

    accounts: int = 5000
    """Number of companies in the total addressable market (100 to 1,000,000)."""
    months: int = 12
    """Months of touches and intent written, starting at `start`."""
    seed: int = 7
    """Seed of every random draw; the whole market is a function of (config, seed)."""
    start: str = "2025-11-01"
    """First day (UTC, ISO date) of the touch and intent window."""
    touch_scale: float = 1.0
    """Multiplier on marketing, sales and web activity volume (benchmarks: 10 => ~10x touches)."""
    history_months: int = 12
    """Months of CRM opportunity history simulated before `start` (opportunities only)."""
    customer_share: float = 0.06
    """Share of accounts that were already customers before the CRM history begins."""
    targeted_share: float = 0.25
    """Share of accounts on the seller's ABM target list (they receive ads and nurtures)."""
    nurture_share: float = 0.4
    """Share of contacts of targeted accounts enrolled in the bi-weekly e-mail nurture."""
    intent_coverage: float = 0.5
    """Share of accounts that Bombora observes in a given week (noise rows)."""
    sales_owners: int = 4
    """Number of account owners (Salesforce users) the accounts are spread over."""
    seller_domain: str = "seller.example"
    """Domain of the simulated seller; web visits are on https://www.<seller_domain>/."""

    def __post_init__(self) -> None:
        if not 1 <= self.accounts <= 5_000_000:
            raise ValueError(f"accounts must be in 1..5,000,000, got {self.accounts}")
        if self.months < 1 or self.history_months < 0:
            raise ValueError("months must be >= 1 and history_months >= 0")
        if self.touch_scale <= 0:
            raise ValueError(f"touch_scale must be > 0, got {self.touch_scale}")

    @property
    def start_day(self) -> np.datetime64:
        """First simulated day of the touch window."""
        return np.datetime64(self.start, "D")

    @property
    def end_day(self) -> np.datetime64:
        """Day after the last simulated day: the as-of date of the CRM export."""
        month = np.datetime64(self.start, "M") + self.months
        offset = self.start_day - np.datetime64(self.start, "M").astype("datetime64[D]")
        return month.astype("datetime64[D]") + offset

    @property
    def history_start_day(self) -> np.datetime64:
        """First day of the hidden-state history (start minus history_months)."""
        month = np.datetime64(self.start, "M") - self.history_months
        offset = self.start_day - np.datetime64(self.start, "M").astype("datetime64[D]")
        return month.astype("datetime64[D]") + offset

    @property
    def history_weeks(self) -> int:
        """Weeks of hidden state before `start`."""
        return int((self.start_day - self.history_start_day).astype(int) // 7)

    @property
    def weeks(self) -> int:
        """Weeks in the touch window (the last may be partial)."""
        days = int((self.end_day - self.start_day).astype(int))
        return -(-days // 7)

    def to_json(self) -> str:
        """Stable JSON form, written to truth/simulation.json."""
        return json.dumps(asdict(self), sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str) -> MarketConfig:
        """Read back what to_json wrote (unknown keys are ignored)."""
        raw = json.loads(text)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})

    @classmethod
    def from_dir(cls, out_dir: Path) -> MarketConfig:
        """Config of a market written by simulate_market into out_dir."""
        return cls.from_json((Path(out_dir) / "truth" / "simulation.json").read_text())


def rng_for(cfg: MarketConfig, stream: str) -> np.random.Generator:
    """Independent, reproducible random stream per component of the market."""
    key = [cfg.seed, *stream.encode()]
    return np.random.default_rng(np.random.SeedSequence(key))
