"""The rehearsal: each policy in closed loop against a small simulated market (written, ingested
and scored through the real path once per module), and the independent audit of what each
delivered."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace

import pytest

from abmkit.config.settings import GuardrailSettings
from abmkit.decide.plays import library
from abmkit.decide.rehearsal import Delivered, Market, Rehearsal, audit, prepare
from abmkit.simulate import MarketConfig

MARKET = MarketConfig(accounts=800, months=12, seed=11)
DAYS = 14
POLICIES = ("agent", "rules", "static")
SUMMARY_KEYS = {"policy", "seed", "days", "spend", "pipeline", "pipeline_per_dollar",
                "first_touch_median_h", "breaches", "breach_detail",
                "actions_by_channel"}  # fmt: skip
WEEK = dt.timedelta(days=7)


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Market:
    return prepare(MARKET, tmp_path_factory.mktemp("rehearsal"))


@pytest.fixture(scope="module")
def runs(market) -> dict[str, Rehearsal]:
    """Each policy rehearsed once for DAYS days on the module's market."""
    out = {}
    for policy in POLICIES:
        rehearsal = Rehearsal(market, policy, DAYS, list(library().values()))
        rehearsal.run()
        out[policy] = rehearsal
    return out


def rehearse(market: Market, policy: str) -> dict:
    return Rehearsal(market, policy, DAYS, list(library().values())).run().summary()


@pytest.mark.slow
def test_every_policy_runs_and_reports_what_it_did(runs):
    for policy, r in runs.items():
        s = r.result.summary()
        assert set(s) >= SUMMARY_KEYS
        assert (s["policy"], s["seed"], s["days"]) == (policy, MARKET.seed, DAYS)
        assert r.delivered and sum(s["actions_by_channel"].values()) == len(r.delivered)
        assert s["spend"] == pytest.approx(sum(d.cost for d in r.delivered), abs=0.01)
        assert s["spend"] > 0  # every policy pays for something: ads, tasks or e-mails
        assert s["pipeline_per_dollar"] == pytest.approx(s["pipeline"] / s["spend"], rel=1e-4)
        assert all(r.start <= d.at < r.start + dt.timedelta(days=DAYS) for d in r.delivered)


@pytest.mark.slow
def test_no_policy_breaks_a_guardrail(runs):
    for policy, r in runs.items():
        s = r.result.summary()
        assert (s["breaches"], s["breach_detail"]) == (0, {}), policy
        # counted again here from what was delivered, without the audit
        g = r.guardrails
        spend: dict[dt.date, float] = defaultdict(float)
        for d in r.delivered:
            spend[d.at.date()] += d.cost
        assert max(spend.values()) <= g.daily_budget + 1e-6, policy
        people: dict[str, list[dt.datetime]] = defaultdict(list)
        for d in r.delivered:
            if d.contact_id and d.channel in ("email", "sequence", "direct_mail"):
                people[d.contact_id].append(d.at)
        for times in people.values():
            times.sort()
            busiest = max(sum(1 for u in times if t <= u < t + WEEK) for t in times)
            assert busiest <= g.max_touches_per_contact_week, policy
        assert not [d for d in r.delivered if d.channel == "email" and d.opted_out], policy
        assert all(d.approved for d in r.delivered if d.needed_approval), policy


@pytest.mark.slow
def test_the_agent_touches_a_signal_sooner_than_the_weekly_rules(runs):
    agent, rules = (runs[p].result.summary() for p in ("agent", "rules"))
    assert agent["signals_touched"] > 0 and rules["signals_touched"] > 0
    assert agent["first_touch_median_h"] < rules["first_touch_median_h"]


@pytest.mark.slow
def test_the_static_program_touches_no_signal(runs):
    """The always-on ads and the monthly e-mail answer no signal: no time to first touch."""
    static = runs["static"].result.summary()
    assert (static["signals_touched"], static["first_touch_median_h"]) == (0, None)


@pytest.mark.slow
def test_the_same_seed_gives_the_same_rehearsal(market, runs):
    assert rehearse(market, "agent") == runs["agent"].result.summary()


@pytest.mark.slow
def test_actions_go_only_through_enabled_channels(market, runs):
    for policy, r in runs.items():
        assert set(r.result.by_channel) <= set(market.settings.channels.enabled), policy
    used = runs["rules"].result.by_channel
    dropped = max(used, key=used.get)  # the rules policy's busiest channel, switched off
    channels = market.settings.channels.model_copy(
        update={"enabled": [c for c in market.settings.channels.enabled if c != dropped]}
    )
    narrower = replace(market, settings=market.settings.model_copy(update={"channels": channels}))
    summary = rehearse(narrower, "rules")
    assert dropped not in summary["actions_by_channel"]
    assert summary["actions_by_channel"] and summary["breaches"] == 0


def delivered(at: str, channel: str, account: str, cost: float, **extra) -> Delivered:
    values = dict(at=dt.datetime.fromisoformat(at), key=f"k-{account}-{at}", play="p",
                  channel=channel, account_id=account, contact_id=None, cost=cost, tier=2,
                  signal_at=None, signal_ref=f"ref-{account}", approved=True,
                  needed_approval=False) | extra  # fmt: skip
    return Delivered(**values)


def test_the_audit_counts_a_broken_daily_budget_and_a_quiet_hour():
    g = GuardrailSettings(daily_budget=500.0, quiet_hours="20:00-08:00")
    # Wednesday 4 June 2025: three $200 tasks on three accounts, two e-mails to US people
    tasks = [delivered(f"2025-06-04T1{n}:00:00", "task", f"acct-{n}", 200.0) for n in range(3)]
    daytime = delivered("2025-06-04T15:00:00", "email", "acct-0", 0.05, contact_id="c-1",
                        country="US")  # 11:00 in New York, 08:00 in Los Angeles  # fmt: skip
    night = delivered("2025-06-04T03:00:00", "email", "acct-1", 0.05, contact_id="c-2",
                      country="US")  # 23:00 in New York the evening before  # fmt: skip
    assert audit([*tasks, daytime, night], g) == {"budget_day": 1, "quiet_hours": 1}
    assert audit([*tasks[:2], daytime], g) == {}
    assert audit([], g) == {}
