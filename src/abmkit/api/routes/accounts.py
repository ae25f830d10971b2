"""Accounts: the scored list (filter, search, sort, page), one account with everything known
about it, and its timeline. A sales user (or an owner-bound key) sees only its owner's."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from abmkit import scoped
from abmkit.api import schemas
from abmkit.api.deps import abm_of, call
from abmkit.api.errors import ERROR_RESPONSES
from abmkit.api.routes import render
from abmkit.api.security import require
from abmkit.auth import Principal

router = APIRouter(tags=["accounts"], responses=ERROR_RESPONSES)
Reader = Annotated[Principal, Depends(require("accounts:read"))]
Key = Annotated[str, Path(min_length=1, max_length=500, description="Account ID or domain.")]
Sort = Literal["priority", "fit", "intent", "engagement", "name"]


@router.get("/accounts", response_model=schemas.Page[schemas.AccountSummary],
            summary="Scored accounts, best first")  # fmt: skip
async def list_accounts(
    request: Request,
    who: Reader,
    tier: Annotated[int | None, Query(ge=1, le=3, description="Only this tier.")] = None,
    stage: Annotated[str | None, Query(max_length=40, description="Only this buying or journey "
                                       "stage, e.g. Decision, MQA (any case).")] = None,
    cluster: Annotated[int | None, Query(ge=0, le=10_000, description="Only this Tier 2 "
                                         "cluster.")] = None,
    sales_ready: Annotated[bool | None, Query(description="Only sales-ready accounts (true) or "
                                              "only the others (false).")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name or domain contains "
                                   "this.")] = None,
    owner: Annotated[str | None, Query(max_length=200, description="Only this CRM owner's "
                                       "(a sales user always sees only its own).")] = None,
    sort: Annotated[Sort, Query(description="Highest first; name: A to Z.")] = "priority",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> schemas.Page[schemas.AccountSummary]:  # fmt: skip
    rows, total = await call(request, scoped.accounts, abm_of(request),
                             owner=who.owner if who.owner_only else owner, tier=tier,
                             stage=stage, cluster=cluster, sales_ready=sales_ready, search=q,
                             sort=sort, limit=limit, offset=offset)  # fmt: skip
    items = [schemas.AccountSummary.model_validate(r) for r in rows]
    return schemas.Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/accounts/{key}", response_model=schemas.AccountDetail,
            summary="One account: scores with reasons, committee, actions")  # fmt: skip
async def get_account(request: Request, key: Key, who: Reader) -> schemas.AccountDetail:
    page = await call(request, scoped.account_page, abm_of(request), key, who.owner)
    return render.account_detail(page)


@router.get("/accounts/{key}/timeline", response_model=schemas.Timeline,
            summary="What happened to an account, newest first")  # fmt: skip
async def get_timeline(request: Request, key: Key, who: Reader,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50
                       ) -> schemas.Timeline:  # fmt: skip
    account_id, events = await call(request, scoped.timeline, abm_of(request), key, who.owner,
                                    limit)  # fmt: skip
    items = [schemas.TimelineEntry.model_validate(e) for e in events]
    return schemas.Timeline(account_id=account_id, items=items)
