"""MarketEnv: a step-able market over the same hidden truth, for rehearsing plays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .catalog import TOPIC_CATEGORIES
from .config import MarketConfig, rng_for
from .pipeline import OPPORTUNITY_ON_BUYING
from .response import FATIGUE_WINDOW_DAYS, sample_chain
from .signals import week_intent, week_visits
from .states import BUYING, advance_states
from .touches import CHANNELS
from .world import World, build_world

ACTION_COLUMNS = ["account_id", "contact_id", "channel", "kind", "cost"]
OUTCOME_COLUMNS = ["opened", "clicked", "replied", "form_fill", "meeting", "opportunity_created"]


class MarketEnv:
    """Hidden buying states and fatigue counters, moved by actions and by time.

    Time starts where the written history ends (cfg.end_day); states continue the chain.
    """

    def __init__(self, cfg: MarketConfig, world: World | None = None) -> None:
        self.cfg = cfg
        self.world = world or build_world(cfg)
        self.rng = rng_for(cfg, "env")
        # The chain and the signals draw from streams of their own, so policies rehearsed on the
        # same seed meet the same market whatever actions they take (common random numbers).
        self.chain_rng = rng_for(cfg, "env-chain")
        self.signal_rng = rng_for(cfg, "env-signals")
        self.states = self.world.states[:, -1].copy()
        self.day = cfg.end_day
        self._elapsed = 0
        self._account_index = pd.Index(self.world.accounts["Id"])
        self._contact_index = pd.Index(self.world.contacts["Id"])
        self._log = np.empty((0, 2), dtype=np.int64)  # (fatigue key, day number)

    @classmethod
    def from_dir(cls, out_dir: Path) -> MarketEnv:
        """Environment over the market that simulate_market wrote into out_dir."""
        return cls(MarketConfig.from_dir(Path(out_dir)))

    def step(self, actions) -> pd.DataFrame:
        """Apply actions now; returns one row per action with sampled outcomes.

        `actions`: list of (account_id, contact_id | None, channel, kind, cost) tuples or dicts,
        or a pandas/pyarrow table with those columns.
        """
        frame = _actions_frame(actions)
        account = self._account_index.get_indexer(frame["account_id"])
        if (account < 0).any():
            raise ValueError(f"unknown account_id: {frame['account_id'][account < 0].iloc[0]}")
        contact = self._contact_index.get_indexer(frame["contact_id"].fillna(""))
        channel = frame["channel"].to_numpy(dtype=object)
        prior = self._prior_exposures(account, contact, channel)
        state = self.states[account]
        kinds = frame["kind"].to_numpy(dtype=object)
        result = frame.copy()
        for column in OUTCOME_COLUMNS:
            result[column] = False
        result["prior_exposures"] = prior
        for kind in pd.unique(kinds):
            rows = np.flatnonzero(kinds == kind)
            hit = sample_chain(kind, channel[rows], state[rows], prior[rows], self.rng)
            _record(result, rows, hit)
        return result

    def advance(self, days: int = 7) -> pd.DataFrame:
        """Move time forward; every completed week steps the hidden chain. Returns the
        opportunities opened by accounts entering the buying state (account_id, created)."""
        weeks = (self._elapsed + days) // 7 - self._elapsed // 7
        opened = []
        segment = self.world.accounts["segment"].to_numpy()
        propensity = self.world.accounts["propensity"].to_numpy()
        for week in range(weeks):
            before = self.states
            self.states = advance_states(before, segment, propensity, self.chain_rng)
            entered = (self.states == BUYING) & (before != BUYING)
            entered &= self.chain_rng.random(len(entered)) < OPPORTUNITY_ON_BUYING
            day = self.day + 7 * (week + 1) - 1
            opened.append(
                pd.DataFrame(
                    {
                        "account_id": self._account_index[entered],
                        "created": np.full(entered.sum(), day),
                    }
                )
            )
        self._elapsed += days
        self.day = self.day + days
        self._log = self._log[self._log[:, 1] > self._today() - FATIGUE_WINDOW_DAYS]
        return (
            pd.concat(opened, ignore_index=True)
            if opened
            else pd.DataFrame({"account_id": [], "created": []})
        )

    def observe(self, days: int = 1) -> dict[str, pd.DataFrame]:
        """What the market shows over the next `days` days from now (call before advance):
        web visits of company visitors from the current hidden states ("visits": ts in epoch
        seconds, account_id by the visitor's office IP block, contact_id of a known visitor or
        None, url), and on the first day of each week the week's Bombora-style surge rows
        ("intent": account_id, topic, score). Draws from the same generators as the history
        files."""
        start_s = int(self.day.astype("datetime64[s]").astype(np.int64))
        no_clicks = np.empty((0, 3), dtype=np.int64)
        visits = week_visits(self.world, 0, start_s, days, no_clicks, self.signal_rng,
                             state=self.states, share=days / 7)  # fmt: skip
        account = _account_of_ip(self.world, visits["ip"])
        contact = visits["contact"]
        frame = pd.DataFrame({
            "ts": visits["ts"],
            "account_id": np.where(account >= 0, self._account_index[np.maximum(account, 0)],
                                   None),
            "contact_id": np.where(contact >= 0, self._contact_index[np.maximum(contact, 0)],
                                   None),
            "url": visits["url"],
        })  # fmt: skip
        out = {"visits": frame[frame["account_id"].notna()].reset_index(drop=True)}
        if self._elapsed % 7 == 0:
            rows = week_intent(self.world, 0, self.signal_rng, state=self.states)
            topics = [t for ts in TOPIC_CATEGORIES.values() for t in ts]
            out["intent"] = pd.DataFrame({
                "account_id": self._account_index[rows["account"].to_numpy()],
                "topic": np.array(topics, dtype=object)[rows["topic"].to_numpy()],
                "score": rows["score"].to_numpy(),
            })  # fmt: skip
        return out

    def _today(self) -> int:
        return int(self.day.astype(np.int64))

    def _prior_exposures(self, account, contact, channel) -> np.ndarray:
        """Exposures of the same person (or account, for ads) on the channel in 14 days,
        counting earlier actions of this batch; logs the new exposures."""
        code = pd.Series(channel).map({c: i for i, c in enumerate(CHANNELS)}).fillna(15)
        owner = np.where(contact >= 0, contact, -(account + 1))
        key = owner * 16 + code.to_numpy(dtype=np.int64)
        recent, counts = np.unique(self._log[:, 0], return_counts=True)
        lookup = pd.Series(counts, index=recent)
        before = lookup.reindex(key).fillna(0).to_numpy(dtype=np.int64)
        in_batch = pd.Series(key).groupby(key).cumcount().to_numpy()
        today = np.full(len(key), self._today())
        self._log = np.concatenate([self._log, np.stack([key, today], axis=1)])
        return before + in_batch


def _account_of_ip(world: World, ip: np.ndarray) -> np.ndarray:
    """The account whose office block holds each visitor IP (-1: a home or unknown IP), as the
    published reverse-IP table would resolve it."""
    start = world.accounts["ip_start"].to_numpy()
    size = world.accounts["ip_size"].to_numpy()
    order = np.argsort(start)
    at = np.searchsorted(start[order], ip, side="right") - 1
    found = order[np.maximum(at, 0)]
    inside = (
        (at >= 0) & (ip >= start[found]) & (ip < start[found] + size[found]) & (size[found] > 0)
    )
    return np.where(inside, found, -1)


def _actions_frame(actions) -> pd.DataFrame:
    if isinstance(actions, pa.Table):
        actions = actions.to_pandas()
    if isinstance(actions, pd.DataFrame):
        frame = actions.copy()
    elif actions and isinstance(actions[0], dict):
        frame = pd.DataFrame(list(actions))
    else:
        frame = pd.DataFrame(list(actions), columns=ACTION_COLUMNS)
    missing = [c for c in ACTION_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"actions lack columns: {missing}")
    frame["contact_id"] = frame["contact_id"].astype(object).where(frame["contact_id"].notna())
    return frame.reset_index(drop=True)


def _record(result: pd.DataFrame, rows: np.ndarray, hit: dict[str, np.ndarray]) -> None:
    names = {
        "email_open": "opened",
        "email_click": "clicked",
        "ad_click": "clicked",
        "email_reply": "replied",
        "form_fill": "form_fill",
        "meeting": "meeting",
        "opportunity_created": "opportunity_created",
    }
    for outcome, values in hit.items():
        column = names[outcome]
        current = result[column].to_numpy().copy()
        current[rows] |= values
        result[column] = current
