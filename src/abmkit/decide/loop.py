"""The agent loop over a workspace, as small named steps:

observe (signals in loads not seen yet, the scored accounts, their people) → evaluate (which
plays they trigger) → decide (each candidate's expected value against its cost) → check (every
guardrail) → act/queue (the exact payload, stored in the outbox: queued, or waiting for a person)
→ log (every decision with its signal, reasons, value and verdicts; an audit event per pass) →
learn (each channel's meeting rate from the workspace's own outcomes).

`abm agent run` is one pass; `abm agent watch` repeats it. A pass is idempotent: the loads it has
read are recorded, an action's key is unique, so running it twice queues nothing new.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from abmkit.act import audiences, slack
from abmkit.app import Abm
from abmkit.config.settings import AgentSettings, GuardrailSettings, Settings
from abmkit.content import kind_for_channel, write
from abmkit.decide import goals, inbox, observe
from abmkit.decide.agent import (
    Account,
    Person,
    Proposal,
    Signal,
    calibrated,
    decide,
    evaluate,
    held_back,
    propose,
)  # fmt: skip
from abmkit.decide.allocation import cycle
from abmkit.decide.guardrails import AUDIENCES, do_not_contact, needs_consent
from abmkit.decide.plays import Play
from abmkit.measure import holdout
from abmkit.resolve.visitors import KnownContact, contact_link, signing_key
from abmkit.store.models import Action

SEEN_LOADS = "seen_loads"
LEARNED = "learned_rates"
LAST_PASS = "last_pass"
MEETING_WINDOW = dt.timedelta(days=14)


@dataclass
class PassReport:
    run_id: str
    now: dt.datetime
    dry_run: bool
    signals: int = 0
    """Signals recent enough for some play's trigger."""
    matches: int = 0
    held_out: int = 0
    """Play matches dropped because the account is held out of the play (its tier's or the
    play's randomized holdout)."""
    actions: list[Proposal] = field(default_factory=list)
    goals: list[goals.Progress] = field(default_factory=list)
    learned: dict[str, float] = field(default_factory=dict)
    value_ratio: float | None = None

    @property
    def by_status(self) -> dict[str, int]:
        return dict(Counter(p.status for p in self.actions))


def run_pass(abm: Abm, *, now: dt.datetime | None = None, dry_run: bool = False) -> PassReport:
    """One pass of the agent over what is new in the workspace."""
    now = now or inbox.utcnow()
    settings = abm.settings
    report = PassReport(run_id="run_" + uuid.uuid4().hex[:12], now=now, dry_run=dry_run)
    held = holdouts(abm, now, dry_run)
    agent_settings = learned_settings(abm, report, now)
    seen = abm.app_store.state(SEEN_LOADS).get("loads", [])
    new_loads, signals = observe_signals(abm, seen, now)
    accounts = observe.accounts(abm.warehouse)
    report.goals = goals.progress(abm.warehouse, settings.goals, now)
    accounts = goals.boost(accounts, report.goals, abm.warehouse, settings.goals)
    people = observe.people(abm.warehouse, settings)
    plays = [play for play, _ in abm.plays().values()]
    act_on(abm, report, Observed(signals, accounts, people, held), plays, agent_settings)
    if dry_run:
        return report
    mark_seen(abm, new_loads)
    abm.app_store.save_state(LAST_PASS, {"at": now.isoformat(), "run_id": report.run_id})
    abm.app_store.record("agent.run", report.run_id, "ok", signals=report.signals,
                         matches=report.matches, held_out=report.held_out,
                         **report.by_status)  # fmt: skip
    return report


@dataclass
class Observed:
    """What a pass acts on: its signals, the accounts and people they may concern, and the
    (scope, account_id) pairs held out."""

    signals: list[Signal]
    accounts: Mapping[str, Account]
    people: Mapping[str, list[Person]]
    held: set[tuple[str, str]]


def act_on(abm: Abm, report: PassReport, seen: Observed, plays: list[Play],
           agent_settings: AgentSettings) -> None:  # fmt: skip
    """Evaluate → decide → check → queue: the plays the signals trigger, their candidate
    actions valued and judged against the ledger, and (unless a dry run) committed to the
    outbox; the decisions land in `report`. A full pass and the beacon's pass over a few
    accounts (`abmkit.decide.realtime`) share it."""
    settings, now = abm.settings, report.now
    matches, report.held_out = held_back(evaluate(seen.signals, plays, seen.accounts, now),
                                         seen.held)  # fmt: skip
    window = dt.timedelta(hours=max((p.trigger.within_hours for p in plays), default=0))
    report.signals = sum(1 for s in seen.signals if now - window <= s.at <= now)
    report.matches = len(matches)
    with Session(abm.app_store.engine) as session:
        book = inbox.ledger(session, now)
        proposals = [p for m in matches
                     for p in propose(m, seen.people.get(m.account.account_id, []),
                                      agent_settings, settings.channels.costs, book)]  # fmt: skip
        done = inbox.seen(session, (p.key for p in proposals))
    decided = decide(proposals, book, agent_settings, settings.guardrails,
                     settings.channels.enabled, seen=done.__contains__)  # fmt: skip
    key = signing_key(abm.app_store) if settings.beacon.email_link else None
    for p in decided:
        if p.status != "blocked":
            p.payload = payload(p, seen.people, settings, abm.workspace.path, key=key)
    report.actions = decided
    if not report.dry_run:
        inbox.commit(abm.app_store, decided, report.run_id, now, settings, agent_settings)


def mark_seen(abm: Abm, loads: list[str]) -> None:
    """Record `loads` as read, with those any other pass recorded meanwhile."""
    seen = abm.app_store.state(SEEN_LOADS).get("loads", [])
    abm.app_store.save_state(SEEN_LOADS, {"loads": sorted(set(seen) | set(loads))})


def holdouts(abm: Abm, now: dt.datetime, dry_run: bool) -> set[tuple[str, str]]:
    """Record the holdout group of every target account not assigned yet (a dry run only draws
    them, writing nothing) and return each held-out (scope, account_id)."""
    new = holdout.plan(abm, now) if dry_run else holdout.assign(abm, now)
    return holdout.held_out(abm, new)


def observe_signals(abm: Abm, seen: list[str], now: dt.datetime) -> tuple[list[str], list[Signal]]:
    """Signals of the loads not read yet (the first pass reads everything still recent enough
    to trigger a play), and those loads' IDs."""
    wh = abm.warehouse
    loads = wh.table("loads")
    ok = loads.filter(loads.outcome == "ok").select("load_id").to_pyarrow()
    read = set(seen)
    new = [x for x in ok.column(0).to_pylist() if x not in read]
    last = abm.app_store.state(LAST_PASS).get("at")
    since_scored = dt.datetime.fromisoformat(last) if last else now - dt.timedelta(days=7)
    found = observe.signals(wh, abm.settings, new, since_scored, now)
    if not seen:  # the first pass: today's committee is the baseline, not news
        found = [s for s in found if s.kind != "new_committee_member"]
    return new, found


# -- act: the exact payload of each action -----------------------------------------------------
def payload(p: Proposal, people: Mapping[str, list[Person]], settings: Settings,
            workspace: Any, *, key: bytes | None = None) -> dict:  # fmt: skip
    """What will leave, exactly as the executor sends it and the inbox shows it; with `key`,
    e-mails end with `beacon.email_link` carrying the recipient's signed known-contact token."""
    c, account = p.candidate, p.match.account
    step = p.match.play.steps[p.step]
    build: dict[str, Callable[[], dict]] = {
        "email": lambda: _email(p, settings, workspace, step.template, key),
        "sequence": lambda: _sequence(p, settings, workspace, step.template),
        "task": lambda: _task(p, settings, workspace, step.template, step.sla_hours),
        "owner_alert": lambda: _alert(p, step.sla_hours),
        "slack": lambda: _alert(p, step.sla_hours),
        "webhook": lambda: {"body": _event(p)},
        "crm_update": lambda: {"format": "abm_scores", "row": _crm_row(account)},
        "direct_mail": lambda: {"format": "direct_mail", "row": _mail_row(p)},
    }
    if c.channel in AUDIENCES:
        return _audience(p, people.get(account.account_id, []), settings.guardrails)
    return build[c.channel]()


def facts(p: Proposal, settings: Settings) -> dict[str, Any]:
    a, person, signal = p.match.account, p.person, p.match.signal
    out: dict[str, Any] = {
        "account": {"name": a.name, "domain": a.domain, "industry": a.industry, "tier": a.tier,
                    "buying_stage": a.buying_stage, "journey_stage": a.journey_stage,
                    "cluster_label": a.cluster_label,
                    "top_topics": re.sub(r"\s*\(\d+\)", "", a.top_topics),
                    "country": a.country, "owner": a.owner},
        "signal": {"kind": signal.kind, "detail": dict(signal.detail),
                   "at": f"{signal.at:%Y-%m-%d %H:%M} UTC"},
        "play": p.match.play.name,
        "reason": describe(signal),
    }  # fmt: skip
    step = p.match.play.steps[p.step]
    if step.sla_hours:
        out["sla_hours"] = step.sla_hours
    if signal.kind == "stalled_opportunity":
        out["stalled_days"] = signal.detail.get("days")
    if person is not None:
        out["contact"] = {"first_name": person.first_name, "last_name": person.last_name,
                          "title": person.title, "persona": person.persona}  # fmt: skip
    return out


def describe(signal: Signal) -> str:
    """The signal in a sentence, for a rep or an owner."""
    d = signal.detail
    texts = {
        "key_page_visit": lambda: f"{d.get('views', 1)} view(s) of {d.get('path', 'a key page')}"
                                  f" at {signal.at:%H:%M} UTC",
        "intent_surge": lambda: f"research surging on {d.get('topics', 1)} relevant topic(s)",
        "customer_expansion": lambda: f"a customer researching {d.get('topics', 1)} relevant "
                                      "topic(s)",
        "engagement_spike": lambda: f"engagement up {d.get('spike_pct', 0):.0f}% on the weeks "
                                    "before",
        "stalled_opportunity": lambda: f"an open opportunity untouched for {d.get('days')} days",
        "new_committee_member": lambda: f"a new {d.get('persona', 'committee member')} in the "
                                        "buying committee",
    }  # fmt: skip
    return texts.get(signal.kind, lambda: signal.kind.replace("_", " "))()


def _draft(p: Proposal, settings: Settings, workspace: Any, template: str | None) -> Any:
    kind = kind_for_channel(p.candidate.channel)
    return write(kind, template or "surge_intro", facts(p, settings), settings.content,
                 workspace=workspace)  # fmt: skip


def _email(p: Proposal, settings: Settings, workspace: Any, template: str | None,
           key: bytes | None = None) -> dict:  # fmt: skip
    draft = _draft(p, settings, workspace, template)
    person = p.person
    assert person is not None
    text = draft.body
    if key is not None:
        contact = KnownContact(person.contact_id, person.account_id, person.persona, p.candidate.at)
        text += "\n\n" + contact_link(settings.beacon.email_link, key, contact)
    return {"to": person.email, "to_name": f"{person.first_name} {person.last_name}".strip(),
            "subject": draft.subject, "text": text, "source": draft.source,
            "unsubscribe": settings.channels.email.unsubscribe,
            "timezone_country": person.country}  # fmt: skip


def _sequence(p: Proposal, settings: Settings, workspace: Any, template: str | None) -> dict:
    from abmkit.act.sequences import prospects

    draft = _draft(p, settings, workspace, template)
    person = p.person
    assert person is not None
    row = prospects([{"email": person.email, "first_name": person.first_name,
                      "last_name": person.last_name, "title": person.title,
                      "account_name": p.match.account.name, "domain": p.match.account.domain,
                      "first_line": draft.body.split("\n\n")[0],
                      "reason": describe(p.match.signal)}])[0]  # fmt: skip
    return {"format": settings.channels.sequence.preset, "row": row}


def _task(p: Proposal, settings: Settings, workspace: Any, template: str | None,
          sla: float | None) -> dict:  # fmt: skip
    draft = _draft(p, settings, workspace, template)
    due = p.candidate.at + dt.timedelta(hours=sla or 24)
    a = p.match.account
    return {"format": "task", "row": {
        "account_id": a.account_id, "account": a.name, "owner": a.owner, "subject": draft.subject,
        "description": draft.body, "due": f"{due:%Y-%m-%dT%H:%M:%SZ}",
        "priority": "High" if a.tier == 1 else "Normal"}}  # fmt: skip


def _alert(p: Proposal, sla: float | None) -> dict:
    a, s = p.match.account, p.match.signal
    title = f"{a.name or a.account_id}: {s.kind.replace('_', ' ')}, Tier {a.tier}"
    facts_ = {"Buying stage": a.buying_stage, "Owner": a.owner, "Topics": a.top_topics,
              "Signal": s.ref, "Respond within": f"{sla:g} h" if sla else "",
              "Priority": f"{a.priority:,.0f}"}  # fmt: skip
    return {"body": slack.alert(title, describe(s).capitalize() + ".", facts_)}


def _event(p: Proposal) -> dict:
    return {"type": "abm.action", "play": p.match.play.name, "step": p.step,
            "account_id": p.candidate.account_id, "contact_id": p.candidate.contact_id,
            "signal": p.match.signal.as_dict(), "reasons": p.reasons}  # fmt: skip


def _crm_row(a: Account) -> dict:
    return {"account_id": a.account_id, "domain": a.domain, "name": a.name, "tier": a.tier,
            "buying_stage": a.buying_stage, "journey_stage": a.journey_stage,
            "priority": a.priority, "top_topics": a.top_topics}  # fmt: skip


def _mail_row(p: Proposal) -> dict:
    person, a = p.person, p.match.account
    return {"account": a.name, "domain": a.domain, "country": a.country,
            "first_name": person.first_name if person else "",
            "last_name": person.last_name if person else "",
            "title": person.title if person else ""}  # fmt: skip


def may_upload(person: Person, g: GuardrailSettings) -> bool:
    """Whether a person's (hashed) address may go to an ad platform: they have one, have not
    opted out, are not on the do-not-contact list, and where opt-in rules apply (EU, UK…) have
    consented — matching an address for ads is processing it, like an e-mail."""
    if not person.email or person.opted_out or do_not_contact(g, person.email):
        return False
    return not needs_consent(person.country, g) or person.consent is True


def _audience(p: Proposal, people: list[Person], guardrails: GuardrailSettings) -> dict:
    a = p.match.account
    personas = p.match.play.audience.personas
    if not personas:
        rows = [{"name": a.name, "domain": a.domain, "industry": a.industry,
                 "country": a.country}]  # fmt: skip
        return {"audience": p.candidate.audience, "kind": "companies", "rows": rows,
                "preview": audiences.linkedin_companies(rows)}  # fmt: skip
    rows = [{"email": x.email, "first_name": x.first_name, "last_name": x.last_name,
             "title": x.title, "account_name": a.name, "country": x.country}
            for x in people if x.persona in personas and may_upload(x, guardrails)]  # fmt: skip
    return {"audience": p.candidate.audience, "kind": "contacts", "rows": rows}


# -- learn -------------------------------------------------------------------------------------
def learn(abm: Abm, now: dt.datetime) -> dict[str, float]:
    """Each channel's meeting rate calibrated on the last 30 days: the actions sent, the
    meetings they were expected to bring (their decisions' P(meeting)), and those that came (a
    meeting touch of the same account within 14 days)."""
    with Session(abm.app_store.engine) as session:
        q = select(Action.channel, Action.account_id, Action.sent_at, Action.decision).where(
            Action.status == "sent", Action.sent_at > now - dt.timedelta(days=30)
        )
        sent = list(session.execute(q))
    if not sent:
        return {}
    t = abm.warehouse.table("touches")
    meetings = t.filter((t.kind == "meeting") & (t.ts > now - dt.timedelta(days=44)))
    met = meetings.select("account_id", "ts").to_pyarrow().to_pylist()
    by_account: dict[str, list[dt.datetime]] = {}
    for r in met:
        by_account.setdefault(r["account_id"], []).append(r["ts"])
    seen: dict[str, list[float]] = {}
    for channel, account_id, at, decision in sent:
        if at is None:
            continue
        hit = any(at <= m <= at + MEETING_WINDOW for m in by_account.get(account_id, []))
        s = seen.setdefault(channel, [0.0, 0.0])
        s[0] += float(hit)
        s[1] += float((decision or {}).get("p_meeting", 0.0))
    return calibrated(abm.settings.agent.meeting_rate, seen)


def learned_settings(abm: Abm, report: PassReport, now: dt.datetime) -> AgentSettings:
    """The agent's settings for this pass: the learned meeting rates, and the least value per
    dollar from the workspace's history when the settings leave it empty."""
    rates = abm.app_store.state(LEARNED).get("rates", {})
    report.learned = rates
    agent = observe.value_settings(abm.warehouse, abm.settings, now)
    report.value_ratio = agent.min_value_ratio
    return agent.model_copy(update={"meeting_rate": dict(agent.meeting_rate) | rates})


def learn_and_save(abm: Abm, now: dt.datetime) -> dict[str, float]:
    rates = learn(abm, now)
    if rates:
        abm.app_store.save_state(LEARNED, {"rates": rates, "at": now.isoformat()})
    return rates


def watch(abm: Abm, *, interval_s: float, passes: int | None = None,
          on_pass: Callable[[PassReport], None] = lambda r: None) -> None:  # fmt: skip
    """Run passes until stopped (or `passes` of them), learning once a day and splitting the
    paid budget on its cadence."""
    done = 0
    last_learn: dt.datetime | None = None
    while passes is None or done < passes:
        now = inbox.utcnow()
        if last_learn is None or now - last_learn > dt.timedelta(days=1):
            learn_and_save(abm, now)
            last_learn = now
        cycle(abm, now)  # the paid budget's split, when budget.cadence_hours have passed
        on_pass(run_pass(abm, now=now))
        done += 1
        if passes is None or done < passes:
            time.sleep(interval_s)
