"""Personalization: the variant of each page slot by ordered rules with fallbacks, answered by
the real app from memory, refreshed after a re-score and after a settings change, and swapped
into a real page by the snippet in Chromium."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import realtime_helpers as rt
from abmkit.api import create_app
from abmkit.config.realtime import PersonalizationSettings
from abmkit.content.personalize import Personalizer
from abmkit.content.settings import ContentSettings
from abmkit.resolve.visitors import AccountCard
from conftest import SCREENSHOTS, _free_port, served

DEFAULTS = {"headline": "Analytics for every team", "subheadline": "One place for your data.",
            "cta": "Learn more", "proof": "Used by data teams."}  # fmt: skip
AWARE_FINANCE = "{{ account.name }}: analytics your auditors trust"
RULES = {"defaults": DEFAULTS, "rules": [
    {"name": "aware-finance", "when": {"stage": ["Awareness"],
                                        "industry": ["financial services"]},
     "text": {"headline": AWARE_FINANCE}},
    {"name": "champions", "when": {"persona": ["champion"]},
     "text": {"cta": "Get the internal pitch"}},
    {"name": "tier1", "when": {"tier": [1]}, "template": "key_page_follow_up",
     "slots": ["headline", "subheadline"]},
]}  # fmt: skip


def card(**fields) -> AccountCard:
    base = {"account_id": "X1", "name": "Northwind Bank", "domain": "northwind.com",
            "industry": "Financial Services", "tier": 1, "buying_stage": "Awareness",
            "cluster_label": "", "top_topics": "data governance (71)"}  # fmt: skip
    return AccountCard(**(base | fields))


def chooser(rules: dict) -> Personalizer:
    return Personalizer(PersonalizationSettings.model_validate(rules), ContentSettings())


def texts(chosen) -> dict[str, tuple[str, str | None]]:
    return {slot: (v.text, v.rule) for slot, v in chosen.items()}


def test_each_slot_takes_the_first_rule_that_fills_it_else_its_default():
    p = chooser(RULES)
    chosen = texts(p.choose(card(), "champion"))
    assert chosen["headline"] == ("Northwind Bank: analytics your auditors trust",
                                  "aware-finance")  # fmt: skip
    assert chosen["cta"] == ("Get the internal pitch", "champions")
    assert chosen["subheadline"][1] == "tier1"  # the template's, for the slot it may fill
    assert "built around Northwind Bank" in chosen["subheadline"][0]
    assert chosen["proof"] == (DEFAULTS["proof"], None)
    other = texts(p.choose(card(tier=3, buying_stage="Decision"), None))
    assert other == {slot: (text, None) for slot, text in DEFAULTS.items()}
    assert texts(p.choose(None)) == {slot: (text, None) for slot, text in DEFAULTS.items()}


def test_a_rule_that_breaks_a_brand_rule_or_fails_to_render_is_passed_over():
    rules = {"defaults": DEFAULTS, "rules": [
        {"name": "hype", "text": {"headline": "A revolutionary platform for {{ account.name }}"}},
        {"name": "typo", "text": {"headline": "{{ account.nickname }} deserves better"}},
        {"name": "invented", "text": {"headline": "Save 37% at {{ account.name }}"}},
        {"name": "plain", "text": {"headline": "Built for {{ account.industry }} teams"}},
    ]}  # fmt: skip
    p = chooser(rules)
    assert texts(p.choose(card()))["headline"] == ("Built for Financial Services teams", "plain")
    assert p.passed_over == {"hype": 1, "typo": 1, "invented": 1}


def test_rules_are_checked_when_the_settings_are_read():
    with pytest.raises(ValueError, match="rule 'both'"):
        PersonalizationSettings.model_validate({"rules": [
            {"name": "both", "template": "surge_intro", "text": {"cta": "x"}}]})  # fmt: skip
    with pytest.raises(ValueError, match=r"text.headline"):
        PersonalizationSettings.model_validate({"rules": [
            {"name": "broken", "text": {"headline": "{{ account.name "}}]})  # fmt: skip
    with pytest.raises(ValueError, match=r"rules.0.text.sidebar"):
        PersonalizationSettings.model_validate({"rules": [
            {"name": "where", "text": {"sidebar": "x"}}]})  # fmt: skip


def test_the_sandbox_keeps_a_rule_from_reaching_python():
    rules = {"rules": [
        {"name": "escape", "text": {"headline": "{{ account.__class__.__mro__ }}"}},
        {"name": "safe", "text": {"headline": "Hello {{ account.name }}"}}]}  # fmt: skip
    assert texts(chooser(rules).choose(card()))["headline"] == ("Hello Northwind Bank", "safe")


# -- the endpoint --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    return rt.build(tmp_path_factory.mktemp("personalize"), {"personalization": RULES})


@pytest.fixture
def client(tmp_path, template) -> Iterator[TestClient]:
    ws = rt.copy(template, tmp_path / "ws")
    with TestClient(create_app(ws)) as c:
        yield c


def ask(client: TestClient, **params) -> dict:
    r = client.get("/v1/personalize", params={"site": rt.SITE, **params},
                   headers={"Origin": rt.ORIGIN})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == rt.ORIGIN
    assert r.headers["cache-control"] == "no-store"
    return r.json()


def test_a_known_visitor_sees_their_variants_and_an_unknown_one_the_defaults(client):
    abm = client.app.state.abm
    known = ask(client, ct=rt.token(abm, 1))  # Tier 1, Financial Services, a champion
    assert known["known"] is True
    assert known["slots"]["cta"] == "Get the internal pitch"
    assert known["slots"]["headline"] == "See Example Platform with your own data"
    assert ask(client, domain=rt.domain(3))["slots"]["cta"] == DEFAULTS["cta"]  # no persona
    assert ask(client) == {"slots": DEFAULTS, "known": False}


def test_variants_follow_a_re_score(client):
    """A Tier 2 finance account in Target is re-scored to Awareness by its first visit: its
    visitors see the Awareness variant as soon as the worker is done."""
    abm = client.app.state.abm
    before = ask(client, domain=rt.domain(21))
    assert before["slots"]["headline"] == DEFAULTS["headline"]
    rt.post(client, rt.event("https://www.seller.example/product", domain=rt.domain(21)))
    rt.wait_processed(abm)
    after = ask(client, domain=rt.domain(21))
    assert after["slots"]["headline"] == "Company 21: analytics your auditors trust"


def test_variants_follow_a_settings_change_without_a_restart(client):
    ws = client.app.state.abm.workspace.path
    assert ask(client, domain=rt.domain(4))["slots"]["headline"] != "Fresh for Technology"
    changed = {"defaults": DEFAULTS, "rules": [
        {"name": "fresh", "when": {"industry": ["Technology"]},
         "text": {"headline": "Fresh for {{ account.industry }}"}}]}  # fmt: skip
    rt.write_settings(ws, {"personalization": changed})
    rt.wait_for(lambda: ask(client, domain=rt.domain(4))["slots"]["headline"]
                == "Fresh for Technology")  # fmt: skip
    assert ask(client, domain=rt.domain(5))["slots"]["headline"] == DEFAULTS["headline"]


def test_a_browser_may_not_claim_an_ip(client):
    r = client.get("/v1/personalize", params={"site": rt.SITE, "ip": rt.ip(2)})
    assert r.status_code == 422 and r.json()["error"]["field"] == "ip"


# -- the snippet in a real browser -------------------------------------------------------------
PAGE = """<!doctype html>
<html><head><title>Seller</title>
<script async src="{api}/v1/snippet.js" data-site="{site}"></script></head>
<body><h1 data-abm-slot="headline">Our own headline</h1>
<p data-abm-slot="subheadline">Our own subheadline</p>
<a data-abm-slot="cta" href="#">Our own call</a>
<p id="untouched">Not a slot</p></body></html>"""


@pytest.fixture
def website(tmp_path) -> Iterator[str]:
    """A static site on 127.0.0.1 (another origin than the server's)."""
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.browser
def test_the_snippet_swaps_slots_and_keeps_the_known_contact_in_chromium(
    tmp_path, template, browser, website
):
    ws = rt.copy(template, tmp_path / "ws")
    rt.write_settings(ws, {"personalization": RULES, "server": {"sites": [
        {"key": rt.SITE, "origins": [website]}]}})  # fmt: skip
    app = create_app(ws)
    with served(app) as api:
        (tmp_path / "site" / "index.html").write_text(PAGE.format(api=api, site=rt.SITE))
        token = rt.token(app.state.abm, 1)
        context = browser.new_context()
        page = context.new_page()
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("http://127.0.0.1:")
                else route.abort()
            ),
        )
        page.goto(f"{website}/index.html?utm_source=email&abm_ct={token}")
        page.wait_for_function("document.querySelector('[data-abm-slot=cta]').textContent"
                               " === 'Get the internal pitch'")  # fmt: skip
        assert page.text_content("h1") == "See Example Platform with your own data"
        assert page.text_content("#untouched") == "Not a slot"
        assert "abm_ct" not in page.url and "utm_source=email" in page.url
        cookies = {c["name"]: c["value"] for c in context.cookies(website)}
        assert cookies["abm_ct"] == token  # first-party, on the website's own origin
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "snippet-personalized.png"))
        page.goto(f"{website}/index.html")  # the next page: the cookie still says who
        page.wait_for_function("document.querySelector('[data-abm-slot=cta]').textContent"
                               " === 'Get the internal pitch'")  # fmt: skip
        context.close()
        abm = app.state.abm
        rt.wait_for(lambda: len(rt.touches(app)) == 2)
        rt.wait_processed(abm)
        views = rt.touches(app)
        assert {(t["account_id"], t["contact_id"]) for t in views} == {("A01", "C010")}
        assert all("abm_ct" not in t["url"] for t in views)
