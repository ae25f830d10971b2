"""Every route of the real app, enumerated: each one names a permission, and answers nobody
(no cookie, no key) and everyone without that permission with a refusal — a user of another
role, an API key of another scope. The few open routes are listed here by name, and the public
ones refuse a request without a site key."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from abmkit.api.security import permission_of
from abmkit.app import Abm
from abmkit.auth import create_key
from abmkit.auth.roles import PERMISSIONS, ROLE_PERMISSIONS

OPEN = {
    ("POST", "/v1/auth/login"),  # signing in
    ("POST", "/v1/auth/logout"),  # ends the caller's own session, if any
    ("GET", "/v1/openapi.json"),  # the API's description
    ("GET", "/v1/docs"),
    ("GET", "/login"),  # the web UI's sign-in form
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/v1/snippet.js"),  # the script a website embeds (no data in it)
}
"""Routes anyone may call. Adding one here is a decision to review."""
SITE_KEYED = {"/v1/events", "/v1/personalize", "/v1/route"}
"""Public endpoints: a website's site key instead of a user (or an API key with events:write)."""


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    permission: str | None

    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", "x", self.path)


def endpoints(app) -> list[Endpoint]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = getattr(context, "route", None) or context.original_route
        if isinstance(route, Mount):  # static files: no data behind them
            continue
        methods = sorted((context.methods or set()) - {"HEAD", "OPTIONS"})
        dependant = getattr(route, "dependant", None)
        permission = _permission(dependant) if dependant is not None else None
        found += [Endpoint(m, context.path, permission) for m in methods]
    return found


def _permission(dependant) -> str | None:
    for dep in dependant.dependencies:
        found = permission_of(dep.call) or _permission(dep)
        if found:
            return found
    return None


@pytest.fixture
def routes(server) -> list[Endpoint]:
    return endpoints(server.app)


def test_every_route_names_a_permission_or_is_deliberately_open(routes):
    unguarded = [(e.method, e.path) for e in routes
                 if e.permission is None and (e.method, e.path) not in OPEN
                 and e.path not in SITE_KEYED]  # fmt: skip
    assert unguarded == []
    named = {e.permission for e in routes if e.permission not in (None, "*")}
    assert named <= set(PERMISSIONS)
    assert len([e for e in routes if e.permission]) >= 3


def test_nobody_is_refused_everywhere(server, routes):
    guarded = [e for e in routes if e.permission is not None]
    for e in guarded:
        r = server.client.request(e.method, e.url(), follow_redirects=False)
        if e.path.startswith("/v1/"):
            assert r.status_code == 401, (e, r.status_code, r.text[:200])
            assert r.json()["error"]["code"] == "unauthorized"
        else:  # a page: the browser is sent to sign in
            assert r.status_code in (302, 303, 307), (e, r.status_code)
            assert r.headers["location"].startswith("/login"), e


def test_site_keyed_endpoints_refuse_a_request_without_a_site_key(server, routes):
    public = [e for e in routes if e.path in SITE_KEYED]
    for e in public:
        r = server.client.request(e.method, e.url())
        assert r.status_code in (401, 403, 422), (e, r.status_code)
        assert r.json()["error"]["code"] in ("unauthorized", "forbidden", "invalid")


@pytest.mark.parametrize("role", sorted(ROLE_PERMISSIONS))
def test_each_role_is_refused_what_it_may_not_do(server, routes, role):
    client = server.signed_in(role)
    held = ROLE_PERMISSIONS[role]
    denied = [e for e in routes if e.permission not in (None, "*") and e.permission not in held]
    if role != "admin":
        assert denied, f"{role} is refused nothing"
    for e in denied:
        r = client.request(e.method, e.url(), follow_redirects=False)
        assert r.status_code == 403, (role, e, r.status_code, r.text[:200])


def test_an_api_key_is_refused_outside_its_scopes(server, routes, demo_ws):
    with Abm.open(demo_ws) as abm:
        plaintext, _ = create_key(abm.app_store, "narrow", ["plays:read"])
    headers = {"Authorization": f"Bearer {plaintext}"}
    outside = [e for e in routes if e.permission not in (None, "*", "plays:read")]
    for e in outside:
        r = server.client.request(e.method, e.url(), headers=headers, follow_redirects=False)
        assert r.status_code == 403, (e, r.status_code, r.text[:200])


def test_the_api_docs_page_loads_nothing_from_elsewhere(server):
    page = server.client.get("/v1/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    for asset in re.findall(r'(?:src|href)="(/v1/docs/assets/[^"]+)"', page.text):
        assert server.client.get(asset).status_code == 200, asset
    assert len(re.findall(r"/v1/docs/assets/", page.text)) == 2
    assert server.client.get("/v1/openapi.json").json()["info"]["title"] == "abmkit"
