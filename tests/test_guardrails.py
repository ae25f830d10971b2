"""Guardrails: each rule on its own, and properties over random signal streams and settings — no
budget, cap, consent, quiet-hours or approval rule is ever broken, checked by a brute-force
audit written here independently of the ledger."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abmkit.config.settings import AgentSettings, GuardrailSettings
from abmkit.decide.agent import Account, Match, Person, Proposal, Signal, decide, propose
from abmkit.decide.guardrails import (
    Candidate,
    Ledger,
    check,
    move,
    quiet_until,
    settle,
    timezones_of,
)
from abmkit.decide.plays import Play

T0 = dt.datetime(2026, 11, 16, 0, 0)  # a Monday
MESSAGES = {"email", "sequence"}
EU = {"DE", "FR", "NL"}


def candidate(**kw) -> Candidate:
    base = dict(play="p", step=0, channel="email", account_id="A1", at=T0 + dt.timedelta(hours=15),
                cost=1.0, tier=2, contact_id="C1", email="ann@acme.com", domain="acme.com",
                country="US")  # fmt: skip
    return Candidate(**(base | kw))


def rules(verdicts, outcome):
    return {v.rule for v in verdicts if v.outcome == outcome}


def test_a_day_budget_blocks_the_action_that_would_pass_it():
    g = GuardrailSettings(daily_budget=10, approval_first_run=False)
    book = Ledger()
    for n in range(3):
        book.add(candidate(cost=3.0, channel="task", contact_id=None, account_id=f"B{n}"))
    assert rules(check(candidate(cost=1.0, channel="task"), book, g), "block") == set()
    assert rules(check(candidate(cost=1.5, channel="task"), book, g), "block") == {"budget_day"}


def test_a_week_is_any_seven_days_not_a_calendar_week():
    g = GuardrailSettings(max_touches_per_contact_week=2, approval_first_run=False,
                          quiet_weekends=False,
                          max_touches_per_contact_channel_week={})  # fmt: skip
    book = Ledger()
    book.add(candidate(at=T0 + dt.timedelta(days=6, hours=16)))  # Sunday
    book.add(candidate(at=T0 + dt.timedelta(days=8, hours=16)))  # Tuesday of the next week
    monday = candidate(at=T0 + dt.timedelta(days=7, hours=16))
    assert "cap_contact" in rules(check(monday, book, g), "block")
    later = candidate(at=T0 + dt.timedelta(days=14, hours=16))
    assert "cap_contact" not in rules(check(later, book, g), "block")


def test_quiet_hours_defer_to_the_morning_in_every_zone_of_the_country():
    g = GuardrailSettings(approval_first_run=False)
    night = candidate(at=dt.datetime(2026, 11, 18, 3, 0))  # 22:00 in New York
    verdicts = check(night, Ledger(), g)
    status, until = settle(verdicts)
    assert status == "queued" and until is not None
    for zone in ("America/New_York", "America/Los_Angeles"):
        local = until.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zone))
        assert 8 <= local.hour < 20
    assert until == dt.datetime(2026, 11, 18, 16, 0)  # 08:00 in Los Angeles


def test_quiet_weekends_move_a_friday_night_to_monday():
    until = quiet_until(dt.datetime(2026, 11, 21, 2, 0), timezones_of("GB", "UTC"),
                        "20:00-08:00", True)  # fmt: skip
    assert until == dt.datetime(2026, 11, 23, 8, 0)


def test_consent_optout_do_not_contact_and_region():
    g = GuardrailSettings(do_not_contact=["@blocked.com", "A9"], blocked_countries=["RU"],
                          approval_first_run=False)  # fmt: skip
    assert "consent" in rules(check(candidate(country="DE"), Ledger(), g), "block")
    assert not rules(check(candidate(country="DE", consent=True), Ledger(), g), "block")
    assert "unsubscribe" in rules(check(candidate(opted_out=True), Ledger(), g), "block")
    assert "do_not_contact" in rules(check(candidate(email="x@blocked.com"), Ledger(), g),
                                     "block")  # fmt: skip
    assert "do_not_contact" in rules(check(candidate(account_id="A9"), Ledger(), g), "block")
    assert "region" in rules(check(candidate(country="RU"), Ledger(), g), "block")
    # an ad audience is not an e-mail: consent rules for inboxes do not apply
    ad = candidate(channel="linkedin_audience", contact_id=None, country="DE")
    assert not rules(check(ad, Ledger(), g), "block")


def test_approvals_tier1_spend_and_first_run():
    g = GuardrailSettings(approval_above_spend=100)
    book = Ledger()
    assert rules(check(candidate(tier=1), book, g), "approval") >= {"approval_tier1"}
    assert "approval_spend" in rules(check(candidate(cost=150, channel="task"), book, g),
                                     "approval")  # fmt: skip
    assert "approval_first_run" in rules(check(candidate(), book, g), "approval")
    book.add(candidate(), approved=True)
    assert "approval_first_run" not in rules(check(candidate(contact_id="C2"), book, g),
                                             "approval")  # fmt: skip


def test_moving_an_action_gives_back_its_old_place_and_checks_the_new_one():
    g = GuardrailSettings(daily_budget=10, approval_first_run=False)
    book = Ledger()
    first = candidate(cost=8.0, channel="task", contact_id=None)
    book.add(first)
    tomorrow = T0 + dt.timedelta(days=1, hours=15)
    book.add(candidate(cost=5.0, channel="task", contact_id=None, at=tomorrow))
    verdicts, moved = move(first, tomorrow, book, g, approved=True)
    assert moved is None and "budget_day" in rules(verdicts, "block")
    assert book.day("spend", at=first.at) == 0  # what it held today is free again
    assert book.day("spend", at=tomorrow) == 5


# -- properties ---------------------------------------------------------------------------------
CHANNELS = ["email", "sequence", "task", "linkedin_audience", "direct_mail", "owner_alert"]


@st.composite
def guardrails(draw) -> GuardrailSettings:
    start = draw(st.integers(17, 23))
    end = draw(st.integers(5, 9))
    return GuardrailSettings(
        daily_budget=draw(st.sampled_from([0, 20, 60, 200])),
        weekly_budget=draw(st.sampled_from([30, 100, 400])),
        channel_daily_budget={"linkedin_audience": draw(st.sampled_from([0, 10, 30])),
                              "direct_mail": draw(st.sampled_from([0, 60, 120]))},
        play_daily_budget={"p1": draw(st.sampled_from([15, 50]))},
        account_weekly_budget=draw(st.sampled_from([10, 40, 100])),
        max_touches_per_contact_week=draw(st.integers(0, 3)),
        max_touches_per_contact_channel_week={"email": draw(st.integers(0, 2))},
        max_touches_per_account_week=draw(st.integers(1, 6)),
        max_touches_per_account_channel_week={"task": draw(st.integers(0, 2))},
        quiet_hours=f"{start:02d}:00-{end:02d}:00",
        quiet_weekends=draw(st.booleans()),
        approval_for_tier1=draw(st.booleans()),
        approval_above_spend=draw(st.sampled_from([5, 50, 1000])),
        approval_first_run=draw(st.booleans()),
        do_not_contact=draw(st.sampled_from([[], ["@globex.com"], ["A2"]])),
    )  # fmt: skip


@st.composite
def streams(draw) -> list[Candidate]:
    n = draw(st.integers(1, 60))
    out = []
    for i in range(n):
        channel = draw(st.sampled_from(CHANNELS))
        person = channel in ("email", "sequence", "direct_mail")
        out.append(Candidate(
            play=draw(st.sampled_from(["p1", "p2"])), step=i, channel=channel,
            account_id=draw(st.sampled_from(["A1", "A2", "A3"])),
            at=T0 + dt.timedelta(minutes=draw(st.integers(0, 21 * 24 * 60))),
            cost=draw(st.sampled_from([0.0, 0.05, 4.0, 12.0, 60.0])), tier=draw(st.integers(1, 3)),
            contact_id=draw(st.sampled_from(["C1", "C2", "C3"])) if person else None,
            email=draw(st.sampled_from(["a@acme.com", "b@globex.com"])) if person else "",
            country=draw(st.sampled_from(["US", "DE", "GB", "JP", ""])),
            opted_out=draw(st.booleans()) if person else False,
            consent=draw(st.sampled_from([None, True, False])),
        ))  # fmt: skip
    return out


def audit(committed: list[tuple[Candidate, str]], g: GuardrailSettings) -> list[str]:
    """Every broken rule among committed actions, by brute force."""
    broken = []
    sent = [c for c, _ in committed]

    def windows(items, limit, what, amount=lambda c: 1.0):
        for c in items:
            inside = [x for x in items if c.at <= x.at < c.at + dt.timedelta(days=7)]
            if sum(amount(x) for x in inside) > limit + 1e-9:
                broken.append(f"{what} from {c.at}")

    def days(items, limit, what):
        for day in {c.at.date() for c in items}:
            if sum(c.cost for c in items if c.at.date() == day) > limit + 1e-9:
                broken.append(f"{what} on {day}")

    days(sent, g.daily_budget, "budget_day")
    windows(sent, g.weekly_budget, "budget_week", lambda c: c.cost)
    for channel, limit in g.channel_daily_budget.items():
        days([c for c in sent if c.channel == channel], limit, f"budget {channel}")
    for play, limit in g.play_daily_budget.items():
        days([c for c in sent if c.play == play], limit, f"budget {play}")
    for account in {c.account_id for c in sent}:
        mine = [c for c in sent if c.account_id == account]
        windows(mine, g.account_weekly_budget, f"account {account} spend", lambda c: c.cost)
        windows(mine, g.max_touches_per_account_week, f"account {account} cap")
        for channel, limit in g.max_touches_per_account_channel_week.items():
            windows([c for c in mine if c.channel == channel], limit, f"{account} {channel}")
    personal = [c for c in sent if c.contact_id and c.channel in ("email", "sequence",
                                                                   "direct_mail")]  # fmt: skip
    for person in {c.contact_id for c in personal}:
        mine = [c for c in personal if c.contact_id == person]
        windows(mine, g.max_touches_per_contact_week, f"person {person} cap")
        for channel, limit in g.max_touches_per_contact_channel_week.items():
            windows([c for c in mine if c.channel == channel], limit, f"{person} {channel}")
    for c, status in committed:
        if c.channel in MESSAGES:
            if quiet_until(c.at, timezones_of(c.country, g.default_timezone), g.quiet_hours,
                           g.quiet_weekends) is not None:  # fmt: skip
                broken.append(f"quiet hours {c.at} {c.country}")
            if c.opted_out or not c.email:
                broken.append("opted out")
            if c.country in EU | {"GB"} and c.consent is not True:
                broken.append(f"no consent {c.country}")
            if c.email.endswith("@globex.com") and "@globex.com" in g.do_not_contact:
                broken.append("do not contact")
        if c.account_id in g.do_not_contact:
            broken.append("do not contact account")
        needs = (g.approval_for_tier1 and c.tier == 1) or c.cost > g.approval_above_spend
        if needs and status == "queued":
            broken.append(f"queued without approval: {c}")
    return broken


def run_stream(stream: list[Candidate], g: GuardrailSettings, passes: int) -> list:
    """The stream in `passes` batches through decide's ledger, then every waiting action
    approved a day later (moved and re-checked); the committed actions at their final times."""
    book = Ledger()
    play = Play.model_validate({"name": "p1", "description": "d", "trigger": {"signal":
                                "intent_surge"}, "steps": [{"channel": "task"}]})  # fmt: skip
    agent = AgentSettings(min_value_ratio=0)
    committed: dict[str, tuple[Candidate, str]] = {}
    size = max(1, len(stream) // passes)
    for start in range(0, len(stream), size):
        proposals = []
        for n, c in enumerate(stream[start : start + size]):
            account = Account(c.account_id, tier=c.tier or 3)
            signal = Signal("intent_surge", c.account_id, c.at, f"s{start + n}")
            proposals.append(Proposal(f"k{start + n}", Match(play, signal, account), c.step, c,
                                      None, 0.1, 100.0, []))  # fmt: skip
        for p in decide(proposals, book, agent, g, enabled=CHANNELS):
            if p.status != "blocked":
                at = p.not_before or p.candidate.at
                committed[p.key] = (Candidate(**{**p.candidate.__dict__, "at": at}), p.status)
    for key, (c, status) in list(committed.items()):
        if status == "pending_approval":
            _, moved = move(c, c.at + dt.timedelta(days=1), book, g, approved=True,
                            enabled=CHANNELS)  # fmt: skip
            if moved is None:
                del committed[key]
            else:
                committed[key] = (moved, "approved")
    return list(committed.values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=guardrails(), stream=streams(), passes=st.integers(1, 4))
def test_no_rule_is_ever_broken(g, stream, passes):
    committed = run_stream(stream, g, passes)
    assert audit(committed, g) == []


@settings(max_examples=60, deadline=None)
@given(g=guardrails(), stream=streams())
def test_the_ledger_agrees_with_a_fresh_count(g, stream):
    """What the ledger holds after the passes equals what the committed actions add up to."""
    committed = run_stream(stream, g, 2)
    fresh = Ledger.of((c, True) for c, _ in committed)
    for c, _ in committed:
        assert fresh.week("spend", at=c.at) <= g.weekly_budget + 1e-9


def test_the_agent_proposes_each_persona_and_step_of_a_triggered_play():
    play = Play.model_validate({
        "name": "surge", "description": "d", "trigger": {"signal": "intent_surge"},
        "audience": {"personas": ["champion", "economic_buyer"]},
        "steps": [{"channel": "linkedin_audience"}, {"channel": "email", "after": "1d"}],
    })  # fmt: skip
    account = Account("A1", tier=2, buying_stage="Decision", propensity=0.4)
    people = [Person("C1", "A1", "a@x.com", persona="champion"),
              Person("C2", "A1", "b@x.com", persona="economic_buyer"),
              Person("C3", "A1", "c@x.com", persona="end_user")]  # fmt: skip
    signal = Signal("intent_surge", "A1", T0, "surge:w1", {"topics": 3})
    found = propose(Match(play, signal, account), people, AgentSettings(),
                    {"email": 0.05, "linkedin_audience": 8.0}, Ledger())  # fmt: skip
    assert [(p.candidate.channel, p.candidate.contact_id) for p in found] == [
        ("linkedin_audience", None),
        ("email", "C1"),
        ("email", "C2"),
    ]
    email = found[1]
    assert email.candidate.at == T0 + dt.timedelta(days=1)
    assert email.value > 0 and any("Decision" in r for r in email.reasons)
    again = propose(Match(play, signal, account), people, AgentSettings(),
                    {"email": 0.05}, Ledger())  # fmt: skip
    assert [p.key for p in again] == [p.key for p in found]  # the same idempotency keys
