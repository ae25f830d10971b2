"""Who a request is, and whether it may do what it asks.

Authentication: an API key (`Authorization: Bearer abm_…` or `X-API-Key`) or the session cookie
set at sign-in. Authorization: every route depends on `require(permission)`, which answers 401
to nobody and 403 to a principal without the permission, and, for a browser session, checks the
CSRF token on every unsafe method (`X-CSRF-Token` header or a `csrf_token` form field). The
public endpoints depend on `site_access` instead: a configured site key, an allowed origin, and
rate limits per visitor IP and per site.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool

from abmkit.auth import Principal, find_key, find_session
from abmkit.auth.roles import ROLE_PERMISSIONS
from abmkit.config.server import ServerSettings, SiteSettings
from abmkit.errors import AccessError
from abmkit.store.db import ACTOR, AppStore
from abmkit.store.models import LoginSession, User

SESSION_COOKIE = "abm_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# -- authentication ------------------------------------------------------------------------------
def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


def lookup(store: AppStore, key: str | None, cookie: str | None) -> Principal | None:
    """The principal of a presented API key, else of a session cookie; None when neither is
    valid."""
    if key is not None:
        row = find_key(store, key)
        if row is None:
            return None
        return Principal(kind="key", id=row.id, name=row.name, role=None,
                         permissions=frozenset(row.scopes), owner=row.owner)  # fmt: skip
    if cookie:
        found = find_session(store, cookie)
        if found is None:
            return None
        return user_principal(*found)
    return None


def user_principal(session: LoginSession, user: User) -> Principal:
    owner = user.owner if user.role == "sales" else None
    return Principal(kind="user", id=str(user.id), name=user.email, role=user.role,
                     permissions=ROLE_PERMISSIONS[user.role], owner=owner,
                     csrf=session.csrf)  # fmt: skip


async def principal(request: Request) -> Principal | None:
    """Who sent the request (looked up once per request), or None. Sets the actor the audit
    log and reviews name."""
    if "principal" not in request.state._state:
        store = request.app.state.abm.app_store
        key, cookie = presented_key(request), request.cookies.get(SESSION_COOKIE)
        found = None
        if key is not None or cookie:
            found = await run_in_threadpool(lookup, store, key, cookie)
        request.state.principal = found
        if found is not None:
            ACTOR.set(found.actor)
    return request.state.principal


# -- authorization -------------------------------------------------------------------------------
Requirement = Callable[[Request], Awaitable[Principal]]


def require(permission: str) -> Requirement:
    """A dependency: the request's principal, which must hold `permission`."""

    async def check(request: Request) -> Principal:
        who = await principal(request)
        if who is None:
            raise AccessError("sign in, or send an API key (Authorization: Bearer abm_…)",
                              status=401)  # fmt: skip
        if not who.can(permission):
            raise AccessError(f"{who.actor} may not do this (needs {permission})")
        if who.csrf is not None and request.method not in SAFE_METHODS:
            await check_csrf(request, who.csrf)
        return who

    check.permission = permission  # type: ignore[attr-defined]  # read by the route audit test
    return check


async def check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get(CSRF_FIELD) or "")
    if not sent or not hmac.compare_digest(sent, expected):
        raise AccessError("missing or wrong CSRF token; reload the page and try again")


def permission_of(dependency: object) -> str | None:
    return getattr(dependency, "permission", None)


# -- the network ---------------------------------------------------------------------------------
def client_ip(request: Request, settings: ServerSettings) -> str:
    """The visitor's address: the peer, or the left-most X-Forwarded-For entry not itself a
    trusted proxy when the peer is one."""
    peer = request.client.host if request.client else ""
    if peer not in settings.trusted_proxies:
        return peer
    forwarded = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in forwarded if h]):
        if hop not in settings.trusted_proxies:
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_https(request: Request, settings: ServerSettings) -> bool:
    peer = request.client.host if request.client else ""
    if peer in settings.trusted_proxies:
        proto = request.headers.get("x-forwarded-proto")
        if proto:
            return proto.split(",")[0].strip().lower() == "https"
    return request.url.scheme == "https"


def secure_cookie(request: Request, settings: ServerSettings) -> bool:
    if settings.secure_cookies == "auto":
        return is_https(request, settings)
    return settings.secure_cookies == "always"


class Limiter:
    """Moving-window rate limits kept in memory (one server process)."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, rule: str, *keys: str) -> bool:
        """Count one request against `rule` (e.g. "10/minute") for `keys`; False when over."""
        return self._limiter.hit(parse(rule), *keys)


# -- the public endpoints --------------------------------------------------------------------------
@dataclass(frozen=True)
class SiteAccess:
    """A public request allowed in: its site (None for a machine with an API key), the
    visitor's IP, and the Origin to echo in CORS headers."""

    site: SiteSettings | None
    ip: str
    origin: str | None


def site_access(site_key: str | None, request: Request) -> SiteAccess:
    """Check a public request: a configured site key, from an allowed origin (when the browser
    says which), within the rate limits per visitor IP and per site."""
    settings: ServerSettings = request.app.state.abm.settings.server
    limiter: Limiter = request.app.state.limiter
    ip = client_ip(request, settings)
    origin = request.headers.get("origin")
    site = next((s for s in settings.sites if site_key and hmac.compare_digest(s.key, site_key)),
                None)  # fmt: skip
    if site is None:
        raise AccessError("unknown site key", status=401 if not site_key else 403)
    if origin is not None and origin.rstrip("/").lower() not in site.origins:
        raise AccessError(f"origin {origin} is not allowed for this site key")
    if not limiter.hit(settings.public_rate_limit, "ip", ip) or not limiter.hit(
        settings.site_rate_limit, "site", site.key
    ):
        raise AccessError("rate limit reached; slow down", status=429)
    return SiteAccess(site=site, ip=ip, origin=origin)
