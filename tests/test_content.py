"""Content for the agent's actions: every built-in template renders for every tier, persona and
buying stage and keeps the brand rules; a workspace template replaces a built-in; a missing fact
is an error naming the template and the fact; each brand rule is caught; and the LLM path, run
against a small OpenAI-compatible server on 127.0.0.1, is used only when its output keeps the
rules."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from abmkit.content import (
    FIELDS,
    ContentError,
    ContentSettings,
    Draft,
    available,
    check,
    kind_for_channel,
    render,
    write,
)
from abmkit.content.brand import fact_numbers, numbers
from abmkit.content.settings import OPT_OUT_LINE, BrandSettings, LlmSettings
from abmkit.content.templates import context
from abmkit.decide.plays import BUYING_STAGES, library

SETTINGS = ContentSettings()
BRAND = SETTINGS.brand
KINDS = tuple(FIELDS)
TEMPLATES = (
    "surge_intro",
    "surge_follow_up",
    "key_page_follow_up",
    "executive_note",
    "stalled_follow_up",
    "expansion_case_study",
)
PERSONAS = ("economic_buyer", "champion", "technical_evaluator", "end_user", "blocker", None)
STAGES = (*BUYING_STAGES, None)

ACCOUNTS = [
    {
        "name": "Northwind Payments",
        "domain": "northwind.com",
        "industry": "Financial Services",
        "employees": 850,
        "country": "US",
        "cluster_label": "Fintech · 200–1k employees · Snowflake",
        "journey_stage": "Engaged",
        "key_page_visits": 3,
        "fit_bucket": "Strong",
        "top_topics": "Customer Data Platform, Data Warehousing, Identity Resolution",
    },
    {
        "name": "Helios Health Systems",
        "domain": "helioshealth.org",
        "industry": "Hospitals",
        "employees": 12_000,
        "country": "DE",
        "cluster_label": "Healthcare · 10k+ employees",
        "journey_stage": "Aware",
        "key_page_visits": 0,
        "fit_bucket": "Moderate",
        "top_topics": "Marketing Automation",
    },
    {
        "name": "Quillo",
        "domain": "quillo.io",
        "industry": None,
        "employees": None,
        "country": None,
        "cluster_label": None,
        "journey_stage": None,
        "key_page_visits": None,
        "fit_bucket": None,
        "top_topics": "",
    },
]
CONTACTS = {
    "economic_buyer": ("Dana", "Lee", "VP Marketing"),
    "champion": ("Priya", "Raman", "Director of Demand Generation"),
    "technical_evaluator": ("Tomasz", "Nowak", "Data Engineer"),
    "end_user": ("Ana", "Souza", "Marketing Operations Specialist"),
    "blocker": ("Frank", "Miller", "Chief Information Security Officer"),
    None: ("Sam", "Okafor", "Consultant"),
}


def facts_for(account: dict, tier: int, persona: str | None, stage: str | None) -> dict:
    first, last, title = CONTACTS[persona]
    return {
        "account": {**account, "tier": tier, "buying_stage": stage},
        "contact": {"first_name": first, "last_name": last, "title": title, "persona": persona},
        "persona": persona,
        "reason": f"{account['name']} visited the pricing page 3 times in the last hour.",
        "sla_hours": 4.0,
        "stalled_days": 30,
    }


def problems_of(draft: Draft, facts: dict, settings: ContentSettings = SETTINGS) -> list[str]:
    """The brand rules `draft` breaks, its facts being what the template saw (seller included)."""
    return check(draft, context(facts, settings), settings.brand)


# -- the built-in templates ---------------------------------------------------------------------
def test_every_template_exists_for_every_kind():
    for kind in KINDS:
        assert available(kind, SETTINGS) == sorted(TEMPLATES), kind


def test_every_template_of_the_play_library_exists_for_its_channel():
    steps = [s for play in library().values() for s in play.steps if s.template]
    assert steps, "the built-in plays name templates"
    for step in steps:
        facts = facts_for(ACCOUNTS[0], 1, "economic_buyer", "Decision")
        draft = render(kind_for_channel(step.channel), step.template, facts, SETTINGS)
        assert draft.template == step.template


@pytest.mark.parametrize(("kind", "template"), list(itertools.product(KINDS, TEMPLATES)))
def test_a_template_renders_for_every_tier_persona_and_stage_within_the_brand_rules(kind, template):
    for account, tier, persona, stage in itertools.product(ACCOUNTS, (1, 2, 3), PERSONAS, STAGES):
        facts = facts_for(account, tier, persona, stage)
        draft = render(kind, template, facts, SETTINGS)
        where = f"{kind}/{template}, Tier {tier}, {persona}, {stage}, {account['name']}"
        assert draft.source == "template" and draft.problems == ()
        assert all(draft.texts().values()), where
        assert problems_of(draft, facts) == [], where
        assert "None" not in " ".join(draft.texts().values()), where


def test_the_email_varies_by_tier_persona_and_stage():
    def email(tier=2, persona="economic_buyer", stage="Consideration", template="surge_intro"):
        return render("email", template, facts_for(ACCOUNTS[0], tier, persona, stage), SETTINGS)

    assert "Northwind Payments" in email(tier=1).subject
    assert "Fintech" in email(tier=2).subject and "Northwind" not in email(tier=2).subject
    assert "Fintech · 200–1k employees · Snowflake" in email(tier=2).body
    assert len(email(tier=3).body.split()) < len(email(tier=1).body.split())
    bodies = {p: email(persona=p).body for p in PERSONAS}
    assert len(set(bodies.values())) == len(PERSONAS)
    assert "business case" in bodies["economic_buyer"]
    assert (
        "API" in bodies["technical_evaluator"] and "setup guides" in bodies["technical_evaluator"]
    )
    assert "security overview" in bodies["blocker"]
    assert "pilot" in email(stage="Decision").body and "pilot" not in email(stage="Awareness").body
    assert "working session" in email(tier=1, stage="Decision").body
    assert "rollout plan" in email(stage="Purchase").body
    assert email(template="executive_note").body != email(template="surge_intro").body


def test_an_email_greets_the_contact_signs_off_and_ends_with_the_required_lines():
    settings = ContentSettings(
        sender_name="Robin Park",
        seller_name="Lumen Data",
        brand=BrandSettings(required_lines=["Line one.", OPT_OUT_LINE]),
    )
    draft = render(
        "email", "surge_intro", facts_for(ACCOUNTS[0], 1, "champion", "Awareness"), settings
    )
    assert draft.body.startswith("Hi Priya,\n\n")
    assert "Robin Park\nLumen Data" in draft.body
    assert draft.body.endswith(f"Line one.\n\n{OPT_OUT_LINE}")
    assert "\n\n\n" not in draft.body


def test_ads_and_landing_variants_follow_tier_cluster_persona_and_stage():
    def ad(tier, stage="Decision"):
        return render("ad", "surge_intro", facts_for(ACCOUNTS[0], tier, None, stage), SETTINGS)

    assert "Northwind Payments" in ad(1).headline
    assert "Fintech" in ad(2).headline and "Northwind" not in ad(2).headline
    assert ad(2, "Decision").cta == "Book a demo" and ad(2, "Awareness").cta == "Read the overview"
    proofs = {
        p: render(
            "landing", "surge_intro", facts_for(ACCOUNTS[0], 2, p, "Decision"), SETTINGS
        ).proof
        for p in PERSONAS
    }
    assert len(set(proofs.values())) == len(PERSONAS)
    given_proof = {**facts_for(ACCOUNTS[0], 2, None, None), "proof_point": "Used by Acme."}
    assert render("landing", "surge_intro", given_proof, SETTINGS).proof == "Used by Acme."


def test_tasks_and_alerts_carry_the_reason_and_the_sla():
    facts = facts_for(ACCOUNTS[0], 1, "economic_buyer", "Decision")
    task = render("task", "key_page_follow_up", facts, SETTINGS)
    assert task.subject.endswith("(within 4 hours)")
    assert f"Why: {facts['reason']}" in task.body and "Due: within 4 hours." in task.body
    assert "Contact: Dana Lee, VP Marketing (economic buyer)" in task.body
    alert = render("owner_alert", "key_page_follow_up", facts, SETTINGS)
    assert alert.subject == "Northwind Payments: key-page visit, Tier 1"
    assert alert.body.startswith(facts["reason"]) and "Act within 4 hours." in alert.body
    without = {k: v for k, v in facts.items() if k not in {"sla_hours", "contact"}}
    assert "within" not in render("task", "key_page_follow_up", without, SETTINGS).body
    assert (
        "1 hour." in render("owner_alert", "surge_intro", {**facts, "sla_hours": 1}, SETTINGS).body
    )


NAMES = st.text(st.characters(categories=["L", "N"], max_codepoint=0x17F), min_size=1, max_size=12)
TOPICS = st.lists(
    st.sampled_from(
        [
            "Data Warehousing",
            "ABM",
            "Web3 Payments",
            "SOC 2",
            "ISO 27001",
            "Customer Data Platform",
            "Marketing Automation",
        ]
    ),
    max_size=4,
)


@given(
    name=st.lists(NAMES, min_size=1, max_size=3).map(" ".join),
    employees=st.none() | st.integers(1, 500_000),
    visits=st.none() | st.integers(0, 10_000),
    topics=TOPICS,
    label=st.none() | st.sampled_from(["Fintech · 200–1k employees · Snowflake", "Retail · 50+"]),
    tier=st.sampled_from([1, 2, 3]),
    persona=st.sampled_from(PERSONAS),
    stage=st.sampled_from(STAGES),
    sla=st.none() | st.floats(0.25, 72).map(lambda h: round(h, 2)),
)
def test_whatever_the_facts_the_templates_write_no_number_of_their_own(
    name, employees, visits, topics, label, tier, persona, stage, sla
):
    account = {
        "name": name,
        "employees": employees,
        "key_page_visits": visits,
        "tier": tier,
        "top_topics": ", ".join(topics),
        "cluster_label": label,
        "buying_stage": stage,
    }
    facts = {
        "account": account,
        "contact": {"first_name": name.split()[0], "persona": persona},
        "reason": f"{visits} key-page visits",
        "sla_hours": sla,
    }
    for kind, template in itertools.product(KINDS, TEMPLATES):
        draft = render(kind, template, facts, SETTINGS)
        assert [p for p in problems_of(draft, facts) if p.startswith("number")] == []


# -- workspace templates ------------------------------------------------------------------------
def test_a_workspace_template_replaces_the_built_in_of_the_same_path(tmp_path):
    folder = tmp_path / "templates" / "email"
    folder.mkdir(parents=True)
    (folder / "surge_intro.j2").write_text(
        "[subject]\nHello {{ account.name }}\n[body]\nHi {{ contact.first_name }}, from "
        "{{ seller.sender_name }}.\n",
        encoding="utf-8",
    )
    facts = facts_for(ACCOUNTS[0], 2, "champion", "Awareness")
    mine = render("email", "surge_intro", facts, SETTINGS, workspace=tmp_path)
    assert (mine.subject, mine.body) == ("Hello Northwind Payments", "Hi Priya, from Alex Rivera.")
    assert render("email", "surge_intro", facts, SETTINGS) != mine  # without the workspace
    other = render("email", "surge_follow_up", facts, SETTINGS, workspace=tmp_path)
    assert other == render("email", "surge_follow_up", facts, SETTINGS)


def test_a_workspace_template_may_extend_the_built_in_it_replaces(tmp_path):
    (tmp_path / "copy" / "ad").mkdir(parents=True)
    (tmp_path / "copy" / "ad" / "surge_intro.j2").write_text(
        '{% extends "builtin/ad/surge_intro.j2" %}{% block cta %}Talk to us{% endblock %}',
        encoding="utf-8",
    )
    settings = ContentSettings(templates_dir=str(tmp_path / "copy"))  # absolute path
    facts = facts_for(ACCOUNTS[0], 2, None, "Decision")
    built_in = render("ad", "surge_intro", facts, SETTINGS)
    mine = render("ad", "surge_intro", facts, settings, workspace=tmp_path / "elsewhere")
    assert mine.cta == "Talk to us" and mine.headline == built_in.headline


def test_a_workspace_partial_changes_every_built_in_that_uses_it(tmp_path):
    (tmp_path / "templates" / "email").mkdir(parents=True)
    (tmp_path / "templates" / "email" / "_base.j2").write_text(
        '{% extends "builtin/email/_base.j2" %}\n'
        "{% block signoff %}Cheers, {{ seller.sender_name }}{% endblock %}\n",
        encoding="utf-8",
    )
    facts = facts_for(ACCOUNTS[0], 1, "champion", "Awareness")
    for template in TEMPLATES:
        draft = render("email", template, facts, SETTINGS, workspace=tmp_path)
        assert f"Cheers, Alex Rivera\n\n{OPT_OUT_LINE}" in draft.body
        assert draft.subject == render("email", template, facts, SETTINGS).subject


def test_a_new_workspace_template_is_listed(tmp_path):
    (tmp_path / "templates" / "email").mkdir(parents=True)
    (tmp_path / "templates" / "email" / "webinar_recap.j2").write_text(
        "[subject]\nRecap\n[body]\nThanks for joining.\n", encoding="utf-8"
    )
    assert "webinar_recap" in available("email", SETTINGS, tmp_path)
    assert "webinar_recap" not in available("email", SETTINGS)


# -- errors ---------------------------------------------------------------------------------------
def test_a_missing_fact_names_the_template_and_the_fact():
    facts = facts_for(ACCOUNTS[0], 1, "champion", "Awareness")
    without_contact = {k: v for k, v in facts.items() if k != "contact"}
    with pytest.raises(
        ContentError, match=r"template email/surge_intro\.j2.*'contact' is undefined"
    ):
        render("email", "surge_intro", without_contact, SETTINGS)
    nameless = {**facts, "contact": {"persona": "champion"}}
    with pytest.raises(ContentError) as caught:
        render("email", "surge_follow_up", nameless, SETTINGS)
    message = str(caught.value)
    assert message.startswith("template email/surge_follow_up.j2 (at builtin/email/_base.j2, line")
    assert message.endswith("'contact.first_name' is undefined")
    no_reason = {k: v for k, v in facts.items() if k != "reason"}
    with pytest.raises(ContentError, match=r"task/stalled_follow_up\.j2.*'reason' is undefined"):
        render("task", "stalled_follow_up", no_reason, SETTINGS)


def test_an_unknown_template_or_kind_is_a_clear_error(tmp_path):
    facts = facts_for(ACCOUNTS[0], 1, "champion", "Awareness")
    with pytest.raises(
        ContentError,
        match=r"no template email/webinar\.j2; email templates: "
        r"executive_note, expansion_case_study",
    ):
        render("email", "webinar", facts, SETTINGS)
    with pytest.raises(ContentError, match="unknown content kind 'fax'"):
        render("fax", "surge_intro", facts, SETTINGS)  # type: ignore[arg-type]
    with pytest.raises(ContentError, match="not a template name"):
        render("email", "_base", facts, SETTINGS)
    with pytest.raises(ContentError, match="channel 'slack' carries no content"):
        kind_for_channel("slack")


def test_a_broken_workspace_template_is_named_with_its_line(tmp_path):
    (tmp_path / "templates" / "email").mkdir(parents=True)
    (tmp_path / "templates" / "email" / "surge_intro.j2").write_text(
        "[subject]\nHi\n[body]\n{% if account.name %}\nno end\n", encoding="utf-8"
    )
    with pytest.raises(ContentError, match=r"surge_intro\.j2, line \d+: Unexpected end"):
        render(
            "email",
            "surge_intro",
            facts_for(ACCOUNTS[0], 1, None, None),
            SETTINGS,
            workspace=tmp_path,
        )
    (tmp_path / "templates" / "email" / "surge_intro.j2").write_text("[body]\nNo subject\n")
    with pytest.raises(ContentError, match=r"empty or missing field\(s\) \['subject'\]"):
        render(
            "email",
            "surge_intro",
            facts_for(ACCOUNTS[0], 1, None, None),
            SETTINGS,
            workspace=tmp_path,
        )


# -- brand rules ----------------------------------------------------------------------------------
GOOD_BODY = f"Hi Dana,\n\nA short note.\n\nAlex\n\n{OPT_OUT_LINE}"
FACTS = {
    "account": {
        "name": "Northwind",
        "employees": 1000,
        "key_page_visits": 3,
        "cluster_label": "Fintech · 200–1k employees",
    },
    "growth": 0.2,
    "share": "20%",
}


def email(subject: str = "A short note", body: str = GOOD_BODY) -> Draft:
    return Draft.of("email", "surge_intro", {"subject": subject, "body": body})


def test_a_clean_email_keeps_every_rule():
    assert check(email(), FACTS, BRAND) == []


def test_a_banned_phrase_is_caught_in_any_field_whatever_its_case():
    assert check(email(subject="A Game-Changer for you"), FACTS, BRAND) == [
        "banned phrase 'game-changer' in subject"
    ]
    ad = Draft.of(
        "ad", "surge_intro", {"headline": "Pure synergy", "intro": "Guaranteed.", "cta": "Go"}
    )
    assert check(ad, FACTS, BRAND) == [
        "banned phrase 'synergy' in headline",
        "banned phrase 'guaranteed' in intro",
    ]
    assert check(email(subject="Synergyless"), FACTS, BRAND) == []  # whole words only


def test_too_long_a_subject_body_or_headline_is_caught():
    assert check(email(subject="x" * 79), FACTS, BRAND) == [
        "subject has 79 characters, more than 78"
    ]
    assert check(email(subject="x" * 78), FACTS, BRAND) == []
    long_body = GOOD_BODY.replace("A short note.", "word " * 170)
    assert check(email(body=long_body), FACTS, BRAND) == ["body has 186 words, more than 180"]
    ad = Draft.of("ad", "t", {"headline": "h" * 71, "intro": "i", "cta": "c"})
    assert check(ad, FACTS, BRAND) == ["headline has 71 characters, more than 70"]
    assert (
        check(Draft.of("ad", "t", {"headline": "h" * 70, "intro": "i", "cta": "c"}), FACTS, BRAND)
        == []
    )


def test_a_missing_required_line_is_caught_and_line_breaks_inside_it_do_not_matter():
    assert check(email(body="Hi Dana,\n\nA short note."), FACTS, BRAND) == [
        f"body lacks the required line {OPT_OUT_LINE!r}"
    ]
    wrapped = GOOD_BODY.replace("reply 'no' and", "reply 'no'\nand")
    assert check(email(body=wrapped), FACTS, BRAND) == []
    task = Draft.of("task", "t", {"subject": "Call", "body": "Call them."})
    assert check(task, FACTS, BRAND) == []  # required lines are for e-mails


def test_an_invented_number_is_caught_and_a_fact_is_not():
    body = GOOD_BODY.replace("A short note.", "Your 1,000 people, 3 visits, 20% and 200 more.")
    assert check(email(body=body), FACTS, BRAND) == []
    invented = GOOD_BODY.replace("A short note.", "Teams save 37% and 12.5 hours in Q3 (B2B).")
    assert check(email(body=invented), FACTS, BRAND) == [
        "number 37% in body is not among the facts",
        "number 12.5 in body is not among the facts",
    ]
    off = BRAND.model_copy(update={"no_invented_numbers": False})
    assert check(email(body=invented), FACTS, off) == []


def test_numbers_are_read_as_written_and_compared_by_value():
    assert numbers("1,000 users, 12.5 h, 20%, $5M, B2B, Q3, v2.0, acme2.com, 2024.") == [
        "1,000",
        "12.5",
        "20%",
        "5",
        "2024",
    ]
    found = fact_numbers({"a": [1000, {"b": "12.50 and 3%"}], "flag": True, "none": None})
    assert found == fact_numbers({"x": "1,000 12.5 3"})


# -- the LLM ---------------------------------------------------------------------------------------
@dataclass
class FakeLlm:
    """A small HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol: it
    stands in for an LLM provider. It answers with `content` (as the assistant's message), or
    with `status` when that is not 200, after `delay` seconds, and records every request."""

    content: str = "{}"
    status: int = 200
    delay: float = 0.0
    requests: list[dict] = field(default_factory=list)
    url: str = ""

    def reply_with(self, **fields: str) -> None:
        self.content = json.dumps(fields)


def _handler(llm: FakeLlm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            llm.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            time.sleep(llm.delay)
            reply = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": llm.content},
                    }
                ],
            }
            data = json.dumps(reply if llm.status == 200 else {"error": "boom"}).encode()
            try:
                self.send_response(llm.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, format: str, *args: typing.Any) -> None:
            pass

    return Handler


@pytest.fixture
def llm() -> Iterator[FakeLlm]:
    fake = FakeLlm()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield fake
    server.shutdown()
    server.server_close()


def llm_settings(llm: FakeLlm, **changes: typing.Any) -> ContentSettings:
    return ContentSettings.model_validate(
        {"llm": {"enabled": True, "base_url": llm.url, "model": "copy-writer-7b", **changes}}
    )


SURGE = facts_for(ACCOUNTS[0], 1, "economic_buyer", "Decision")
GOOD = f"Hi Dana,\n\nNorthwind Payments and its 3 key-page visits: a pilot?\n\n{OPT_OUT_LINE}"


def test_a_good_reply_is_used(llm, monkeypatch):
    monkeypatch.delenv("ABM_SECRET_LLM_API_KEY", raising=False)
    llm.reply_with(subject="A pilot for Northwind Payments", body=GOOD)
    draft = write("email", "surge_intro", SURGE, llm_settings(llm))
    assert (draft.source, draft.subject, draft.body, draft.problems) == (
        "llm",
        "A pilot for Northwind Payments",
        GOOD,
        (),
    )
    assert not draft.fell_back and draft.template == "surge_intro"


def test_a_reply_in_a_code_fence_with_words_around_it_is_used(llm):
    llm.content = (
        "```json\n"
        + json.dumps(
            {
                "headline": "Northwind, meet " + SETTINGS.product,
                "intro": "Pricing and a demo.",
                "cta": "Book a demo",
            }
        )
        + "\n```"
    )
    draft = write("ad", "key_page_follow_up", SURGE, llm_settings(llm))
    assert (draft.source, draft.cta) == ("llm", "Book a demo")
    llm.content = 'Here it is: {"body": "Dear Dana,\\n\\nThank you."} Hope it helps!'
    assert (
        write("letter", "surge_intro", SURGE, llm_settings(llm)).body == "Dear Dana,\n\nThank you."
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (GOOD.replace("3 key-page", "37 key-page"), "number 37 in body is not among the facts"),
        (GOOD.replace("a pilot?", "a game-changer?"), "banned phrase 'game-changer' in body"),
        (GOOD.replace(OPT_OUT_LINE, ""), f"body lacks the required line {OPT_OUT_LINE!r}"),
    ],
)
def test_a_reply_that_breaks_a_brand_rule_falls_back_to_the_template(llm, body, problem):
    llm.reply_with(subject="A pilot", body=body)
    draft = write("email", "surge_intro", SURGE, llm_settings(llm))
    assert draft == replace(render("email", "surge_intro", SURGE, SETTINGS), problems=(problem,))
    assert draft.source == "template" and draft.fell_back and len(llm.requests) == 1


def test_a_number_of_the_template_draft_may_be_kept(llm):
    facts = {**SURGE, "stalled_days": 45}
    llm.reply_with(
        subject="Still a priority?", body=f"Hi Dana,\n\n45 days on: still on?\n\n{OPT_OUT_LINE}"
    )
    assert write("email", "executive_note", facts, llm_settings(llm)).source == "llm"


def test_a_slow_server_falls_back_after_the_timeout(llm):
    llm.delay, llm.content = 2.0, json.dumps({"subject": "Late", "body": GOOD})
    started = time.monotonic()
    draft = write("email", "surge_intro", SURGE, llm_settings(llm, timeout_s=0.3))
    assert time.monotonic() - started < 1.5
    assert draft.source == "template" and draft.problems == ("LLM: no reply within 0.3 s",)
    assert draft.subject == render("email", "surge_intro", SURGE, SETTINGS).subject


def test_a_server_error_falls_back(llm):
    llm.status = 500
    draft = write("task", "key_page_follow_up", SURGE, llm_settings(llm))
    assert draft.source == "template"
    assert draft.problems == (f"LLM: HTTP 500 from {llm.url}/chat/completions",)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("Sure! Here is a great e-mail for Dana.", "no JSON object in the reply"),
        ('{"subject": "Hi", "body": }', "the JSON does not parse"),
        ('{"subject": "Hi"}', "no 'body' text in the reply"),
        ('{"subject": "Hi", "body": ["a", "b"]}', "no 'body' text in the reply"),
    ],
)
def test_an_unparsable_reply_falls_back(llm, content, problem):
    llm.content = content
    draft = write("email", "surge_intro", SURGE, llm_settings(llm))
    assert draft.source == "template" and len(draft.problems) == 1
    assert draft.problems[0].startswith(f"LLM: unusable reply: {problem}")


def test_an_unreachable_server_falls_back(llm):
    settings = llm_settings(llm).model_copy(deep=True)
    settings.llm.base_url = "http://127.0.0.1:9/v1"  # the discard port: nothing listens
    draft = write("email", "surge_intro", SURGE, settings)
    assert draft.source == "template" and draft.problems[0].startswith("LLM: request failed")


def test_the_request_carries_the_key_the_model_the_brand_rules_the_facts_and_the_draft(
    llm, monkeypatch
):
    monkeypatch.setenv("ABM_SECRET_LLM_API_KEY", "sk-test-123")
    llm.reply_with(subject="A pilot for Northwind Payments", body=GOOD)
    settings = llm_settings(llm, max_tokens=321, temperature=0.1)
    write("email", "surge_intro", SURGE, settings)
    (sent,) = llm.requests
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == "Bearer sk-test-123"
    body = sent["body"]
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("copy-writer-7b", 321, 0.1)
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    for rule in [
        "synergy",
        "game-changer",
        "at most 78 characters",
        "at most 180 words",
        OPT_OUT_LINE,
        "no number that does not appear",
        "subject, body",
    ]:
        assert rule in system["content"], rule
    sent_facts = json.loads(user["content"])
    assert sent_facts["facts"]["account"]["name"] == "Northwind Payments"
    assert sent_facts["facts"]["seller"]["product"] == SETTINGS.product
    assert sent_facts["draft"] == render("email", "surge_intro", SURGE, SETTINGS).texts()


def test_without_a_key_no_authorization_header_is_sent(llm, monkeypatch):
    monkeypatch.delenv("ABM_SECRET_LLM_API_KEY", raising=False)
    llm.reply_with(subject="A pilot", body=GOOD)
    write("email", "surge_intro", SURGE, llm_settings(llm))
    assert "Authorization" not in llm.requests[0]["headers"]


def test_a_given_client_is_used_with_the_timeout(llm):
    llm.reply_with(headline="Northwind Payments", intro="Pricing.", cta="Book a demo")
    with httpx.Client(headers={"X-Trace": "abc"}) as client:
        draft = write("ad", "surge_intro", SURGE, llm_settings(llm), client=client)
    assert draft.source == "llm" and llm.requests[0]["headers"]["X-Trace"] == "abc"


def test_with_the_llm_off_nothing_is_sent(llm):
    settings = llm_settings(llm).model_copy(deep=True)
    settings.llm.enabled = False
    draft = write("email", "surge_intro", SURGE, settings)
    assert draft == render("email", "surge_intro", SURGE, SETTINGS) and llm.requests == []


# -- settings -------------------------------------------------------------------------------------
def _undocumented(model: type[BaseModel], prefix: str = "") -> list[str]:
    missing = []
    for name, info in model.model_fields.items():
        if not (info.description or "").strip():
            missing.append(prefix + name)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            missing += _undocumented(info.annotation, f"{prefix}{name}.")
    return missing


def test_every_content_setting_is_documented_and_the_key_is_not_a_setting():
    assert _undocumented(ContentSettings) == []
    assert not [name for name in LlmSettings.model_fields if "key" in name]
    with pytest.raises(ValueError, match="api_key"):
        ContentSettings.model_validate({"llm": {"api_key": "sk-in-a-file"}})


DOCS = Path(__file__).resolve().parents[1] / "docs" / "content.md"


def test_the_docs_name_every_template_kind_and_setting():
    text = DOCS.read_text("utf-8")
    names = [
        *TEMPLATES,
        *KINDS,
        "ABM_SECRET_LLM_API_KEY",
        *ContentSettings.model_fields,
        *(f"brand.{n}" for n in BrandSettings.model_fields),
        *(f"llm.{n}" for n in LlmSettings.model_fields),
    ]
    assert [name for name in names if f"`{name}`" not in text] == []


def test_the_docs_example_runs():
    blocks = re.findall(r"^```python\n(.*?)^```", DOCS.read_text("utf-8"), re.DOTALL | re.M)
    assert blocks
    for block in blocks:
        scope: dict = {}
        exec(compile(block, str(DOCS), "exec"), scope)
        assert scope["draft"].source == "template" and scope["draft"].subject
