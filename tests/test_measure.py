"""Account-level journeys, KPIs and the funnel on a small hand-made market.

Accounts, contacts, touches, campaigns and opportunities go through the real ingest path into a
real warehouse (DuckDB, and PostgreSQL where the `abm` fixture is used). The tier and stage
history the KPIs read is written as rows of `account_scores` and `score_history` — the tables a
refresh fills — so every expected figure can be worked out by hand below.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from abmkit.app import Abm
from abmkit.cli import app
from abmkit.measure import kpis
from abmkit.measure.journeys import account_journeys, lookback_days
from abmkit.measure.report import attribution_table, build_report
from conftest import ok, write_csv

AS_OF = dt.datetime(2026, 6, 30, 12, 0)
SINCE = AS_OF - dt.timedelta(days=365)
ACCOUNTS = [["A", "Acme", "acme.com"], ["B", "Beta", "beta.io"], ["C", "Gamma", "gamma.com"],
            ["D", "Delta", "delta.com"], ["E", "Echo", "echo.net"]]  # fmt: skip
CONTACTS = [["a1", "A", "ann@acme.com"], ["a2", "A", "al@acme.com"], ["b1", "B", "bo@beta.io"],
            ["c1", "C", "cy@gamma.com"]]  # fmt: skip
TOUCHES = [  # touch_id, ts, email, domain, channel, kind, campaign_id
    ["t1", "2026-06-01T00:00:00Z", "ann@acme.com", "", "web", "web_visit", ""],
    ["t2", "2026-06-05T00:00:00Z", "", "acme.com", "linkedin", "ad_impression", "cmp2"],
    ["t3", "2026-06-10T00:00:00Z", "al@acme.com", "", "email", "email_click", "cmp1"],
    ["t4", "2026-06-20T12:00:00Z", "ann@acme.com", "", "sales", "meeting", ""],
    ["t5", "2026-06-25T00:00:00Z", "ann@acme.com", "", "web", "web_visit", ""],  # after O1
    ["t6", "2026-02-01T00:00:00Z", "ann@acme.com", "", "web", "web_visit", ""],  # > 90 days
    ["t7", "2026-06-14T00:00:00Z", "bo@beta.io", "", "email", "email_click", "cmp1"],
    ["t8", "2026-06-20T00:00:00Z", "cy@gamma.com", "", "web", "web_visit", ""],  # no opp: null
]  # fmt: skip
OPPORTUNITIES = [  # id, account, amount, created, closed, is_closed, is_won, stage
    ["O1", "A", "100000", "2026-06-20", "2026-06-28", "true", "true", "Closed Won"],
    ["O2", "B", "50000", "2026-06-15", "", "false", "false", "Prospecting"],
    ["O3", "D", "7000", "2026-06-01", "2026-06-29", "true", "false", "Closed Lost"],  # untouched
    ["O4", "A", "999", "2025-01-01", "2025-03-01", "true", "true", "Closed Won"],  # too early
]  # fmt: skip


def load_market(abm: Abm, d: Path) -> None:
    ok(abm.ingest("accounts", [write_csv(d / "acc.csv", ["account_id", "name", "domain"],
                                         ACCOUNTS)])[0])  # fmt: skip
    ok(abm.ingest("contacts", [write_csv(d / "con.csv", ["contact_id", "account_id", "email"],
                                         CONTACTS)])[0])  # fmt: skip
    ok(
        abm.ingest(
            "campaigns",
            [
                write_csv(
                    d / "cmp.csv",
                    ["campaign_id", "name", "actual_cost", "start_date"],
                    [
                        ["cmp1", "Spring nurture", "300", "2026-05-01"],
                        ["cmp2", "LinkedIn ABM", "700", "2026-05-01"],
                    ],
                )
            ],
        )[0]
    )
    header = ["touch_id", "ts", "email", "domain", "channel", "kind", "campaign_id"]
    ok(abm.ingest("touches", [write_csv(d / "t.csv", header, TOUCHES)])[0])
    header = ["opportunity_id", "account_id", "amount", "created_at", "closed_at", "is_closed",
              "is_won", "stage"]  # fmt: skip
    ok(abm.ingest("opportunities", [write_csv(d / "o.csv", header, OPPORTUNITIES)])[0])


@pytest.fixture
def market(abm, tmp_path) -> Abm:
    load_market(abm, tmp_path / "files")
    return abm


def test_lookback_parses_days_weeks_and_months():
    assert [lookback_days(x) for x in ("90d", "12w", "3m", "45", 30)] == [90, 84, 90, 45, 30]
    for bad in ("", "d", "ninety", "0d", "-3w"):
        with pytest.raises(ValueError):
            lookback_days(bad)


def _paths(journeys) -> dict[tuple[str, ...], tuple[float, float, float]]:
    """{channels of a journey: (converted, pipeline, revenue)}."""
    out, at = {}, 0
    for j, n in enumerate(journeys.lengths):
        names = tuple(journeys.channels[c] for c in journeys.channel[at : at + n])
        out[names] = (float(journeys.converted[j]), journeys.pipeline[j], journeys.revenue[j])
        at += n
    return out


def test_journeys_take_the_accounts_engaged_touches_in_the_lookback(market):
    j = account_journeys(market.warehouse, market.settings, AS_OF, SINCE)
    # O1: t1, t3 and the same-day meeting t4; not the impression t2 (not engaged), not t5
    # (after), not t6 (more than 90 days before). O2: t7. Gamma: t8, a journey to nothing.
    # O3 has no touch at all; O4 was created before the period.
    assert _paths(j) == {("web", "email", "sales"): (1.0, 100000.0, 100000.0),
                         ("email",): (1.0, 50000.0, 0.0), ("web",): (0.0, 0.0, 0.0)}  # fmt: skip
    assert (j.opportunities, j.untouched, j.untouched_pipeline) == (2, 1, 7000.0)
    o1 = [i for i, c in enumerate(j.channel) if j.channels[c] == "sales"][0]
    # ages count from the end of the creation day (2026-06-21 00:00)
    assert j.age_days[o1 - 2 : o1 + 1].tolist() == pytest.approx([20.0, 11.0, 0.5])


def test_all_touches_and_campaign_level(market):
    j = account_journeys(market.warehouse, market.settings, AS_OF, SINCE, touches="all",
                         level="campaign")  # fmt: skip
    paths = _paths(j)
    assert ("(no campaign) web", "LinkedIn ABM", "Spring nurture", "(no campaign) sales") in paths
    assert ("Spring nurture",) in paths
    short = account_journeys(market.warehouse, market.settings, AS_OF, SINCE, lookback=12)
    # 12 days before 2026-06-21: only t3 (11 days) and t4 remain of O1's path
    assert ("email", "sales") in _paths(short)


def test_attribution_table_by_hand(market):
    period = kpis.Period(SINCE, AS_OF)
    frame, journeys = attribution_table(market, period, ("first", "last", "linear",
                                                         "time_decay"))  # fmt: skip
    got = {(r.model, r.channel): (r.pipeline, r.revenue) for r in frame.itertuples()}
    assert got[("first", "web")] == (100000.0, 100000.0)
    assert got[("first", "email")] == (50000.0, 0.0)
    assert got[("last", "sales")] == (100000.0, 100000.0)
    third = 100000.0 / 3
    assert got[("linear", "email")] == pytest.approx((third + 50000.0, third))
    # time decay, half-life 7 days: weights 2^(-20/7), 2^(-11/7), 2^(-0.5/7)
    w = [2 ** (-20 / 7), 2 ** (-11 / 7), 2 ** (-0.5 / 7)]
    assert got[("time_decay", "sales")][0] == pytest.approx(100000.0 * w[2] / sum(w))
    assert got[("time_decay", "email")][0] == pytest.approx(100000.0 * w[1] / sum(w) + 50000.0)
    for model in ("first", "last", "linear", "time_decay"):
        rows = frame[frame["model"] == model]
        assert rows["pipeline"].sum() == pytest.approx(150000.0)  # O3 had no touch: no credit
        assert rows["revenue"].sum() == pytest.approx(100000.0)


# -- KPIs over a written tier and stage history -----------------------------------------------
HISTORY = [  # account, as_of, journey_stage, tier, priority
    ("A", "2026-03-30", "Engaged", 1, 60.0),
    ("A", "2026-06-08", "MQA", 1, 70.0),
    ("A", "2026-06-21", "Opportunity", 1, 80.0),
    ("A", "2026-06-29", "Customer", None, 85.0),  # won: customers leave the tiers
    ("B", "2026-03-30", "Aware", 2, 40.0),
    ("B", "2026-06-16", "Opportunity", 2, 65.0),
    ("C", "2026-03-30", "Qualified", 2, 30.0),
    ("C", "2026-06-25", "Engaged", 2, 45.0),
    ("D", "2026-03-30", "Qualified", None, 20.0),
    ("E", "2026-05-01", "Qualified", 3, 25.0),  # history begins after the period's start
]  # fmt: skip


def write_history(abm: Abm) -> None:
    wh = abm.warehouse
    at = [dt.datetime.fromisoformat(h[1]) for h in HISTORY]
    hist = pa.table({
        "account_id": [h[0] for h in HISTORY], "as_of": pa.array(at, pa.timestamp("us")),
        "journey_stage": [h[2] for h in HISTORY], "tier": pa.array([h[3] for h in HISTORY],
                                                                   pa.int64()),
        "priority": [h[4] for h in HISTORY], "recorded_at": pa.array(at, pa.timestamp("us")),
    })  # fmt: skip
    wh.insert("score_history", wh.stage(hist))
    latest = {h[0]: h for h in HISTORY}
    now = pa.table({
        "account_id": list(latest), "as_of": pa.array([AS_OF] * len(latest), pa.timestamp("us")),
        "journey_stage": [h[2] for h in latest.values()],
        "tier": pa.array([h[3] for h in latest.values()], pa.int64()),
        "priority": [h[4] for h in latest.values()],
    })  # fmt: skip
    wh.insert("account_scores", wh.stage(now))
    reasons = pa.table({"account_id": ["A", "A", "B"],
                        "score": ["committee"] * 3, "factor": ["economic_buyer", "champion",
                                                               "champion"],
                        "points": [50.0, 25.0, 50.0], "reason": ["", "", ""]})  # fmt: skip
    wh.insert("stored_reasons", wh.stage(reasons))


@pytest.fixture
def history(market) -> Abm:
    write_history(market)
    return market


def test_tiers_count_accounts_where_they_stood_at_the_start(history):
    period = kpis.Period(AS_OF - dt.timedelta(days=90), AS_OF)  # from 2026-04-01 12:00
    t = kpis.tiers_table(history.warehouse, history.settings, period).set_index("tier")
    # A was Tier 1 at the start (it is a customer now); B and C Tier 2; E's first tier is 3
    assert t["accounts"].to_dict() == {"1": 1, "2": 2, "3": 1, "none": 1}
    # engaged in the 90 days before AS_OF: A (t1, t3, t4, t5), B (t7), C (t8); D and E not
    assert t["engaged_accounts"].to_dict() == {"1": 1, "2": 2, "3": 0, "none": 0}
    assert t.loc["2", "engagement_rate"] == 1.0 and t.loc["3", "engagement_rate"] == 0.0
    # O1 (A, 100k) and O2 (B, 50k) created in the period; O3 (D, 7k) too
    assert t["pipeline"].to_dict() == {"1": 100000.0, "2": 50000.0, "3": 0.0, "none": 7000.0}
    assert t.loc["2", "pipeline_per_account"] == 25000.0
    # O1 won 2026-06-28; O3 lost 2026-06-29
    assert (t.loc["1", "won"], t.loc["1", "win_rate"], t.loc["1", "revenue"]) == (1, 1.0, 1e5)
    assert (t.loc["none", "closed"], t.loc["none", "won"], t.loc["none", "win_rate"]) == (1, 0, 0)
    assert math.isnan(t.loc["3", "win_rate"])
    # velocity: first engaged touch of A in the 90 days before O1 (t1, 2026-06-01) to the win
    assert t.loc["1", "median_velocity_days"] == 27.0
    # committee: A 75/100, B 50/100, C none
    assert t.loc["1", "committee_penetration"] == 0.75
    assert t.loc["2", "committee_penetration"] == 0.25


def test_acv_and_headline(history):
    period = kpis.Period(AS_OF - dt.timedelta(days=90), AS_OF)
    tiers = kpis.tiers_table(history.warehouse, history.settings, period)
    acv = kpis.acv_table(history.warehouse, period).set_index("group")
    assert acv.loc["ABM", "deals_won"] == 1 and acv.loc["ABM", "acv"] == 100000.0
    assert acv.loc["non-ABM", "deals_won"] == 0 and math.isnan(acv.loc["non-ABM", "acv"])
    spend = kpis.spend(history.warehouse, period)
    assert spend == 1000.0  # both campaigns started 2026-05-01
    head = kpis.headline(tiers, acv.reset_index(), spend).set_index("name")["value"]
    assert head["Target accounts"] == 4
    assert head["Engagement rate"] == 0.75
    assert head["Pipeline from target accounts"] == 150000.0
    assert head["Cost per pipeline dollar"] == pytest.approx(1000.0 / 157000.0)
    assert math.isnan(head["ACV, ABM ÷ non-ABM"])  # no non-ABM deal won: no ratio


def test_funnel_stages_and_moves(history):
    period = kpis.Period(AS_OF - dt.timedelta(days=90), AS_OF)
    stages = kpis.funnel_stages(history.warehouse, period, weeks=3)
    last = stages[stages["week"] == dt.date(2026, 6, 29)].set_index("stage")["accounts"]
    # by AS_OF: A is a customer outside the tiers (not counted), B Opportunity (Tier 2),
    # C Engaged, E Qualified; D never had a tier
    assert last.to_dict() == {"Qualified": 1, "Engaged": 1, "Opportunity": 1}
    first = stages[stages["week"] == dt.date(2026, 6, 15)].set_index("stage")["accounts"]
    # by the end of the week of 2026-06-15 (Sunday night): A and B Opportunity, C and E Qualified
    assert first.to_dict() == {"Qualified": 2, "Opportunity": 2}
    moves = kpis.funnel_moves(history.warehouse, period, weeks=3)
    got = {(r.week, r.from_stage, r.to_stage): (r.accounts, r.median_days)
           for r in moves.itertuples()}  # fmt: skip
    assert got == {
        (dt.date(2026, 6, 15), "Aware", "Opportunity"): (1, 78.0),  # B, 03-30 → 06-16
        (dt.date(2026, 6, 15), "MQA", "Opportunity"): (1, 13.0),  # A, 06-08 → 06-21
        (dt.date(2026, 6, 22), "Qualified", "Engaged"): (1, 87.0),  # C
        (dt.date(2026, 6, 29), "Opportunity", "Customer"): (1, 8.0),  # A
    }


def test_movers_of_the_week(history):
    period = kpis.Period(AS_OF - dt.timedelta(days=90), AS_OF)
    m = kpis.movers(history.warehouse, period)
    # in the 7 days before AS_OF: C Qualified → Engaged (still Tier 2); A left the tiers
    assert m[["account_id", "from_stage", "to_stage"]].values.tolist() == [
        ["C", "Qualified", "Engaged"]
    ]
    assert m.loc[0, "priority_change"] == 15.0 and m.loc[0, "name"] == "Gamma"


def test_report_cli_json_equals_the_report(history, workspace, warehouse_url):
    history.close()
    runner = CliRunner()
    args = ["report", "-w", str(workspace), "--set", f"warehouse.url={warehouse_url}",
            "--as-of", AS_OF.isoformat(), "--format", "json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    with Abm.open(workspace, {"warehouse": {"url": warehouse_url}}) as abm:
        report = build_report(abm, as_of=AS_OF)
    tiers = {r["tier"]: r for r in data["sections"]["tiers"]}
    assert tiers["1"]["pipeline"] == report.table("tiers").set_index("tier").loc["1", "pipeline"]
    assert {r["name"] for r in data["sections"]["kpis"]} >= {
        "Engagement rate",
        "Pipeline with no touch before it",
    }
    models = {r["model"] for r in data["sections"]["attribution"]}
    assert {"first", "linear", "markov"} <= models
    csv = runner.invoke(app, args[:-2] + ["--format", "csv"])
    assert csv.exit_code != 0 and "--section" in str(csv.exception)
    one = runner.invoke(app, args[:-2] + ["--format", "csv", "--section", "acv"])
    assert one.exit_code == 0 and one.output.splitlines()[0] == "group,deals_won,revenue,acv"
