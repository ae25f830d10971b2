"""Sign-in, sessions, CSRF, API keys and the one JSON error shape, against the real app over a
demo workspace (its application store a real SQLite file)."""

from __future__ import annotations

import datetime as dt
import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from abmkit.app import Abm
from abmkit.auth import create_key, revoke_key
from abmkit.auth.sessions import digest
from abmkit.store.models import ApiKey, AuditEvent, LoginSession
from conftest import PASSWORD, ROLE_EMAILS

ERROR_KEYS = {"status", "code", "message", "field", "problems"}


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == ERROR_KEYS, body
    assert body["error"]["status"] == response.status_code
    return body["error"]


def test_error_shape_is_one_for_every_failure(server):
    anonymous = error_of(server.client.get("/v1/me"))
    assert (anonymous["code"], anonymous["status"]) == ("unauthorized", 401)
    missing = error_of(server.client.get("/v1/no-such-route"))
    assert missing["code"] == "not_found"
    invalid = error_of(server.client.post("/v1/auth/login", json={"email": "x@example.com"}))
    assert invalid["code"] == "invalid"
    assert invalid["field"] == "password"
    assert invalid["problems"] == [{"field": "password", "message": "Field required"}]
    bad = {"email": ROLE_EMAILS["admin"], "password": "nope"}
    wrong = error_of(server.client.post("/v1/auth/login", json=bad))
    assert (wrong["code"], wrong["message"]) == ("unauthorized", "wrong e-mail or password")


def test_login_sets_a_secure_session_cookie_and_stores_only_its_hash(server, demo_ws):
    credentials = {"email": ROLE_EMAILS["marketer"], "password": PASSWORD}
    r = server.client.post("/v1/auth/login", json=credentials)
    assert r.status_code == 200
    assert r.json()["role"] == "marketer"
    cookie = r.headers["set-cookie"]
    assert "abm_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on the test server; https sets it (auto)
    token = r.cookies["abm_session"]
    with Abm.open(demo_ws) as abm, Session(abm.app_store.engine) as s:
        stored = [row.token_hash for row in s.scalars(select(LoginSession))]
    assert digest(token) in stored
    assert token not in stored
    assert server.client.get("/v1/me").json()["name"] == ROLE_EMAILS["marketer"]
    server.client.post("/v1/auth/logout", headers={"X-CSRF-Token": r.json()["csrf_token"]})
    assert server.client.get("/v1/me").status_code == 401


def test_https_request_gets_a_secure_cookie(server):
    client = TestClient(server.app, base_url="https://testserver")
    r = client.post("/v1/auth/login", json={"email": ROLE_EMAILS["admin"], "password": PASSWORD})
    assert "Secure" in r.headers["set-cookie"]


def test_expired_or_idle_sessions_end(server, demo_ws):
    client = server.signed_in("admin")
    assert client.get("/v1/me").status_code == 200
    with Abm.open(demo_ws) as abm, Session(abm.app_store.engine) as s, s.begin():
        past = dt.datetime(2000, 1, 1)
        s.execute(update(LoginSession).values(seen_at=past))
    assert client.get("/v1/me").status_code == 401


def test_api_keys_are_stored_hashed_scoped_and_revocable(server, demo_ws):
    with Abm.open(demo_ws) as abm:
        plaintext, row = create_key(abm.app_store, "crm sync", ["accounts:read"])
        with Session(abm.app_store.engine) as s:
            stored = s.scalars(select(ApiKey)).one()
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in (stored.key_hash, stored.id, stored.name)
    bearer = {"Authorization": f"Bearer {plaintext}"}
    me = server.client.get("/v1/me", headers=bearer).json()
    assert (me["kind"], me["permissions"], me["csrf_token"]) == ("key", ["accounts:read"], None)
    assert server.client.get("/v1/me", headers={"X-API-Key": plaintext}).status_code == 200
    forged = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    assert server.client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}
                             ).status_code == 401  # fmt: skip
    with Abm.open(demo_ws) as abm:
        revoke_key(abm.app_store, row.id)
    assert server.client.get("/v1/me", headers=bearer).status_code == 401


def test_sign_in_is_rate_limited_and_audited(server, demo_ws):
    for _ in range(10):
        server.client.post("/v1/auth/login", json={"email": ROLE_EMAILS["admin"], "password": "x"})
    r = server.client.post("/v1/auth/login",
                           json={"email": ROLE_EMAILS["admin"], "password": PASSWORD})  # fmt: skip
    assert error_of(r)["code"] == "rate_limited"
    with Abm.open(demo_ws) as abm, Session(abm.app_store.engine) as s:
        q = select(AuditEvent).where(AuditEvent.action == "session.start")
        refused = s.scalars(q.where(AuditEvent.outcome == "refused")).all()
    assert len(refused) == 10
