"""Randomized holdouts over real workspaces (DuckDB warehouse, SQLite application store): the
hash that draws the groups, recording them once and never changing them, the clear refusal
when the settings move, the audited reset, and the agent leaving held-out accounts alone.

Two workspaces are built once per module: a small one of 400 accounts, ingested and scored
(tiers 20 / 300 / 80), and `abm demo`'s simulated market with the agent's first pass. A test
that changes one works on a copy of it."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from scipy import stats
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from abmkit.app import Abm
from abmkit.cli import app
from abmkit.cli.measure import holdout_app
from abmkit.decide.loop import run_pass
from abmkit.demo import DemoSummary, run_demo
from abmkit.errors import AbmError, ConfigError
from abmkit.measure import holdout
from abmkit.measure.holdout import HOLDOUT, TREATED, draw, group_of, play_scope, tier_scope
from abmkit.simulate import MarketConfig
from abmkit.store.models import Action, AgentState, HoldoutAssignment
from conftest import scored_workspace

NOW = dt.datetime(2026, 3, 2, 9, 0)
ACCOUNTS, MONTHS, SEED = 600, 6, 3
PASS_AT = dt.datetime.fromisoformat(
    str(MarketConfig(accounts=ACCOUNTS, months=MONTHS, seed=SEED).end_day)
) + dt.timedelta(hours=9)
"""When the demo's pass runs: 09:00 UTC on the morning the simulated data was exported."""
HALF = {"measure": {"holdout": {"share": 0.5}}}
"""Half of every scope held out: plenty of held-out accounts among the pass's matches."""
NONE = {"measure": {"holdout": {"share": 0.0}}}
runner = CliRunner()


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> Path:
    """400 accounts ingested and scored: 20 in Tier 1, 300 in Tier 2, 80 in Tier 3."""
    ws = scored_workspace(tmp_path_factory.mktemp("holdout"))
    with Abm.open(ws) as abm:
        tiers = Counter(r["tier"] for r in abm.accounts(limit=None).to_pylist())
    assert tiers == {1: 20, 2: 300, 3: 80}
    return ws


@pytest.fixture
def ws(scored, tmp_path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(scored, copy)
    return copy


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoSummary:
    """`abm demo` on a small market, with its agent pass as of PASS_AT (default settings)."""
    summary = run_demo(tmp_path_factory.mktemp("agent") / "ws", accounts=ACCOUNTS,
                       months=MONTHS, seed=SEED, replay_weeks=0, write_report=False)  # fmt: skip
    assert summary.agent is not None and summary.agent.now == PASS_AT
    return summary


@pytest.fixture
def unpassed(demo, tmp_path) -> Path:
    """A copy of the demo's workspace as before any pass: no actions, no agent state, and no
    holdout assignments (reset scope by scope, as a person would)."""
    copy = tmp_path / "ws"
    shutil.copytree(demo.workspace, copy, ignore=shutil.ignore_patterns("market"))
    with Abm.open(copy) as abm:
        for s in holdout.listing(abm):
            holdout.reset(abm, s.scope)
        with Session(abm.app_store.engine) as session, session.begin():
            session.execute(delete(Action))
            session.execute(delete(AgentState))
    return copy


# -- helpers ------------------------------------------------------------------------------------
def recorded(path: Path) -> dict[tuple[str, str], tuple[str, float, str, dt.datetime]]:
    with Abm.open(path) as abm, Session(abm.app_store.engine) as session:
        rows = session.scalars(select(HoldoutAssignment))
        return {(r.scope, r.account_id): (r.group, r.share, r.salt, r.assigned_at) for r in rows}


def tiers_of(path: Path) -> dict[str, int]:
    with Abm.open(path) as abm:
        return {r["account_id"]: r["tier"] for r in abm.accounts(limit=None).to_pylist()
                if r["tier"] in (1, 2, 3)}  # fmt: skip


def stored(path: Path) -> list[Action]:
    with Abm.open(path) as abm, Session(abm.app_store.engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Action)))


# -- the hash -----------------------------------------------------------------------------------
def test_the_draw_is_sha256_of_salt_scope_and_account_and_never_changes():
    # pinned: a change here would give new workspaces other groups than today's
    assert draw("abmkit", "tier:1", "A0001") == 0.5681351939030934
    assert draw("abmkit", "tier:1", "A0002") == 0.14396561575753994
    assert draw("abmkit", "tier:2", "A0001") != draw("abmkit", "tier:1", "A0001")
    assert draw("other", "tier:1", "A0001") != draw("abmkit", "tier:1", "A0001")
    assert group_of("abmkit", "tier:1", "A0002", 0.15) == HOLDOUT
    assert group_of("abmkit", "tier:1", "A0002", 0.1) == TREATED


def test_the_groups_are_the_same_in_another_process():
    ids = [f"001{i:07d}" for i in range(2000)]
    code = ("import json, sys; from abmkit.measure.holdout import group_of; print(json.dumps("
            "[group_of('s', 'play:x', a, 0.2) for a in json.load(sys.stdin)]))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(ids),
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(done.stdout) == [group_of("s", "play:x", a, 0.2) for a in ids]


@pytest.mark.parametrize("share", [0.05, 0.1, 0.25, 0.5])
def test_the_share_held_out_is_within_binomial_bounds(share):
    n = 20_000
    ids = [f"acct-{i}" for i in range(n)]
    low, high = stats.binom.interval(1 - 1e-6, n, share)
    for scope in ("tier:1", "play:surge-linkedin-email"):
        held = {a for a in ids if group_of("abmkit", scope, a, share) == HOLDOUT}
        assert low <= len(held) <= high, (scope, len(held))
    # two scopes draw independently: the accounts held out of both are about share² of them
    one = {a for a in ids if group_of("abmkit", "tier:1", a, share) == HOLDOUT}
    two = {a for a in ids if group_of("abmkit", "tier:2", a, share) == HOLDOUT}
    low, high = stats.binom.interval(1 - 1e-6, n, share * share)
    assert low <= len(one & two) <= high


# -- recording ----------------------------------------------------------------------------------
def test_assign_records_every_target_account_once_with_the_hash_group(ws):
    tiers = tiers_of(ws)
    with Abm.open(ws) as abm:
        new = holdout.assign(abm, NOW)
        again = holdout.assign(abm, NOW + dt.timedelta(days=1))
        summaries = {s.scope: s for s in holdout.listing(abm)}
        events = abm.audit("holdout.assign")
    assert again == []
    assert {(a.scope, a.account_id) for a in new} == {(tier_scope(t), a) for a, t in tiers.items()}
    rows = recorded(ws)
    assert len(rows) == 400
    for (scope, account), (group, share, salt, at) in rows.items():
        assert (group, share, salt, at) == (group_of("abmkit", scope, account, 0.1), 0.1,
                                            "abmkit", NOW)  # fmt: skip
    assert {s: (x.treated + x.holdout) for s, x in summaries.items()} == {
        "tier:1": 20, "tier:2": 300, "tier:3": 80}  # fmt: skip
    held = sum(x.holdout for x in summaries.values())
    assert held == sum(g == HOLDOUT for g, *_ in rows.values()) > 0
    assert len(events) == 1 and events[0].detail["accounts"] == 400
    assert events[0].detail["held_out"] == held
    with Abm.open(ws) as abm:
        assert holdout.held_out(abm) == {k for k, v in rows.items() if v[0] == HOLDOUT}


def test_two_workspaces_assigned_in_two_processes_agree(ws, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(ws, other)
    code = ("import datetime as dt, sys; from abmkit.app import Abm; "
            "from abmkit.measure.holdout import assign; "
            "abm = Abm.open(sys.argv[1]); assign(abm, dt.datetime(2026, 3, 2, 9)); "
            "abm.close()")  # fmt: skip
    subprocess.run([sys.executable, "-c", code, str(other)], check=True, capture_output=True)
    with Abm.open(ws) as abm:
        holdout.assign(abm, NOW)
    assert recorded(ws) == recorded(other)


def test_an_account_new_in_a_tier_is_assigned_there_and_old_groups_stay(ws):
    with Abm.open(ws) as abm:
        holdout.assign(abm, NOW)
    before = recorded(ws)
    later = NOW + dt.timedelta(days=7)
    with Abm.open(ws, {"tiers": {"tier1_capacity": 40}}) as abm:
        abm.score()
        new = holdout.assign(abm, later)
    after = recorded(ws)
    assert {k: after[k] for k in before} == before  # nothing recorded changed
    tiers = tiers_of(ws)
    assert Counter(tiers.values())[1] == 40
    now_in = {(tier_scope(t), a) for a, t in tiers.items()}
    assert {(a.scope, a.account_id) for a in new} == now_in - set(before)
    assert sum(a.scope == "tier:1" for a in new) == 20
    assert all(a.assigned_at == later for a in new)
    # an account that moved up keeps its Tier 2 record and gets a Tier 1 group of its own
    moved = [a.account_id for a in new if a.scope == "tier:1"]
    assert all(("tier:2", a) in after for a in moved)


@pytest.mark.parametrize(("setting", "value", "was", "shown"), [
    ("share", 0.2, "0.1", "0.2"),
    ("salt", "pepper", "'abmkit'", "'pepper'"),
])  # fmt: skip
def test_a_settings_change_never_reassigns_and_says_how_to_reset(ws, setting, value, was, shown):
    with Abm.open(ws) as abm:
        holdout.assign(abm, NOW)
    before = recorded(ws)
    changed = {"measure": {"holdout": {setting: value}}}
    with Abm.open(ws, changed) as abm, pytest.raises(ConfigError) as refused:
        holdout.assign(abm, NOW + dt.timedelta(days=1))
    message = str(refused.value)
    assert f"measure.holdout.{setting} is {shown} but scope tier:1" in message
    assert f"was assigned with {was}" in message
    assert "tier:2, tier:3" in message
    assert "abm holdout reset tier:1 --yes" in message
    with Abm.open(ws, changed) as abm:
        with pytest.raises(ConfigError, match=f"measure.holdout.{setting}"):
            holdout.plan(abm, NOW)  # a dry run says so too
        assert holdout.held_out(abm) == {k for k, v in before.items() if v[0] == HOLDOUT}
    assert recorded(ws) == before


def test_reset_deletes_one_scope_audited_then_it_is_drawn_afresh(ws):
    with Abm.open(ws) as abm:
        holdout.assign(abm, NOW)
    before = recorded(ws)
    with Abm.open(ws) as abm:
        tier2 = holdout.listing(abm, "tier:2")[0]
        assert holdout.reset(abm, "tier:2") == 300
        with pytest.raises(AbmError, match="no holdout assignments in scope 'tier:9'; recorded "
                                           "scopes: tier:1, tier:3"):  # fmt: skip
            holdout.reset(abm, "tier:9")
        event = abm.audit("holdout.reset")[0]
    assert event.target == "tier:2" and event.outcome == "ok"
    assert event.detail == {"treated": tier2.treated, "held_out": tier2.holdout, "share": 0.1,
                            "salt": "abmkit", "first_assigned": NOW.isoformat()}  # fmt: skip
    assert recorded(ws) == {k: v for k, v in before.items() if k[0] != "tier:2"}
    # a new salt is refused while other scopes keep the old one, accepted once all are reset
    salted = {"measure": {"holdout": {"salt": "pepper"}}}
    with Abm.open(ws, salted) as abm:
        with pytest.raises(ConfigError, match="scope tier:1"):
            holdout.assign(abm, NOW)
        holdout.reset(abm, "tier:1")
        holdout.reset(abm, "tier:3")
        new = holdout.assign(abm, NOW)
    assert len(new) == 400
    assert all(a.group == group_of("pepper", a.scope, a.account_id, 0.1) for a in new)


def test_by_play_each_enabled_play_covers_the_tiers_of_its_audience(ws):
    by_play = {"measure": {"holdout": {"by": "play"}}}
    tiers = tiers_of(ws)
    with Abm.open(ws, by_play) as abm:
        plays = {p.name: p for p, _ in abm.plays().values() if p.enabled}
        new = holdout.assign(abm, NOW)
    assert plays
    scopes = Counter(a.scope for a in new)
    assert set(scopes) == {play_scope(name) for name in plays}
    for name, play in plays.items():
        covered = {a for a, t in tiers.items() if t in play.audience.tiers}
        assert {a.account_id for a in new if a.scope == play_scope(name)} == covered


@pytest.mark.postgres
def test_assignments_on_a_postgresql_application_store(ws, postgres_url):
    server = {"app_store": {"url": postgres_url.replace("postgres://", "postgresql+psycopg://")}}
    with Abm.open(ws, server) as abm:
        new = holdout.assign(abm, NOW)
        assert holdout.assign(abm, NOW) == []
        summaries = {s.scope: s for s in holdout.listing(abm)}
        assert holdout.held_out(abm) == {(a.scope, a.account_id) for a in new
                                         if a.group == HOLDOUT}  # fmt: skip
        assert sum(s.holdout for s in summaries.values()) == len(holdout.held_out(abm))
        assert summaries["tier:2"].treated + summaries["tier:2"].holdout == 300
        assert holdout.reset(abm, "tier:2") == 300
        assert abm.audit("holdout.reset")[0].target == "tier:2"
    changed = server | {"measure": {"holdout": {"share": 0.3}}}
    with (
        Abm.open(ws, changed) as abm,
        pytest.raises(ConfigError, match="measure.holdout.share is 0.3 but scope tier:1"),
    ):
        holdout.assign(abm, NOW)


def test_share_zero_records_nothing(ws):
    with Abm.open(ws, NONE) as abm:
        assert holdout.assign(abm, NOW) == []
        assert holdout.listing(abm) == []


def test_the_holdout_commands(ws):
    def cli(*args: object) -> str:
        result = runner.invoke(holdout_app, [str(a) for a in args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        return result.output

    out = cli("assign", "--as-of", "2026-03-02T09:00", "-w", ws)
    held = sum(g == HOLDOUT for g, *_ in recorded(ws).values())
    assert f"Recorded 400 new assignment(s), {held} held out." in out
    listed = cli("list", "-w", ws)
    for scope in ("tier:1", "tier:2", "tier:3"):
        assert scope in listed
    assert "2026-03-02" in listed and "abmkit" in listed
    only = cli("list", "--scope", "tier:3", "-w", ws)
    assert "tier:3" in only and "tier:1" not in only
    refused = runner.invoke(holdout_app, ["reset", "tier:3", "-w", str(ws)])
    assert refused.exit_code != 0 and isinstance(refused.exception, AbmError)
    assert "add --yes" in str(refused.exception)
    assert "Deleted 80 assignments of scope tier:3." in " ".join(
        cli("reset", "tier:3", "--yes", "-w", ws).split()
    )
    assert {s for s, _ in recorded(ws)} == {"tier:1", "tier:2"}


# -- the agent ----------------------------------------------------------------------------------
def test_the_demo_pass_recorded_holdouts_and_acted_on_none_of_them(demo):
    with Abm.open(demo.workspace) as abm:
        summaries = holdout.listing(abm)
        held = holdout.held_out(abm)
    assert summaries and all(s.share == 0.1 for s in summaries)
    rows = stored(demo.workspace)
    assert rows
    assert not [a.id for a in rows if (tier_scope(a.tier), a.account_id) in held]


def test_the_agent_never_proposes_to_an_account_held_out_of_its_tier(unpassed):
    with Abm.open(unpassed, NONE) as abm:
        everyone = run_pass(abm, now=PASS_AT, dry_run=True)
    with Abm.open(unpassed, HALF) as abm:
        report = run_pass(abm, now=PASS_AT)
        held = holdout.held_out(abm)
    assert everyone.held_out == 0
    assert {s for s, _ in held} <= {"tier:1", "tier:2", "tier:3"}

    def out(p) -> bool:
        return (tier_scope(p.match.account.tier), p.match.account.account_id) in held

    dropped = {p.key for p in everyone.actions if out(p)}
    assert dropped, "no held-out account had a proposal: the test would prove nothing"
    assert {p.key for p in report.actions} == {p.key for p in everyone.actions} - dropped
    assert report.held_out == everyone.matches - report.matches > 0
    assert not [a.id for a in stored(unpassed) if (tier_scope(a.tier), a.account_id) in held]
    with Abm.open(unpassed, HALF) as abm:
        event = abm.audit("agent.run")[0]
    assert event.detail["held_out"] == report.held_out


def test_by_play_an_account_is_held_out_of_that_play_only(unpassed):
    by_play = {"measure": {"holdout": {"by": "play", "share": 0.5}}}
    with Abm.open(unpassed, NONE) as abm:
        everyone = run_pass(abm, now=PASS_AT, dry_run=True)
    with Abm.open(unpassed, by_play) as abm:
        report = run_pass(abm, now=PASS_AT)
        held = holdout.held_out(abm)
    assert held and all(s.startswith("play:") for s, _ in held)

    def out(p) -> bool:
        return (play_scope(p.candidate.play), p.candidate.account_id) in held

    dropped = {p.key for p in everyone.actions if out(p)}
    assert dropped
    assert {p.key for p in report.actions} == {p.key for p in everyone.actions} - dropped
    # the drop is per play: an account held out of one play stays treated in the others
    rows = recorded(unpassed)
    held_accounts = {a for (_, a), v in rows.items() if v[0] == HOLDOUT}
    assert {a for (_, a), v in rows.items() if v[0] == TREATED} & held_accounts


def test_a_dry_run_draws_the_groups_without_recording_them(unpassed):
    with Abm.open(unpassed, HALF) as abm:
        audited = len(abm.audit("holdout.assign"))
        dry = run_pass(abm, now=PASS_AT, dry_run=True)
        assert holdout.listing(abm) == []
        assert len(abm.audit("holdout.assign")) == audited
        real = run_pass(abm, now=PASS_AT)
    assert dry.held_out == real.held_out > 0
    assert {p.key for p in dry.actions} == {p.key for p in real.actions}


def test_agent_run_prints_how_many_matches_were_held_out(unpassed):
    result = runner.invoke(app, ["agent", "run", "--dry-run", "--as-of", PASS_AT.isoformat(),
                                 "-w", str(unpassed), "--set", "measure.holdout.share=0.5"],
                           env={"COLUMNS": "240"})  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    assert re.search(r"play matches → .*; [1-9]\d* held out \(randomized holdout\)", shown)
    half = ["--set", "measure.holdout.share=0.5"]
    changed = runner.invoke(app, ["agent", "run", "--as-of", PASS_AT.isoformat(), "-w",
                                  str(unpassed), *half])  # fmt: skip
    assert changed.exit_code == 0, changed.output
    # the workspace's own share (0.1) is not the one recorded (0.5)
    refused = runner.invoke(app, ["agent", "run", "--as-of", PASS_AT.isoformat(),
                                  "-w", str(unpassed)])  # fmt: skip
    assert isinstance(refused.exception, ConfigError)
    assert "measure.holdout.share is 0.1 but scope" in str(refused.exception)
