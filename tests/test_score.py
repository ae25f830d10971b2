"""Account intelligence on small, hand-made markets: fit, intent, engagement, stages, tiers.

Every test loads real files through the real ingest path into a real warehouse (DuckDB, and
PostgreSQL where the `abm` fixture is used) and checks the stored scores and reasons.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abmkit.app import Abm
from abmkit.config.workspace import init_workspace
from abmkit.score.signals import engagement
from abmkit.score.tiers import TierCut, change_reasons
from conftest import by_key, ok, rows_of, write_csv

AS_OF = dt.datetime(2026, 6, 30, 12, 0)
PRICING = "https://seller.example/pricing"
ACCOUNTS = [
    ["001A", "Acme Analytics", "acme.com", "Software", "800", "$120M", "United States", "CA",
     "Salesforce;Snowflake;AWS", "Prospect"],
    ["001B", "Beta Retail", "beta.io", "Retail", "40", "2M", "Germany", "", "HubSpot", "Prospect"],
    ["001C", "Gamma Corp", "gamma.com", "", "", "", "", "", "", ""],
    ["001D", "Delta Rival", "delta.com", "Software", "900", "90M", "United States", "NY",
     "Snowflake", "Competitor"],
    ["001E", "Epsilon Bank", "epsilon.com", "Financial Services", "3000", "1B", "United States",
     "NY", "Salesforce", "Customer"],
]  # fmt: skip
ACCOUNT_HEADER = ["Id", "Name", "Website", "Industry", "NumberOfEmployees", "AnnualRevenue",
                  "BillingCountry", "BillingState", "technologies", "Type"]  # fmt: skip
ICP = {"icp.industries": ["Software", "Financial Services"], "icp.min_employees": 200,
       "icp.max_employees": 5000, "icp.countries": ["United States"],
       "icp.required_technologies": ["Salesforce", "Snowflake"]}  # fmt: skip


def market(abm: Abm, d: Path, *, touches: list[list] | None = None,
           intent: list[list] | None = None) -> None:  # fmt: skip
    d.mkdir(parents=True, exist_ok=True)
    ok(abm.ingest("accounts", [write_csv(d / "acc.csv", ACCOUNT_HEADER, ACCOUNTS)],
                  preset="salesforce")[0])  # fmt: skip
    contacts = [["c1", "001A", "ann@acme.com", "Chief Financial Officer"],
                ["c2", "001A", "bob@acme.com", "Senior Data Engineer"],
                ["c3", "001A", "cy@acme.com", "Director, Marketing Operations"],
                ["c4", "001C", "dee@gamma.com", "Analyst"]]  # fmt: skip
    ok(abm.ingest("contacts", [write_csv(d / "con.csv", ["Id", "AccountId", "Email", "Title"],
                                         contacts)], preset="salesforce")[0])  # fmt: skip
    if touches:
        header = ["timestamp", "email", "domain", "kind", "url"]
        ok(abm.ingest("touches", [write_csv(d / "touch.csv", header, touches)])[0])
    if intent:
        header = ["week", "domain", "topic", "score"]
        ok(abm.ingest("intent", [write_csv(d / "intent.csv", header, intent)])[0])


def when(days_before: float) -> str:
    return (AS_OF - dt.timedelta(days=days_before)).strftime("%Y-%m-%dT%H:%M:%SZ")


def scores(abm: Abm) -> dict[str, dict]:
    return by_key(abm, "account_scores", "account_id")


def reasons(abm: Abm, account: str, score: str) -> dict[str, dict]:
    return {r["factor"]: r for r in rows_of(abm, "score_reasons")
            if r["account_id"] == account and r["score"] == score}  # fmt: skip


@pytest.fixture
def icp_abm(tmp_path, warehouse_url):
    ws = tmp_path / "ws"
    init_workspace(ws)
    with Abm.open(ws, {"warehouse": {"url": warehouse_url}} | _nested(ICP)) as abm:
        yield abm


def _nested(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


# -- fit ---------------------------------------------------------------------------------------
def test_fit_reasons_add_up_and_exclusions_zero_it(icp_abm, tmp_path):
    market(icp_abm, tmp_path / "d")
    icp_abm.score(AS_OF)
    s = scores(icp_abm)
    # Acme: industry, size, place and both technologies match -> 100.
    assert (s["001A"]["fit"], s["001A"]["fit_bucket"]) == (100, "Strong")
    # Beta: wrong industry, 40 employees (outside 200-5k, not within x2), Germany, no tech -> 0.
    assert (s["001B"]["fit"], s["001B"]["fit_bucket"]) == (0, "Weak")
    # Gamma: nothing known -> every criterion at the unknown credit (0.5) -> 50, Moderate.
    assert (s["001C"]["fit"], s["001C"]["fit_bucket"]) == (50, "Moderate")
    # Delta is a competitor: excluded whatever else matches.
    assert s["001D"]["fit"] == 0 and "Competitor" in s["001D"]["fit_excluded"]
    for account in ("001A", "001B", "001C", "001E"):
        parts = reasons(icp_abm, account, "fit")
        assert set(parts) == {"industry", "employees", "location", "required_technologies"}
        assert round(sum(p["points"] for p in parts.values())) == s[account]["fit"]
    assert "Retail is not in the ICP" in reasons(icp_abm, "001B", "fit")["industry"]["reason"]
    # Epsilon has Salesforce but not Snowflake: half the technology credit, and it says which.
    tech = reasons(icp_abm, "001E", "fit")["required_technologies"]
    assert tech["points"] == pytest.approx(12.5) and "has Salesforce" in tech["reason"]


def test_fit_buckets_follow_their_thresholds(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    with Abm.open(ws, _nested(ICP) | {"thresholds": {"fit_strong": 40, "fit_moderate": 10}}) as a:
        market(a, tmp_path / "d")
        a.score(AS_OF)
        s = scores(a)
    assert s["001C"]["fit_bucket"] == "Strong"  # 50 >= 40
    assert s["001B"]["fit_bucket"] == "Weak"  # 0 < 10


def test_attribute_rules_score_custom_columns(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    rule = {"attribute": "Funding_Stage__c", "op": "in", "value": ["Series B", "Series C"]}
    with Abm.open(ws, {"icp": {"attribute_rules": [rule]}}) as a:
        d = tmp_path / "d"
        d.mkdir()
        rows = [["1", "One", "Series B"], ["2", "Two", "Seed"], ["3", "Three", ""]]
        path = write_csv(d / "a.csv", ["Id", "Name", "Funding_Stage__c"], rows)
        ok(a.ingest("accounts", [path], preset="salesforce")[0])
        a.score(AS_OF)
        s = scores(a)
    assert (s["1"]["fit"], s["2"]["fit"], s["3"]["fit"]) == (100, 0, 50)


# -- intent ------------------------------------------------------------------------------------
def test_third_party_intent_is_a_decayed_noisy_or_of_relevant_surges(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    week = (AS_OF - dt.timedelta(days=AS_OF.weekday() + 7)).date()  # last complete week
    rows = [[str(week), "acme.com", "Data Warehousing", "100"],
            [str(week), "acme.com", "Cloud Security", "75"],
            [str(week), "acme.com", "Knitting", "99"],  # not a relevant topic
            [str(week), "beta.io", "Data Warehousing", "55"]]  # fmt: skip  # not surging
    overrides = {"intent": {"relevant_topics": ["data warehousing", "cloud security"],
                            "half_life_days": {"third_party": 1e9, "first_party": 14}}}  # fmt: skip
    with Abm.open(ws, overrides) as a:
        market(a, tmp_path / "d", intent=rows)
        a.score(AS_OF)
        s = scores(a)
        why = reasons(a, "001A", "intent")["third_party"]["reason"]
    # strengths: min(1.0, 0.99) and 0.5 -> 100 * (1 - 0.01 * 0.5) = 99.5 (decay ~ none here)
    assert s["001A"]["intent_3p"] == pytest.approx(99.5, abs=0.01)
    assert s["001A"]["topics_surging"] == 2 and "Knitting" not in why
    assert why.startswith("2 relevant topics surging: Data Warehousing (100)")
    assert s["001B"]["intent_3p"] == 0 and s["001B"]["topics_surging"] == 0


def test_intent_decays_by_half_each_half_life(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    half = 14.0
    rows = [[str((AS_OF - dt.timedelta(days=half + 7)).date()), "acme.com", "Data", "75"]]
    with Abm.open(ws, {"intent": {"half_life_days": {"third_party": half}}}) as a:
        market(a, tmp_path / "d", intent=rows)
        a.score(AS_OF)
        s = scores(a)
    # (75-50)/50 = 0.5 at age 0, counted from the week's end: the week started AS_OF-21d
    # 00:00 and ended AS_OF-14d 00:00, i.e. 14.5 days before AS_OF (12:00).
    expected = 100 * 0.5 * 0.5 ** (14.5 / half)
    assert s["001A"]["intent_3p"] == pytest.approx(expected, rel=1e-6)


def test_pricing_pages_weigh_more_than_blog_pages(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    touches = [[when(1), "", "acme.com", "web_visit", PRICING],
               [when(1), "", "gamma.com", "web_visit", "https://x.example/blog/x"]]  # fmt: skip
    with Abm.open(ws) as a:
        market(a, tmp_path / "d", touches=touches)
        a.score(AS_OF)
        s = scores(a)
    assert s["001A"]["intent_1p"] > 3 * s["001C"]["intent_1p"] > 0
    assert s["001A"]["key_page_visits"] == 1 and s["001C"]["key_page_visits"] == 0


def test_momentum_compares_this_week_with_the_weeks_before(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    url = "https://seller.example/product"
    before = [[when(7 * w + 2), "", "acme.com", "web_visit", url] for w in (1, 2, 3, 4)]
    now = [[when(1 + i / 24), "", "acme.com", "web_visit", url] for i in range(3)]
    with Abm.open(ws) as a:
        market(a, tmp_path / "d", touches=before + now)
        a.score(AS_OF)
        s = scores(a)
    # 3 visits this week vs 4 in the 4 weeks before (1 a week): +200%
    assert s["001A"]["momentum_1p"] == pytest.approx(200.0)
    assert s["001C"]["momentum_1p"] is None


# -- engagement --------------------------------------------------------------------------------
def test_engagement_caps_one_person_and_decays(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    meetings = [[when(0), "ann@acme.com", "", "meeting", ""] for _ in range(1)]
    many = [[when(0.001 * i), "bob@acme.com", "", "event", ""] for i in range(20)]
    old = [[when(30), "cy@acme.com", "", "form_fill", ""]]
    neutral = {"persona_weights": {"economic_buyer": 1.0, "champion": 1.0},
               "seniority_weights": {"c_level": 1.0, "vp": 1.0}}  # fmt: skip
    with Abm.open(ws, {"engagement": neutral}) as a:
        market(a, tmp_path / "d", touches=meetings + many + old)
        a.score(AS_OF)
        s = scores(a)["001A"]
        cfg = a.settings.engagement
    # ann: one meeting (30); bob: 20 events = 300, capped at 50; cy: a form fill 30 days old
    # (one half-life) = 5.
    assert s["engagement_minutes"] == pytest.approx(30 + cfg.cap_per_contact + 5, rel=1e-3)
    assert s["engaged_contacts"] == 3
    assert s["engagement"] == pytest.approx(100 * (1 - math.exp(-85 / cfg.scale)), rel=1e-3)


def test_persona_and_seniority_weights_multiply(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    touches = [[when(0), "ann@acme.com", "", "form_fill", ""],  # CFO: economic buyer, C-level
               [when(0), "cy@acme.com", "", "form_fill", ""]]  # fmt: skip  # director: champion
    weights = {"persona_weights": {"economic_buyer": 3.0, "champion": 1.5},
               "seniority_weights": {"c_level": 1.5}, "cap_per_contact": 1000}  # fmt: skip
    with Abm.open(ws, {"engagement": weights}) as a:
        market(a, tmp_path / "d", touches=touches)
        a.score(AS_OF)
        s = scores(a)["001A"]
    assert s["engagement_minutes"] == pytest.approx(10 * 3.0 * 1.5 + 10 * 1.5)
    assert s["engaged_personas"] == 2


def test_a_zero_weight_excludes_and_weights_apply_retroactively(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    touches = [[when(0), "bob@acme.com", "", "form_fill", ""]]
    with Abm.open(ws) as a:
        market(a, tmp_path / "d", touches=touches)
        a.score(AS_OF)
        first = scores(a)["001A"]["engagement_minutes"]
    with Abm.open(ws, {"engagement": {"points": {"form_fill": 0.0}}}) as a:
        a.score(AS_OF)
        after = scores(a)["001A"]["engagement_minutes"]
    assert first == pytest.approx(10.0) and after == 0.0


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(st.tuples(st.sampled_from(["web_visit", "email_click", "meeting", "form_fill",
                                            "ad_impression", "webinar"]),
                          st.sampled_from(["ann@acme.com", "bob@acme.com", "", "x@acme.com"]),
                          st.floats(0, 120)), min_size=1, max_size=12))  # fmt: skip
def test_engagement_never_goes_down_when_a_touch_is_added(engagement_abm, extra):
    abm, base = engagement_abm
    before = _minutes(abm)
    d = base / f"add{abs(hash(tuple(extra)))}"
    d.mkdir(parents=True, exist_ok=True)
    rows = [[when(age), who, "acme.com", kind, PRICING]
            for kind, who, age in extra]  # fmt: skip
    ok(abm.ingest("touches", [write_csv(d / "t.csv", ["timestamp", "email", "domain", "kind",
                                                      "url"], rows)])[0])  # fmt: skip
    assert _minutes(abm) >= before - 1e-9


def _minutes(abm: Abm) -> float:
    accounts, _ = engagement(abm.warehouse, abm.settings, AS_OF)
    rows = accounts.filter(accounts.account_id == "001A").to_pyarrow().to_pylist()
    return rows[0]["engagement_minutes"] if rows else 0.0


@pytest.fixture(scope="module")
def engagement_abm(tmp_path_factory):
    base = tmp_path_factory.mktemp("engagement")
    init_workspace(base / "ws")
    with Abm.open(base / "ws") as abm:
        market(abm, base / "d", touches=[[when(3), "ann@acme.com", "", "meeting", ""]])
        yield abm, base


# -- stages ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("touches", "intent_score", "buying", "journey"),
    [
        ([], None, "Target", "Qualified"),  # fit 100 >= 70, nothing else
        ([["ann@acme.com", "email_open", ""]], None, "Awareness", "Qualified"),
        ([], "70", "Consideration", "Aware"),  # third-party intent 40 -> no; 70 -> 0.4*100=40
        ([["ann@acme.com", "meeting", ""]], None, "Consideration", "Engaged"),  # 60 min (x2)
        (
            [["ann@acme.com", "meeting", ""], ["bob@acme.com", "meeting", ""]],
            None,
            "Decision",
            "Engaged",
        ),  # fmt: skip
    ],
)
def test_stages_follow_their_thresholds(tmp_path, touches, intent_score, buying, journey):
    ws = tmp_path / "ws"
    init_workspace(ws)
    overrides = _nested(ICP) | {"stages": {"aware_intent": 30, "consideration_intent": 30}}
    rows = [[when(0), who, "acme.com", kind, url] for who, kind, url in touches]
    week = str((AS_OF - dt.timedelta(days=AS_OF.weekday() + 7)).date())
    intent = [[week, "acme.com", "Data", intent_score]] if intent_score else None
    with Abm.open(ws, overrides) as a:
        market(a, tmp_path / "d", touches=rows or None, intent=intent)
        a.score(AS_OF)
        s = scores(a)["001A"]
    assert (s["buying_stage"], s["journey_stage"]) == (buying, journey)
    assert s["sales_ready"] == (buying in ("Decision", "Purchase"))


def test_opportunities_move_accounts_to_decision_purchase_and_customer(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    opps = [["o1", "001A", "Discovery", "", "2026-06-01", ""],
            ["o2", "001C", "Negotiation", "", "2026-06-01", ""],
            ["o3", "001B", "Closed Won", "5000", "2026-01-01", "2026-03-01"]]  # fmt: skip
    with Abm.open(ws, _nested(ICP)) as a:
        market(a, tmp_path / "d")
        header = ["Id", "AccountId", "StageName", "Amount", "CreatedDate", "CloseDate"]
        ok(a.ingest("opportunities", [write_csv(tmp_path / "o.csv", header, opps)],
                    preset="salesforce")[0])  # fmt: skip
        a.score(AS_OF)
        s = scores(a)
    assert (s["001A"]["buying_stage"], s["001A"]["journey_stage"]) == ("Decision", "Opportunity")
    assert (s["001C"]["buying_stage"], s["001C"]["journey_stage"]) == ("Purchase", "Opportunity")
    assert s["001B"]["journey_stage"] == "Customer"
    assert s["001E"]["journey_stage"] == "Customer"  # CRM type Customer
    assert s["001A"]["sales_ready"] and not s["001B"]["sales_ready"]


# -- refresh and tiers -------------------------------------------------------------------------
def test_rescoring_with_no_new_data_changes_nothing(abm, tmp_path):
    touches = [[when(2), "ann@acme.com", "", "meeting", ""],
               [when(1), "", "gamma.com", "web_visit", PRICING]]  # fmt: skip
    market(abm, tmp_path / "d", touches=touches)
    first = abm.score()
    assert first.as_of == AS_OF - dt.timedelta(days=1)  # the latest touch, not the wall clock
    before = {t: rows_of(abm, t) for t in ("account_scores", "score_reasons", "score_history",
                                            "tier_changes")}  # fmt: skip
    again = abm.score()
    assert (again.changed.inserted, again.changed.updated) == (0, 0)
    assert again.changed.unchanged == len(ACCOUNTS)
    assert (again.tier_changes, again.history_rows) == (0, 0)
    for table, rows in before.items():
        assert _sorted(rows_of(abm, table)) == _sorted(rows), table


def _sorted(rows: list[dict]) -> list:
    return sorted(sorted((k, str(v)) for k, v in r.items()) for r in rows)


def test_tier_capacities_hold_and_every_change_has_a_reason(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    d = tmp_path / "d"
    d.mkdir()
    rows = [[f"{i:03d}", f"Company {i}", f"c{i}.com", "Software", str(100 + 50 * i)]
            for i in range(40)]  # fmt: skip
    caps = {"tiers": {"tier1_capacity": 3, "tier2_capacity": 7, "tier3_capacity": 10},
            "icp": {"min_employees": 1000}}  # fmt: skip
    with Abm.open(ws, caps) as a:
        ok(a.ingest("accounts", [write_csv(d / "a.csv", ["Id", "Name", "Website", "Industry",
                                                         "NumberOfEmployees"], rows)],
                    preset="salesforce")[0])  # fmt: skip
        result = a.score(AS_OF)
        s = scores(a)
        changes = rows_of(a, "tier_changes")
    counts = {t: sum(1 for r in s.values() if r["tier"] == t) for t in (1, 2, 3, None)}
    assert (counts[1], counts[2], counts[3]) == (3, 7, 10)
    assert [c.filled for c in result.tiers] == [3, 7, 10]
    assert len(changes) == 20 and all(c["reason"].startswith("entered Tier") for c in changes)
    # On a first refresh, a better tier never holds a lower priority than a worse one.
    low = {t: min(r["priority"] for r in s.values() if r["tier"] == t) for t in (1, 2, 3)}
    high = {t: max(r["priority"] for r in s.values() if r["tier"] == t) for t in (2, 3)}
    assert low[1] >= high[2] and low[2] >= high[3]
    untiered = [r for r in s.values() if r["tier"] is None]
    assert all(r["priority"] <= low[3] or r["fit"] < 50 for r in untiered)


def test_tier_change_reasons_name_each_kind_of_move():
    cuts = {1: TierCut(1, 20, 20, 90.0), 2: TierCut(2, 300, 12, 60.0),
            3: TierCut(3, None, 40, 44.4)}  # fmt: skip
    rows = pa.table({
        "from_tier": pa.array([None, 2, 1, 3, 3, 2], pa.int64()),
        "to_tier": pa.array([2, 1, 3, None, None, None], pa.int64()),
        "priority": [71.2, 12.5, 13.5, 40.0, None, 50.0],
        "tier_rank": pa.array([14, 3, 7, None, None, None], pa.int64()),
        "eligible": [True, True, True, True, False, True],
        "why_not": [None, None, None, None, "a customer (tiers.expansion_mode is off)", None],
    })  # fmt: skip
    assert change_reasons(rows, cuts).to_pylist() == [
        "entered Tier 2: priority 71 ranks 14 of 300 Tier 2 seats",
        "rose from Tier 2 to Tier 1: priority 12 ranks 3 of 20 Tier 1 seats",  # halves to even
        "fell from Tier 1 to Tier 3: priority 14 ranks 7 of Tier 3",  # no capacity
        "left Tier 3: outranked, priority 40 (the Tier 3 cut is 44)",
        "left Tier 3: a customer (tiers.expansion_mode is off)",
        "left Tier 2: outranked, priority 50 (the Tier 3 cut is 44)",
    ]
    empty = {**cuts, 3: TierCut(3, 10, 0, None)}  # nobody seated in Tier 3: no cut to name
    left = change_reasons(rows.slice(3, 1), empty).to_pylist()
    assert left == ["left Tier 3: outranked, priority 40"]


def test_tiers_do_not_flap_on_small_changes(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    d = tmp_path / "d"
    d.mkdir()
    rows = [["A", "Alpha", "alpha.com"], ["B", "Bravo", "bravo.com"]]
    caps = {"tiers": {"tier1_capacity": 1, "tier2_capacity": 1, "tier3_capacity": 0,
                      "hysteresis": 0.2}, "weights": {"fit": 0.0, "intent": 0.0,
                                                      "engagement": 1.0}}  # fmt: skip
    with Abm.open(ws, caps) as a:
        ok(a.ingest("accounts", [write_csv(d / "a.csv", ["Id", "Name", "Website"], rows)],
                    preset="salesforce")[0])  # fmt: skip
        visit = ["", "", "web_visit", "https://seller.example/product"]

        def touches(name: str, counts: dict[str, int]) -> None:
            offset = len(name) * 0.001 + int(name[1]) * 0.1  # distinct touches in each file
            rows = [[when(offset + 0.001 * i), "", f"{dom}.com", "web_visit", visit[3]]
                    for dom, n in counts.items() for i in range(n)]  # fmt: skip
            ok(a.ingest("touches", [write_csv(d / name, ["timestamp", "email", "domain", "kind",
                                                         "url"], rows)])[0])  # fmt: skip

        touches("t1.csv", {"alpha": 10, "bravo": 8})
        a.score(AS_OF)
        assert {k: r["tier"] for k, r in scores(a).items()} == {"A": 1, "B": 2}
        touches("t2.csv", {"bravo": 3})  # Bravo now slightly ahead, by less than 20%
        a.score(AS_OF)
        s = scores(a)
        assert s["B"]["priority"] > s["A"]["priority"]
        assert {k: r["tier"] for k, r in s.items()} == {"A": 1, "B": 2}  # no flap
        touches("t3.csv", {"bravo": 20})  # now far ahead: they swap, with reasons
        a.score(AS_OF)
        assert {k: r["tier"] for k, r in scores(a).items()} == {"A": 2, "B": 1}
        changes = [c for c in rows_of(a, "tier_changes") if c["from_tier"] is not None]
    assert {(c["account_id"], c["from_tier"], c["to_tier"]) for c in changes} == {
        ("A", 1, 2),
        ("B", 2, 1),
    }
    assert all(c["reason"] for c in changes)


def test_a_changed_icp_replaces_the_reasons_it_no_longer_gives(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    with Abm.open(ws, _nested(ICP)) as a:
        market(a, tmp_path / "d")
        a.score(AS_OF)
        assert set(reasons(a, "001A", "fit")) == {"industry", "employees", "location",
                                                   "required_technologies"}  # fmt: skip
    with Abm.open(ws, {"icp": {"industries": ["Retail"]}}) as a:
        result = a.score(AS_OF)
        fit = reasons(a, "001A", "fit")
        s = scores(a)
    assert set(fit) == {"industry"} and fit["industry"]["points"] == 0
    assert (s["001A"]["fit"], s["001B"]["fit"]) == (0, 100)
    assert result.changed.updated >= 2


def test_a_week_of_intent_counts_only_once_it_is_over(tmp_path):
    """As of a Wednesday, the running week's scores are not known yet (no leakage)."""
    ws = tmp_path / "ws"
    init_workspace(ws)
    running = (AS_OF - dt.timedelta(days=AS_OF.weekday())).date()
    with Abm.open(ws) as a:
        market(a, tmp_path / "d", intent=[[str(running), "acme.com", "Data", "90"]])
        a.score(AS_OF)
        early = scores(a)["001A"]["intent_3p"]
        a.score(dt.datetime.combine(running, dt.time()) + dt.timedelta(days=7))
        later = scores(a)["001A"]["intent_3p"]
    assert early == 0 and later == pytest.approx(80.0)


def test_committee_coverage_names_its_gaps(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    touches = [[when(2), "ann@acme.com", "", "email_click", ""],  # the CFO: economic buyer
               [when(45), "cy@acme.com", "", "form_fill", ""]]  # fmt: skip  # champion, long ago
    with Abm.open(ws, {"committee": {"required_personas": ["economic_buyer", "champion",
                                                           "blocker"]}}) as a:  # fmt: skip
        market(a, tmp_path / "d", touches=touches)
        a.score(AS_OF)
        parts = reasons(a, "001A", "committee")
        gamma = reasons(a, "001C", "committee")
        view = a.account("acme.com")
    # The account screen: engagement per person and per persona (90-day window, decayed).
    minutes = {c["email"]: c["minutes"] for c in view.committee}
    assert minutes["ann@acme.com"] > minutes["cy@acme.com"] > 0 and not minutes["bob@acme.com"]
    by = {p["persona"]: p for p in view.personas}
    assert (by["economic_buyer"]["known"], by["economic_buyer"]["engaged"]) == (1, 1)
    assert by["economic_buyer"]["minutes"] == pytest.approx(minutes["ann@acme.com"], abs=0.1)
    assert sum(p["known"] for p in view.personas) == 3
    assert sum(p["engaged"] for p in view.personas) == 2
    assert set(parts) == {"economic_buyer", "champion", "blocker"}
    assert parts["economic_buyer"]["reason"].startswith("economic buyer engaged (1 of 1, last")
    assert parts["champion"]["reason"] == "champion known (1) but not engaged in 30 days"
    assert parts["blocker"]["reason"] == "no blocker known"
    assert sum(p["points"] for p in parts.values()) == pytest.approx(100 / 3 * 1.5, abs=0.1)
    assert {p["reason"] for p in gamma.values()} == {
        "no economic buyer known",
        "no champion known",
        "no blocker known",
    }


def test_tier2_clusters_group_similar_accounts_with_readable_labels(tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws)
    d = tmp_path / "d"
    d.mkdir()
    rows = []
    for i in range(30):  # two kinds of company, fifteen of each
        software = i % 2 == 0
        rows.append([f"{i:03d}", f"Co {i}", f"co{i}.com",
                     "Software" if software else "Retail", "600" if software else "3000",
                     "Snowflake;dbt" if software else "SAP;Oracle"])  # fmt: skip
    caps = {"tiers": {"tier1_capacity": 0, "tier2_capacity": 30, "tier2_clusters": 4}}
    with Abm.open(ws, caps) as a:
        header = ["Id", "Name", "Website", "Industry", "NumberOfEmployees", "technologies"]
        ok(a.ingest("accounts", [write_csv(d / "a.csv", header, rows)],
                    preset="salesforce")[0])  # fmt: skip
        a.score(AS_OF)
        s = scores(a)
        listed = a.accounts(cluster=1, limit=None).to_pylist()
    assert all(r["tier"] == 2 and r["cluster"] is not None for r in s.values())
    by_cluster: dict[int, set] = {}
    for k, r in s.items():
        by_cluster.setdefault(r["cluster"], set()).add(int(k) % 2)
    assert all(len(kinds) == 1 for kinds in by_cluster.values())  # never mixes the two kinds
    labels = {r["cluster_label"] for r in s.values()}
    assert any(lab.startswith("Software · 200–1k employees") for lab in labels), labels
    assert any(lab.startswith("Retail · 1k–5k employees") for lab in labels), labels
    assert listed and {r["cluster"] for r in listed} == {1}
