"""The REST API v1 over the real app and a real demo workspace (700 simulated accounts, the
agent's first pass, a DuckDB warehouse and a SQLite application store): accounts, actions and
their reviews, plays and goals, models, reports, settings — and who may see what."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from abmkit.api import create_app
from abmkit.app import Abm
from abmkit.auth import create_key
from abmkit.auth.roles import PERMISSIONS
from abmkit.cli import app as cli
from abmkit.decide import inbox
from abmkit.measure.report import SECTIONS
from abmkit.score.views import count_accounts
from abmkit.store.models import Action, AuditEvent, ModelVersion
from conftest import PASSWORD, ROLE_EMAILS, Server

ERROR_KEYS = {"status", "code", "message", "field", "problems"}


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    return body["error"]


def sales_owner(ws: Path) -> str:
    with Abm.open(ws) as abm:
        top = abm.accounts(limit=1).to_pylist()[0]["account_id"]
        return str(abm.account(top).account["owner"])


def owned(ws: Path, owner: str) -> set[str]:
    with Abm.open(ws) as abm:
        acc = abm.warehouse.table("accounts")
        rows = acc.filter(acc.owner == owner).select("account_id").to_pyarrow()
    return set(rows["account_id"].to_pylist())


def stored_action(ws: Path, action_id: str) -> Action:
    with Abm.open(ws) as abm:
        return inbox.get(abm.app_store, action_id)


def audit_events(ws: Path, action: str) -> list[AuditEvent]:
    with Abm.open(ws) as abm, Session(abm.app_store.engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def key_client(server: Server, ws: Path, scopes: list[str], *, name: str = "crm sync",
               owner: str | None = None) -> TestClient:  # fmt: skip
    with Abm.open(ws) as abm:
        plaintext, _ = create_key(abm.app_store, name, scopes, owner=owner)
    client = TestClient(server.app)
    client.headers["Authorization"] = f"Bearer {plaintext}"
    return client


def pending(client: TestClient, **params: Any) -> list[dict]:
    r = client.get("/v1/actions", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


# -- accounts -----------------------------------------------------------------------------------
def test_accounts_list_filters_sorts_and_pages(server, demo_ws):
    client = server.signed_in("marketer")
    everyone = client.get("/v1/accounts").json()
    assert (everyone["total"], everyone["limit"], everyone["offset"]) == (700, 50, 0)
    priorities = [a["priority"] for a in everyone["items"]]
    assert len(priorities) == 50 and priorities == sorted(priorities, reverse=True)

    tier1 = client.get("/v1/accounts", params={"tier": 1, "limit": 500}).json()
    assert tier1["total"] == len(tier1["items"]) == 20
    assert {a["tier"] for a in tier1["items"]} == {1}

    decision = client.get("/v1/accounts", params={"stage": "decision", "limit": 500}).json()
    assert decision["total"] == len(decision["items"]) > 0
    assert all("Decision" in (a["buying_stage"], a["journey_stage"]) for a in decision["items"])
    ready = client.get("/v1/accounts", params={"sales_ready": True, "limit": 500}).json()
    assert ready["items"] and all(a["sales_ready"] for a in ready["items"])
    with Abm.open(demo_ws) as abm:
        assert ready["total"] == count_accounts(abm.warehouse, sales_ready=True)
        assert decision["total"] == count_accounts(abm.warehouse, stage="Decision")

    tier2 = client.get("/v1/accounts", params={"tier": 2, "limit": 1}).json()["items"][0]
    cluster = client.get("/v1/accounts", params={"cluster": tier2["cluster"], "limit": 500}).json()
    assert {a["cluster"] for a in cluster["items"]} == {tier2["cluster"]}
    assert 0 < cluster["total"] < 169

    word = everyone["items"][0]["name"].split()[0].lower()
    found = client.get("/v1/accounts", params={"q": word.upper(), "limit": 500}).json()
    assert found["total"] >= 1
    assert all(word in (a["name"] + a["domain"]).lower() for a in found["items"])

    by_name = [a["name"] for a in client.get("/v1/accounts", params={"sort": "name"}).json()
               ["items"]]  # fmt: skip
    assert by_name == sorted(by_name)
    by_fit = [a["fit"] for a in client.get("/v1/accounts", params={"sort": "fit"}).json()["items"]]
    assert by_fit == sorted(by_fit, reverse=True)


def test_account_pages_add_up_to_the_whole_list(server):
    client = server.signed_in("admin")
    whole = client.get("/v1/accounts", params={"tier": 2, "limit": 120}).json()
    pages = [client.get("/v1/accounts", params={"tier": 2, "limit": 50, "offset": n}).json()
             for n in (0, 50, 100)]  # fmt: skip
    assert [p["total"] for p in pages] == [whole["total"]] * 3
    ids = [a["account_id"] for p in pages for a in p["items"]]
    assert ids[:120] == [a["account_id"] for a in whole["items"]]
    assert len(ids) == min(150, whole["total"]) == len(set(ids))
    past = client.get("/v1/accounts", params={"offset": 5000}).json()
    assert (past["items"], past["total"]) == ([], 700)


def test_bad_list_parameters_are_refused_naming_the_field(server):
    client = server.signed_in("marketer")
    for params, field in (({"limit": 0}, "limit"), ({"limit": 501}, "limit"),
                          ({"sort": "revenue"}, "sort"), ({"tier": 4}, "tier"),
                          ({"offset": -1}, "offset")):  # fmt: skip
        assert error_of(client.get("/v1/accounts", params=params), 422)["field"] == field


def test_account_detail_shows_everything_abm_account_does(server, demo_ws):
    client = server.signed_in("marketer")
    with Abm.open(demo_ws) as abm:
        top = abm.accounts(tier=1, limit=1).to_pylist()[0]
        view = abm.account(top["account_id"])
    by_domain = client.get(f"/v1/accounts/{top['domain']}").json()
    by_id = client.get(f"/v1/accounts/{top['account_id']}").json()
    assert by_domain == by_id
    d = by_id
    assert d["account"]["account_id"] == top["account_id"]
    assert d["account"]["industry"] == view.account["industry"]
    assert d["scores"]["priority"] == top["priority"] and d["scores"]["tier"] == 1
    assert {r["score"] for r in d["reasons"]} >= {"fit", "intent", "engagement", "committee"}
    assert len(d["reasons"]) == len(view.reasons)
    assert [h["as_of"][:10] for h in d["history"]] == [f"{h['as_of']:%Y-%m-%d}"
                                                        for h in view.history]  # fmt: skip
    required = d["committee"]["required"]
    assert [p["persona"] for p in required] == ["economic_buyer", "champion",
                                                "technical_evaluator", "blocker"]  # fmt: skip
    gaps = [p["reason"] for p in required if p["status"] != "engaged"]
    assert d["committee"]["gaps"] == gaps
    assert all(g.startswith("no ") or "not engaged" in g for g in gaps)
    assert d["committee"]["coverage"] == pytest.approx(sum(p["points"] for p in required))
    assert len(d["committee"]["members"]) == len(view.committee)
    assert d["committee"]["by_persona"] == json.loads(json.dumps(view.personas))
    assert [t["topic"] for t in d["topics"]] == [t["topic"] for t in view.topics]
    stamps = [t["ts"] for t in d["touches"]]
    assert stamps and stamps == sorted(stamps, reverse=True)
    waiting = pending(client, account=top["account_id"])
    assert {a["id"] for a in waiting} <= {a["id"] for a in d["actions"]["pending"]}
    assert all(a["status"] in ("pending_approval", "queued", "sending")
               for a in d["actions"]["pending"])  # fmt: skip
    assert all(a["account_id"] == top["account_id"]
               for a in d["actions"]["pending"] + d["actions"]["recent"])  # fmt: skip


def test_an_unknown_account_is_a_404_in_the_one_error_shape(server):
    client = server.signed_in("admin")
    e = error_of(client.get("/v1/accounts/no-such-company.example"), 404)
    assert (e["code"], e["message"]) == ("not_found", "no account with ID or domain "
                                         "'no-such-company.example'")  # fmt: skip
    error_of(client.get("/v1/accounts/no-such-company.example/timeline"), 404)


def test_timeline_is_newest_first_with_every_kind(server, demo_ws):
    client = server.signed_in("marketer")
    with Abm.open(demo_ws) as abm:
        opps = abm.warehouse.table("opportunities")
        with_opp = opps.filter(opps.account_id.notnull()).account_id.execute().iloc[0]
    acted = pending(client)[0]["account_id"]
    for account_id in (with_opp, acted):
        t = client.get(f"/v1/accounts/{account_id}/timeline", params={"limit": 500}).json()
        assert t["account_id"] == account_id
        stamps = [e["at"] for e in t["items"]]
        assert stamps == sorted(stamps, reverse=True)
        assert {"touch", "stage"} <= {e["kind"] for e in t["items"]}
    kinds = {e["kind"] for e in client.get(f"/v1/accounts/{with_opp}/timeline",
                                           params={"limit": 500}).json()["items"]}  # fmt: skip
    assert "opportunity" in kinds
    acted_kinds = [e for e in client.get(f"/v1/accounts/{acted}/timeline",
                                         params={"limit": 500}).json()["items"]
                   if e["kind"] == "action"]  # fmt: skip
    assert acted_kinds and all(e["detail"]["id"].startswith("act_") for e in acted_kinds)
    short = client.get(f"/v1/accounts/{acted}/timeline", params={"limit": 3}).json()["items"]
    assert len(short) == 3


# -- a sales user's view -----------------------------------------------------------------------
def test_a_sales_user_sees_only_its_owners_accounts(server, demo_ws):
    owner = sales_owner(demo_ws)
    mine = owned(demo_ws, owner)
    client = server.signed_in("sales")
    listed = client.get("/v1/accounts", params={"limit": 500}).json()
    assert listed["total"] == len(listed["items"]) == len(mine) < 700
    assert {a["account_id"] for a in listed["items"]} == mine
    other = next(a for a in server.signed_in("admin").get("/v1/accounts", params={"limit": 500})
                 .json()["items"] if a["account_id"] not in mine)  # fmt: skip
    with Abm.open(demo_ws) as abm:
        other_owner = abm.account(other["account_id"]).account["owner"]
    forced = client.get("/v1/accounts", params={"owner": other_owner, "limit": 500}).json()
    assert {a["account_id"] for a in forced["items"]} == mine  # the owner filter is forced
    hidden = error_of(client.get(f"/v1/accounts/{other['domain']}"), 404)
    missing = error_of(client.get("/v1/accounts/no-such-company.example"), 404)
    assert hidden["message"] == missing["message"].replace("no-such-company.example",
                                                           other["domain"])  # fmt: skip
    error_of(client.get(f"/v1/accounts/{other['account_id']}/timeline"), 404)
    own = sorted(mine)[0]
    assert client.get(f"/v1/accounts/{own}").json()["account"]["owner"] == owner


def test_a_sales_user_sees_only_the_actions_of_its_accounts(server, demo_ws):
    mine = owned(demo_ws, sales_owner(demo_ws))
    everyone = pending(server.signed_in("marketer"), status="all")
    client = server.signed_in("sales")
    listed = client.get("/v1/actions", params={"status": "all", "limit": 500}).json()
    expected = [a for a in everyone if a["account_id"] in mine]
    assert listed["total"] == len(expected) > 0
    assert [a["id"] for a in listed["items"]] == [a["id"] for a in expected]
    theirs = next(a for a in everyone if a["account_id"] not in mine)
    error_of(client.get(f"/v1/actions/{theirs['id']}"), 404)
    assert client.get(f"/v1/actions/{expected[0]['id']}").status_code == 200
    error_of(client.post(f"/v1/actions/{expected[0]['id']}/approve", json={}), 403)


def test_an_owner_bound_key_reviews_only_its_owners_actions(server, demo_ws):
    mine = owned(demo_ws, sales_owner(demo_ws))
    everyone = pending(server.signed_in("marketer"))
    client = key_client(server, demo_ws, ["actions:read", "actions:review"],
                        owner=sales_owner(demo_ws))  # fmt: skip
    theirs = next(a for a in everyone if a["account_id"] not in mine)
    error_of(client.post(f"/v1/actions/{theirs['id']}/reject", json={"note": "x"}), 404)
    assert stored_action(demo_ws, theirs["id"]).status == "pending_approval"


# -- actions and reviews -------------------------------------------------------------------------
def test_actions_list_filters_and_pages(server, demo_ws):
    client = server.signed_in("marketer")
    with Abm.open(demo_ws) as abm:
        stored = inbox.listing(abm.app_store, status="all", limit=10_000)
    waiting = client.get("/v1/actions").json()
    assert waiting["total"] == sum(a.status == "pending_approval" for a in stored)
    assert {a["status"] for a in waiting["items"]} == {"pending_approval"}
    every = client.get("/v1/actions", params={"status": "all", "limit": 500}).json()
    assert every["total"] == len(stored) == len(every["items"])
    assert [a["id"] for a in every["items"]] == [a.id for a in stored]  # newest first, then ID
    blocked = client.get("/v1/actions", params={"status": "blocked"}).json()
    assert blocked["total"] == sum(a.status == "blocked" for a in stored) > 0
    play = stored[0].play
    by_play = pending(client, status="all", play=play)
    assert by_play and {a["play"] for a in by_play} == {play}
    account = stored[0].account_id
    assert {a["account_id"] for a in pending(client, status="all", account=account)} == {account}
    second = client.get("/v1/actions", params={"status": "all", "limit": 10, "offset": 10}).json()
    assert [a["id"] for a in second["items"]] == [a.id for a in stored[10:20]]
    assert second["total"] == len(stored)
    assert error_of(client.get("/v1/actions", params={"status": "lost"}), 422)["field"] == "status"


def test_action_detail_has_the_exact_payload_and_the_decision_log(server, demo_ws):
    client = server.signed_in("sales")
    mine = owned(demo_ws, sales_owner(demo_ws))
    first = next(a for a in pending(server.signed_in("admin")) if a["account_id"] in mine)
    d = client.get(f"/v1/actions/{first['id']}").json()
    stored = stored_action(demo_ws, first["id"])
    assert d["payload"] == json.loads(json.dumps(stored.payload))
    assert d["key"] == stored.key and d["status"] == "pending_approval"
    decision = stored.decision
    assert d["decision"]["signal"]["kind"] == decision["signal"]["kind"]
    assert d["decision"]["reasons"] == decision["reasons"]
    assert d["decision"]["expected_value"] == decision["expected_value"]
    assert [(v["rule"], v["outcome"]) for v in d["decision"]["verdicts"]] == [
        (v["rule"], v["outcome"]) for v in decision["verdicts"]]  # fmt: skip
    assert d["editable"] == list(inbox.EDITABLE[stored.channel])
    assert client.get(f"/v1/actions/{first['id'][:14]}").json()["id"] == first["id"]  # a prefix
    error_of(client.get("/v1/actions/act_nothing_like_it"), 404)


def test_approving_queues_the_action_under_the_signed_in_user(server, demo_ws):
    client = server.signed_in("marketer")
    target = pending(client)[0]
    r = client.post(f"/v1/actions/{target['id']}/approve", json={"note": "looks right"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "queued"
    assert body["reviewed_by"] == f"user:{ROLE_EMAILS['marketer']}"
    assert body["review_note"] == "looks right"
    stored = stored_action(demo_ws, target["id"])
    assert (stored.status, stored.reviewed_by) == ("queued", f"user:{ROLE_EMAILS['marketer']}")
    [event] = [e for e in audit_events(demo_ws, "action.approve") if e.target == target["id"]]
    assert event.actor == f"user:{ROLE_EMAILS['marketer']}"
    again = error_of(client.post(f"/v1/actions/{target['id']}/approve"), 400)
    assert again["message"] == f"{target['id']} is queued, not waiting for approval"


def test_rejecting_and_reviews_by_api_key_name_the_key(server, demo_ws):
    client = key_client(server, demo_ws, ["actions:read", "actions:review"], name="inbox bot")
    target = pending(client)[0]
    r = client.post(f"/v1/actions/{target['id']}/reject", json={"note": "not now"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reviewed_by"]) == ("rejected", "key:inbox bot")
    [event] = [e for e in audit_events(demo_ws, "action.reject") if e.target == target["id"]]
    assert event.actor == "key:inbox bot"
    error_of(client.post(f"/v1/actions/{target['id']}/reject"), 400)


def test_editing_changes_only_editable_fields(server, demo_ws):
    client = server.signed_in("marketer")
    email = next(a for a in pending(client) if a["channel"] == "email")
    url = f"/v1/actions/{email['id']}"
    r = client.patch(url, json={"changes": {"subject": "A shorter subject"}, "note": "tone"})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["payload"]["subject"] == "A shorter subject"
    assert edited["status"] == "pending_approval"
    [change] = edited["decision"]["edits"]
    assert change["by"] == f"user:{ROLE_EMAILS['marketer']}" and "subject" in change["before"]
    assert stored_action(demo_ws, email["id"]).payload["subject"] == "A shorter subject"
    to = edited["payload"]["to"]
    refused = error_of(client.patch(url, json={"changes": {"to": "someone@else.example",
                                                           "subject": "Sneaky"}}), 400)  # fmt: skip
    assert "cannot edit to" in refused["message"] and "editable: subject" in refused["message"]
    after = stored_action(demo_ws, email["id"]).payload
    assert (after["to"], after["subject"]) == (to, "A shorter subject")  # nothing half-written
    unknown = error_of(client.patch(url, json={"changes": {}, "send": True}), 422)
    assert unknown["field"] == "send"


def test_a_cookie_session_without_its_csrf_token_cannot_review(server, demo_ws):
    client = TestClient(server.app)
    r = client.post("/v1/auth/login", json={"email": ROLE_EMAILS["marketer"],
                                            "password": PASSWORD})  # fmt: skip
    assert r.status_code == 200
    target = pending(client)[0]  # reading needs no token
    for attempt in (client.post(f"/v1/actions/{target['id']}/approve"),
                    client.post(f"/v1/actions/{target['id']}/reject",
                                headers={"X-CSRF-Token": "forged"}),
                    client.patch(f"/v1/actions/{target['id']}",
                                 json={"changes": {}})):  # fmt: skip
        assert "CSRF" in error_of(attempt, 403)["message"]
    assert stored_action(demo_ws, target["id"]).status == "pending_approval"


@pytest.fixture
def strict_server(demo_ws) -> Iterator[tuple[Server, str]]:
    """The server with one waiting action's account on the do-not-contact list (added after
    the agent decided it), and that action's ID."""
    with Abm.open(demo_ws) as abm:
        waiting = inbox.listing(abm.app_store, limit=1)[0]
    app = create_app(demo_ws, {"guardrails": {"do_not_contact": [waiting.account_id]}})
    with TestClient(app) as client:
        yield Server(app, client), waiting.id


def test_a_guardrail_refusing_approval_is_a_409_naming_the_rule(strict_server, demo_ws):
    server, action_id = strict_server
    e = error_of(server.signed_in("admin").post(f"/v1/actions/{action_id}/approve"), 409)
    assert e["code"] == "conflict"
    assert e["message"].startswith(f"{action_id} cannot be approved now: do_not_contact")
    assert stored_action(demo_ws, action_id).status == "pending_approval"


# -- plays, goals, models ------------------------------------------------------------------------
def test_plays_are_every_validated_play(server, demo_ws):
    client = key_client(server, demo_ws, ["plays:read"])
    with Abm.open(demo_ws) as abm:
        known = abm.plays()
    listed = client.get("/v1/plays").json()
    assert [p["name"] for p in listed] == list(known)
    one = client.get("/v1/plays/tier1-pricing-visit").json()
    play, source = known["tier1-pricing-visit"]
    assert one["source"] == source == "built-in"
    assert one["trigger"]["signal"] == play.trigger.signal
    assert [s["channel"] for s in one["steps"]] == [s.channel for s in play.steps]
    assert "known: customer-expansion" in error_of(client.get("/v1/plays/nope"), 404)["message"]


def test_goals_come_with_their_progress(demo_ws):
    goal = {"name": "Tier 1 pipeline", "metric": "pipeline", "target_change": 0.2,
            "period": "quarter", "segment": {"tier": 1}}  # fmt: skip
    app = create_app(demo_ws, {"goals": [goal]})
    with TestClient(app) as client:
        client.headers["Authorization"] = "Bearer " + _key(demo_ws, ["plays:read"])
        body = client.get("/v1/goals").json()
        later = client.get("/v1/goals", params={"as_of": "2026-06-30T12:00:00+02:00"}).json()
    assert body["as_of"] == "2026-05-03T00:00:00Z"  # the latest scores
    [g] = body["items"]
    assert (g["name"], g["metric"], g["segment"]) == ("Tier 1 pipeline", "pipeline", {"tier": 1})
    p = g["progress"]
    assert (p["period_start"], p["period_end"]) == ("2026-04-01", "2026-07-01")
    assert p["target"] == pytest.approx(p["previous"] * 1.2)
    assert p["gap"] == pytest.approx(max(p["pace"] - p["actual"], 0))
    assert p["behind"] == (p["actual"] < p["pace"])
    assert later["as_of"] == "2026-06-30T10:00:00Z"  # read as UTC
    assert later["items"][0]["progress"]["pace"] > p["pace"]


def _key(ws: Path, scopes: list[str], owner: str | None = None) -> str:
    with Abm.open(ws) as abm:
        return create_key(abm.app_store, "test", scopes, owner=owner)[0]


def add_models(ws: Path) -> list[str]:
    """Two registered model versions (a 6-month demo is too short to train one), the newer
    active."""
    with Abm.open(ws) as abm:
        for n, active in ((1, False), (2, True)):
            day = dt.datetime(2026, 4, n)
            abm.app_store.add_model(ModelVersion(
                version=f"m{n}", created_at=day, kind="logistic", horizon_days=90,
                train_from=day - dt.timedelta(days=300), train_to=day - dt.timedelta(days=90),
                test_from=day - dt.timedelta(days=90), test_to=day,
                settings={"horizon_days": 90}, metrics={"auc": 0.7 + n / 100,
                                                        "top_decile_lift": 2.0 + n},
                features=["fit", "intent"], artifact=f"models/m{n}.json",
                active=active))  # fmt: skip
    return ["m2", "m1"]


def test_models_list_detail_and_activation_by_an_admin_only(server, demo_ws):
    add_models(demo_ws)
    marketer = server.signed_in("marketer")
    listed = marketer.get("/v1/models").json()
    assert [(m["version"], m["active"]) for m in listed] == [("m2", True), ("m1", False)]
    assert listed[1]["auc"] == pytest.approx(0.71)
    one = marketer.get("/v1/models/m1").json()
    assert one["metrics"] == {"auc": 0.71, "top_decile_lift": 3.0}
    assert one["features"] == ["fit", "intent"] and one["settings"] == {"horizon_days": 90}
    error_of(marketer.post("/v1/models/m1/activate"), 403)
    assert marketer.get("/v1/models/m2").json()["active"]
    r = server.signed_in("admin").post("/v1/models/m1/activate")
    assert r.status_code == 200 and r.json()["active"]
    assert [(m["version"], m["active"]) for m in marketer.get("/v1/models").json()] == [
        ("m2", False), ("m1", True)]  # fmt: skip
    [event] = audit_events(demo_ws, "model.activate")
    assert (event.target, event.actor) == ("m1", f"user:{ROLE_EMAILS['admin']}")
    error_of(server.signed_in("admin").post("/v1/models/m9/activate"), 404)
    error_of(marketer.get("/v1/models/m9"), 404)


# -- reports -----------------------------------------------------------------------------------
def cli_json(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_each_report_section_is_what_abm_report_json_gives(server, demo_ws):
    client = key_client(server, demo_ws, ["reports:read"])
    index = client.get("/v1/reports").json()["sections"]
    assert [s["name"] for s in index] == list(SECTIONS)
    whole = cli_json("report", "-w", str(demo_ws))
    for section in SECTIONS:
        api = client.get(f"/v1/reports/{section}").json()
        assert api == whole | {"sections": {section: whole["sections"][section]}}, section
    assert any(whole["sections"][s] for s in SECTIONS)
    args = ("report", "-w", str(demo_ws), "--section", "tiers", "--days", "30", "--weeks", "3",
            "--as-of", "2026-04-20T00:00:00")  # fmt: skip
    params = {"days": 30, "weeks": 3, "as_of": "2026-04-20T00:00:00"}
    api = client.get("/v1/reports/tiers", params=params).json()
    assert api == cli_json(*args)
    assert api["since"] == "2026-03-21T00:00:00"
    error_of(client.get("/v1/reports/revenue"), 422)
    assert error_of(client.get("/v1/reports/kpis", params={"days": 0}), 422)["field"] == "days"


def test_a_built_report_is_reused_until_the_data_changes(server, demo_ws):
    client = key_client(server, demo_ws, ["reports:read"])
    first = client.get("/v1/reports/kpis").json()
    reports = server.app.state.report_cache
    assert reports.builds == 1
    assert client.get("/v1/reports/tiers").json()["as_of"] == first["as_of"]
    assert client.get("/v1/reports/kpis").json() == first
    assert reports.builds == 1  # the whole report was built once for every section
    client.get("/v1/reports/kpis", params={"days": 30})
    assert reports.builds == 2  # other parameters: another report
    with server.app.state.gate:  # the server's warehouse serves one user at a time
        server.app.state.abm.score()  # a refresh: a new data version
    client.get("/v1/reports/kpis")
    assert reports.builds == 3


def test_attribution_and_lift_are_what_the_cli_gives(server, demo_ws):
    client = key_client(server, demo_ws, ["reports:read"])
    api = client.get("/v1/attribution", params={"model": ["first", "markov"],
                                                 "lookback": "60d"}).json()  # fmt: skip
    rows = cli_json("attribution", "-w", str(demo_ws), "--model", "first", "--model", "markov",
                    "--lookback", "60d")  # fmt: skip
    assert api["rows"] == rows and {r["model"] for r in rows} == {"first", "markov"}
    assert api["opportunities"] == pytest.approx(sum(r["conversions"] for r in rows
                                                     if r["model"] == "first"))  # fmt: skip
    campaigns = client.get("/v1/attribution", params={"level": "campaign",
                                                       "model": "linear"}).json()  # fmt: skip
    assert campaigns["rows"] == cli_json("attribution", "-w", str(demo_ws), "--level",
                                         "campaign", "--model", "linear")  # fmt: skip
    refused = error_of(client.get("/v1/attribution", params={"lookback": "0d"}), 422)
    assert refused["field"] == "lookback" and "at least one day" in refused["message"]
    lift = client.get("/v1/lift").json()
    assert lift["rows"] == cli_json("lift", "-w", str(demo_ws)) and lift["confidence"] == 0.95
    one = client.get("/v1/lift", params={"scope": "tier:1"}).json()["rows"]
    assert {r["scope"] for r in one} == {"tier:1"}
    assert "recorded scopes: tier:1" in error_of(client.get("/v1/lift", params={
        "scope": "tier:9"}), 400)["message"]  # fmt: skip


# -- settings ----------------------------------------------------------------------------------
SECRETS = {"ABM_SECRET_SMTP_PASSWORD": "smtp-pass-0xDEADBEEF",
           "ABM_SECRET_WEBHOOK_KEY": "whk_9f8e7d6c5b4a",
           "ABM_SECRET_LLM_API_KEY": "sk-live-4242424242"}  # fmt: skip


def test_settings_are_the_effective_ones_with_no_secret(demo_ws, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ABM_CHANNELS__EMAIL__USERNAME", "mailer")
    overrides = {"channels": {"webhook": {
        "url": "https://hooks:hook-pass-77@receiver.example/in?token=tok-31337&team=abm"}},
        "content": {"llm": {"base_url": "https://llm.example/v1?key=sk-live-4242424242"}},
        "server": {"sites": [{"key": "site_public_key_1", "origins": ["https://www.example.com"]}]},
    }  # fmt: skip
    app = create_app(demo_ws, overrides)
    with TestClient(app) as client:
        client.headers["Authorization"] = "Bearer " + _key(demo_ws, ["settings:read"])
        r = client.get("/v1/settings")
    assert r.status_code == 200
    for leaked in (*SECRETS.values(), "hook-pass-77", "tok-31337"):
        assert leaked not in r.text, leaked
    body = r.json()
    s = body["settings"]
    assert s["channels"]["webhook"]["url"] == ("https://hooks@receiver.example/in?token=redacted"
                                               "&team=abm")  # fmt: skip
    assert s["content"]["llm"]["base_url"] == "https://llm.example/v1?key=redacted"
    assert s["channels"]["email"]["username"] == "mailer"  # the environment layer
    assert s["server"]["sites"][0]["key"] == "site_public_key_1"  # public: it is in the page
    assert s["tiers"] == app.state.abm.settings.tiers.model_dump(mode="json")
    assert body["secrets_set"] == sorted(SECRETS)
    assert "# Most memory the embedded DuckDB" in body["yaml"]
    assert "token=redacted" in body["yaml"] and "username: mailer" in body["yaml"]


def test_every_route_here_answers_a_key_with_every_scope(server, demo_ws):
    """A smoke pass: each resource answers 200 to an all-scopes key."""
    client = key_client(server, demo_ws, sorted(PERMISSIONS))
    top = client.get("/v1/accounts", params={"limit": 1}).json()["items"][0]["account_id"]
    for path in ("/v1/accounts", f"/v1/accounts/{top}", f"/v1/accounts/{top}/timeline",
                 "/v1/actions", "/v1/plays", "/v1/goals", "/v1/models", "/v1/reports",
                 "/v1/reports/movers", "/v1/attribution", "/v1/lift", "/v1/settings"):  # fmt: skip
        assert client.get(path).status_code == 200, path
