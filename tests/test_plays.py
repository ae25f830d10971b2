"""Plays: the built-in library validates, a workspace adds and replaces plays as files, and a
wrong file is refused with its name and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from abmkit.app import Abm
from abmkit.cli import app
from abmkit.config.workspace import init_workspace
from abmkit.decide.plays import delay, library, load_plays
from abmkit.errors import ConfigError

PERSONAS = ["economic_buyer", "champion", "technical_evaluator", "end_user", "blocker"]
GOOD = """name: webinar-follow-up
description: Webinar attendee at a Tier 2 account → e-mail the next day.
trigger: {signal: engagement_spike, min_spike_pct: 80}
audience: {tiers: [2], personas: [champion]}
steps:
  - {channel: email, after: 1d, template: webinar_recap}
"""


@pytest.fixture
def ws(tmp_path) -> Path:
    init_workspace(tmp_path / "ws")
    return tmp_path / "ws"


def write(ws: Path, name: str, text: str) -> Path:
    path = ws / "plays" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_built_in_library_covers_the_issue_s_plays():
    plays = library()
    signals = {p.trigger.signal for p in plays.values()}
    assert {"intent_surge", "key_page_visit", "stalled_opportunity",
            "customer_expansion"} <= signals  # fmt: skip
    surge = plays["surge-linkedin-email"]
    assert [s.channel for s in surge.steps][:2] == ["linkedin_audience", "email"]
    alert = plays["tier1-pricing-visit"]
    assert alert.audience.tiers == [1] and all(s.sla_hours == 4 for s in alert.steps)
    assert plays["customer-expansion"].audience.customers


def test_a_workspace_play_is_added_and_one_of_the_same_name_replaces_the_built_in(ws):
    write(ws, "webinar.yaml", GOOD)
    replaced = GOOD.replace("webinar-follow-up", "tier1-pricing-visit").replace("[2]", "[1]")
    write(ws, "mine.yml", replaced)
    plays = load_plays(ws, PERSONAS)
    assert plays["webinar-follow-up"][1].endswith("webinar.yaml")
    assert plays["tier1-pricing-visit"][1].endswith("mine.yml")
    assert plays["tier1-pricing-visit"][0].steps[0].channel == "email"
    assert plays["surge-linkedin-email"][1] == "built-in"


@pytest.mark.parametrize(("change", "message"), [
    (("after: 1d", "after: tomorrow"), "steps.0.after: 'tomorrow' is not a delay"),
    (("channel: email", "channel: fax"), "steps.0.channel"),
    (("signal: engagement_spike", "signal: full_moon"), "trigger.signal"),
    (("tiers: [2]", "tiers: [4]"), "audience.tiers: tiers must be some of 1, 2, 3"),
    (("template: webinar_recap", "template: x, tiers: [1]"),
     "steps.0.tiers: tier(s) [1] are not in the audience's tiers [2]"),
    (("min_spike_pct: 80", "min_spike_pct: 80, colour: red"), "trigger.colour"),
    (("personas: [champion]", "personas: [astronaut]"), "unknown persona(s) ['astronaut']"),
    (("name: webinar-follow-up", "name: Webinar Follow Up"), "name: String should match"),
])  # fmt: skip
def test_a_wrong_play_file_is_refused_naming_the_file_and_the_field(ws, change, message):
    path = write(ws, "bad.yaml", GOOD.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_plays(ws, PERSONAS)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_the_same_name_twice_in_a_workspace_is_refused(ws):
    write(ws, "a.yaml", GOOD)
    write(ws, "b.yaml", GOOD)
    with pytest.raises(ConfigError, match="is also in"):
        load_plays(ws, PERSONAS)


def test_delays():
    assert delay("30m").total_seconds() == 1800
    assert delay("4h").total_seconds() == 4 * 3600
    assert delay(" 1.5d ").total_seconds() == 1.5 * 86400
    with pytest.raises(ValueError):
        delay("2 weeks")


def test_the_cli_lists_copies_and_validates(ws):
    runner = CliRunner()
    listed = runner.invoke(app, ["plays", "list", "-w", str(ws)])
    assert listed.exit_code == 0 and listed.output.count("built-in") == 5
    assert "key_page_visit" in listed.output and "intent_surge" in listed.output
    copied = runner.invoke(app, ["plays", "copy", "tier1-pricing-visit", "-w", str(ws)])
    assert copied.exit_code == 0 and (ws / "plays" / "tier1-pricing-visit.yaml").exists()
    again = runner.invoke(app, ["plays", "copy", "tier1-pricing-visit", "-w", str(ws)])
    assert again.exit_code != 0 and "exists already" in str(again.exception)
    ok = runner.invoke(app, ["plays", "validate", "-w", str(ws)])
    assert ok.exit_code == 0 and "5 plays valid (1 from the workspace" in ok.output
    with Abm.open(ws) as abm:
        assert abm.plays()["tier1-pricing-visit"][1].endswith("tier1-pricing-visit.yaml")
