"""Calibration and contract tests of abmkit.simulate (bands documented in docs/simulator.md)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abmkit.simulate import MarketConfig, MarketEnv, SimulationManifest, simulate_market
from abmkit.simulate.response import sample_chain

KINDS = ["accounts", "contacts", "campaigns", "opportunities", "intent", "touches", "ip_ranges"]


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> SimulationManifest:
    cfg = MarketConfig(accounts=1500, months=4, seed=11)
    return simulate_market(cfg, tmp_path_factory.mktemp("market"))


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.csv"))
    }


def test_manifest_lists_every_kind_and_counts(market):
    assert list(market.files) == KINDS
    for kind in KINDS:
        assert market.files[kind] and all(p.exists() for p in market.files[kind])
        assert market.counts[kind] > 0
    assert (market.truth_dir / "committee.parquet").exists()
    header = pd.read_csv(market.files["accounts"][0], nrows=1).columns.tolist()
    assert header[:3] == ["Id", "Name", "Website"] and "Tech_Stack__c" in header


def test_enterprise_committees_have_6_to_10_members(market):
    truth = pd.read_parquet(market.truth_dir / "accounts_truth.parquet")
    committee = pd.read_parquet(market.truth_dir / "committee.parquet")
    size = committee[committee["is_committee"]].groupby("account_id").size()
    enterprise = truth.loc[truth["segment"] == "Enterprise", "account_id"]
    assert len(enterprise) > 20
    assert size.loc[enterprise].between(6, 10).all()
    assert size.loc[truth.loc[truth["segment"] == "SMB", "account_id"]].between(2, 5).all()


def test_win_rate_of_closed_opportunities_in_band(market):
    opps = pd.read_csv(market.files["opportunities"][0])
    closed = opps[opps["IsClosed"]]
    assert len(closed) > 100
    assert 0.15 <= closed["IsWon"].mean() <= 0.30


def test_median_cycle_length_per_segment_in_band(market):
    opps = pd.read_csv(market.files["opportunities"][0], parse_dates=["CreatedDate", "CloseDate"])
    truth = pd.read_parquet(market.truth_dir / "opportunity_truth.parquet")
    opps = opps.merge(truth, left_on="Id", right_on="opportunity_id")
    old = opps[opps["CreatedDate"] < opps["CreatedDate"].max() - pd.Timedelta(days=300)]
    cycle = (old["CloseDate"] - old["CreatedDate"]).dt.days.groupby(old["segment"]).median()
    assert 30 <= cycle["SMB"] <= 60
    assert 60 <= cycle["Mid-Market"] <= 120
    assert 120 <= cycle["Enterprise"] <= 270


def test_bombora_files_are_headerless_with_nine_columns(market):
    for path in market.files["intent"]:
        assert path.name.startswith("bombora_surge_")
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows and all(len(r) == 9 for r in rows)
        assert rows[0][1] != "Domain"
        scores = np.array([int(r[6]) for r in rows])
        assert scores.min() >= 0 and scores.max() <= 100


def test_in_market_accounts_surge_more(market):
    weeks = pd.read_parquet(market.truth_dir / "account_weeks.parquet")
    weeks = weeks[weeks["in_touch_window"]]
    truth = pd.read_parquet(market.truth_dir / "accounts_truth.parquet")
    domain = truth.set_index("account_id")["domain"]
    surges = []
    for index, path in enumerate(market.files["intent"]):
        rows = pd.read_csv(path, header=None)
        surges.append(rows[rows[6] >= 60].groupby(1).size().rename(index))
    counts = pd.concat(surges, axis=1).fillna(0)
    week_ids = sorted(weeks["week_start"].unique())
    weeks["week"] = weeks["week_start"].map({w: i for i, w in enumerate(week_ids)})
    weeks["domain"] = weeks["account_id"].map(domain)
    stacked = counts.stack().rename("surges").rename_axis(["domain", "week"]).reset_index()
    joined = weeks.merge(stacked, on=["domain", "week"], how="left").fillna({"surges": 0})
    in_market = joined.groupby(joined["state"] != "dormant", observed=True)["surges"].mean()
    assert in_market[True] > 3 * in_market[False]


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    cfg = MarketConfig(accounts=200, months=2, seed=3)
    simulate_market(cfg, tmp_path / "a")
    simulate_market(cfg, tmp_path / "b")
    simulate_market(MarketConfig(accounts=200, months=2, seed=4), tmp_path / "c")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_fatigue_lowers_response_rate():
    rng = np.random.default_rng(0)
    channel = np.full(200_000, "email", dtype=object)
    state = np.zeros(200_000, dtype=np.int64)
    fresh = sample_chain("email_sent", channel, state, np.zeros(200_000), rng)["email_open"]
    tired = sample_chain("email_sent", channel, state, np.full(200_000, 6), rng)["email_open"]
    assert tired.mean() < 0.6 * fresh.mean()
    assert 0.20 <= fresh.mean() <= 0.30


def test_env_step_is_deterministic_and_fatigues(market):
    def run():
        env = MarketEnv.from_dir(market.files["accounts"][0].parent)
        account = env.world.accounts["Id"].iloc[0]
        contact = env.world.contacts["Id"].iloc[0]
        actions = [(account, contact, "email", "email_sent", 0.0)] * 30
        actions += [(account, None, "linkedin", "ad_impression", 0.035)] * 30
        first = env.step(actions)
        env.advance(days=7)
        return first, env.step(actions[:5])

    (a1, a2), (b1, b2) = run(), run()
    pd.testing.assert_frame_equal(a1, b1)
    pd.testing.assert_frame_equal(a2, b2)
    assert a1["prior_exposures"].tolist()[:3] == [0, 1, 2]


def test_hundred_accounts_run(tmp_path):
    manifest = simulate_market(MarketConfig(accounts=100, months=1, seed=1), tmp_path)
    assert manifest.counts["accounts"] == 100
    accounts = pd.read_csv(manifest.files["accounts"][0], keep_default_na=False)
    assert accounts["Id"].str.len().eq(18).all() and accounts["Id"].is_unique


def test_touch_scale_doubles_volume(tmp_path):
    base = simulate_market(MarketConfig(accounts=300, months=2, seed=5), tmp_path / "x1")
    double = simulate_market(
        MarketConfig(accounts=300, months=2, seed=5, touch_scale=2.0), tmp_path / "x2"
    )
    ratio = double.counts["touches"] / base.counts["touches"]
    assert 1.7 <= ratio <= 2.3
