"""Routing a chat or form hand-off through the real app: the account's owner or the fallback,
the SLA of its tier, and a first line from what the account did lately."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import realtime_helpers as rt
from abmkit.api import create_app
from abmkit.auth import create_key

ROUTING = {"routing": {"fallback_owner": "sdr-queue", "sla_hours": {1: 2.0, 2: 6.0, 3: 24.0},
                       "untiered_sla_hours": 72.0}}  # fmt: skip


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    return rt.build(tmp_path_factory.mktemp("routing"), ROUTING)


@pytest.fixture
def client(tmp_path, template) -> Iterator[TestClient]:
    ws = rt.copy(template, tmp_path / "ws")
    with TestClient(create_app(ws)) as c:
        yield c


def route(client: TestClient, **body) -> dict:
    r = client.post(f"/v1/route?site={rt.SITE}", json=body, headers={"Origin": rt.ORIGIN})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == rt.ORIGIN
    return r.json()


def due_in(answer: dict) -> float:
    due = dt.datetime.fromisoformat(answer["respond_by"].removesuffix("Z"))
    return (due - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds() / 3600


def test_an_owned_account_goes_to_its_owner_with_its_tiers_sla(client):
    answer = route(client, email="dana3@acct03-test.com")
    assert (answer["owner"], answer["fallback"], answer["tier"]) == ("Jordan Lee", False, 1)
    assert (answer["account_id"], answer["matched_by"]) == ("A03", "email")
    assert answer["sla_hours"] == 2.0 and 1.9 < due_in(answer) <= 2.0
    assert answer["reason"].startswith("Tier 1; Target stage")
    assert answer["reason"].endswith("routed to the account's owner")


def test_an_account_without_an_owner_goes_to_the_fallback(client):
    answer = route(client, domain=rt.domain(24))
    assert (answer["owner"], answer["fallback"], answer["tier"]) == ("sdr-queue", True, 2)
    assert answer["sla_hours"] == 6.0
    assert "no owner on the account: sdr-queue" in answer["reason"]


def test_an_unknown_visitor_goes_to_the_fallback_with_the_untiered_sla(client):
    answer = route(client, email="someone@gmail.com")
    assert (answer["owner"], answer["fallback"], answer["account_id"]) == ("sdr-queue", True,
                                                                           None)  # fmt: skip
    assert answer["sla_hours"] == 72.0 and answer["matched_by"] is None
    assert answer["first_line"] == ("Thanks for getting in touch: what would you like to know "
                                    "about Example Platform?")  # fmt: skip


def test_the_first_line_offers_what_the_key_pages_point_to_without_saying_they_were_seen(client):
    abm = client.app.state.abm
    n = 6
    for page in ("/pricing", "/pricing", "/pricing/teams", "/demo", "/blog/post"):
        rt.post(client, rt.event(f"https://www.seller.example{page}", domain=rt.domain(n)))
    rt.wait_processed(abm)
    answer = route(client, ct=rt.token(abm, n))
    assert answer["matched_by"] == "contact"
    assert answer["first_line"] == ("Happy to take you through pricing and a demo for "
                                    "Company 06: what matters most?")  # fmt: skip
    assert "visit" not in answer["first_line"].lower()
    assert [(p["path"], p["views"]) for p in answer["key_pages"]] == [
        ("/pricing", 2), ("/demo", 1), ("/pricing/teams", 1)]  # fmt: skip
    assert "key pages in the last 14 days: /pricing ×2, /demo ×1, /pricing/teams ×1" in (
        answer["reason"])  # fmt: skip
    assert answer["buying_stage"] != "Target"  # the visits moved it (re-scored)


def test_a_server_routes_by_the_visitors_ip_with_an_api_key(client):
    plaintext, _ = create_key(client.app.state.abm.app_store, "chat backend", ["events:write"])
    r = client.post("/v1/route", json={"ip": rt.ip(12)},
                    headers={"Authorization": f"Bearer {plaintext}"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["account_id"], r.json()["matched_by"]) == ("A12", "ip")
    assert "access-control-allow-origin" not in r.headers


def test_bad_hand_offs_are_refused_naming_the_field(client):
    r = client.post(f"/v1/route?site={rt.SITE}", json={"phone": "555"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "phone"
    r = client.post(f"/v1/route?site={rt.SITE}", json={"ip": rt.ip(2)})
    assert r.status_code == 422 and r.json()["error"]["field"] == "ip"
