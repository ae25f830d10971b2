"""Rehearsal: run a policy in closed loop against the simulated market (`MarketEnv`) and measure
what a marketer would: pipeline created, pipeline per dollar, time from signal to first touch,
actions by channel and guardrail breaches.

The market is first written, ingested and scored through the real path (`abm demo`'s), so the
policies start from the tiers, stages and propensities abmkit computes, never from the hidden
truth. Then, for `days` days, the market shows web visits (as they happen) and weekly intent
files; each policy decides, its actions are delivered to the market when due, and the market
answers (opens, replies, meetings, opportunities) by the simulator's response model. Policies:

- **agent**: a pass every 15 minutes over new signals (`abmkit.decide.agent`), expected value
  against cost, every guardrail; it learns each channel's meeting rate from its own outcomes;
  its bandit splits the paid budget, half of which it keeps for retargeting the accounts its
  plays put in audiences.
- **rules**: a traditional program: once a week (Tuesday 15:00 UTC) a person runs the same plays
  for the week's signals, with no value check, and an always-on ad program to Tier 1 and 2
  spending its whole budget, split equally across the ad platforms and tiers.
- **static**: the always-on ad program and a monthly e-mail to Tier 1 and 2 committees.

Every policy goes through the same guardrails; the breaches reported are counted afresh from the
delivered actions, not taken from the guardrails' word. Pipeline counts the opportunities the
actions opened (amounts drawn like the history's by company size); opportunities the market opens
by itself are the same for every policy and reported apart.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast

import numpy as np
import pandas as pd

from abmkit.app import Abm
from abmkit.config.settings import AgentSettings, GuardrailSettings, Settings
from abmkit.decide import observe
from abmkit.decide.agent import (
    Account,
    Match,
    Person,
    Proposal,
    Signal,
    calibrated,
    decide,
    evaluate,
    propose,
)  # fmt: skip
from abmkit.decide.allocation import arm_name
from abmkit.decide.budget import Arm, allocate
from abmkit.decide.guardrails import (
    AUDIENCES,
    MESSAGES,
    Candidate,
    Ledger,
    move,
    quiet_until,
    timezones_of,
)  # fmt: skip
from abmkit.decide.plays import Play, library
from abmkit.errors import GuardrailError
from abmkit.simulate import MarketConfig, MarketEnv
from abmkit.simulate.pipeline import AMOUNT_MEDIAN, AMOUNT_SIGMA
from abmkit.simulate.touches import CPM
from abmkit.warehouse.engine import Warehouse

Policy = Literal["agent", "rules", "static"]
TICK = dt.timedelta(minutes=15)
AD_CHANNEL = {"linkedin_audience": "linkedin", "google_audience": "display",
              "meta_audience": "meta"}  # fmt: skip
INTERNAL = ("owner_alert", "slack", "webhook", "crm_update")
"""Actions that reach our own team or systems, not the account: not a touch."""
AD_WEEK_COST = {"linkedin_audience": 8.0, "google_audience": 4.0, "meta_audience": 3.0}
"""What a week of ads to one account costs on each platform (LinkedIn ≈ 230 impressions at a
$35 CPM, Meta 250 at $12, Google display 1,000 at $4). Joining an audience costs nothing by
itself: the campaign's daily budget (the arms below) pays for the impressions its members get."""
ALWAYS_ON_SHARE = 0.5
"""Share of an arm's daily budget the agent's always-on buy at 10:00 may use; it keeps the rest
for the accounts its plays put in audiences during the day (retargeting). The weekly and static
programs spend their whole campaign budgets on the target list, as such programs do."""
REVIEWS_UTC = (9, 13, 17)
"""Hours (UTC, weekdays) when a person works through the approval inbox."""


@dataclass
class Market:
    """A scored market ready to rehearse on: the facts abmkit computed and the environment."""

    cfg: MarketConfig
    settings: Settings
    accounts: dict[str, Account]
    people: dict[str, list[Person]]
    segment: dict[str, int]
    """Company-size segment per account: only to draw the amount of an opportunity opened."""


@dataclass
class Delivered:
    at: dt.datetime
    key: str
    play: str
    channel: str
    account_id: str
    contact_id: str | None
    cost: float
    tier: int
    signal_at: dt.datetime | None
    signal_ref: str
    approved: bool
    needed_approval: bool
    country: str = ""
    opted_out: bool = False
    consent: bool | None = None


@dataclass
class Result:
    policy: str
    seed: int
    days: int
    spend: float = 0.0
    pipeline: float = 0.0
    opportunities: int = 0
    natural_opportunities: int = 0
    meetings: int = 0
    first_touch_hours: list[float] = field(default_factory=list)
    by_channel: dict[str, int] = field(default_factory=dict)
    breaches: dict[str, int] = field(default_factory=dict)

    @property
    def pipeline_per_dollar(self) -> float:
        return self.pipeline / self.spend if self.spend else 0.0

    def summary(self) -> dict:
        hours = np.array(self.first_touch_hours)
        return {"policy": self.policy, "seed": self.seed, "days": self.days,
                "spend": round(self.spend, 2), "pipeline": round(self.pipeline, 2),
                "pipeline_per_dollar": round(self.pipeline_per_dollar, 3),
                "opportunities": self.opportunities, "meetings": self.meetings,
                "natural_opportunities": self.natural_opportunities,
                "signals_touched": len(hours),
                "first_touch_median_h": round(float(np.median(hours)), 2) if len(hours) else None,
                "first_touch_p95_h": round(float(np.percentile(hours, 95)), 2)
                if len(hours) else None,
                "actions_by_channel": dict(sorted(self.by_channel.items())),
                "breaches": sum(self.breaches.values()),
                "breach_detail": self.breaches}  # fmt: skip


def prepare(cfg: MarketConfig, workdir: Path, overrides: dict | None = None) -> Market:
    """Write the market, ingest and score it as `abm demo` does, and read what abmkit made of
    it."""
    from abmkit.demo import run_demo

    workspace = workdir / f"market-{cfg.seed}"
    run_demo(workspace, accounts=cfg.accounts, months=cfg.months, seed=cfg.seed,
             overrides=overrides)  # fmt: skip
    with Abm.open(workspace, overrides) as abm:
        settings = abm.settings
        facts = observe.accounts(abm.warehouse)
        end = dt.datetime.fromisoformat(str(cfg.end_day))
        settings = with_targets(abm.warehouse, settings, end)
        folks = observe.people(abm.warehouse, settings)
    env = MarketEnv(cfg)
    segment = dict(zip(env.world.accounts["Id"], env.world.accounts["segment"], strict=True))
    return Market(cfg, settings, facts, folks, segment)


def with_targets(wh: Warehouse, settings: Settings, now: dt.datetime) -> Settings:
    """The settings with the targets a user would take from their own history: the least value
    per dollar (when agent.min_value_ratio is empty) and the bandit's target cost per
    opportunity."""
    agent = observe.value_settings(wh, settings, now)
    cost = observe.cost_per_opportunity(wh, now)
    budget = settings.budget
    if cost:
        budget = budget.model_copy(update={"target_cost_per_result": cost})
    return settings.model_copy(update={"agent": agent, "budget": budget})


class Rehearsal:
    """One policy over one market, tick by tick."""

    def __init__(self, market: Market, policy: Policy, days: int, plays: list[Play]) -> None:
        self.market = market
        self.policy = policy
        self.days = days
        self.plays = plays
        self.env = MarketEnv(market.cfg)
        self.start = pd.Timestamp(self.env.day).to_pydatetime()
        self.rng = np.random.default_rng([market.cfg.seed, 7, len(policy)])
        g = market.settings.guardrails
        self.guardrails = g
        self.agent: AgentSettings = market.settings.agent
        if policy != "agent":
            self.agent = self.agent.model_copy(update={"min_value_ratio": 0.0})
        self.costs = dict(market.settings.channels.costs)
        self.enabled = list(market.settings.channels.enabled)
        self.ledger = Ledger()
        self.decided: set[str] = set()
        self.pending: list[Proposal] = []
        self.queued: list[Proposal] = []
        self.delivered: list[Delivered] = []
        self.audience: dict[tuple[str, str], list[Proposal]] = defaultdict(list)
        self.members: dict[tuple[str, str], dict[str, dt.datetime]] = defaultdict(dict)
        self.signals: list[Signal] = []
        self.later: list[Signal] = []
        self.result = Result(policy, market.cfg.seed, days)
        self.opened: set[str] = set()
        self.stats: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.clock = self.start
        paid = sum(market.settings.guardrails.channel_daily_budget.get(c, 0.0)
                   for c in AD_CHANNEL)  # fmt: skip
        arms = [arm_name(c, t) for c in AD_CHANNEL for t in (1, 2, 3)]
        self.split: dict[str, float] = {arm: paid / len(arms) for arm in arms}
        self.remaining: dict[str, float] = dict(self.split)
        self.arm_spend: dict[str, list[tuple[dt.datetime, float]]] = defaultdict(list)
        self.arm_pipeline: dict[str, list[tuple[dt.datetime, float]]] = defaultdict(list)

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> Result:
        for day in range(self.days):
            today = self.start + dt.timedelta(days=day)
            shown = self.env.observe(1)
            self.later += self._signals(shown, today)
            for tick in range(96):
                now = today + tick * TICK
                fresh = [s for s in self.later if s.at <= now]
                if fresh:
                    self.later = [s for s in self.later if s.at > now]
                self._policy(now, fresh)
                self._review(now)
                self._deliver(now)
            natural = self.env.advance(1)
            self.result.natural_opportunities += len(natural)
        self._audit()
        return self.result

    def _policy(self, now: dt.datetime, fresh: list[Signal]) -> None:
        self.signals += fresh
        weekly = now.weekday() == 1 and now.hour == 15 and now.minute == 0
        if now.hour == 10 and now.minute == 0:
            self._paid(now)
        if self.policy == "agent":
            if fresh:
                self._decide(fresh, now)
            if now.hour == 0 and now.minute == 0 and (now - self.start).days % 2 == 0:
                self._learn()
                self._allocate(now)
        elif self.policy == "rules" and weekly:
            week = [s for s in self.signals if now - s.at <= dt.timedelta(days=7)]
            self._decide([replace(s, at=now) for s in week], now, original=week)
        elif self.policy == "static" and weekly and now.day <= 7:
            self._newsletter(now)

    def _decide(self, signals: list[Signal], now: dt.datetime,
                original: list[Signal] | None = None) -> None:  # fmt: skip
        origin = {s.ref + s.account_id: (s.at, s.ref) for s in (original or signals)}
        matches = evaluate(signals, self.plays, self.market.accounts, now)
        self._commit(matches, now, origin)

    def _commit(self, matches: list[Match], now: dt.datetime,
                origin: Mapping[str, tuple[dt.datetime, str]],
                cost: Mapping[str, float] | None = None, valued: bool = True) -> None:  # fmt: skip
        proposals: list[Proposal] = []
        costs = self.costs | dict(cost or {})
        agent = self.agent if valued else self.agent.model_copy(update={"min_value_ratio": 0.0})
        for m in matches:
            people = self.market.people.get(m.account.account_id, [])
            proposals += propose(m, people, agent, costs, self.ledger)
        for p in decide(proposals, self.ledger, agent, self.guardrails, self.enabled,
                        seen=self.decided.__contains__):  # fmt: skip
            self.decided.add(p.key)
            s = p.match.signal
            at, ref = origin.get(s.ref + s.account_id, (s.at, s.ref))
            p.payload = {"signal_at": None if ref.startswith(("paid:", "news:")) else at,
                         "signal_ref": ref}  # fmt: skip
            if p.status == "pending_approval":
                self.pending.append(p)
            elif p.status == "queued":
                self.queued.append(p)

    def _paid(self, now: dt.datetime) -> None:
        """The paid program, each day: every arm (platform × tier) gets its share of the paid
        budget; the always-on buy spends it on Tier 1 and 2 accounts by priority (a day of ads
        each) — the agent only half of it, keeping the rest for the accounts its plays put in
        audiences during the day. The weekly program splits the budget equally; the agent by
        its bandit."""
        self.remaining = dict(self.split)
        by_tier: dict[int, list[Account]] = defaultdict(list)
        for a in sorted(self.market.accounts.values(), key=lambda a: -a.priority):
            if a.tier in (1, 2) and not a.is_customer:
                by_tier[a.tier].append(a)
        for arm, budget in self.split.items():
            channel, tier = self._arm(arm)
            day = AD_WEEK_COST[channel] / 7
            share = ALWAYS_ON_SHARE if self.policy == "agent" else 1.0
            n = int(budget * share // day)
            self._buy(arm, [(a, f"paid:{now:%Y-%m-%d}", None) for a in by_tier[tier][:n]], now)

    def _arm(self, arm: str) -> tuple[str, int]:
        short, tier = arm.rsplit("-t", 1)
        return f"{short}_audience", int(tier)

    def _buy(self, arm: str,
             accounts: list[tuple[Account, str, tuple[dt.datetime, str] | None]],
             now: dt.datetime) -> None:  # fmt: skip
        """A day of ads for each account on the arm's platform, from its remaining budget, as
        actions every guardrail checks."""
        channel, _ = self._arm(arm)
        day = AD_WEEK_COST[channel] / 7
        matches: list[Match] = []
        origin: dict[str, tuple[dt.datetime, str]] = {}
        for account, ref, first in accounts:
            if self.remaining.get(arm, 0.0) < day:
                break
            self.remaining[arm] -= day
            matches.append(Match(self._paid_play(channel, arm),
                                 Signal("intent_surge", account.account_id, now, ref,
                                        {"arm": arm}), account))  # fmt: skip
            if first is not None:
                origin[ref + account.account_id] = first
        # the bandit decided the money; each day of ads is checked by the guardrails only
        self._commit(matches, now, origin, cost={channel: day}, valued=False)

    def _retarget(self, p: Proposal, now: dt.datetime) -> None:
        """A play put the account in an audience: the platform serves it from the campaign's
        budget left for the day (its arm), if any."""
        arm = arm_name(p.candidate.channel, p.match.account.tier)
        at, ref = p.payload.get("signal_at"), p.payload.get("signal_ref", "")
        first = (at, ref) if at is not None else None
        self._buy(arm, [(p.match.account, f"retarget:{p.key}", first)], now)

    def _paid_play(self, channel: str, arm: str) -> Play:
        return Play.model_validate({
            "name": f"ads-{arm}", "description": "A day of ads from the arm's budget.",
            "trigger": {"signal": "intent_surge"}, "approval_first_run": False,
            "audience": {"tiers": [1, 2, 3], "personas": ["economic_buyer", "champion",
                                                          "technical_evaluator"]},
            "steps": [{"channel": channel}],
        })  # fmt: skip

    def _allocate(self, now: dt.datetime) -> None:
        """The agent's bandit: each arm's last 30 days of spend, pipeline and opportunities."""
        since = now - dt.timedelta(days=self.market.settings.budget.window_days)
        arms = []
        for arm in self.split:
            spend = sum(c for at, c in self.arm_spend[arm] if at >= since)
            won = [(v, 1) for at, v in self.arm_pipeline[arm] if at >= since]
            arms.append(Arm(arm, spend, sum(v for v, _ in won), len(won)))
        settings = self.market.settings.budget
        total = sum(self.split.values())
        try:
            allocation = allocate(arms, self.split, total, settings, rng=self.market.cfg.seed)
        except GuardrailError:  # every arm paused: spend nothing until one is resumed
            self.split = dict.fromkeys(self.split, 0.0)
            return
        self.split = allocation.budgets()

    def _newsletter(self, now: dt.datetime) -> None:
        play = Play.model_validate({
            "name": "monthly-newsletter", "description": "Monthly e-mail to committees.",
            "trigger": {"signal": "intent_surge"},
            "audience": {"tiers": [1, 2, 3], "personas": ["economic_buyer", "champion",
                                                          "technical_evaluator"]},
            "approval_first_run": False, "steps": [{"channel": "email"}],
        })  # fmt: skip
        matches = [Match(play, Signal("intent_surge", a.account_id, now, f"news:{now:%Y-%m}"), a)
                   for a in self.market.accounts.values() if a.tier in (1, 2)]  # fmt: skip
        self._commit(matches, now, {})

    def _review(self, now: dt.datetime) -> None:
        """A person works through the inbox at set hours on weekdays and approves."""
        if now.weekday() >= 5 or now.minute != 0 or now.hour not in REVIEWS_UTC:
            return
        for p in self.pending:
            p.payload["approved"] = True
            if self._due(p) >= now:
                self.ledger.remove(self._held(p))
                self.ledger.add(self._held(p), approved=True)
                self.queued.append(p)
            elif self._moved(p, now, approved=True):
                self.queued.append(p)
        self.pending = []

    def _due(self, p: Proposal) -> dt.datetime:
        return p.not_before or p.candidate.at

    def _held(self, p: Proposal) -> Candidate:
        """The action as the ledger holds it (at the time it is due)."""
        return replace(p.candidate, at=self._due(p))

    def _moved(self, p: Proposal, at: dt.datetime, *, approved: bool) -> bool:
        """Move a committed action to a later time, every rule checked again there; False
        (and the action dropped, its reservation freed) when a rule now blocks it."""
        verdicts, moved = move(self._held(p), at, self.ledger, self.guardrails,
                               approved=approved, enabled=self.enabled)  # fmt: skip
        p.verdicts = p.verdicts + [replace(v, rule=f"recheck:{v.rule}") for v in verdicts
                                   if v.outcome != "pass"]  # fmt: skip
        if moved is None:
            p.status = "blocked"
            return False
        p.not_before = moved.at
        return True

    def _deliver(self, now: dt.datetime) -> None:
        due = [p for p in self.queued if self._due(p) <= now]
        if not due:
            return
        self.queued = [p for p in self.queued if self._due(p) > now]
        ready = []
        for p in due:
            c = p.candidate
            if c.channel in MESSAGES:
                later = quiet_until(now, timezones_of(p.candidate.country,
                                                      self.guardrails.default_timezone),
                                    self.guardrails.quiet_hours,
                                    self.guardrails.quiet_weekends)  # fmt: skip
                if later is not None:  # approved late, into the night: the executor holds it
                    if self._moved(p, later, approved=True):
                        self.queued.append(p)
                    continue
            if p.candidate.channel in AUDIENCES:
                if not self._audience_ready(p):
                    continue
                held = self.audience.pop((p.candidate.channel, p.candidate.audience))
                ready += [x for x in held if x is p or self._moved(x, now, approved=True)]
                continue
            ready.append(p)
        if ready:
            self._send(ready, now)

    def _audience_ready(self, p: Proposal) -> bool:
        key = (p.candidate.channel, p.candidate.audience)
        self.audience[key].append(p)
        members = {m for x in self.audience[key] for m in self._members(x)}
        members |= set(self.members[key])
        need = self.guardrails.min_audience_size_by_channel.get(
            p.candidate.channel, self.guardrails.min_audience_size
        )
        return len(members) >= need

    # -- the market's answer -----------------------------------------------------------------
    def _send(self, ready: list[Proposal], now: dt.datetime) -> None:
        self.clock = now
        rows = []
        for p in ready:
            c = p.candidate
            self._log(p, max(self._due(p), now - TICK))
            arm = str(p.match.signal.detail.get("arm", ""))
            self.stats[c.channel][1] += p.p_meeting
            if c.channel in AUDIENCES:
                for member in self._members(p):
                    self.members[(c.channel, c.audience)][member] = now
                if c.play.startswith("ads-"):
                    rows += self._impressions(c.account_id, c.channel, c.cost, arm)
                else:
                    self._retarget(p, now)
            elif c.channel in ("email", "sequence"):
                rows.append((c.account_id, c.contact_id, "email", "email_sent", c.cost, c.channel,
                             arm))  # fmt: skip
            elif c.channel == "task":
                rows.append((c.account_id, c.contact_id or self._someone(c.account_id), "sales",
                             "call", c.cost, c.channel, arm))  # fmt: skip
            elif c.channel == "direct_mail":
                rows.append((c.account_id, c.contact_id, "direct_mail", "direct_mail", c.cost,
                             c.channel, arm))  # fmt: skip
        if rows:
            self._answer(pd.DataFrame(rows, columns=["account_id", "contact_id", "channel",
                                                     "kind", "cost", "ours", "arm"]))  # fmt: skip

    def _members(self, p: Proposal) -> list[str]:
        """The people an audience action adds: the play's personas at the account (the
        always-on program adds the whole account)."""
        personas = p.match.play.audience.personas
        people = self.market.people.get(p.candidate.account_id, [])
        found = [x.contact_id for x in people if not personas or x.persona in personas]
        return found or [p.candidate.account_id]

    def _impressions(self, account_id: str, channel: str, cost: float,
                     arm: str) -> list[tuple]:  # fmt: skip
        platform = AD_CHANNEL[channel]
        n = int(round(cost / CPM[platform] * 1000))
        return [(account_id, None, platform, "ad_impression", 0.0, channel, arm)] * n

    def _someone(self, account_id: str) -> str | None:
        people = self.market.people.get(account_id, [])
        return people[0].contact_id if people else None

    def _answer(self, frame: pd.DataFrame) -> None:
        out = self.env.step(frame[["account_id", "contact_id", "channel", "kind", "cost"]])
        out["ours"] = frame["ours"].to_numpy()
        out["arm"] = frame["arm"].to_numpy()
        self.result.meetings += int(out["meeting"].sum())
        self._landings(out)
        for channel, group in out.groupby("ours"):
            self.stats[str(channel)][0] += float(group["meeting"].sum())
        opened = out[out["opportunity_created"]].drop_duplicates("account_id")
        for account_id, arm in zip(opened["account_id"], opened["arm"], strict=True):
            if account_id in self.opened:
                continue
            self.opened.add(account_id)
            seg = self.market.segment[account_id]
            amount = AMOUNT_MEDIAN[seg] * self.rng.lognormal(0, AMOUNT_SIGMA[seg])
            value = float(np.clip(amount, 5_000, 2_000_000))
            self.result.pipeline += value
            self.result.opportunities += 1
            if arm:
                self.arm_pipeline[arm].append((self.clock, value))

    def _landings(self, out: pd.DataFrame) -> None:
        """An ad click lands on the demo page a few minutes later: a key-page visit the
        policies see like any other (the landing page's utm tags name the platform)."""
        clicks = out[out["clicked"] & (out["kind"] == "ad_impression")]
        for account_id, group in clicks.groupby("account_id"):
            at = self.clock + dt.timedelta(minutes=int(self.rng.integers(1, 15)))
            self.later.append(Signal("key_page_visit", str(account_id), at,
                                     f"visit:{at:%Y-%m-%d}",
                                     {"path": "/demo", "source": str(group["ours"].iloc[0]),
                                      "arm": str(group["arm"].iloc[0]),
                                      "views": len(group)}))  # fmt: skip

    def _log(self, p: Proposal, now: dt.datetime) -> None:
        c = p.candidate
        signal_at = p.payload.get("signal_at")
        self.delivered.append(Delivered(
            now, p.key, c.play, c.channel, c.account_id, c.contact_id, c.cost, c.tier or 3,
            signal_at, str(p.payload.get("signal_ref", p.match.signal.ref)) + c.account_id,
            bool(p.payload.get("approved")),
            any(v.outcome == "approval" for v in p.verdicts), c.country, c.opted_out,
            c.consent,
        ))  # fmt: skip
        self.result.spend += c.cost
        if c.play.startswith("ads-"):
            self.arm_spend[c.play.removeprefix("ads-")].append((now, c.cost))
        self.result.by_channel[c.channel] = self.result.by_channel.get(c.channel, 0) + 1

    def _learn(self) -> None:
        """Calibrate each channel's meeting rate on what this run has seen: the prior scaled by
        meetings seen ÷ meetings expected (shrunk toward 1 with the weight of 3 meetings)."""
        self.agent = self.agent.model_copy(
            update={"meeting_rate": calibrated(self.market.settings.agent.meeting_rate,
                                               self.stats)})  # fmt: skip

    # -- signals -----------------------------------------------------------------------------
    def _signals(self, shown: dict[str, pd.DataFrame], today: dt.datetime) -> list[Signal]:
        out = []
        pages = observe.key_pages(self.market.settings)
        visits = shown["visits"]
        if len(visits):
            path = visits["url"].str.extract(r"^[a-z]+://[^/]+(/[^?#]*)")[0].fillna("/")
            key = visits[path.str.startswith(tuple(pages))].assign(path=path)
            for account_id, group in key.sort_values("ts").groupby("account_id"):
                first = group.iloc[0]
                at = dt.datetime.fromtimestamp(int(first["ts"]), dt.UTC).replace(tzinfo=None)
                out.append(Signal("key_page_visit", str(account_id), at,
                                  f"visit:{today:%Y-%m-%d}", {"path": first["path"],
                                                              "views": len(group)}))  # fmt: skip
        if "intent" in shown:
            out += self._surges(shown["intent"], today)
        return out

    def _surges(self, rows: pd.DataFrame, today: dt.datetime) -> list[Signal]:
        s = self.market.settings
        relevant = {t.lower() for t in s.intent.relevant_topics}
        hot = rows[(rows["score"] >= s.thresholds.surge_score)
                   & (rows["topic"].str.lower().isin(relevant) if relevant else True)]  # fmt: skip
        at = today + dt.timedelta(hours=6)  # the weekly file arrives early on its first day
        out = []
        for account_id, n in hot.groupby("account_id")["topic"].nunique().items():
            account = self.market.accounts.get(str(account_id))
            kind = "customer_expansion" if account and account.is_customer else "intent_surge"
            out.append(Signal(kind, str(account_id), at, f"surge:{today:%G-W%V}",
                              {"topics": int(n)}, strength=min(0.5 + 0.25 * n, 2.0)))  # fmt: skip
        return out

    # -- the independent audit ---------------------------------------------------------------
    def _audit(self) -> None:
        first: dict[str, tuple[dt.datetime, dt.datetime]] = {}
        for d in self.delivered:
            joined = d.channel in AUDIENCES and d.cost == 0  # seen only once a buy serves it
            if d.signal_at is not None and d.channel not in INTERNAL and not joined:
                seen = first.get(d.signal_ref)
                if seen is None or d.at < seen[0]:
                    first[d.signal_ref] = (d.at, d.signal_at)
        self.result.first_touch_hours = [max((at - signal_at).total_seconds(), 0) / 3600
                                         for at, signal_at in first.values()]  # fmt: skip
        self.result.breaches = audit(self.delivered, self.guardrails)


def audit(delivered: list[Delivered], g: GuardrailSettings) -> dict[str, int]:
    """Count every breach of the guardrails in delivered actions, computed from scratch."""
    if not delivered:
        return {}
    f = pd.DataFrame([d.__dict__ for d in delivered])
    breaches: dict[str, int] = defaultdict(int)
    f["day"] = f["at"].dt.floor("D")
    daily = f.groupby("day")["cost"].sum()
    breaches["budget_day"] += int((daily > g.daily_budget + 1e-6).sum())
    for channel, limit in g.channel_daily_budget.items():
        spent = f[f["channel"] == channel].groupby("day")["cost"].sum()
        breaches["budget_channel_day"] += int((spent > limit + 1e-6).sum())
    breaches["budget_week"] += _rolling(f, [], "cost", g.weekly_budget)
    breaches["budget_account_week"] += _rolling(f, ["account_id"], "cost",
                                                g.account_weekly_budget)  # fmt: skip
    f["one"] = 1.0
    breaches["cap_account"] += _rolling(f, ["account_id"], "one", g.max_touches_per_account_week)
    for channel, limit in g.max_touches_per_account_channel_week.items():
        part = f[f["channel"] == channel]
        breaches["cap_account_channel"] += _rolling(part, ["account_id"], "one", limit)
    personal = f[f["contact_id"].notna() & f["channel"].isin(["email", "sequence",
                                                               "direct_mail"])]  # fmt: skip
    breaches["cap_contact"] += _rolling(personal, ["contact_id"], "one",
                                        g.max_touches_per_contact_week)  # fmt: skip
    for channel, limit in g.max_touches_per_contact_channel_week.items():
        part = personal[personal["channel"] == channel]
        breaches["cap_contact_channel"] += _rolling(part, ["contact_id"], "one", limit)
    messages = f[f["channel"].isin(list(MESSAGES))]
    for row in messages.itertuples():
        zones = timezones_of(row.country, g.default_timezone)
        if quiet_until(row.at, zones, g.quiet_hours, g.quiet_weekends) is not None:
            breaches["quiet_hours"] += 1
        if row.opted_out:
            breaches["unsubscribe"] += 1
    breaches["approval"] += int((f["needed_approval"] & ~f["approved"]).sum())
    return {k: v for k, v in breaches.items() if v}


def _rolling(f: pd.DataFrame, by: list[str], column: str, limit: float) -> int:
    """Windows [t, t + 7 days) starting at each action whose total passes `limit`."""
    count = 0
    groups = f.groupby(by) if by else [((), f)]
    for _, g in groups:
        times = g["at"].sort_values().to_numpy()
        values = g.sort_values("at")[column].to_numpy()
        ends = np.searchsorted(times, times + np.timedelta64(7, "D"), side="left")
        cumulative = np.concatenate([[0.0], np.cumsum(values)])
        totals = cumulative[ends] - cumulative[np.arange(len(times))]
        count += int((totals > limit + 1e-6).sum())
    return count


def rehearse(policies: list[str], seeds: list[int], *, days: int = 90,
             accounts: int = 5000, months: int = 12, workdir: Path | None = None,
             overrides: dict | None = None,
             progress: Callable[[str, float], None] | None = None) -> list[Result]:  # fmt: skip
    """Every policy on every seed's market (written, ingested and scored once per seed)."""
    report = progress or (lambda stage, fraction: None)
    results = []
    with tempfile.TemporaryDirectory(prefix="abm-rehearsal-") as tmp:
        base = workdir or Path(tmp)
        steps = len(seeds) * (1 + len(policies))
        done = 0
        for seed in seeds:
            report(f"seed {seed}: writing, ingesting and scoring the market", done / steps)
            market = prepare(MarketConfig(accounts=accounts, months=months, seed=seed), base,
                             overrides)  # fmt: skip
            done += 1
            plays = list(library().values())
            for policy in policies:
                report(f"seed {seed}: rehearsing {policy} for {days} days", done / steps)
                results.append(Rehearsal(market, cast(Policy, policy), days, plays).run())
                done += 1
    report("done", 1.0)
    return results


def compare(results: list[Result]) -> dict:
    """Every run's figures, each policy's mean and spread over the seeds, and each policy's
    pipeline per dollar against the weekly rules program, seed by seed."""
    runs = [r.summary() for r in results]
    by_policy: dict[str, list[dict]] = defaultdict(list)
    for run in runs:
        by_policy[run["policy"]].append(run)
    policies = {}
    for policy, rows in by_policy.items():
        ppd = np.array([r["pipeline_per_dollar"] for r in rows])
        median = [r["first_touch_median_h"] for r in rows if r["first_touch_median_h"] is not None]
        policies[policy] = {
            "seeds": [r["seed"] for r in rows],
            "pipeline_per_dollar_mean": round(float(ppd.mean()), 3),
            "pipeline_per_dollar_sd": round(float(ppd.std(ddof=1)) if len(ppd) > 1 else 0.0, 3),
            "pipeline_mean": round(float(np.mean([r["pipeline"] for r in rows])), 2),
            "spend_mean": round(float(np.mean([r["spend"] for r in rows])), 2),
            "first_touch_median_h": round(float(np.median(median)), 2) if median else None,
            "breaches": int(sum(r["breaches"] for r in rows)),
        }  # fmt: skip
    ratios = {}
    if "rules" in by_policy:
        base = {r["seed"]: r["pipeline_per_dollar"] for r in by_policy["rules"]}
        for policy, rows in by_policy.items():
            if policy == "rules":
                continue
            per_seed = [r["pipeline_per_dollar"] / base[r["seed"]]
                        for r in rows if base.get(r["seed"])]  # fmt: skip
            if per_seed:
                ratios[policy] = {"per_seed": [round(x, 3) for x in per_seed],
                                  "mean": round(float(np.mean(per_seed)), 3),
                                  "min": round(float(np.min(per_seed)), 3),
                                  "max": round(float(np.max(per_seed)), 3)}  # fmt: skip
    return {"runs": runs, "policies": policies, "vs_rules": ratios}
