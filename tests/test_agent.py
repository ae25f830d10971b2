"""The agent over a real workspace: a simulated market loaded and scored by `abm demo` (real
DuckDB warehouse, real SQLite application store), its pass, the approval inbox, the CLI, and the
executor sending one approved e-mail to a real SMTP server on 127.0.0.1.

One demo is built per module; a test that changes the workspace works on a copy of it."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from abmkit.act.crm import SALESFORCE_HEADER
from abmkit.app import Abm
from abmkit.cli import app
from abmkit.decide import inbox, observe
from abmkit.decide.agent import Account
from abmkit.decide.loop import PassReport, run_pass
from abmkit.demo import DemoSummary, run_demo
from abmkit.errors import AbmError, ConfigError, GuardrailError
from abmkit.simulate import MarketConfig
from abmkit.store.models import Action, AgentState
from conftest import ok, write_csv
from receivers import Inbox, running_inbox

ACCOUNTS, MONTHS, SEED = 600, 6, 3
PASS_AT = dt.datetime.fromisoformat(
    str(MarketConfig(accounts=ACCOUNTS, months=MONTHS, seed=SEED).end_day)
) + dt.timedelta(hours=9)
"""When the demo's pass runs: 09:00 UTC on the morning the simulated data was exported."""
VALUE_BAR = 1.5
"""The least expected pipeline per dollar the tests' workspace asks of a paid action. Left
empty, the bar is the demo market's own pipeline per dollar (hundreds), which a rep's task on
this small market never clears; pinned, the plays' paid steps are taken, reviewed and sent."""
WEEK = dt.timedelta(days=7)
STATUSES = {"blocked", "pending_approval", "rejected", "queued", "sending", "sent", "dry_run",
            "dead"}  # fmt: skip
COMMITTED = {"pending_approval", "queued", "sending", "sent", "dry_run"}
PERSONAL = {"email", "sequence", "direct_mail"}
MESSAGES = {"email", "sequence"}
EVERY_ACTION_RULES = {
    "value", "channel_enabled", "do_not_contact", "region", "quiet_hours", "budget_day",
    "budget_week", "budget_account_week", "cap_account",
}  # fmt: skip
OPT_IN_COUNTRIES = {
    "austria", "belgium", "bulgaria", "croatia", "cyprus", "czech republic", "czechia",
    "denmark", "estonia", "finland", "france", "germany", "greece", "hungary", "ireland",
    "italy", "latvia", "lithuania", "luxembourg", "malta", "netherlands", "poland", "portugal",
    "romania", "slovakia", "slovenia", "spain", "sweden", "iceland", "liechtenstein", "norway",
    "united kingdom", "great britain", "england",
}  # fmt: skip
"""The EU, the EEA and the UK by name: where `require_consent_regions` (EU, UK) applies."""
COSTS = {"linkedin_audience": 8.0, "google_audience": 4.0, "meta_audience": 3.0, "email": 0.05,
         "sequence": 0.05, "task": 12.0, "owner_alert": 0.0, "slack": 0.0, "webhook": 0.0,
         "crm_update": 0.0, "direct_mail": 60.0}  # fmt: skip
"""A cost on every paid channel (a week of ads to one account on the platforms), so that a
tight daily budget binds on the demo's first pass."""
UNPINNED = {"agent": {"min_value_ratio": None}, "channels": {"costs": COSTS}}
"""The value bar left to the workspace's history, with every paid channel costing something."""
TOUCH_HEADER = ["timestamp", "email", "domain", "kind", "url"]
KEY_PAGE_PLAY = "key-page-visit-sdr"
# The approval and the executor judge quiet hours at the real time of day (the simulated
# market's days are long past), so the tests that send turn them off to pass at any hour.
ANY_HOUR = ["--set", "guardrails.quiet_hours=00:00-00:00",
            "--set", "guardrails.quiet_weekends=false"]  # fmt: skip
runner = CliRunner()


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoSummary:
    """`abm demo` on a small market: ingested, scored, and one agent pass as of PASS_AT; its
    workspace file pins the value bar (VALUE_BAR) for what follows."""
    pinned = {"agent": {"min_value_ratio": VALUE_BAR}}
    summary = run_demo(tmp_path_factory.mktemp("agent") / "ws", accounts=ACCOUNTS, months=MONTHS,
                       seed=SEED, replay_weeks=0, write_report=False, overrides=pinned)  # fmt: skip
    assert summary.agent is not None and summary.agent.now == PASS_AT
    config = summary.workspace / "abmkit.yaml"
    text, found = re.subn(r"(?m)^(  min_value_ratio:).*$", rf"\1 {VALUE_BAR}",
                          config.read_text(encoding="utf-8"))  # fmt: skip
    config.write_text(text if found else f"{text}\nagent:\n  min_value_ratio: {VALUE_BAR}\n")
    with Abm.open(summary.workspace) as abm:
        assert abm.settings.agent.min_value_ratio == VALUE_BAR
    return summary


@pytest.fixture
def ws(demo, tmp_path) -> Path:
    """A private copy of the demo's workspace (after its pass)."""
    copy = tmp_path / "ws"
    shutil.copytree(demo.workspace, copy, ignore=shutil.ignore_patterns("market"))
    return copy


@pytest.fixture
def unpassed(ws) -> Path:
    """The copy as it was before the agent's first pass: no actions, no agent state."""
    with Abm.open(ws) as abm, Session(abm.app_store.engine) as session, session.begin():
        session.execute(delete(Action))
        session.execute(delete(AgentState))
    return ws


@pytest.fixture
def mailbox() -> Iterator[Inbox]:
    with running_inbox() as box:
        yield box


# -- helpers ------------------------------------------------------------------------------------
def stored(path: Path) -> list[Action]:
    with Abm.open(path) as abm, Session(abm.app_store.engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Action).order_by(Action.id)))


def verdicts(a: Action, outcome: str | None = None) -> list[str]:
    """The rules of an action's verdicts when it was decided (with this outcome)."""
    return [v["rule"] for v in a.decision["verdicts"] if outcome in (None, v["outcome"])]


def key_of(a: Action) -> str:
    """The idempotency key recomputed from what the action is: play step, account, person,
    signal occurrence."""
    parts = [a.play, str(a.step), a.account_id, a.contact_id or "", a.decision["signal"]["ref"]]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def pick(rows: Iterable[Action], **match) -> Action:
    found = [a for a in rows if all(getattr(a, k) == v for k, v in match.items())]
    assert found, f"no stored action with {match}"
    return found[0]


def most_in_any_week(times: Iterable[dt.datetime]) -> int:
    """The most of `times` inside one 7-day window (a busiest window starts at one of them)."""
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + WEEK) for t in times), default=0)


def prospects(path: Path, n: int) -> list[Account]:
    """Tier 2 prospects past Target with a champion or economic buyer one may e-mail (outside
    the opt-in countries): the accounts the key-page play runs for."""
    with Abm.open(path) as abm:
        people = observe.people(abm.warehouse, abm.settings)
        accounts = sorted(observe.accounts(abm.warehouse).values(), key=lambda a: a.account_id)
    found = [a for a in accounts
             if a.tier == 2 and a.buying_stage != "Target" and not a.is_customer and a.domain
             and any(p.persona in ("champion", "economic_buyer") and p.email and not p.opted_out
                     and (p.country or a.country).lower() not in OPT_IN_COUNTRIES
                     for p in people.get(a.account_id, []))]  # fmt: skip
    assert len(found) >= n
    return found[:n]


def visit_file(folder: Path, account: Account, at: dt.datetime, page: str = "/pricing") -> Path:
    row = [f"{at:%Y-%m-%dT%H:%M:%SZ}", "", account.domain, "web_visit",
           f"https://seller.example{page}"]  # fmt: skip
    return write_csv(folder / f"visit-{at:%Y%m%d%H%M}.csv", TOUCH_HEADER, [row])


def visit(path: Path, folder: Path, account: Account, at: dt.datetime, page: str = "/pricing",
          **overrides) -> PassReport:  # fmt: skip
    """A key-page visit of `account` at `at`, loaded; then a pass half an hour later."""
    with Abm.open(path, overrides or None) as abm:
        ok(abm.ingest("touches", [visit_file(folder, account, at, page)])[0])
        return run_pass(abm, now=at + dt.timedelta(minutes=30))


def cli(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "240"})
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def flat(text: str) -> str:
    """Text with every run of white space as one space (the terminal wraps long lines)."""
    return " ".join(text.split())


# -- one pass -----------------------------------------------------------------------------------
def test_the_pass_stores_every_decision_with_its_signal_reasons_value_and_verdicts(demo):
    report = demo.agent
    assert report.signals > 0 and report.matches > 0
    rows = stored(demo.workspace)
    assert len(rows) == len(report.actions) > 0
    assert {a.key for a in rows} == {p.key for p in report.actions}
    assert Counter(a.status for a in rows) == Counter(report.by_status)
    assert {a.status for a in rows} <= {"blocked", "pending_approval", "queued"} < STATUSES
    assert len({a.key for a in rows}) == len(rows)
    for a in rows:
        d = a.decision
        assert a.key == key_of(a)
        assert d["signal"]["account_id"] == a.account_id and d["signal"]["kind"]
        assert d["play"] == a.play and d["step"] == a.step
        assert d["reasons"] and all(isinstance(r, str) and r for r in d["reasons"])
        assert d["cost"] == a.cost
        assert d["expected_value"] == pytest.approx(d["value"] - a.cost, abs=0.006)
        rules = verdicts(a)
        assert len(rules) == len(set(rules)), f"{a.id}: a rule judged twice: {rules}"
        assert set(rules) >= EVERY_ACTION_RULES
        if a.channel in MESSAGES:
            assert {"unsubscribe", "consent"} <= set(rules)
        blocked, approval = verdicts(a, "block"), verdicts(a, "approval")
        expected = "blocked" if blocked else "pending_approval" if approval else "queued"
        assert a.status == expected, f"{a.id}: {a.status} with blocks {blocked}, {approval}"


def test_a_second_pass_at_the_same_moment_stores_nothing_new(ws):
    before = [(a.id, a.status, a.not_before, a.run_id) for a in stored(ws)]
    with Abm.open(ws) as abm:
        again = run_pass(abm, now=PASS_AT)
    assert again.actions == []
    assert [(a.id, a.status, a.not_before, a.run_id) for a in stored(ws)] == before


def test_a_dry_run_decides_and_stores_nothing(unpassed, demo):
    with Abm.open(unpassed) as abm:
        dry = run_pass(abm, now=PASS_AT, dry_run=True)
        with Session(abm.app_store.engine) as session:
            state = list(session.scalars(select(AgentState)))
    assert dry.dry_run and dry.actions
    assert {(p.key, p.status) for p in dry.actions} == {
        (p.key, p.status) for p in demo.agent.actions
    }
    assert stored(unpassed) == [] and state == []  # not even the loads it read


def test_a_dry_run_shows_exactly_what_the_real_pass_stores(unpassed):
    with Abm.open(unpassed, UNPINNED) as abm:
        dry = run_pass(abm, now=PASS_AT, dry_run=True)
        shown = {p.key: p.status for p in dry.actions}
        run_pass(abm, now=PASS_AT)
    assert {a.key: a.status for a in stored(unpassed)} == shown


def test_every_action_that_may_leave_is_stored_with_its_payload(unpassed):
    with Abm.open(unpassed, UNPINNED) as abm:
        run_pass(abm, now=PASS_AT)
    rows = stored(unpassed)
    assert rows
    empty = [(a.id, a.channel, a.status) for a in rows if a.status != "blocked" and not a.payload]
    assert empty == []


# -- approvals ----------------------------------------------------------------------------------
def test_first_runs_and_tier_1_wait_until_a_person_approves(ws, tmp_path):
    rows = stored(ws)
    pending = [a for a in rows if a.status == "pending_approval"]
    assert pending and not [a for a in rows if a.status == "queued"]  # every play is new
    assert all("approval_first_run" in verdicts(a, "approval") for a in pending)
    tier1 = [a for a in pending if a.tier == 1]
    assert tier1 and all("approval_tier1" in verdicts(a, "approval") for a in tier1)
    assert all("approval_tier1" not in verdicts(a) for a in pending if a.tier != 1)

    chosen = pending[0]
    with Abm.open(ws) as abm:
        approved = inbox.approve(abm.app_store, abm.settings, chosen.id, note="fine", now=PASS_AT)
    assert approved.status == "queued"
    again = pick(stored(ws), id=chosen.id)
    assert again.status == "queued" and again.reviewed_at == PASS_AT
    assert again.review_note == "fine" and again.not_before >= PASS_AT
    assert again.decision["recheck"][-1]["on"] == "approval"
    assert again.decision["recheck"][-1]["at"] == PASS_AT.isoformat()

    # The key-page play's first run waits; once one of its actions is approved, it no longer does
    first, second = prospects(ws, 2)
    monday = PASS_AT + dt.timedelta(days=3, hours=5, minutes=10)
    report = visit(ws, tmp_path, first, monday)
    plays = [p for p in report.actions if p.candidate.play == KEY_PAGE_PLAY]
    waiting = [p for p in plays if p.status != "blocked"]
    assert waiting and all(p.status == "pending_approval" for p in waiting)
    assert all("approval_first_run" in [v.rule for v in p.verdicts] for p in waiting)
    task = pick(stored(ws), key=next(p.key for p in waiting if p.candidate.channel == "task"))
    with Abm.open(ws) as abm:
        at = monday + dt.timedelta(minutes=40)
        assert inbox.approve(abm.app_store, abm.settings, task.id, now=at).status == "queued"

    report = visit(ws, tmp_path, second, monday + dt.timedelta(hours=23), page="/demo")
    later = [p for p in report.actions if p.candidate.play == KEY_PAGE_PLAY]
    assert later and {p.match.account.account_id for p in later} == {second.account_id}
    assert all("approval_first_run" not in [v.rule for v in p.verdicts] for p in later)
    cleared = [p for p in later if p.status != "blocked"]
    assert cleared and all(p.status == "queued" for p in cleared)
    rows = {a.key: a for a in stored(ws)}
    assert all(rows[p.key].status == "queued" for p in cleared)


def test_approval_refuses_when_a_rule_no_longer_holds_and_reject_frees_the_action(ws):
    pending = [a for a in stored(ws) if a.status == "pending_approval" and a.cost > 0]
    paid, other = sorted(pending, key=lambda a: (-a.cost, a.id))[:2]
    day = paid.not_before.date()

    def committed_spend() -> float:
        return sum(a.cost for a in stored(ws)
                   if a.status in COMMITTED and a.not_before.date() == day)  # fmt: skip

    spent = committed_spend()
    broke = {"guardrails": {"daily_budget": 0.0}}
    with (
        Abm.open(ws, broke) as abm,
        pytest.raises(GuardrailError, match="cannot be approved now") as refused,
    ):
        inbox.approve(abm.app_store, abm.settings, paid.id, now=PASS_AT)
    message = str(refused.value)
    assert paid.id in message
    cost = re.escape(f"${paid.cost:,.2f}")
    assert re.search(rf"day: \$[\d.,]+ committed \+ {cost} would pass the \$0\.00 limit", message)
    assert pick(stored(ws), id=paid.id).status == "pending_approval"

    with Abm.open(ws) as abm:
        rejected = inbox.reject(abm.app_store, paid.id, note="not now", now=PASS_AT)
        assert rejected.status == "rejected"
        assert committed_spend() == pytest.approx(spent - paid.cost)
        assert paid.id not in {a.id for a in inbox.listing(abm.app_store, limit=1000)}
        with pytest.raises(AbmError, match="is rejected, not waiting for approval"):
            inbox.approve(abm.app_store, abm.settings, paid.id, now=PASS_AT)
    # an approval under the workspace's own budget goes through
    with Abm.open(ws) as abm:
        assert inbox.approve(abm.app_store, abm.settings, other.id, now=PASS_AT).status == "queued"


def test_edit_changes_what_may_change_and_refuses_the_rest(ws):
    rows = stored(ws)
    mail = pick(rows, status="pending_approval", channel="email")
    with Abm.open(ws) as abm:
        edited = inbox.edit(abm.app_store, mail.id, {"subject": "A shorter note"}, now=PASS_AT)
        assert edited.status == "pending_approval"
        with pytest.raises(AbmError, match=r"cannot edit to; editable: subject, text, to_name"):
            inbox.edit(abm.app_store, mail.id, {"to": "someone@else.example"}, now=PASS_AT)
    after = pick(stored(ws), id=mail.id)
    assert after.status == "pending_approval"
    assert after.payload == mail.payload | {"subject": "A shorter note"}
    assert after.decision["edits"][-1]["before"] == {"subject": mail.payload["subject"]}

    audience = next(a for a in rows if a.status == "pending_approval"
                    and a.channel == "linkedin_audience"
                    and len(a.payload["rows"]) >= 2)  # fmt: skip
    members = audience.payload["rows"]
    stranger = {**members[0], "email": "stranger@elsewhere.example"}
    with Abm.open(ws) as abm:
        with pytest.raises(AbmError, match="may remove audience rows, not add them"):
            inbox.edit(abm.app_store, audience.id, {"rows": [*members, stranger]})
        inbox.edit(abm.app_store, audience.id, {"rows": members[1:]})
    assert pick(stored(ws), id=audience.id).payload["rows"] == members[1:]


# -- guardrails in the stored outbox ------------------------------------------------------------
def contacts_view(path: Path) -> tuple[set[str], set[str]]:
    """From the warehouse: the opted-out addresses, and the people in an opt-in country (their
    own, else their account's) without recorded consent."""
    with Abm.open(path) as abm:
        wh, name = abm.warehouse, abm.settings.guardrails.consent_attribute
        columns = ("contact_id", "account_id", "email", "country", "email_opt_out")
        contacts = wh.table("contacts").select(*columns).to_pyarrow().to_pylist()
        accounts = wh.table("accounts").select("account_id", "country").to_pyarrow().to_pylist()
        attributes = wh.table("attributes").to_pyarrow().to_pylist()
    consent = {r["entity_id"] for r in attributes if r["entity"] == "contact"
               and r["name"].lower() == name.lower()
               and (r["value"] or "").strip().lower() in ("true", "yes", "1", "y")}  # fmt: skip
    opted_out = {r["email"].lower() for r in contacts if r["email_opt_out"] and r["email"]}
    countries = {r["account_id"]: r["country"] for r in accounts}
    no_consent = {r["contact_id"] for r in contacts
                  if (r["country"] or countries.get(r["account_id"]) or "").lower()
                  in OPT_IN_COUNTRIES and r["contact_id"] not in consent}  # fmt: skip
    return opted_out, no_consent


def assert_within_limits(rows: list[Action], g) -> None:
    """Every limit, counted afresh from the committed rows."""
    committed = [a for a in rows if a.status in COMMITTED]
    by_day: dict[dt.date, float] = defaultdict(float)
    by_channel_day: dict[tuple[str, dt.date], float] = defaultdict(float)
    for a in committed:
        by_day[a.not_before.date()] += a.cost
        by_channel_day[a.channel, a.not_before.date()] += a.cost
    assert max(by_day.values()) <= g.daily_budget + 1e-9
    for (channel, day), spent in by_channel_day.items():
        assert spent <= g.channel_daily_budget.get(channel, g.daily_budget) + 1e-9, (channel, day)
    people: dict[str, list[Action]] = defaultdict(list)
    accounts: dict[str, list[Action]] = defaultdict(list)
    for a in committed:
        accounts[a.account_id].append(a)
        if a.contact_id and a.channel in PERSONAL:
            people[a.contact_id].append(a)
    for contact, acts in people.items():
        assert most_in_any_week(a.not_before for a in acts) <= g.max_touches_per_contact_week
        for channel, cap in g.max_touches_per_contact_channel_week.items():
            times = [a.not_before for a in acts if a.channel == channel]
            assert most_in_any_week(times) <= cap, (contact, channel)
    for account, acts in accounts.items():
        assert most_in_any_week(a.not_before for a in acts) <= g.max_touches_per_account_week
        for channel, cap in g.max_touches_per_account_channel_week.items():
            times = [a.not_before for a in acts if a.channel == channel]
            assert most_in_any_week(times) <= cap, (account, channel)


def test_the_stored_outbox_keeps_opt_outs_consent_budgets_and_caps(demo):
    rows = stored(demo.workspace)
    opted_out, no_consent = contacts_view(demo.workspace)
    committed = [a for a in rows if a.status in COMMITTED]
    for a in committed:
        if a.channel in MESSAGES:
            assert a.payload["to"].lower() not in opted_out, a.id
            assert a.contact_id not in no_consent, a.id
        if a.channel.endswith("_audience"):
            assert not {r.get("email", "").lower() for r in a.payload["rows"]} & opted_out, a.id
    # the demo's plays did reach such people: the rules had something to stop
    blocked = [a for a in rows if a.status == "blocked"]
    unsubscribed = [a for a in blocked if "unsubscribe" in verdicts(a, "block")]
    unconsented = [a for a in blocked if "consent" in verdicts(a, "block")]
    assert unsubscribed and all(a.decision["candidate"]["email"].lower() in opted_out
                                for a in unsubscribed)  # fmt: skip
    assert unconsented and all(a.contact_id in no_consent for a in unconsented)
    with Abm.open(demo.workspace) as abm:
        assert_within_limits(rows, abm.settings.guardrails)
    assert any("cap_account_channel" in verdicts(a, "block") for a in blocked)


def test_tight_budgets_and_caps_bind_and_hold(unpassed):
    tight = {"guardrails": {"daily_budget": 40.0, "max_touches_per_contact_week": 1},
             "channels": {"costs": COSTS}}  # fmt: skip
    with Abm.open(unpassed, tight) as abm:
        report = run_pass(abm, now=PASS_AT)
        g = abm.settings.guardrails
    rows = stored(unpassed)
    assert len(rows) == len(report.actions)
    blocks = Counter(rule for a in rows for rule in verdicts(a, "block"))
    assert blocks["budget_day"] > 0 and blocks["cap_contact"] > 0
    assert_within_limits(rows, g)
    by_day: Counter[dt.date] = Counter()
    for a in rows:
        if a.status in COMMITTED:
            by_day[a.not_before.date()] += a.cost
    # each action the budget refused would have passed it on its day (messages aside: quiet
    # hours may have judged them on a later day than the one they are stored with)
    refused = [a for a in rows
               if "budget_day" in verdicts(a, "block") and a.channel not in MESSAGES]  # fmt: skip
    assert refused
    for a in refused:
        assert by_day[a.not_before.date()] + a.cost > g.daily_budget, a.id


def test_a_do_not_contact_address_is_not_uploaded_to_an_ad_audience(unpassed, demo):
    audience = next(p for p in demo.agent.actions
                    if p.candidate.channel == "linkedin_audience" and p.status != "blocked"
                    and p.payload.get("kind") == "contacts")  # fmt: skip
    address = audience.payload["rows"][0]["email"]
    with Abm.open(unpassed, {"guardrails": {"do_not_contact": [address]}}) as abm:
        run_pass(abm, now=PASS_AT)
    rows = stored(unpassed)
    direct = [a for a in rows if a.channel == "email"
              and a.decision["candidate"]["email"] == address]  # fmt: skip
    assert direct and all(a.status == "blocked" for a in direct)
    uploaded = [a.id for a in rows if a.status in COMMITTED and a.channel.endswith("_audience")
                and address in {r.get("email") for r in a.payload.get("rows", [])}]  # fmt: skip
    assert uploaded == []


def test_an_email_to_someone_without_an_address_has_one_verdict_per_rule(ws, tmp_path):
    (account,) = prospects(ws, 1)
    header = ["Id", "AccountId", "FirstName", "LastName", "Title", "MailingCountry"]
    person = ["003NOADDRESS01", account.account_id, "Noa", "Post", "CFO", "United States"]
    with Abm.open(ws) as abm:
        ok(abm.ingest("contacts", [write_csv(tmp_path / "c.csv", header, [person])],
                      preset="salesforce")[0])  # fmt: skip
    visit(ws, tmp_path, account, PASS_AT + dt.timedelta(days=3, hours=5))
    mail = pick(stored(ws), contact_id="003NOADDRESS01", channel="email")
    assert mail.status == "blocked"
    rules = verdicts(mail)
    assert len(rules) == len(set(rules)), rules


# -- the command line ---------------------------------------------------------------------------
def fresh_visit(ws: Path, folder: Path) -> tuple[Account, dt.datetime]:
    """A key-page visit ten minutes ago, loaded through the CLI; the moment to run the agent.

    The simulated market's days are long past, and the approval and the executor work at the
    real time: the actions that will be approved and sent come from a visit just now."""
    (account,) = prospects(ws, 1)
    now = inbox.utcnow().replace(second=0, microsecond=0)
    cli("ingest", "touches", visit_file(folder, account, now - dt.timedelta(minutes=10)), "-w", ws)
    return account, now


def test_cli_shows_explains_approves_and_sends_one_email_exactly_once(ws, tmp_path, mailbox):
    account, now = fresh_visit(ws, tmp_path)
    cli("agent", "run", "--as-of", f"{now:%Y-%m-%dT%H:%M:%S}", *ANY_HOUR, "-w", ws)
    rows = stored(ws)
    mail = pick(rows, play=KEY_PAGE_PLAY, channel="email", account_id=account.account_id,
                status="pending_approval")  # fmt: skip
    p = mail.payload

    listed = cli("actions", "list", "--account", account.account_id, "-w", ws)
    ids = set(re.findall(r"act_[0-9a-f]{20}", listed))
    mine = [a for a in rows if a.account_id == account.account_id]
    assert ids == {a.id for a in mine if a.status == "pending_approval"} and mail.id in ids
    everything = cli(
        "actions", "list", "--status", "all", "--account", account.account_id, "-w", ws
    )
    assert set(re.findall(r"act_[0-9a-f]{20}", everything)) == {a.id for a in mine}

    shown = flat(cli("actions", "show", mail.id, "-w", ws))
    assert f"To: {p['to_name']} <{p['to']}>" in shown
    assert f"Subject: {flat(p['subject'])}" in shown
    assert flat(p["text"]) in shown

    why = flat(cli("agent", "explain", mail.id, "-w", ws))
    signal = mail.decision["signal"]
    assert signal["kind"] == "key_page_visit"
    assert f"signal: key_page_visit on {signal['at']} ({signal['ref']})" in why
    for reason in mail.decision["reasons"]:
        assert flat(reason) in why
    assert f"expected value ${mail.decision['expected_value']:,.2f}" in why
    for v in mail.decision["verdicts"]:
        assert flat(f"{v['outcome']} {v['rule']}: {v['reason']}") in why

    assert f"{mail.id}: queued" in cli("actions", "approve", mail.id, *ANY_HOUR, "-w", ws)
    live = [*ANY_HOUR, "--set", "channels.live=[email]",
            "--set", f"channels.email.port={mailbox.port}"]  # fmt: skip
    assert "sent 1," in cli("actions", "send", *live, "-w", ws)
    assert mailbox.message_ids() == [f"<{mail.key}@abmkit.invalid>"]
    message = message_from_bytes(mailbox.received[0], policy=default_policy)
    assert message["To"].addresses[0].addr_spec == p["to"]
    assert message["Subject"] == p["subject"]
    assert message.get_content().replace("\r\n", "\n").strip() == p["text"].strip()
    sent = pick(stored(ws), id=mail.id)
    assert sent.status == "sent" and sent.receipt["message_id"] == f"<{mail.key}@abmkit.invalid>"

    assert "sent 0," in cli("actions", "send", *live, "-w", ws)
    assert len(mailbox.received) == 1


def test_cli_dry_run_pass_then_a_task_becomes_a_row_of_the_outbox(ws, tmp_path):
    account, now = fresh_visit(ws, tmp_path)
    before = stored(ws)
    as_of = f"{now:%Y-%m-%dT%H:%M:%S}"

    dry = flat(cli("agent", "run", "--dry-run", "--as-of", as_of, "-w", ws))
    assert re.search(rf"run_[0-9a-f]{{12}} at {now:%Y-%m-%d %H:%M} UTC \(dry run: nothing "
                     r"stored\): \d+ signals, [1-9]\d* play matches → .*\d+ pending_approval",
                     dry), dry  # fmt: skip
    assert [a.id for a in stored(ws)] == [a.id for a in before]

    real = flat(cli("agent", "run", "--as-of", as_of, "-w", ws))
    assert "dry run" not in real and "pending_approval" in real
    task = pick(stored(ws), play=KEY_PAGE_PLAY, channel="task", account_id=account.account_id)
    assert task.status == "pending_approval" and task.payload["row"]
    cli("actions", "approve", task.id, "-w", ws)
    assert "sent 1," in cli("actions", "send", "-w", ws)

    files = sorted((ws / "outbox" / "task").glob("*.csv"))
    lines = [r for f in files for r in csv.DictReader(f.open(encoding="utf-8", newline=""))]
    assert len(lines) == 1
    (line,) = lines
    assert (line["action_id"], line["idempotency_key"], line["format"]) == (task.id, task.key,
                                                                             "task")  # fmt: skip
    assert {k: line[k] for k in task.payload["row"]} == {
        k: str(v) for k, v in task.payload["row"].items()
    }
    assert pick(stored(ws), id=task.id).status == "sent"


@pytest.mark.parametrize("review", ["approve", "reschedule"])
def test_an_action_reviewed_weeks_after_its_planned_time_is_checked_again(ws, review):
    owner_alert = pick(stored(ws), status="pending_approval", channel="owner_alert")
    later = PASS_AT + dt.timedelta(days=30)
    with Abm.open(ws) as abm:
        if review == "approve":
            status = inbox.approve(abm.app_store, abm.settings, owner_alert.id, now=later).status
        else:
            status, _, _ = inbox.reschedule(abm.app_store.engine, owner_alert.id, later,
                                            abm.settings)  # fmt: skip
    assert status in ("queued", "pending_approval")
    assert pick(stored(ws), id=owner_alert.id).not_before == later


# -- goals --------------------------------------------------------------------------------------
def quarter(now: dt.datetime) -> tuple[dt.date, dt.date, dt.date]:
    """The first days of the previous quarter, this one and the next."""

    def months_on(d: dt.date, months: int) -> dt.date:
        index = d.year * 12 + d.month - 1 + months
        return dt.date(index // 12, index % 12 + 1, 1)

    start = dt.date(now.year, (now.month - 1) // 3 * 3 + 1, 1)
    return months_on(start, -3), start, months_on(start, 3)


def pipeline_of_tiers(path: Path, tiers: set[int], start: dt.date, end: dt.date) -> float:
    with Abm.open(path) as abm:
        wh = abm.warehouse
        tier = {r["account_id"]: r["tier"] for r in wh.table("account_scores")
                .select("account_id", "tier").to_pyarrow().to_pylist()}  # fmt: skip
        opps = wh.table("opportunities").select("account_id", "created_at", "amount")
        rows = opps.to_pyarrow().to_pylist()
    total = 0.0
    for r in rows:
        created = r["created_at"]
        created = created.date() if isinstance(created, dt.datetime) else created
        if created and start <= created < end and tier.get(r["account_id"]) in tiers:
            total += r["amount"] or 0.0
    return total


def test_goals_report_their_progress_and_favour_the_accounts_behind(unpassed, demo):
    goals = [{"name": "tier 1-2 pipeline +20%", "metric": "pipeline", "target_change": 0.2,
              "period": "quarter", "segment": {"tier": [1, 2]}},
             {"name": "moonshot", "metric": "pipeline", "target_change": 0.0,
              "target": 1e12, "period": "quarter", "segment": {"tier": [1, 2]}}]  # fmt: skip
    with Abm.open(unpassed, {"goals": goals}) as abm:
        report = run_pass(abm, now=PASS_AT, dry_run=True)
    before, start, end = quarter(PASS_AT)
    previous = pipeline_of_tiers(unpassed, {1, 2}, before, start)
    actual = pipeline_of_tiers(unpassed, {1, 2}, start, end)
    share = (PASS_AT - dt.datetime.combine(start, dt.time())) / (end - start)
    grow, moon = report.goals
    assert previous > 0
    assert (grow.goal, grow.metric, grow.period_start, grow.period_end) == (
        "tier 1-2 pipeline +20%", "pipeline", start, end)  # fmt: skip
    assert grow.previous == pytest.approx(previous) and grow.actual == pytest.approx(actual)
    assert grow.target == pytest.approx(previous * 1.2)
    assert grow.pace == pytest.approx(previous * 1.2 * share)
    assert moon.target == 1e12 and moon.behind

    # accounts of a goal behind pace are worth more, up to agent.max_goal_boost; the others not
    plain = {p.key: p.value for p in demo.agent.actions}
    assert {p.key for p in report.actions} == set(plain)
    for p in report.actions:
        tier = p.match.account.tier
        boost = 1.5 if tier in (1, 2) else 1.0
        assert p.value == pytest.approx(plain[p.key] * boost), (p.key, tier)
        assert any("behind goal(s)" in r and "moonshot" in r for r in p.reasons) == (boost > 1)


def test_a_goal_on_an_unknown_column_is_a_config_error_naming_it(ws):
    goals = [{"name": "g", "metric": "pipeline", "target_change": 0.2, "period": "quarter",
              "segment": {"headcount_band": "big"}}]  # fmt: skip
    named = r"goals\.0\.segment: unknown column 'headcount_band'"
    with Abm.open(ws, {"goals": goals}) as abm, pytest.raises(ConfigError, match=named):
        run_pass(abm, now=PASS_AT, dry_run=True)


# -- CRM write-back -----------------------------------------------------------------------------
def test_crm_export_writes_every_scored_account_in_the_salesforce_bulk_format(ws, tmp_path):
    out = tmp_path / "accounts.csv"
    printed = cli("crm", "export", "salesforce", out, "-w", ws)
    with Abm.open(ws) as abm:
        scores = {r["account_id"]: r for r in
                  abm.warehouse.table("account_scores").to_pyarrow().to_pylist()}  # fmt: skip
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(SALESFORCE_HEADER)
    assert {r["Id"] for r in rows} == set(scores)  # the simulated CRM keys every account
    assert f"Wrote {len(rows):,} accounts" in printed
    for row in rows[:50]:
        mine = scores[row["Id"]]
        assert row["ABM_Tier__c"] == str(mine["tier"])
        assert row["ABM_Buying_Stage__c"] == mine["buying_stage"]
        assert row["ABM_Sales_Ready__c"] == ("true" if mine["sales_ready"] else "false")
        assert row["ABM_Scored_At__c"] == mine["as_of"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert any(r["ABM_Reasons__c"] not in ("", "#N/A") for r in rows)
    # HubSpot takes its own record ids only: Salesforce-keyed accounts are left out, and said so
    printed = cli("crm", "export", "hubspot", tmp_path / "hs.json", "-w", ws)
    assert json.loads((tmp_path / "hs.json").read_text(encoding="utf-8")) == []
    assert f"{len(rows):,} left out" in " ".join(printed.split())
    cli("crm", "fields", "salesforce", tmp_path / "fields", "-w", ws)
    made = sorted(p.name for p in (tmp_path / "fields").rglob("*.field-meta.xml"))
    assert made == sorted(f"{name}.field-meta.xml" for name in SALESFORCE_HEADER[1:])
