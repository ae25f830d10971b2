"""The public endpoints a website calls with its site key (or a server with an API key holding
`events:write`): the beacon, personalization, routing, and the snippet that calls them.

A site key is public (it sits in the page): the origin allow-list and the rate limits
(`site_access`) keep others from using it. Answers to an allowed origin carry its CORS headers;
a browser asks the beacon and personalization with "simple" requests (no preflight), and the
preflight of anything else is answered for allowed origins only. Handlers parse, call one
service and render: the beacon queues (`abmkit.ingest.beacon`), personalization answers from
memory (`abmkit.decide.realtime`), routing reads the account's recent pages under the
warehouse gate (`abmkit.decide.routing`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from abmkit.api.deps import call
from abmkit.api.errors import ERROR_RESPONSES
from abmkit.api.security import SiteAccess, client_ip, presented_key, principal, site_access
from abmkit.decide import routing
from abmkit.decide.realtime import Realtime
from abmkit.errors import AccessError
from abmkit.ingest import beacon
from abmkit.resolve.visitors import Visitor
from abmkit.store.db import utcnow

router = APIRouter(tags=["public"])
SNIPPET = Path(__file__).parent / "snippet" / "static" / "abm.js"
MAX_BODY = 256 * 1024
SITE_HEADER = "X-Abm-Site"
PREFLIGHT = {"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
             "Access-Control-Allow-Headers": f"Content-Type, {SITE_HEADER}",
             "Access-Control-Max-Age": "600"}  # fmt: skip


# -- who may call ----------------------------------------------------------------------------
async def caller(request: Request, site: Annotated[str | None, Query(
        max_length=200, description="The site key (or send it as X-Abm-Site; a server may "
        "send an API key with events:write instead).")] = None) -> SiteAccess:  # fmt: skip
    """A website by its site key (origin allow-list, rate limits), or a server by its API
    key."""
    key = site or request.headers.get(SITE_HEADER)
    if key is None and presented_key(request) is not None:
        who = await principal(request)
        if who is None:
            raise AccessError("unknown or revoked API key", status=401)
        if not who.can("events:write"):
            raise AccessError(f"{who.actor} may not do this (needs events:write)")
        settings = request.app.state.abm.settings.server
        if not request.app.state.limiter.hit(settings.site_rate_limit, "key", who.id):
            raise AccessError("rate limit reached; slow down", status=429)
        return SiteAccess(site=None, ip=client_ip(request, settings), origin=None)
    return site_access(key, request)


Caller = Annotated[SiteAccess, Depends(caller)]


def cors(access: SiteAccess, response: Response) -> Response:
    """The CORS headers of an allowed origin (site_access refused every other one)."""
    if access.origin is not None and access.site is not None:
        response.headers["Access-Control-Allow-Origin"] = access.origin
    response.headers["Vary"] = "Origin"
    return response


def realtime_of(request: Request) -> Realtime:
    found = getattr(request.app.state, "realtime", None)
    if found is None:
        raise HTTPException(503, "the real-time path is not running (starting or stopping)")
    return found


def sender(access: SiteAccess, request: Request) -> str:
    """Whose events these are: the site's key, or the API key's ID."""
    if access.site is not None:
        return access.site.key
    return f"key:{request.state.principal.id}"


# -- the beacon ------------------------------------------------------------------------------
class EventsAccepted(BaseModel):
    accepted: int = Field(description="Events queued now.")
    duplicates: int = Field(description="Events queued before (the same ID): ignored.")


@router.post("/events", status_code=202, response_model=EventsAccepted,
             responses=ERROR_RESPONSES,  # type: ignore[arg-type]
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": beacon.Events.model_json_schema()},
                 "text/plain": {"schema": {"type": "string"}}}}})  # fmt: skip
async def events(request: Request, access: Caller) -> Response:
    """Queue page views and form events (JSON, also sent as text/plain by `sendBeacon`).
    Answered once they are stored; processed within about a second."""
    body = await _body(request)
    queued = parse_events(body, access, request)
    accepted = await intake_of(request).submit(sender(access, request), queued)
    worker = getattr(request.app.state, "beacon_worker", None)
    if worker is not None and accepted.accepted:
        worker.wake()
    payload = EventsAccepted(accepted=accepted.accepted, duplicates=accepted.duplicates)
    return cors(access, JSONResponse(payload.model_dump(), status_code=202))


def intake_of(request: Request) -> beacon.Intake:
    """The app's group commit of beacon events (made on first use)."""
    state = request.app.state
    if getattr(state, "beacon_intake", None) is None:
        state.beacon_intake = beacon.Intake(state.abm.app_store)
    return state.beacon_intake


async def _body(request: Request) -> bytes:
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", "text/plain", ""):
        raise HTTPException(415, f"send JSON (application/json or text/plain), not {kind}")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, f"the body has {len(body)} bytes, more than {MAX_BODY}")
    return body


def parse_events(body: bytes, access: SiteAccess, request: Request) -> list[dict[str, Any]]:
    """The events to queue, each with the visitor's IP (from the connection for a browser)."""
    try:
        parsed = beacon.Events.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    limit = request.app.state.abm.settings.beacon.max_events_per_request
    if len(parsed.events) > limit:
        raise _invalid(("events",), f"at most {limit} events per request")
    out = []
    for n, e in enumerate(parsed.events):
        if access.site is not None and (e.ip is not None or e.ts is not None):
            given = "ip" if e.ip is not None else "ts"
            raise _invalid(("events", n, given), "only a server (with an API key) may give it")
        out.append(e.model_dump(mode="json", exclude_none=True) | {"ip": e.ip or access.ip})
    return out


def _invalid(loc: tuple, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


# -- personalization -------------------------------------------------------------------------
class Personalized(BaseModel):
    slots: dict[str, str] = Field(description="Text per page slot (headline, subheadline, cta, "
                                  "proof); a slot left out keeps the page's own.")  # fmt: skip
    known: bool = Field(description="Whether the visitor's account was recognized.")


@router.get("/personalize", response_model=Personalized,
            responses=ERROR_RESPONSES)  # type: ignore[arg-type]  # fmt: skip
async def personalize(
    request: Request, access: Caller,
    ct: Annotated[str | None, Query(max_length=1000, description="Known-contact token.")] = None,
    domain: Annotated[str | None, Query(max_length=255,
                                        description="The visitor's company domain.")] = None,
    ip: Annotated[str | None, Query(max_length=45,
                                    description="Server-to-server only: the visitor's IP.")] = None,
) -> Response:  # fmt: skip
    """The variant of each page slot for this visitor, from memory (no warehouse query)."""
    path = realtime_of(request)
    visitor = path.resolve(token=ct, domain=domain, ip=_ip(access, ip))
    chosen = path.personalizer.choose(path.visitors.card(visitor.account_id), visitor.persona)
    body = Personalized(slots={s: v.text for s, v in chosen.items()},
                        known=visitor.account_id is not None)  # fmt: skip
    response = JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store"})
    return cors(access, response)


def _ip(access: SiteAccess, given: str | None) -> str:
    if given is not None and access.site is not None:
        raise _invalid(("ip",), "only a server (with an API key) may give it")
    return given or access.ip


# -- routing ---------------------------------------------------------------------------------
class HandOff(BaseModel):
    """Who is handed off: any of an e-mail, a domain, a known-contact token; without one, the
    visitor's IP."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, max_length=320, description="The visitor's e-mail.")
    domain: str | None = Field(None, max_length=255, description="The visitor's company domain.")
    ct: str | None = Field(None, max_length=1000, description="Known-contact token.")
    ip: str | None = Field(None, max_length=45, description="Server-to-server only: the IP.")


class RoutedPage(BaseModel):
    path: str
    views: int


class Routed(BaseModel):
    owner: str = Field(description="Who takes the hand-off: the account's owner or the fallback.")
    fallback: bool = Field(description="True when the fallback owner was chosen.")
    tier: int | None
    sla_hours: float = Field(description="Hours within which someone should answer.")
    respond_by: str = Field(description="When that is (UTC, ISO 8601).")
    first_line: str = Field(description="A first line for the rep.")
    reason: str = Field(description="What the routing and the first line rest on.")
    account_id: str | None
    account_name: str | None
    matched_by: str | None = Field(description="contact, email, domain or ip (None: unknown).")
    buying_stage: str | None
    key_pages: list[RoutedPage]
    topics: list[str]


@router.post("/route", response_model=Routed, responses=ERROR_RESPONSES)  # type: ignore[arg-type]
async def route(request: Request, access: Caller, hand_off: HandOff) -> Response:
    """Where a chat or form hand-off goes: owner (or fallback), tier, SLA and a first line."""
    path = realtime_of(request)
    visitor = path.resolve(token=hand_off.ct, email=hand_off.email, domain=hand_off.domain,
                           ip=_ip(access, hand_off.ip))  # fmt: skip
    found = await call(request, _routed, path, visitor)
    return cors(access, JSONResponse(found))


def _routed(path: Realtime, visitor: Visitor) -> dict[str, Any]:
    r = routing.hand_off(path.abm.warehouse, path.abm.settings,
                         path.visitors.card(visitor.account_id), visitor, utcnow())  # fmt: skip
    pages = [RoutedPage(path=p.path, views=p.views) for p in r.key_pages]
    return Routed(owner=r.owner, fallback=r.fallback, tier=r.tier, sla_hours=r.sla_hours,
                  respond_by=r.respond_by.isoformat() + "Z", first_line=r.first_line,
                  reason=r.reason, account_id=r.account_id, account_name=r.account_name,
                  matched_by=r.matched_by, buying_stage=r.buying_stage, key_pages=pages,
                  topics=r.topics).model_dump()  # fmt: skip


# -- the snippet and preflights ---------------------------------------------------------------
@router.get("/snippet.js", include_in_schema=True, response_class=Response,
            responses={200: {"content": {"text/javascript": {}}}})  # fmt: skip
async def snippet() -> Response:
    """The script a website embeds: page views to the beacon, the known-contact token kept in
    a first-party cookie, and `data-abm-slot` elements personalized."""
    return Response(_script(), media_type="text/javascript",
                    headers={"Cache-Control": "public, max-age=300"})  # fmt: skip


@functools.cache
def _script() -> bytes:
    return SNIPPET.read_bytes()


async def preflight(access: Caller) -> Response:
    """The CORS preflight of an allowed origin (any other is refused by `site_access`)."""
    return cors(access, Response(status_code=204, headers=PREFLIGHT))


for _path in ("/events", "/personalize", "/route"):
    router.add_api_route(_path, preflight, methods=["OPTIONS"], include_in_schema=False)


# -- the worker's life -------------------------------------------------------------------------
async def start(app: FastAPI) -> None:
    """Build the lookups, finish what a crash cut short, start the beacon's worker."""
    path = Realtime(app.state.abm, app.state.gate)
    await run_in_threadpool(path.load)
    await run_in_threadpool(path.recover)
    s = app.state.abm.settings.beacon
    worker = beacon.Worker(app.state.abm.app_store, path.process, batch=s.batch,
                           idle_s=s.idle_poll_s, tick=path.tick)  # fmt: skip
    worker.start()
    app.state.realtime, app.state.beacon_worker = path, worker


async def stop(app: FastAPI) -> None:
    """Stop the worker once its batch in hand is done."""
    worker = getattr(app.state, "beacon_worker", None)
    if worker is not None:
        await run_in_threadpool(worker.stop)
        app.state.beacon_worker = None
