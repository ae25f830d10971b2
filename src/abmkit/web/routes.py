"""The web UI's pages. Each handler parses the request, calls one page service
(`abmkit.web.pages`) under the warehouse gate, and renders a template; every page depends on
`require(permission)`, so nobody signed in is sent to `/login` and a missing permission shows a
plain refusal (`abmkit.web.guard.html_errors`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from abmkit.api.deps import abm_of, call
from abmkit.api.routes.auth import sign_in
from abmkit.api.routes.reports import report_cache
from abmkit.api.security import SESSION_COOKIE, check_csrf, principal, require
from abmkit.auth import Principal, end_session
from abmkit.errors import AccessError
from abmkit.score.views import SORTS
from abmkit.web import guard, pages
from abmkit.web.assets import Assets
from abmkit.web.render import page

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Add the UI's routes, static assets and HTML error pages to the app."""
    app.include_router(router)
    app.mount("/static", Assets(), name="static")
    app.state.html_errors = guard.html_errors


def htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


# -- signing in and out --------------------------------------------------------------------------
@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    if await principal(request) is not None:
        return RedirectResponse(guard.safe_next(next), status_code=303)
    return _login(request, next)


def _login(request: Request, next: str, *, error: str | None = None, status: int = 200,
           email: str = "") -> Response:  # fmt: skip
    """The sign-in form, with a fresh double-submit token in its cookie and hidden field."""
    token = guard.login_token()
    response = page(request, "login.html.j2", status=status, next=guard.safe_next(next),
                    error=error, email=email, token=token)  # fmt: skip
    guard.set_login_cookie(request, response, token)
    return response


@router.post("/login")
async def login(request: Request, email: Annotated[str, Form(max_length=320)] = "",
                password: Annotated[str, Form(max_length=1000)] = "",
                csrf_token: Annotated[str, Form(max_length=200)] = "",
                next: Annotated[str, Form(max_length=2000)] = "/") -> Response:  # fmt: skip
    """Check the form's own CSRF token, then the password; on success go where the person was
    going, else show the form again with what went wrong."""
    target = RedirectResponse(guard.safe_next(next), status_code=303)
    try:
        guard.check_login_token(request, csrf_token)
        await run_in_threadpool(sign_in, request, target, email, password)
    except AccessError as exc:
        return _login(request, next, error=str(exc), status=exc.status, email=email)
    target.delete_cookie(guard.LOGIN_CSRF_COOKIE, path="/")
    return target


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End this browser's session (the form carries the session's CSRF token)."""
    who = await principal(request)
    token = request.cookies.get(SESSION_COOKIE)
    if who is not None and who.csrf is not None and token:
        await check_csrf(request, who.csrf)
        await run_in_threadpool(end_session, abm_of(request).app_store, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- the pages -----------------------------------------------------------------------------------
@router.get("/")
async def overview(request: Request, who: Principal = Depends(require("accounts:read"))
                   ) -> Response:  # fmt: skip
    data = await call(request, pages.overview_page, abm_of(request), who, report_cache(request))
    return page(request, "overview.html.j2", nav="overview", **data)


class AccountFilters(BaseModel):
    """The Accounts page's query: an empty form field means "any"."""

    model_config = ConfigDict(extra="ignore")

    tier: int | None = Field(None, ge=1, le=3)
    stage: str | None = Field(None, max_length=40)
    cluster: int | None = Field(None, ge=0)
    ready: Literal["yes", "no"] | None = None
    q: str | None = Field(None, max_length=200)
    sort: Literal[tuple(SORTS)] = "priority"  # type: ignore[valid-type]
    page: int = Field(1, ge=1, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_any(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v not in ("", None)}
        return data

    def query(self) -> pages.AccountQuery:
        ready = None if self.ready is None else self.ready == "yes"
        return pages.AccountQuery(tier=self.tier, stage=self.stage, cluster=self.cluster,
                                  sales_ready=ready, search=self.q, sort=self.sort,
                                  page=self.page)  # fmt: skip


@router.get("/accounts")
async def accounts(request: Request, filters: Annotated[AccountFilters, Query()],
                   who: Principal = Depends(require("accounts:read"))) -> Response:  # fmt: skip
    data = await call(request, pages.accounts_page, abm_of(request), who, filters.query())
    return page(request, "accounts.html.j2", nav="accounts", form=filters, **data)


@router.get("/accounts/{key}")
async def account(request: Request, key: str,
                  who: Principal = Depends(require("accounts:read"))) -> Response:  # fmt: skip
    data = await call(request, pages.account_page, abm_of(request), who, key)
    return page(request, "account.html.j2", nav="accounts", **data)


@router.get("/inbox")
async def inbox(request: Request, status: Annotated[str, Query(max_length=40)] = "pending_approval",
                limit: Annotated[int, Query(ge=1, le=500)] = 10,
                account: Annotated[str | None, Query(max_length=100)] = None,
                who: Principal = Depends(require("actions:read"))) -> Response:  # fmt: skip
    data = await call(request, pages.inbox_page, abm_of(request), who, status, limit,
                      account or None)  # fmt: skip
    return page(request, "inbox.html.j2", nav="inbox", **data)


async def _review(request: Request, who: Principal, action_id: str, verb: str, note: str,
                  fields: dict[str, str] | None = None) -> Response:  # fmt: skip
    card = await call(request, pages.review, abm_of(request), who, action_id, verb, note, fields)
    if htmx(request):
        return page(request, "action_card.html.j2", card=card)
    return RedirectResponse("/inbox", status_code=303)


Note = Annotated[str, Form(max_length=2000)]


@router.post("/inbox/{action_id}/approve")
async def approve(request: Request, action_id: str, note: Note = "",
                  who: Principal = Depends(require("actions:review"))) -> Response:  # fmt: skip
    return await _review(request, who, action_id, "approve", note)


@router.post("/inbox/{action_id}/reject")
async def reject(request: Request, action_id: str, note: Note = "",
                 who: Principal = Depends(require("actions:review"))) -> Response:  # fmt: skip
    return await _review(request, who, action_id, "reject", note)


@router.post("/inbox/{action_id}/edit")
async def edit(request: Request, action_id: str, note: Note = "",
               who: Principal = Depends(require("actions:review"))) -> Response:  # fmt: skip
    form = await request.form()
    fields = {k.removeprefix("field."): str(v) for k, v in form.items() if k.startswith("field.")}
    return await _review(request, who, action_id, "edit", note, fields)


@router.get("/plays")
async def plays(request: Request, who: Principal = Depends(require("plays:read"))) -> Response:
    data = await call(request, pages.plays_page, abm_of(request))
    return page(request, "plays.html.j2", nav="plays", **data)


@router.get("/measure")
async def measure(request: Request, who: Principal = Depends(require("reports:read"))) -> Response:
    data = await call(request, pages.measure_page, abm_of(request), report_cache(request))
    return page(request, "measure.html.j2", nav="measure", **data)


@router.get("/settings")
async def settings(request: Request,
                   who: Principal = Depends(require("settings:read"))) -> Response:  # fmt: skip
    data = await call(request, pages.settings_page, abm_of(request))
    return page(request, "settings.html.j2", nav="settings", **data)
