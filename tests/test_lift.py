"""Lift against randomized holdouts: the statistics on their own (published values, hand-made
samples), on the simulated market against an exactly known treatment effect, and through a
real workspace (holdouts recorded in SQLite, opportunities ingested into DuckDB, the CLI)."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from scipy.stats import binomtest
from typer.testing import CliRunner

from abmkit.app import Abm
from abmkit.cli.measure import lift_command
from abmkit.errors import AbmError
from abmkit.measure import holdout
from abmkit.measure.lift import COLUMNS, compare_means, compare_rates, lift, newcombe, wilson
from abmkit.simulate import MarketConfig
from abmkit.simulate.experiment import chain, expected_outcomes, run_experiment, simulate
from abmkit.simulate.world import build_world
from conftest import ok, scored_workspace, write_csv

NOW = dt.datetime(2026, 3, 2, 9, 0)
OPP_HEADER = ["opportunity_id", "account_id", "name", "amount", "created_at"]
SEEDS = range(1, 51)
MARKET = 3000
"""Accounts per simulated market: about 750 on the target list, 75 of them held out (10%)."""
runner = CliRunner()


# -- the statistics -----------------------------------------------------------------------------
@pytest.mark.parametrize(("x1", "n1", "x2", "n2", "low", "high"), [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
])  # fmt: skip
def test_newcombe_gives_the_published_limits(x1, n1, x2, n2, low, high):
    """Newcombe (1998), Statistics in Medicine 17:873–890, Table II, method 10."""
    found = newcombe(x1, n1, x2, n2, 0.95)
    assert found == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize(("events", "n"), [(0, 12), (3, 40), (56, 70), (40, 40)])
def test_wilson_agrees_with_scipy(events, n):
    ci = binomtest(events, n).proportion_ci(confidence_level=0.9, method="wilson")
    assert wilson(events, n, 1.6448536269514722) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_compare_rates_on_a_hand_made_sample():
    treated = np.r_[np.ones(32), np.zeros(168)]
    held = np.r_[np.ones(10), np.zeros(90)]
    c = compare_rates(treated, held, confidence=0.95, min_accounts=30)
    assert (c.treated, c.treated_accounts, c.holdout, c.holdout_accounts) == (0.16, 200, 0.1, 100)
    assert c.difference == pytest.approx(0.06)
    assert (c.low, c.high) == newcombe(32, 200, 10, 100, 0.95)
    assert c.low < 0 < c.high and not c.significant  # 16% against 10% of 100: not yet sure
    assert c.note.startswith("smallest lift detectable at 80% power: ")
    assert "percentage points" in c.note
    bigger = compare_rates(np.tile(treated, 4), np.tile(held, 4))
    assert bigger.low > 0 and bigger.significant


def test_compare_means_is_seeded_and_its_interval_holds_the_difference():
    rng = np.random.default_rng(5)
    treated = np.where(rng.random(400) < 0.1, rng.lognormal(10, 1, 400), 0.0)
    held = np.where(rng.random(60) < 0.1, rng.lognormal(10, 1, 60), 0.0)
    one = compare_means(treated, held, seed=1)
    assert one == compare_means(treated, held, seed=1)
    assert one != compare_means(treated, held, seed=2)
    assert one.difference == pytest.approx(treated.mean() - held.mean())
    assert one.low < one.difference < one.high
    assert "per account" in one.note
    for method in ("BCa", "percentile", "basic"):
        other = compare_means(treated, held, seed=1, method=method)
        assert other.low < other.difference < other.high
    flat = compare_means(np.full(50, 3.0), np.full(40, 1.0))
    assert (flat.low, flat.difference, flat.high) == (2.0, 2.0, 2.0)


def test_small_samples_are_never_called_significant_and_the_note_says_why():
    few = compare_rates(np.ones(100), np.zeros(20), min_accounts=30)
    assert few.low > 0 and not few.significant  # the interval alone would say yes
    assert few.note.startswith("20 holdout accounts (measure.holdout.min_accounts is 30) — too "
                               "small a sample to judge")  # fmt: skip
    rare = compare_rates(np.r_[np.ones(3), np.zeros(297)], np.r_[np.ones(1), np.zeros(99)])
    assert "4 accounts with an opportunity in both groups together (fewer than 5) — too small " \
           "a sample to judge" in rare.note  # fmt: skip
    money = compare_means(np.r_[np.full(3, 9e4), np.zeros(297)], np.zeros(100))
    assert "3 accounts with pipeline in both groups together" in money.note
    assert not money.significant
    nobody = compare_means(np.zeros(40), np.zeros(40))
    assert nobody.note == "0 accounts with pipeline in both groups together (fewer than 5) — " \
                          "too small a sample to judge"  # fmt: skip
    empty = compare_rates(np.ones(10), np.array([]))
    assert empty.note == "no holdout accounts — too small a sample to judge"
    assert np.isnan(empty.difference) and not empty.significant


# -- the simulated market -----------------------------------------------------------------------
def test_the_true_effect_is_the_chain_s_exact_expectation():
    """Exact expectations against the average of many simulated runs of the same accounts."""
    cfg = MarketConfig(accounts=400, seed=11)
    world = build_world(cfg)
    targets = np.flatnonzero(world.accounts["is_targeted"].to_numpy())[:100]
    segment = world.accounts["segment"].to_numpy()[targets]
    start = world.states[targets, -1]
    rows = chain(segment, world.accounts["propensity"].to_numpy()[targets], 2.0)
    rate, pipeline = expected_outcomes(start, rows, segment, 26)
    runs = 2000
    opened, money = simulate(np.tile(start, runs), np.tile(rows, (runs, 1, 1)),
                             np.tile(segment, runs), 26, np.random.default_rng(3))  # fmt: skip
    rate_se = np.sqrt(rate.mean() * (1 - rate.mean()) / opened.size)
    assert opened.mean() == pytest.approx(rate.mean(), abs=4 * rate_se)
    money_se = money.std() / np.sqrt(money.size)
    assert money.mean() == pytest.approx(pipeline.mean(), abs=4 * money_se)
    null = run_experiment(cfg, effect=0.0, world=world)
    assert null.true_effect == {"opportunity_rate": 0.0, "pipeline_per_account": 0.0}
    lifted = run_experiment(cfg, effect=1.0, world=world)
    assert lifted.true_effect["opportunity_rate"] > 0.01
    assert lifted.true_effect["pipeline_per_account"] > 100


def experiments(effect: float) -> list:
    return [run_experiment(MarketConfig(accounts=MARKET, seed=s), effect=effect) for s in SEEDS]


def judged(e, seed: int):
    rate = compare_rates(e.group("treated", "opportunity"), e.group("holdout", "opportunity"))
    money = compare_means(e.group("treated", "pipeline"), e.group("holdout", "pipeline"),
                          seed=seed)  # fmt: skip
    return rate, money


@pytest.mark.slow
def test_the_intervals_cover_a_known_effect_in_nine_markets_of_ten():
    covered = {"opportunity_rate": 0, "pipeline_per_account": 0}
    sizes = []
    for seed, e in zip(SEEDS, experiments(1.0), strict=True):
        rate, money = judged(e, seed)
        truth = e.true_effect
        covered["opportunity_rate"] += rate.low <= truth["opportunity_rate"] <= rate.high
        covered["pipeline_per_account"] += money.low <= truth["pipeline_per_account"] <= money.high
        sizes.append(rate.holdout_accounts)
        assert truth["opportunity_rate"] > 0 and truth["pipeline_per_account"] > 0
    assert min(sizes) >= 30  # large enough to judge by the settings' own rule
    assert covered["opportunity_rate"] >= 45, covered
    assert covered["pipeline_per_account"] >= 45, covered


@pytest.mark.slow
def test_with_no_effect_a_difference_is_rarely_called_significant():
    called = {"opportunity_rate": 0, "pipeline_per_account": 0}
    excluded = dict(called)
    for seed, e in zip(SEEDS, experiments(0.0), strict=True):
        for name, c in zip(called, judged(e, seed), strict=True):
            called[name] += c.significant
            excluded[name] += c.low > 0 or c.high < 0
    assert called["opportunity_rate"] <= 5 and called["pipeline_per_account"] <= 5, called
    assert excluded["opportunity_rate"] <= 5 and excluded["pipeline_per_account"] <= 5, excluded


# -- a real workspace ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def assigned(tmp_path_factory) -> Path:
    """400 scored accounts (Tier 1: 20, Tier 2: 300, Tier 3: 80) assigned on NOW."""
    ws = scored_workspace(tmp_path_factory.mktemp("lift"))
    with Abm.open(ws) as abm:
        holdout.assign(abm, NOW)
    return ws


@pytest.fixture
def ws(assigned, tmp_path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(assigned, copy)
    return copy


def groups(ws: Path, scope: str) -> tuple[list[str], list[str]]:
    with Abm.open(ws) as abm:
        frame = holdout.assignments(abm, scope)
    treated = sorted(frame.loc[frame["group"] == "treated", "account_id"])
    held = sorted(frame.loc[frame["group"] == "holdout", "account_id"])
    return treated, held


def load_opportunities(ws: Path, folder: Path) -> tuple[list[str], list[str]]:
    """Tier 2: 30 treated accounts with a $20,000 opportunity on the assignment day and 30 more
    on March 20 (one of them with a second, $5,000 one), 6 held-out accounts with $10,000 on
    March 10, and one held-out account whose opportunity came before its assignment."""
    treated, held = groups(ws, "tier:2")
    rows = [[f"O{n}", a, "deal", 20000, "2026-03-02"] for n, a in enumerate(treated[:30])]
    rows += [[f"P{n}", a, "deal", 20000, "2026-03-20"] for n, a in enumerate(treated[30:60])]
    rows += [["Q0", treated[59], "second deal", 5000, "2026-03-21"]]
    rows += [[f"R{n}", a, "deal", 10000, "2026-03-10"] for n, a in enumerate(held[:6])]
    rows += [["S0", held[6], "old deal", 70000, "2026-02-01"]]
    with Abm.open(ws) as abm:
        ok(abm.ingest("opportunities", [write_csv(folder / "opps.csv", OPP_HEADER, rows)])[0])
    return treated, held


def test_lift_counts_opportunities_from_the_assignment_day(ws, tmp_path):
    treated, held = load_opportunities(ws, tmp_path)
    nt, nh = len(treated), len(held)
    judge = {"measure": {"holdout": {"min_accounts": 10}}}
    with Abm.open(ws, judge) as abm:
        frame = lift(abm)
    assert list(frame.columns) == COLUMNS
    assert list(frame["scope"]) == ["tier:1", "tier:1", "tier:2", "tier:2", "tier:3", "tier:3"]
    tier2 = frame[frame["scope"] == "tier:2"].set_index("metric")
    rate, money = tier2.loc["opportunity_rate"], tier2.loc["pipeline_per_account"]
    assert (rate["treated_accounts"], rate["holdout_accounts"]) == (nt, nh)
    assert rate["treated"] == pytest.approx(60 / nt) and rate["holdout"] == pytest.approx(6 / nh)
    assert money["treated"] == pytest.approx((60 * 20000 + 5000) / nt)
    assert money["holdout"] == pytest.approx(6 * 10000 / nh)
    outcome = np.zeros(nt)
    outcome[:60] = 1
    expected = compare_rates(outcome, np.r_[np.ones(6), np.zeros(nh - 6)], min_accounts=10)
    assert (rate["low"], rate["high"]) == pytest.approx((expected.low, expected.high))
    assert rate["significant"] == expected.significant
    assert money["low"] < money["difference"] < money["high"]
    tier1 = frame[frame["scope"] == "tier:1"]
    assert (tier1["treated"] == 0).all() and not tier1["significant"].any()
    assert tier1["note"].str.contains("too small a sample to judge").all()


def test_since_and_until_narrow_the_window(ws, tmp_path):
    treated, held = load_opportunities(ws, tmp_path)
    with Abm.open(ws) as abm:
        later = lift(abm, scope="tier:2", since=dt.date(2026, 3, 5)).set_index("metric")
        early = lift(abm, scope="tier:2", until=dt.date(2026, 3, 15)).set_index("metric")
        with pytest.raises(AbmError, match="no holdout assignments in scope 'tier:7'"):
            lift(abm, scope="tier:7")
    assert later.loc["opportunity_rate", "treated"] == pytest.approx(30 / len(treated))
    assert later.loc["pipeline_per_account", "treated"] == pytest.approx(
        (30 * 20000 + 5000) / len(treated))  # fmt: skip
    assert later.loc["opportunity_rate", "holdout"] == pytest.approx(6 / len(held))
    assert early.loc["opportunity_rate", "treated"] == pytest.approx(30 / len(treated))
    assert early.loc["opportunity_rate", "holdout"] == pytest.approx(6 / len(held))


def test_the_lift_command_prints_a_table_csv_and_json(ws, tmp_path):
    load_opportunities(ws, tmp_path)
    cli = typer.Typer()
    cli.command()(lift_command)

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, "-w", str(ws)], env={"COLUMNS": "240"})
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        return result.output

    table = " ".join(run().split())
    assert "Lift against randomized holdouts (95% intervals)" in table
    assert "tier:1: " in table and "too small a sample to judge" in table
    csv = pd.read_csv(io.StringIO(run("--format", "csv", "--scope", "tier:2")))
    assert list(csv.columns) == COLUMNS and set(csv["scope"]) == {"tier:2"}
    rows = json.loads(run("--format", "json", "--since", "2026-03-05"))
    assert len(rows) == 6 and set(rows[0]) == set(COLUMNS)
    assert all(isinstance(r["significant"], bool) for r in rows)
