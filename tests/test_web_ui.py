"""The web UI's pages over the real app (a demo workspace, its real DuckDB and SQLite files)
through Starlette's test client: every page renders for the roles that may see it, nobody
signed in is sent to sign in, a sales user sees only its own accounts and no review buttons,
forms without the CSRF token are refused, the sign-in form's own CSRF check works, and htmx and
Vega come from this server."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from abmkit.api import create_app
from abmkit.app import Abm
from abmkit.decide import inbox
from abmkit.score.views import count_accounts, owned_accounts
from abmkit.web import cards
from conftest import PASSWORD, ROLE_EMAILS

PAGES = ["/", "/accounts", "/accounts/{top}", "/inbox", "/plays", "/measure", "/settings"]
VENDOR = Path(__file__).resolve().parents[1] / "src" / "abmkit" / "web" / "static" / "vendor"


@pytest.fixture
def top(demo_ws) -> str:
    with Abm.open(demo_ws) as abm:
        return abm.accounts(limit=1).to_pylist()[0]["account_id"]


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


def form_sign_in(app, role: str, next_: str = "/") -> TestClient:
    """A browser-like client signed in through the form (it sends no CSRF header)."""
    client = TestClient(app)
    token = hidden(client.get("/login").text, "csrf_token")
    r = client.post("/login", data={"email": ROLE_EMAILS[role], "password": PASSWORD,
                                    "csrf_token": token, "next": next_},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    assert r.headers["location"] == next_
    return client


def pending(demo_ws, n: int = 1) -> list[inbox.Action]:
    with Abm.open(demo_ws) as abm:
        return inbox.listing(abm.app_store, limit=n)


# -- every page --------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["admin", "marketer"])
def test_every_page_renders_for_admin_and_marketer(server, top, role):
    client = server.signed_in(role)
    for path in PAGES:
        r = client.get(path.format(top=top))
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
        assert re.search(r"<h1>[^<]+</h1>", r.text), path
        assert f'{ROLE_EMAILS[role]} <span class="role">{role}</span>' in r.text
    overview = client.get("/").text
    for section in ("Funnel", "Pipeline by tier", "Engagement trend", "Agent activity"):
        assert f"<h2>{section}</h2>" in overview
    assert overview.count("data-chart ") == 4
    assert 'data-kpi="Target accounts"' in overview


def test_account_page_shows_everything_about_the_account(server, top, demo_ws):
    page = server.signed_in("marketer").get(f"/accounts/{top}").text
    with Abm.open(demo_ws) as abm:
        view = abm.account(top)
        waiting = inbox.listing(abm.app_store, account=top, limit=500)
        decided = inbox.listing(abm.app_store, status="all", account=top, limit=500)
    assert f"<h1>{view.account['name']}</h1>" in page
    for reason in view.reasons:
        assert str(reason["reason"]).replace("'", "&#39;") in page
    for topic in view.topics:
        assert topic["topic"] in page
    gaps = [r["factor"] for r in view.reasons if r["score"] == "committee" and r["points"] == 0]
    for gap in gaps:
        assert f"<strong>{cards.label(gap)}</strong>" in page
    assert page.count('class="seat seat-missing"') == len(gaps)
    assert ("Review them in the inbox" in page) == bool(waiting)
    box = server.signed_in("marketer").get(f"/inbox?account={top}&status=all&limit=500").text
    assert set(re.findall(r'data-action="([^"]+)"', box)) == {a.id for a in decided}
    assert page.count('<details class="decision">') == len(decided)


def test_accounts_filter_sort_and_page(server):
    client = server.signed_in("marketer")
    tier1 = client.get("/accounts?tier=1&stage=&cluster=&ready=&q=&sort=fit").text
    badges = re.findall(r'<span class="badge tier (t\w+)">', tier1)
    assert badges and set(badges) == {"t1"}
    fits = [float(x) for x in re.findall(r'<td class="num">(\d+) <span class="sub">', tier1)]
    assert fits == sorted(fits, reverse=True)
    second = client.get("/accounts?page=2").text
    assert "26–50 of" in second and 'rel="prev"' in second
    first_name = re.search(r'href="/accounts/([^"]+)">([^<]+)</a>', tier1).group(2)
    found = client.get("/accounts", params={"q": first_name[:8]}).text
    assert first_name in found
    nothing = client.get("/accounts?q=no-such-company-anywhere").text
    assert "No account matches these filters" in nothing
    bad = client.get("/accounts?tier=7")
    assert bad.status_code == 422 and "tier" in bad.text and "<h1>Check the input</h1>" in bad.text
    assert client.get("/accounts?sort=bogus").status_code == 422
    last = client.get("/accounts?page=999").text  # past the end: the last page
    assert "Page 28 of 28" in last and 'rel="next"' not in last


# -- who may see what --------------------------------------------------------------------------
def test_anonymous_is_sent_to_sign_in(server, top):
    for path in PAGES:
        url = path.format(top=top) + "?tier=1"
        r = server.client.get(url, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"] == "/login?next=" + quote(url, safe="/")
    action = pending(server.app.state.abm.workspace.path)[0]
    r = server.client.post(f"/inbox/{action.id}/approve", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/")
    r = server.client.post(f"/inbox/{action.id}/approve", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["hx-redirect"].startswith("/login")
    assert server.client.get("/v1/me").json()["error"]["code"] == "unauthorized"  # API: JSON


def test_sales_sees_only_its_accounts_and_no_review_buttons(server, demo_ws):
    client = server.signed_in("sales")
    with Abm.open(demo_ws) as abm:
        sales_owner = _sales_owner(abm)
        mine = set(owned_accounts(abm.warehouse, sales_owner))
        total = count_accounts(abm.warehouse, owner=sales_owner)
        others = abm.accounts(limit=400).to_pylist()
        foreign = next(a["account_id"] for a in others if a["account_id"] not in mine)
    listing = client.get("/accounts").text
    shown = set(re.findall(r'href="/accounts/([^"]+)"', listing))
    assert shown and shown <= mine
    assert f"of {total:,} accounts" in listing
    assert client.get(f"/accounts/{foreign}").status_code == 404
    assert client.get(f"/accounts/{sorted(shown)[0]}").status_code == 200
    box = client.get("/inbox?status=all&limit=500").text
    accounts_in_box = set(re.findall(r'<h2 id="title-[^"]+">[^<]*<a href="/accounts/([^"]+)"', box))
    assert accounts_in_box and accounts_in_box <= mine
    assert ">Approve</button>" not in box and "/approve" not in box
    assert "Recent reviews" not in box
    some = next(a for a in pending(demo_ws, 500) if a.account_id in mine)
    assert client.post(f"/inbox/{some.id}/approve").status_code == 403
    for path in ("/plays", "/measure", "/settings"):
        r = client.get(path)
        assert r.status_code == 403 and "<h1>Not allowed</h1>" in r.text, path
    overview = client.get("/").text
    assert "<h1>Your accounts</h1>" in overview and "Funnel" not in overview
    nav = re.search(r'<nav class="nav".*?</nav>', overview, re.S).group(0)
    assert "/settings" not in nav and "/measure" not in nav and "/inbox" in nav


def _sales_owner(abm: Abm) -> str:
    from abmkit.auth import users

    return next(u.owner for u in users.list_users(abm.app_store) if u.role == "sales")


# -- forms -------------------------------------------------------------------------------------
def test_review_forms_need_the_session_csrf_token(server, demo_ws):
    client = form_sign_in(server.app, "marketer", "/inbox")
    page = client.get("/inbox").text
    csrf = hidden(page, "csrf_token")
    action = pending(demo_ws)[0]
    assert f'action="/inbox/{action.id}/approve"' in page
    for data in ({}, {"csrf_token": "forged"}):
        r = client.post(f"/inbox/{action.id}/approve", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    assert pending(demo_ws)[0].id == action.id  # still waiting
    r = client.post(f"/inbox/{action.id}/approve", data={"csrf_token": csrf, "note": "go"},
                    follow_redirects=False)  # fmt: skip
    assert (r.status_code, r.headers["location"]) == (303, "/inbox")
    with Abm.open(demo_ws) as abm:
        done = inbox.get(abm.app_store, action.id)
        audit = abm.audit("action.approve", limit=1)[0]
    assert (done.status, done.reviewed_by) == ("queued", "user:marketer@example.com")
    assert (audit.actor, audit.target) == ("user:marketer@example.com", action.id)
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_in_form_has_its_own_csrf_check(server):
    client = TestClient(server.app)
    form = client.get("/login?next=/plays")
    token = hidden(form.text, "csrf_token")
    assert hidden(form.text, "next") == "/plays"
    cookie = form.headers["set-cookie"]
    assert "abm_login_csrf=" + token in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    good = {"email": ROLE_EMAILS["admin"], "password": PASSWORD, "next": "/plays"}
    for sent in ({}, {"csrf_token": "forged"}):
        r = client.post("/login", data=good | sent, follow_redirects=False)
        assert r.status_code == 403 and "abm_session" not in r.headers.get("set-cookie", "")
        assert "did not come from this site" in r.text
        token = hidden(r.text, "csrf_token")  # each refusal shows the form with a fresh token
    stranger = TestClient(server.app)  # has never loaded the form: no cookie
    r = stranger.post("/login", data=good | {"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 403
    wrong = client.post("/login", data=good | {"csrf_token": token, "password": "nope"})
    assert wrong.status_code == 401 and "wrong e-mail or password" in wrong.text
    token = hidden(wrong.text, "csrf_token")  # the form came back with a fresh token
    r = client.post("/login", data=good | {"csrf_token": token}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/plays")
    assert "abm_session=" in r.headers["set-cookie"]
    assert client.get("/login", follow_redirects=False).headers["location"] == "/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil",
                                    "javascript:alert(1)", "/logout"])  # fmt: skip
def test_sign_in_never_sends_elsewhere(server, target):
    client = TestClient(server.app)
    token = hidden(client.get("/login").text, "csrf_token")
    r = client.post("/login", data={"email": ROLE_EMAILS["admin"], "password": PASSWORD,
                                    "csrf_token": token, "next": target},
                    follow_redirects=False)  # fmt: skip
    assert (r.status_code, r.headers["location"]) == (303, "/")


def test_edit_and_reject_from_the_inbox(server, demo_ws):
    client = server.signed_in("marketer")
    actions = pending(demo_ws, 200)
    email = next(a for a in actions if a.channel == "email")
    r = client.post(f"/inbox/{email.id}/edit", headers={"HX-Request": "true"},
                    data={"field.subject": "A better subject", "field.text": email.payload["text"],
                          "field.to_name": email.payload.get("to_name", "")})  # fmt: skip
    assert r.status_code == 200 and "Edited by user:marketer@example.com" in r.text
    assert "A better subject" in r.text
    with Abm.open(demo_ws) as abm:
        edited = inbox.get(abm.app_store, email.id)
        audit = abm.audit("action.edit", limit=1)[0]
    assert (edited.status, edited.payload["subject"]) == ("pending_approval", "A better subject")
    assert audit.detail["fields"] == ["subject"]  # only what changed
    same = client.post(f"/inbox/{email.id}/edit", headers={"HX-Request": "true"},
                       data={"field.subject": "A better subject"})  # fmt: skip
    assert same.status_code == 400 and "nothing changed" in same.text
    assert same.headers["hx-retarget"] == "#flash"
    audience = next(a for a in actions if a.channel.endswith("_audience"))
    bad = client.post(f"/inbox/{audience.id}/edit", data={"field.rows": "[{"},
                      headers={"HX-Request": "true"})  # fmt: skip
    assert bad.status_code == 400 and "rows: not valid JSON" in bad.text
    r = client.post(f"/inbox/{email.id}/reject", data={"note": "off-message"},
                    headers={"HX-Request": "true"})  # fmt: skip
    assert "Rejected by user:marketer@example.com" in r.text
    assert pending(demo_ws, 500)[0].id != email.id or email.id not in {
        a.id for a in pending(demo_ws, 500)}  # fmt: skip


def test_a_guardrail_refusal_is_shown_plainly(demo_ws):
    action = pending(demo_ws)[0]
    app = create_app(demo_ws, {"guardrails": {"do_not_contact": [action.account_id]}})
    with TestClient(app):
        client = form_sign_in(app, "admin", "/inbox")
        csrf = hidden(client.get("/inbox").text, "csrf_token")
        r = client.post(f"/inbox/{action.id}/approve", data={"csrf_token": csrf},
                        headers={"HX-Request": "true"})  # fmt: skip
        assert r.status_code == 409 and r.headers["hx-retarget"] == "#flash"
        assert "cannot be approved now: do_not_contact" in r.text
        page = client.post(f"/inbox/{action.id}/approve", data={"csrf_token": csrf})
        assert page.status_code == 409 and "<h1>Refused by a guardrail</h1>" in page.text
    assert pending(demo_ws)[0].status == "pending_approval"


def test_settings_hide_passwords_in_urls(demo_ws):
    hook = "https://hooks:hunter2@hooks.example.com/abm"
    app = create_app(demo_ws, {"channels": {"webhook": {"url": hook}}})
    with TestClient(app):
        page = form_sign_in(app, "admin", "/settings").get("/settings").text
    assert "hunter2" not in page
    assert "https://hooks@hooks.example.com/abm" in page  # config.redact drops the password
    assert "<code>guardrails.daily_budget</code>" not in page  # its own section, unprefixed
    assert "<code>daily_budget</code>" in page and "<code>webhook.url</code>" in page


# -- assets ------------------------------------------------------------------------------------
def test_htmx_and_vega_are_served_from_this_server(server):
    client = server.signed_in("marketer")
    pages = [client.get(p).text for p in ("/", "/measure", "/login")]
    sources = {s for p in pages for s in re.findall(r'<script[^>]*src="([^"]+)"', p)}
    assert sources and all(s.startswith("/static/") for s in sources)
    assert not any(re.search(r"<script(?![^>]*src=)[^>]*>", p) for p in pages)  # no inline
    htmx_url = next(s for s in sources if "htmx" in s)
    htmx = client.get(htmx_url)
    assert htmx.status_code == 200 and "javascript" in htmx.headers["content-type"]
    assert "immutable" in htmx.headers["cache-control"]
    readme = (VENDOR / "README.md").read_text()
    assert hashlib.sha256(htmx.content).hexdigest() in readme
    assert 'version:"2.' in htmx.text
    vega_url = next(s for s in sources if "vega" in s)
    vega = client.get(vega_url, headers={"Accept-Encoding": "gzip"})
    assert vega.status_code == 200 and vega.headers["content-encoding"] == "gzip"
    assert "window.vegaEmbed=" in vega.text and "max-age=31536000" in vega.headers["cache-control"]
    plain = client.get(vega_url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == vega.text
    assert client.get("/static/no-such-file.js").status_code == 404


@pytest.fixture
def fresh_client(demo_ws) -> Iterator[TestClient]:
    with TestClient(create_app(demo_ws)) as client:
        yield client


def test_csp_leaves_no_other_source(fresh_client):
    csp = fresh_client.get("/login").headers["content-security-policy"]
    rules = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert rules["default-src"] == "'self'" and rules["connect-src"] == "'self'"
    assert rules["frame-ancestors"] == "'none'" and rules["form-action"] == "'self'"
    assert "http" not in csp and "*" not in csp
