"""Sign in and out with a password (a session cookie for browsers and scripts), and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from abmkit.api.errors import ERROR_RESPONSES
from abmkit.api.security import (
    SESSION_COOKIE,
    client_ip,
    principal,
    secure_cookie,
    user_principal,
)
from abmkit.auth import Principal, authenticate, end_session, start_session
from abmkit.errors import AccessError

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)


class Credentials(BaseModel):
    email: str = Field(..., max_length=320)
    password: str = Field(..., max_length=1000)


class Me(BaseModel):
    kind: str
    name: str
    role: str | None
    permissions: list[str]
    owner: str | None
    csrf_token: str | None = Field(
        None,
        description="Send it back as X-CSRF-Token on every "
        "POST, PATCH or DELETE made with the session cookie.",
    )


def me_of(who: Principal) -> Me:
    return Me(kind=who.kind, name=who.name, role=who.role, permissions=sorted(who.permissions),
              owner=who.owner, csrf_token=who.csrf)  # fmt: skip


def sign_in(request: Request, response: Response, email: str, password: str) -> Principal:
    """Check the password (rate-limited per IP), start a session and set its cookie."""
    app = request.app
    settings = app.state.abm.settings.server
    if not app.state.limiter.hit(settings.login_rate_limit, "login", client_ip(request, settings)):
        raise AccessError("too many sign-in attempts; wait a minute", status=429)
    store = app.state.abm.app_store
    user = authenticate(store, email, password)
    if user is None:
        store.record("session.start", email.strip().lower()[:320], "refused")
        raise AccessError("wrong e-mail or password", status=401)
    token, session = start_session(store, user, settings.session_hours)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.session_hours * 3600),
                        httponly=True, samesite="lax", path="/",
                        secure=secure_cookie(request, settings))  # fmt: skip
    return user_principal(session, user)


@router.post("/auth/login", response_model=Me, summary="Sign in with e-mail and password")
async def login(credentials: Credentials, request: Request, response: Response) -> Me:
    who = await run_in_threadpool(sign_in, request, response, credentials.email,
                                  credentials.password)  # fmt: skip
    return me_of(who)


@router.post("/auth/logout", status_code=204, summary="End this session")
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(end_session, request.app.state.abm.app_store, token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def signed_in(request: Request) -> Principal:
    who = await principal(request)
    if who is None:
        raise AccessError("sign in, or send an API key (Authorization: Bearer abm_…)", status=401)
    return who


signed_in.permission = "*"  # type: ignore[attr-defined]  # any principal


@router.get("/me", response_model=Me, summary="Who this request acts as")
async def me(who: Principal = Depends(signed_in)) -> Me:
    return me_of(who)
