"""Slack incoming-webhook bodies: Slack's markup characters escaped, facts as fields."""

from __future__ import annotations

import json

from abmkit.act.slack import alert, escape


def test_markup_characters_are_escaped():
    assert escape("R&D <team> > ops") == "R&amp;D &lt;team&gt; &gt; ops"


def test_an_alert_has_a_fallback_text_a_header_its_facts_and_a_link():
    body = alert("Acme: pricing page visit, Tier 1", "3 visits to /pricing in 2 days <new>",
                 {"Owner": "Dana", "Priority": 91.5, "Stage": "Decision", "Empty": ""},
                 link="https://abm.example/accounts/acme.com")  # fmt: skip
    assert body["text"] == (
        "Acme: pricing page visit, Tier 1: 3 visits to /pricing in 2 days &lt;new&gt;"
    )
    header, reason, facts, link = body["blocks"]
    assert header["text"] == {"type": "plain_text", "text": "Acme: pricing page visit, Tier 1"}
    assert reason["text"]["text"] == "3 visits to /pricing in 2 days &lt;new&gt;"
    assert [f["text"] for f in facts["fields"]] == ["*Owner*\nDana", "*Priority*\n91.5",
                                                    "*Stage*\nDecision"]  # fmt: skip
    assert link["text"]["text"] == "<https://abm.example/accounts/acme.com|Open the account>"
    json.dumps(body)  # plain JSON, as the webhook takes it


def test_many_facts_are_split_into_sections_of_ten():
    body = alert("t", "r", {f"k{i}": i for i in range(23)})
    sections = [b for b in body["blocks"] if "fields" in b]
    assert [len(s["fields"]) for s in sections] == [10, 10, 3]
