"""Lookalike: learned from closed-won customers, honest (out-of-fold) scores, readable reasons.

Hand-made markets go through the real ingest path into a real warehouse (DuckDB, and PostgreSQL
where the `abm` fixture runs); the simulated market is loaded the way `abm demo` loads it. Only
the tests read the simulator's hidden truth, to check that the score means something.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import spearmanr

from abmkit.app import Abm
from abmkit.config.settings import Settings
from abmkit.config.workspace import init_workspace
from abmkit.demo import DEMO_MAPPINGS
from abmkit.score.fit import REASON_COLUMNS
from abmkit.score.lookalike import (
    WEAK_AUC,
    Lookalike,
    _largest_two,
    _two_digits,
    customers,
    lookalike_scores,
)
from abmkit.simulate import MarketConfig, simulate_market
from conftest import ok, write_csv

ACCOUNT_HEADER = ["Id", "Name", "Website", "Industry", "NumberOfEmployees", "AnnualRevenue",
                  "BillingCountry", "technologies"]  # fmt: skip
COUNTRIES = ["United States", "Germany", "France"]
TECHS = ["Snowflake;AWS", "HubSpot", "", "Salesforce | dbt"]


def two_industries(abm: Abm, d: Path, *, won: int) -> None:
    """12 Software accounts and 48 Retail ones, alike in everything but industry; the first
    `won` Software accounts have a closed-won opportunity (one of them two), some Retail ones a
    lost or an open one."""
    rows = []
    for i in range(60):
        industry = "Software" if i < 12 else "Retail"
        rows.append([f"a{i:02d}", f"Company {i}", f"company{i}.com", industry, 100 + 50 * (i % 10),
                     1_000_000 * (1 + i % 7), COUNTRIES[i % 3], TECHS[i % 4]])  # fmt: skip
    ok(abm.ingest("accounts", [write_csv(d / "acc.csv", ACCOUNT_HEADER, rows)],
                  preset="salesforce")[0])  # fmt: skip
    opps = [[f"w{i}", f"a{i:02d}", "Closed Won", "2026-03-01"] for i in range(won)]
    opps += [["w-again", "a00", "Closed Won", "2026-05-01"]] if won else []
    opps += [[f"l{i}", f"a{i:02d}", "Closed Lost", "2026-04-01"] for i in range(20, 30)]
    opps += [[f"o{i}", f"a{i:02d}", "Discovery", ""] for i in range(30, 35)]
    ok(abm.ingest("opportunities", [write_csv(d / "opp.csv", ["Id", "AccountId", "StageName",
                                                               "CloseDate"], opps)],
                  preset="salesforce")[0])  # fmt: skip


def needing(settings: Settings, customers_needed: int) -> Settings:
    icp = settings.icp.model_copy(update={"min_customers_for_lookalike": customers_needed})
    return settings.model_copy(update={"icp": icp})


def by_account(reasons) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for row in reasons.to_pylist():  # rows come in each account's order: largest first
        out[row["account_id"]].append(row)
    return out


# -- hand-made markets --------------------------------------------------------------------------
def test_too_few_customers_scores_nothing_and_says_why(abm, tmp_path):
    two_industries(abm, tmp_path / "d", won=3)
    # lost and open opportunities do not make customers; two won deals make one customer
    assert customers(abm.warehouse).count().execute() == 3
    result = lookalike_scores(abm.warehouse, abm.settings)
    assert result == Lookalike(
        None, None, 3, "lookalike not trained: 3 closed-won customers, 50 needed "
        "(icp.min_customers_for_lookalike)", None,
    )  # fmt: skip


def test_the_customers_industry_is_their_top_reason(abm, tmp_path):
    two_industries(abm, tmp_path / "d", won=12)
    result = lookalike_scores(abm.warehouse, needing(abm.settings, 10))
    assert result.customers == 12 and result.note is None
    assert result.auc == 1.0  # industry tells them apart perfectly, even out of fold
    assert result.scores is not None and result.reasons is not None
    scores = dict(zip(*result.scores.to_pydict().values(), strict=True))
    assert len(scores) == 60
    assert min(scores[f"a{i:02d}"] for i in range(12)) > max(scores[f"a{i:02d}"]
                                                             for i in range(12, 60))  # fmt: skip
    reasons = by_account(result.reasons)
    for i in range(60):
        top = reasons[f"a{i:02d}"][0]
        assert top["factor"] == "industry", top
        if i < 12:
            assert top["points"] > 0
            assert top["reason"].startswith("industry Software: +"), top
            assert "(100% of customers, 0% of other accounts)" in top["reason"]
        else:
            assert top["points"] < 0 and top["reason"].startswith("industry Retail: −"), top


# -- the simulated market -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """5,000 simulated accounts with three years of CRM opportunities (about 500 customers),
    loaded through the real ingest path; the lookalike run once, and the hidden truth."""
    root = tmp_path_factory.mktemp("lookalike")
    cfg = MarketConfig(accounts=5000, months=1, history_months=36, seed=3)
    manifest = simulate_market(cfg, root / "market")
    init_workspace(root / "ws", settings=Settings.model_validate(
        {"ingest": {"mappings": DEMO_MAPPINGS}}))  # fmt: skip
    with Abm.open(root / "ws") as abm:
        ok(abm.ingest("accounts", manifest.files["accounts"], preset="simulated_crm")[0])
        ok(abm.ingest("opportunities", manifest.files["opportunities"], preset="salesforce")[0])
        truth = pd.read_parquet(manifest.truth_dir / "accounts_truth.parquet")
        yield abm, lookalike_scores(abm.warehouse, abm.settings), truth.set_index("account_id")


def test_lookalike_follows_the_hidden_fit(simulated):
    abm, result, truth = simulated
    assert result.customers == customers(abm.warehouse).count().execute() > 400
    scores = result.scores.to_pandas().set_index("account_id")
    assert len(scores) == 5000
    assert scores.lookalike.min() == 0 and scores.lookalike.max() == 100
    fit = truth.loc[scores.index, "fit"]
    # Measured (seeds 1, 2, 3): Spearman with the hidden fit 0.57, 0.41, 0.48; out-of-fold AUC
    # 0.53, 0.55, 0.57 — as high as the hidden fit's own AUC on the same labels (0.56, 0.56,
    # 0.57): in the simulator a won deal depends on timing and luck more than on fit.
    assert spearmanr(scores.lookalike, fit).statistic > 0.3
    top, bottom = fit[scores.lookalike >= 90].mean(), fit[scores.lookalike <= 10].mean()
    assert top > bottom + 0.1, (top, bottom)  # measured 0.53 vs 0.32
    assert 0.52 < result.auc < 0.7, result.auc
    assert (result.note is None) == (result.auc >= WEAK_AUC)
    if result.note:
        assert f"AUC {result.auc:.2f}" in result.note


def test_reasons_are_the_top_three_signed_and_ordered(simulated):
    _, result, _ = simulated
    assert result.reasons.column_names == REASON_COLUMNS
    reasons = by_account(result.reasons)
    assert set(reasons) == set(result.scores["account_id"].to_pylist())
    signs = set()
    for rows in reasons.values():
        assert len(rows) == 3 and len({r["factor"] for r in rows}) == 3
        sizes = [abs(r["points"]) for r in rows]
        assert sizes == sorted(sizes, reverse=True), rows
        for r in rows:
            assert r["score"] == "lookalike"
            assert r["factor"] in {"industry", "country", "employees", "revenue", "technologies"}
            shown = f"{r['points']:+.0f}".replace("-", "−")
            assert f": {shown}" in r["reason"], r
            signs.add(np.sign(r["points"]))
    assert signs >= {-1.0, 1.0}
    text = " | ".join(r["reason"] for rows in list(reasons.values())[:300] for r in rows)
    for phrase in ("of customers", "of other accounts", "median customer", "technologies: "):
        assert phrase in text


def test_two_runs_give_the_same_numbers(simulated):
    abm, first, _ = simulated
    again = lookalike_scores(abm.warehouse, abm.settings)
    assert again.scores.equals(first.scores) and again.reasons.equals(first.reasons)
    assert again.auc == first.auc


# -- the vectorized wording ---------------------------------------------------------------------
@given(st.lists(st.floats(min_value=0, max_value=1e300), max_size=50))
def test_revenue_is_rounded_exactly_as_python_formats_it(values):
    """Reasons show revenue to two digits; numpy does the rounding, to the same float as
    float(f"{v:.2g}") (ties and values far from the usual range go through Python)."""
    v = np.array([*values, 12.5, 125.0, 1_250_000.0, 99.5, 9_950_000.0, 1e15 - 0.5, 7.25], float)
    assert _two_digits(v).tolist() == [float(f"{x:.2g}") for x in v]
    assert np.isnan(_two_digits(np.array([np.nan]))).all()


@given(st.lists(st.lists(st.integers(-2, 2), min_size=3, max_size=3), min_size=1, max_size=30))
def test_the_two_largest_break_ties_like_a_stable_sort(rows):
    v = np.array(rows, float)
    assert (_largest_two(v.copy()) == np.argsort(-v, axis=1, kind="stable")[:, :2]).all()
