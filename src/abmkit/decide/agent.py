"""The agent's decision core, the same for the live workspace and the market rehearsal:
evaluate (which plays do new signals trigger, for which accounts) → decide (the expected value of
each candidate action against its cost) → check (every guardrail) → commit (reserve its spend
and touches). Observing, acting and learning live in `abmkit.decide.loop` (a workspace) and
`abmkit.simulate.rehearse` (the simulated market).

Expected value of one action = P(it leads to a meeting) × P(a meeting opens an opportunity) ×
the account's expected deal size × how much the goals favour the account, minus its cost.
P(meeting) starts from the channel's rate (`agent.meeting_rate`), is raised by the signs that
the account is in market now (the triggering signal, its buying stage and propensity), and
falls with fatigue: each touch of the same person (or account) on the channel in the last 7
days multiplies it by `agent.fatigue`. An action is taken when its value is at least
`agent.min_value_ratio` × its cost; free actions (an alert to the owner) are taken whenever the
caps allow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from abmkit.config.settings import AgentSettings, GuardrailSettings
from abmkit.decide.guardrails import AUDIENCES, PERSONAL, Candidate, Ledger, Verdict, check, settle
from abmkit.decide.plays import Play, delay
from abmkit.measure.holdout import scopes_of

DEFAULT_VALUE_RATIO = 1.5
"""The least value per dollar when neither the settings nor the workspace's history give one."""
STAGE_LIFT = {"Target": 1.0, "Awareness": 1.3, "Consideration": 1.8, "Decision": 2.6,
              "Purchase": 3.0}  # fmt: skip


@dataclass(frozen=True)
class Signal:
    """Something observed about an account: the reason a play may start."""

    kind: str
    account_id: str
    at: dt.datetime
    ref: str
    """Stable name of this occurrence (e.g. 'surge:2026-W47'): the same occurrence never
    triggers a play twice."""
    detail: Mapping[str, Any] = field(default_factory=dict)
    strength: float = 1.0

    def as_dict(self) -> dict:
        return {"kind": self.kind, "account_id": self.account_id, "at": self.at.isoformat(),
                "ref": self.ref, "detail": dict(self.detail)}  # fmt: skip


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str = ""
    domain: str = ""
    tier: int = 3
    buying_stage: str = "Target"
    journey_stage: str = ""
    cluster: int | None = None
    cluster_label: str = ""
    priority: float = 0.0
    propensity: float | None = None
    is_customer: bool = False
    owner: str = ""
    industry: str = ""
    country: str = ""
    top_topics: str = ""
    deal_size: float | None = None
    goal_boost: float = 0.0
    goals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Person:
    contact_id: str
    account_id: str
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    title: str = ""
    persona: str = ""
    country: str = ""
    opted_out: bool = False
    consent: bool | None = None


@dataclass(frozen=True)
class Match:
    play: Play
    signal: Signal
    account: Account


@dataclass
class Proposal:
    """One candidate action with everything needed to explain it."""

    key: str
    match: Match
    step: int
    candidate: Candidate
    person: Person | None
    p_meeting: float
    value: float
    reasons: list[str]
    verdicts: list[Verdict] = field(default_factory=list)
    status: str = ""
    not_before: dt.datetime | None = None
    payload: dict = field(default_factory=dict)

    @property
    def expected_value(self) -> float:
        return self.value - self.candidate.cost

    def decision(self) -> dict:
        return {"signal": self.match.signal.as_dict(), "play": self.match.play.name,
                "step": self.step, "reasons": self.reasons, "p_meeting": self.p_meeting,
                "value": round(self.value, 2), "cost": self.candidate.cost,
                "expected_value": round(self.expected_value, 2),
                "verdicts": [v.as_dict() for v in self.verdicts]}  # fmt: skip


def action_key(play: str, step: int, account_id: str, contact_id: str | None, ref: str) -> str:
    """The idempotency key: one play step, for one account and person, per signal."""
    text = "|".join([play, str(step), account_id, contact_id or "", ref])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- evaluate ----------------------------------------------------------------------------------
def triggered(play: Play, signal: Signal, account: Account, now: dt.datetime) -> bool:
    """Does this signal start this play for this account?"""
    t, a = play.trigger, play.audience
    if not play.enabled or t.signal != signal.kind:
        return False
    if signal.at > now or now - signal.at > dt.timedelta(hours=t.within_hours):
        return False
    if account.tier not in a.tiers or (a.stages and account.buying_stage not in a.stages):
        return False
    if a.clusters and account.cluster not in a.clusters:
        return False
    if a.customers != account.is_customer:
        return False
    if signal.kind in ("intent_surge", "customer_expansion"):
        return int(signal.detail.get("topics", 0)) >= t.min_topics
    if signal.kind == "key_page_visit" and t.pages:
        return any(str(signal.detail.get("path", "")).startswith(p) for p in t.pages)
    if signal.kind == "engagement_spike":
        return float(signal.detail.get("spike_pct", 0)) >= t.min_spike_pct
    if signal.kind == "stalled_opportunity":
        return float(signal.detail.get("days", 0)) >= t.stalled_days
    return True


def evaluate(signals: Iterable[Signal], plays: Iterable[Play],
             accounts: Mapping[str, Account], now: dt.datetime) -> list[Match]:  # fmt: skip
    """Every (play, account) a signal triggers; an account's strongest signal per play."""
    best: dict[tuple[str, str], Match] = {}
    plays = list(plays)
    for signal in signals:
        account = accounts.get(signal.account_id)
        if account is None:
            continue
        for play in plays:
            if triggered(play, signal, account, now):
                here = best.get((play.name, account.account_id))
                if here is None or signal.strength > here.signal.strength:
                    best[(play.name, account.account_id)] = Match(play, signal, account)
    return list(best.values())


def held_back(matches: list[Match],
              held: Container[tuple[str, str]]) -> tuple[list[Match], int]:  # fmt: skip
    """The matches whose account is not held out of the play — neither in its tier's holdout
    nor in the play's (`held`: (scope, account_id) pairs, `abmkit.measure.holdout`) — and how
    many were dropped: a holdout account is measured, never treated."""
    kept = [m for m in matches
            if not any((s, m.account.account_id) in held
                       for s in scopes_of(m.play.name, m.account.tier))]  # fmt: skip
    return kept, len(matches) - len(kept)


# -- decide ------------------------------------------------------------------------------------
def propose(match: Match, people: Iterable[Person], settings: AgentSettings,
            costs: Mapping[str, float], ledger: Ledger) -> list[Proposal]:  # fmt: skip
    """The candidate actions of a triggered play: each step (for the account's tier) for the
    account or for each person of the play's personas, valued."""
    play, signal, account = match.play, match.signal, match.account
    members = [p for p in people if p.persona in play.audience.personas]
    out = []
    for n, step in enumerate(play.steps):
        if step.tiers and account.tier not in step.tiers:
            continue
        at = signal.at + delay(step.after)
        targets: list[Person | None] = list(members) if step.channel in PERSONAL else [None]
        personal = step.channel in PERSONAL or (
            step.channel in AUDIENCES and play.audience.personas
        )
        if personal and not members:
            continue  # nobody of the play's personas at this account yet
        for person in targets:
            out.append(_valued(match, n, step.channel, at, person, settings, costs, ledger))
    return out


def _valued(match: Match, n: int, channel: str, at: dt.datetime, person: Person | None,
            settings: AgentSettings, costs: Mapping[str, float],
            ledger: Ledger) -> Proposal:  # fmt: skip
    signal, account = match.signal, match.account
    base = settings.meeting_rate.get(channel, 0.0)
    lift_signal = settings.signal_lift.get(signal.kind, 1.0) * max(signal.strength, 0.5)
    lift_stage = STAGE_LIFT.get(account.buying_stage, 1.0)
    lift_model = 1.0 if account.propensity is None else 0.5 + 2.0 * min(account.propensity, 1.0)
    who = ("contact", person.contact_id) if person else ("account", account.account_id)
    touched = ledger.week("touch", *who, channel, at=at)
    fatigue = settings.fatigue**touched
    p = min(base * lift_signal * lift_stage * lift_model * fatigue, 0.95)
    deal = account.deal_size or settings.deal_size
    boost = 1.0 + min(account.goal_boost, settings.max_goal_boost)
    value = p * settings.opportunity_per_meeting * deal * boost
    reasons = [f"{signal.kind.replace('_', ' ')} ({signal.ref}) × {lift_signal:.1f}",
               f"buying stage {account.buying_stage} × {lift_stage:.1f}",
               f"Tier {account.tier}, priority {account.priority:.0f}"]  # fmt: skip
    if account.propensity is not None:
        reasons.append(f"propensity {account.propensity:.0%} × {lift_model:.2f}")
    if touched:
        reasons.append(f"{touched:.0f} touch(es) on {channel} in 7 days: fatigue × {fatigue:.2f}")
    if boost > 1:
        reasons.append(f"behind goal(s) {', '.join(account.goals)}: value × {boost:.2f}")
    reasons.append(f"P(meeting) {p:.2%} × P(opportunity) {settings.opportunity_per_meeting:.0%}"
                   f" × deal ${deal:,.0f} = ${value:,.2f}")  # fmt: skip
    contact = person.contact_id if person else None
    candidate = Candidate(
        play=match.play.name, step=n, channel=channel, account_id=account.account_id, at=at,
        cost=float(costs.get(channel, 0.0)), tier=account.tier, contact_id=contact,
        email=person.email if person else "", domain=account.domain,
        country=(person.country if person else "") or account.country,
        opted_out=person.opted_out if person else False,
        consent=person.consent if person else None, audience=match.play.name,
        play_requires_first_approval=match.play.approval_first_run,
    )  # fmt: skip
    key = action_key(match.play.name, n, account.account_id, contact, signal.ref)
    return Proposal(key, match, n, candidate, person, p, value, reasons)


def worth_it(p: Proposal, settings: AgentSettings) -> Verdict:
    cost = p.candidate.cost
    ratio = DEFAULT_VALUE_RATIO if settings.min_value_ratio is None else settings.min_value_ratio
    if cost <= 0 or p.value >= ratio * cost:
        return Verdict("value", "pass", f"expected value ${p.value:,.2f} for ${cost:,.2f}")
    return Verdict("value", "block", f"expected pipeline ${p.value:,.2f} is below "
                   f"{ratio:,.4g} × the ${cost:,.2f} it costs")  # fmt: skip


def judge(p: Proposal, ledger: Ledger, settings: AgentSettings, guardrails: GuardrailSettings,
          enabled: Iterable[str]) -> Proposal:  # fmt: skip
    """Every verdict on one proposal against the ledger as it stands, its status from them, and
    (unless blocked) its spend and touches taken in the ledger."""
    p.verdicts = [worth_it(p, settings), *check(p.candidate, ledger, guardrails, enabled=enabled)]
    p.status, p.not_before = settle(p.verdicts)
    if p.status != "blocked":
        moved = p.candidate if p.not_before is None else replace(p.candidate, at=p.not_before)
        ledger.add(moved, approved=p.status == "queued")
    return p


def decide(proposals: list[Proposal], ledger: Ledger, settings: AgentSettings,
           guardrails: GuardrailSettings, enabled: Iterable[str],
           seen: Callable[[str], bool] = lambda key: False) -> list[Proposal]:  # fmt: skip
    """Judge the proposals best value per dollar first, each against the ledger as it stands
    after the ones before (so together they never pass a limit). `seen(key)`: decided in an
    earlier pass (skipped, never repeated)."""
    enabled = list(enabled)
    ranked = sorted((p for p in proposals if not seen(p.key)),
                    key=lambda p: (-p.value / max(p.candidate.cost, 0.01), p.key))  # fmt: skip
    decided: dict[str, Proposal] = {}
    for p in ranked:
        if p.key not in decided:
            decided[p.key] = judge(p, ledger, settings, guardrails, enabled)
    return list(decided.values())


def calibrated(prior: Mapping[str, float],
               seen: Mapping[str, list[float]]) -> dict[str, float]:  # fmt: skip
    """Meeting rates per channel: the prior × (meetings seen + 3) ÷ (meetings expected + 3)."""
    rates = dict(prior)
    for channel, (meetings, expected) in seen.items():
        if channel in rates and expected > 0:
            rates[channel] = prior[channel] * (meetings + 3) / (expected + 3)
    return rates
