"""The beacon against the real app: events queued before the answer, processed by the real
worker into touches (resolved by IP range, known-contact token or domain), re-scored, and acted
on by the agent; idempotent, crash-safe, and closed to anyone without a site key, from another
origin or over the rate limit."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import realtime_helpers as rt
from abmkit.api import create_app
from abmkit.app import Abm
from abmkit.auth import create_key
from abmkit.store.models import Action, BeaconEvent
from conftest import ABM_BIN, REPO, _free_port, rows_of

ERROR_KEYS = {"status", "code", "message", "field", "problems"}


@pytest.fixture(scope="session")
def realtime_template(tmp_path_factory) -> Path:
    return rt.build(tmp_path_factory.mktemp("realtime"))


@pytest.fixture
def ws(tmp_path, realtime_template) -> Path:
    return rt.copy(realtime_template, tmp_path / "ws")


@pytest.fixture
def running(ws):
    """The app with its worker running (the test client runs its startup)."""
    app = create_app(ws)
    with TestClient(app) as client:
        yield app, client


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    assert body["error"]["status"] == response.status_code
    return body["error"]


def forwarded(address: str) -> dict[str, str]:
    """The visitor's address as a trusted proxy reports it (the test client is one)."""
    return {"X-Forwarded-For": address, "Origin": rt.ORIGIN}


def test_events_resolve_by_ip_range_known_contact_and_domain(running):
    app, client = running
    abm = app.state.abm
    by_ip = rt.event("https://www.seller.example/blog/a")
    by_token = rt.event("https://www.seller.example/docs", ct=rt.token(abm, 5))
    by_domain = rt.event("https://www.seller.example/product", domain="www.acct07-test.com")
    r = rt.post(client, by_ip, by_token, by_domain, headers=forwarded(rt.ip(3)))
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 3, "duplicates": 0}
    rt.wait_processed(abm)
    stored = {t["url"]: t for t in rt.touches(app)}
    ip_touch = stored[by_ip["url"]]
    assert (ip_touch["account_id"], ip_touch["match_method"]) == ("A03", "ip")
    assert ip_touch["ip"] == rt.ip(3)
    contact = stored[by_token["url"]]  # the token outranks the visitor's address
    assert (contact["account_id"], contact["contact_id"], contact["match_method"]) == (
        "A05",
        "C050",
        "contact",
    )
    assert (stored[by_domain["url"]]["account_id"], stored[by_domain["url"]]["match_method"]) == (
        "A07", "domain")  # fmt: skip
    for t in stored.values():
        assert (t["channel"], t["kind"], t["source"]) == ("web", "web_visit", "beacon")


def test_a_forged_or_foreign_token_identifies_nobody(running):
    app, client = running
    genuine = rt.token(app.state.abm, 5)
    head, body, mac = genuine.split(".")
    forged = ".".join([head, body, mac[::-1]])
    r = rt.post(client, rt.event(ct=forged), headers=forwarded("192.0.2.1"))
    assert r.status_code == 202
    rt.wait_processed(app.state.abm)
    (touch,) = rt.touches(app)
    assert touch["account_id"] is None and touch["contact_id"] is None


def test_an_unknown_visitor_is_kept_unresolved_so_a_later_relink_can_link_it(running):
    app, client = running
    abm = app.state.abm
    rt.post(client, rt.event(), headers=forwarded("192.0.2.44"))
    rt.wait_processed(abm)
    (touch,) = rt.touches(app)
    assert touch["account_id"] is None and touch["match_method"] is None
    assert touch["ip"] == "192.0.2.44"
    with Session(abm.app_store.engine) as s:
        assert s.scalar(select(BeaconEvent.outcome)) == "unresolved"
    assert rt.actions_of(abm, "A00") == []


def test_unknown_visitors_are_dropped_when_the_settings_say_so(tmp_path, realtime_template):
    ws = rt.copy(realtime_template, tmp_path / "ws")
    rt.write_settings(ws, {"beacon": {"store_unresolved": False}})
    with TestClient(create_app(ws)) as client:
        abm = client.app.state.abm
        rt.post(client, rt.event(), rt.event(domain=rt.domain(2)),
                headers=forwarded("192.0.2.44"))  # fmt: skip
        rt.wait_processed(abm)
        assert [t["account_id"] for t in rt.touches(client.app)] == ["A02"]
        with Session(abm.app_store.engine) as s:
            outcomes = sorted(s.scalars(select(BeaconEvent.outcome)))
        assert outcomes == ["dropped", "linked"]


def _state(abm: Abm) -> dict:
    wh = abm.warehouse
    with Session(abm.app_store.engine) as s:
        actions = sorted(a.key for a in s.scalars(select(Action)))
    return {"touches": wh.count("touches"), "loads": wh.count("loads"),
            "runs": wh.count("score_runs"), "actions": actions}  # fmt: skip


def test_the_same_event_twice_changes_nothing(running):
    app, client = running
    abm = app.state.abm
    account = rt.treated_tier1(app)
    n = int(account[1:])
    visit = rt.event(domain=rt.domain(n))
    assert rt.post(client, visit, visit).json() == {"accepted": 1, "duplicates": 1}
    rt.wait_processed(abm)
    with app.state.gate:
        before = _state(abm)
    assert before["actions"], "the visit queued nothing"
    assert rt.post(client, visit).json() == {"accepted": 0, "duplicates": 1}
    # processed again (as after a crash): the touch is found, nothing is written or queued
    with Session(abm.app_store.engine) as s, s.begin():
        s.execute(update(BeaconEvent).values(processed_at=None, outcome=None))
    app.state.beacon_worker.wake()
    rt.wait_processed(abm)
    with app.state.gate:
        assert _state(abm) == before


def test_a_key_page_visit_of_a_target_account_queues_an_action_through_the_worker(running):
    app, client = running
    abm = app.state.abm
    account = rt.treated_tier1(app)
    n = int(account[1:])
    r = rt.post(client, rt.event("https://www.seller.example/pricing?plan=team"),
                headers=forwarded(rt.ip(n)))  # fmt: skip
    assert r.status_code == 202
    found = rt.wait_for(lambda: rt.actions_of(abm, account))
    by_play = {(a.play, a.channel): a for a in found}
    assert set(by_play) == {("tier1-pricing-visit", "owner_alert"), ("tier1-pricing-visit", "task")}
    for a in found:
        assert a.status == "pending_approval"  # Tier 1 waits for a person
        signal_ = a.decision["signal"]
        assert (signal_["kind"], signal_["detail"]["path"]) == ("key_page_visit", "/pricing")
    with app.state.gate:
        scores = abm.warehouse.table("account_scores")
        row = scores.filter(scores.account_id == account).to_pyarrow().to_pylist()[0]
    assert row["key_page_visits"] == 1 and row["buying_stage"] == "Awareness"
    assert row["tier"] == 1


def test_accepted_events_survive_a_server_that_never_processed_them(ws):
    """Accepted with no worker running (a server that stopped right after answering), then
    processed by the next server exactly once."""
    app = create_app(ws)
    client = TestClient(app)  # no startup: no worker
    events = [rt.event(domain=rt.domain(n)) for n in (1, 2, 3)]
    assert rt.post(client, *events).json() == {"accepted": 3, "duplicates": 0}
    app.state.abm.close()
    with TestClient(create_app(ws)) as second:
        abm = second.app.state.abm
        rt.wait_processed(abm)
        found = sorted(t["account_id"] for t in rt.touches(second.app))
        assert found == ["A01", "A02", "A03"]
        with second.app.state.gate:
            before = _state(abm)
    with TestClient(create_app(ws)) as third:
        abm = third.app.state.abm
        with third.app.state.gate:
            assert _state(abm) == before


def test_the_warm_up_at_start_leaves_nothing_behind(ws):
    """A starting server builds the incremental refresh's statements over a made-up touch in a
    transaction it rolls back: nothing of it stays."""
    with Abm.open(ws) as abm:
        before = _state(abm) | {"scores": rows_of(abm, "account_scores")}
    with TestClient(create_app(ws)) as client:
        app = client.app
        with app.state.gate:
            assert app.state.abm.warehouse.prepared  # built, and kept for the first visit
            after = _state(app.state.abm) | {"scores": rows_of(app.state.abm,
                                                                  "account_scores")}  # fmt: skip
    assert after == before


@pytest.mark.slow
@pytest.mark.parametrize("point", ["beacon_written", "beacon_acted"])
def test_a_server_killed_mid_batch_loses_nothing_and_repeats_nothing(ws, point):
    """A real `abm serve` SIGKILLs itself after the batch's touches are stored (or after its
    actions are committed) and before its events are marked processed; the next server
    resumes them: each event one touch, the visit's actions once."""
    abm = Abm.open(ws)
    account = rt.treated_tier1(abm)
    n = int(account[1:])
    abm.close()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABM")}
    env["ABMKIT_FAULT_CRASH_AT"] = f"{point}:1"
    cmd = [str(ABM_BIN), "serve", "--workspace", str(ws), "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        rt.wait_for(lambda: _up(base), timeout=60)
        r = httpx.post(f"{base}/v1/events?site={rt.SITE}", json={"events": [
            rt.event(domain=rt.domain(n)), rt.event("https://www.seller.example/blog/x",
                                                    domain=rt.domain(n))]})  # fmt: skip
        assert r.status_code == 202
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with Abm.open(ws) as abm, Session(abm.app_store.engine) as s:  # the crash left them queued
        assert s.scalars(select(BeaconEvent.processed_at)).all() == [None, None]
    with TestClient(create_app(ws)) as client:
        abm = client.app.state.abm
        rt.wait_processed(abm)
        assert len(rt.touches(client.app)) == 2
        found = rt.actions_of(abm, account)
        assert sorted(a.channel for a in found) == ["owner_alert", "task"]


def _up(base: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base}/v1/snippet.js", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# -- who may send ------------------------------------------------------------------------------
def test_site_key_origin_and_rate_limit_refusals_have_the_one_error_shape(
    tmp_path, realtime_template
):
    ws = rt.copy(realtime_template, tmp_path / "ws")
    rt.write_settings(ws, {"server": {"public_rate_limit": "3/minute"}})
    with TestClient(create_app(ws)) as client:
        missing = error_of(rt.post(client, rt.event(), site=None))
        assert (missing["status"], missing["code"]) == (401, "unauthorized")
        wrong = error_of(rt.post(client, rt.event(), site="not_a_known_site"))
        assert (wrong["status"], wrong["message"]) == (403, "unknown site key")
        foreign = rt.post(client, rt.event(), headers={"Origin": rt.OTHER_ORIGIN})
        assert error_of(foreign)["message"].startswith(f"origin {rt.OTHER_ORIGIN} is not allowed")
        assert "access-control-allow-origin" not in foreign.headers
        headers = {"X-Forwarded-For": "198.51.100.9"}
        answers = [rt.post(client, rt.event(), headers=headers).status_code for _ in range(4)]
        assert answers[:2] == [202, 202] and answers[-1] == 429
        limited = error_of(rt.post(client, rt.event(), headers=headers))
        assert limited["code"] == "rate_limited"
        bad = error_of(rt.post(client, rt.event(url="ftp://x")))
        assert (bad["status"], bad["field"]) == (422, "events.0.url")


def test_cors_headers_answer_allowed_origins_only(running):
    _, client = running
    allowed = rt.post(client, rt.event(), headers={"Origin": rt.ORIGIN})
    assert allowed.status_code == 202
    assert allowed.headers["access-control-allow-origin"] == rt.ORIGIN
    preflight = client.options(f"/v1/events?site={rt.SITE}", headers={
        "Origin": rt.ORIGIN, "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == rt.ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    refused = client.options(f"/v1/personalize?site={rt.SITE}", headers={
        "Origin": rt.OTHER_ORIGIN, "Access-Control-Request-Method": "GET"})  # fmt: skip
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    server_side = rt.post(client, rt.event())  # no Origin: no CORS header at all
    assert "access-control-allow-origin" not in server_side.headers
    plain = client.post(f"/v1/events?site={rt.SITE}", content=b'{"events": [{"id": "abcdefgh1",'
                        b' "url": "https://www.seller.example/"}]}',
                        headers={"Content-Type": "text/plain", "Origin": rt.ORIGIN})  # fmt: skip
    assert plain.status_code == 202  # what sendBeacon sends


def test_a_server_sends_events_with_an_api_key_and_only_it_may_give_ip_and_time(running):
    app, client = running
    abm = app.state.abm
    plaintext, _ = create_key(abm.app_store, "web backend", ["events:write"])
    narrow, _ = create_key(abm.app_store, "reader", ["accounts:read"])
    at = dt.datetime(2026, 1, 5, 10, 30)
    visit = rt.event(ip=rt.ip(4), ts=at.isoformat())
    r = rt.post(client, visit, site=None, headers={"Authorization": f"Bearer {plaintext}"})
    assert r.status_code == 202, r.text
    refused = rt.post(client, visit, site=None, headers={"Authorization": f"Bearer {narrow}"})
    assert error_of(refused)["status"] == 403
    browser = error_of(rt.post(client, rt.event(ip=rt.ip(4))))
    assert (browser["status"], browser["field"]) == (422, "events.0.ip")
    rt.wait_processed(abm)
    (touch,) = rt.touches(app)
    assert (touch["account_id"], touch["ts"]) == ("A04", at)


def test_an_e_mail_link_carries_a_token_that_names_its_recipient(tmp_path, realtime_template):
    """With beacon.email_link set, the agent's e-mails end with the website's address and the
    recipient's signed token; a visit through that link is the recipient's."""
    ws = rt.copy(realtime_template, tmp_path / "ws")
    rt.write_settings(ws, {"beacon": {"email_link": "https://www.seller.example/?ref=mail"},
                           "tiers": {"tier1_capacity": 0}})  # fmt: skip
    with TestClient(create_app(ws)) as client:
        app = client.app
        rt.post(client, rt.event(domain=rt.domain(22)))  # Tier 2: the key-page play e-mails
        emails = rt.wait_for(lambda: [a for a in rt.actions_of(app.state.abm, "A22")
                                      if a.channel == "email"])  # fmt: skip
        assert {a.payload["to"] for a in emails} == {"dana22@acct22-test.com",
                                                     "erin22@acct22-test.com"}  # fmt: skip
        dana = next(a for a in emails if a.payload["to"].startswith("dana"))
        link = dana.payload["text"].splitlines()[-1]
        assert link.startswith("https://www.seller.example/?ref=mail&abm_ct=v1.")
        token = link.split("abm_ct=")[1]
        rt.post(client, rt.event("https://www.seller.example/?ref=mail", ct=token),
                headers=forwarded("192.0.2.8"))  # fmt: skip
        rt.wait_processed(app.state.abm)
        clicked = [t for t in rt.touches(app) if t["contact_id"]]
        assert [(t["account_id"], t["contact_id"]) for t in clicked] == [("A22", "C220")]


def test_a_form_with_a_business_e_mail_is_a_form_fill_of_that_account(running):
    app, client = running
    form = rt.event("https://www.seller.example/demo", type="form",
                    email=" Dana9@ACCT09-test.com ")  # fmt: skip
    free = rt.event("https://www.seller.example/demo", type="form", email="someone@gmail.com")
    rt.post(client, form, free, headers=forwarded("192.0.2.50"))
    rt.wait_processed(app.state.abm)
    stored = {t["email"]: t for t in rt.touches(app)}
    business = stored["dana9@acct09-test.com"]
    assert (business["kind"], business["account_id"], business["match_method"]) == (
        "form_fill", "A09", "email")  # fmt: skip
    assert stored["someone@gmail.com"]["account_id"] is None  # free mail names no company
