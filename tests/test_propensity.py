"""Propensity: no leakage, an honest back-test on the simulated market, and a registry that can
roll back. Real warehouses, the real simulator, the real ingest path."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from abmkit.app import Abm
from abmkit.demo import run_demo
from abmkit.score.features import features_as_of
from conftest import ok, write_csv
from test_score import ACCOUNTS, market, when

CUTOFF = dt.datetime(2026, 6, 30, 12, 0)


def test_events_after_the_cutoff_do_not_change_a_snapshot(abm, tmp_path):
    """Leakage test: features as of a cutoff ignore everything that happened after it."""
    pricing = "https://seller.example/pricing"
    before = [[when(10), "ann@acme.com", "", "meeting", ""],
              [when(3), "", "acme.com", "web_visit", pricing]]  # fmt: skip
    week = str((CUTOFF - dt.timedelta(days=CUTOFF.weekday() + 7)).date())
    market(abm, tmp_path / "d", touches=before, intent=[[week, "acme.com", "Data", "80"]])
    first = _features(abm)
    later = tmp_path / "later"
    later.mkdir()
    after = [[(CUTOFF + dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ"), "bob@acme.com",
              "acme.com", kind, "https://seller.example/demo"]
             for h, kind in ((1, "meeting"), (30, "web_visit"),
                             (24 * 20, "form_fill"))]  # fmt: skip
    ok(abm.ingest("touches", [write_csv(later / "t.csv", ["timestamp", "email", "domain", "kind",
                                                          "url"], after)])[0])  # fmt: skip
    running = str((CUTOFF - dt.timedelta(days=CUTOFF.weekday())).date())  # week not over yet
    ok(abm.ingest("intent", [write_csv(later / "i.csv", ["week", "domain", "topic", "score"],
                                       [[running, "acme.com", "Data", "99"],
                                        [running, "gamma.com", "CRM", "95"]])])[0])  # fmt: skip
    header = ["Id", "AccountId", "StageName", "Amount", "CreatedDate", "CloseDate"]
    opps = [["o9", "001A", "Discovery", "1000", "2026-07-02", ""]]
    ok(abm.ingest("opportunities", [write_csv(later / "o.csv", header, opps)],
                  preset="salesforce")[0])  # fmt: skip
    again = _features(abm)
    pd.testing.assert_frame_equal(first, again)
    assert first.loc["001A", "engagement_minutes"] > 0 and first.loc["001A", "intent_3p"] > 0
    assert len(first) == len(ACCOUNTS)


def _features(abm: Abm) -> pd.DataFrame:
    frame = features_as_of(abm.warehouse, abm.settings, CUTOFF).to_pandas()
    return frame.set_index("account_id").sort_index()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A simulated market of 2,500 accounts and 12 months, loaded through `abm demo`."""
    ws = tmp_path_factory.mktemp("propensity") / "ws"
    run_demo(ws, accounts=2500, months=12, seed=11, replay_weeks=0, write_report=False)
    with Abm.open(ws) as abm:
        yield abm


def test_backtest_on_a_later_window_and_rollback(simulated):
    abm = simulated
    first = abm.train_model()
    m = first.model
    # The split is by time: every training outcome is known before the test window opens.
    assert m.train_to <= m.test_from
    # The bar (AUC 0.75, lift 3) is measured at 10,000 accounts over three seeds by
    # benchmarks/bench_propensity.py (0.76-0.80); this market is kept small for test time, so
    # fewer examples and ~80 positives in its test window: it is held to a lower AUC.
    assert m.metrics["auc"] >= 0.65 and m.metrics["top_decile_lift"] >= 3, m.metrics
    assert m.metrics["ece"] < 0.05 and set(m.metrics["by_tier"]) >= {"1", "2"}
    abm.score()
    scores_v1 = _propensities(abm)
    assert scores_v1.notna().sum() > 1000
    with Abm.open(abm.workspace.path, {"propensity": {"model": "logistic"}}) as other:
        second = other.train_model()
        other.score()
        scores_v2 = _propensities(other)
        assert [x.version for x in other.models() if x.active] == [second.model.version]
    assert not scores_v1.equals(scores_v2)
    abm.activate_model(m.version)  # roll back
    abm.score()
    pd.testing.assert_series_equal(_propensities(abm), scores_v1)
    rows = abm.accounts(limit=None).to_pylist()
    assert all(r["priority"] >= 0 for r in rows)


def _propensities(abm: Abm) -> pd.Series:
    t = abm.warehouse.table("account_scores").select("account_id", "propensity").to_pandas()
    return t.set_index("account_id")["propensity"].sort_index()


def test_a_full_refresh_scores_the_lookalike_with_its_reasons(simulated):
    """Enough closed-won customers: every account gets a lookalike percentile and its three
    strongest factors as reasons, stored beside fit."""
    abm = simulated
    result = abm.score()
    assert not any("lookalike not trained" in n for n in result.notes), result.notes
    scores = abm.warehouse.table("account_scores").select("account_id", "lookalike")
    values = scores.to_pandas().set_index("account_id")["lookalike"]
    assert values.notna().all() and values.between(0, 100).all()
    assert values.max() > 90 and values.min() < 10  # a percentile rank over every account
    reasons = abm.warehouse.table("score_reasons")
    lookalike = reasons.filter(reasons.score == "lookalike")
    per_account = lookalike.group_by("account_id").agg(n=lookalike.count())
    counts = per_account.to_pandas()["n"]
    assert len(counts) == len(values) and (counts == 3).all()


def test_an_incremental_refresh_uses_the_active_model(simulated, tmp_path):
    abm = simulated
    if not any(m.active for m in abm.models()):
        abm.train_model()
    abm.score()
    wh = abm.warehouse
    scored = _propensities(abm)
    account = scored[scored.notna()].index[0]  # no opportunity open: it has a propensity
    domain = wh.table("accounts").filter(ibis._.account_id == account).domain.execute()[0]
    latest = wh.table("touches").ts.max().execute()
    visit = [[latest.strftime("%Y-%m-%dT%H:%M:%SZ"), "", domain, "web_visit",
              "https://seller.example/pricing"]]  # fmt: skip
    header = ["timestamp", "email", "domain", "kind", "url"]
    ok(abm.ingest("touches", [write_csv(tmp_path / "t.csv", header, visit)])[0])
    result = abm.score(incremental=True)
    assert (result.mode, result.rescored) == ("incremental", 1)
    row = wh.table("account_scores").filter(ibis._.account_id == account).to_pandas().iloc[0]
    assert row["model_version"] == abm.model().version and 0 < row["propensity"] < 1
    # Another account's visit: the refresh reuses what the first one built (the model's
    # predictions made afresh, for the new account's features).
    other = scored[scored.notna()].index[1]
    domain = wh.table("accounts").filter(ibis._.account_id == other).domain.execute()[0]
    visit = [[latest.strftime("%Y-%m-%dT%H:%M:%SZ"), "", domain, "web_visit",
              "https://seller.example/demo"]]  # fmt: skip
    ok(abm.ingest("touches", [write_csv(tmp_path / "t2.csv", header, visit)])[0])
    prepared = list(wh.prepared.values())
    result = abm.score(incremental=True)
    assert (result.mode, result.rescored) == ("incremental", 1)
    assert len(prepared) == 1 and list(wh.prepared.values())[0] is prepared[0]  # built once
    row = wh.table("account_scores").filter(ibis._.account_id == other).to_pandas().iloc[0]
    assert 0 < row["propensity"] < 1
    assert abm.score().changed.updated == 0  # a full refresh agrees with both
