"""The agent's actions: the approval inbox (list, read with the exact payload and the decision
log), approve, reject and edit. Reviews are recorded under the signed-in user or the API key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from abmkit import scoped
from abmkit.api import schemas
from abmkit.api.deps import abm_of, call
from abmkit.api.errors import ERROR_RESPONSES, ErrorBody
from abmkit.api.routes import render
from abmkit.api.security import require
from abmkit.auth import Principal
from abmkit.store.models import ACTION_STATUSES

router = APIRouter(tags=["actions"], responses=ERROR_RESPONSES)
Reader = Annotated[Principal, Depends(require("actions:read"))]
Reviewer = Annotated[Principal, Depends(require("actions:review"))]
ActionId = Annotated[str, Path(min_length=1, max_length=40, pattern="^[A-Za-z0-9_-]+$",
                               description="An action ID (or its first characters).")]  # fmt: skip
Status = Annotated[str, Query(pattern="^(" + "|".join((*ACTION_STATUSES, "all")) + ")$",
                              description="One status, or all.")]  # fmt: skip
REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "a guardrail refuses the approval now"}
}


@router.get("/actions", response_model=schemas.Page[schemas.ActionSummary],
            summary="The agent's actions, newest first")  # fmt: skip
async def list_actions(
    request: Request,
    who: Reader,
    status: Status = "pending_approval",
    play: Annotated[str | None, Query(max_length=100, description="Only this play.")] = None,
    account: Annotated[str | None, Query(max_length=100, description="Only this account "
                                         "ID.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> schemas.Page[schemas.ActionSummary]:  # fmt: skip
    rows, total = await call(request, scoped.actions, abm_of(request), owner=who.owner,
                             status=status, play=play, account=account, limit=limit,
                             offset=offset)  # fmt: skip
    items = [render.action_summary(a) for a in rows]
    return schemas.Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/actions/{action_id}", response_model=schemas.ActionDetail,
            summary="One action: its exact payload and why it was decided")  # fmt: skip
async def get_action(request: Request, action_id: ActionId, who: Reader) -> schemas.ActionDetail:
    found = await call(request, scoped.action, abm_of(request), action_id, who.owner)
    return render.action_detail(found)


@router.post("/actions/{action_id}/approve", response_model=schemas.ActionDetail,
             responses=REFUSED, summary="Approve a waiting action")  # fmt: skip
async def approve(request: Request, action_id: ActionId, who: Reviewer,
                  review: schemas.Review | None = None) -> schemas.ActionDetail:  # fmt: skip
    """Every guardrail is checked again at the time it will now leave; one that no longer holds
    refuses the approval (409, naming the rule)."""
    note = review.note if review else ""
    done = await call(request, scoped.approve, abm_of(request), action_id, note, who.owner)
    return render.action_detail(done)


@router.post("/actions/{action_id}/reject", response_model=schemas.ActionDetail,
             summary="Reject a waiting action: it never leaves")  # fmt: skip
async def reject(request: Request, action_id: ActionId, who: Reviewer,
                 review: schemas.Review | None = None) -> schemas.ActionDetail:  # fmt: skip
    note = review.note if review else ""
    done = await call(request, scoped.reject, abm_of(request), action_id, note, who.owner)
    return render.action_detail(done)


@router.patch("/actions/{action_id}", response_model=schemas.ActionDetail,
              summary="Change what a waiting action will send")  # fmt: skip
async def edit(request: Request, action_id: ActionId, body: schemas.Changes,
               who: Reviewer) -> schemas.ActionDetail:  # fmt: skip
    """Only the channel's editable fields (see `editable`); it still waits for approval."""
    done = await call(request, scoped.edit, abm_of(request), action_id, body.changes, body.note,
                      who.owner)  # fmt: skip
    return render.action_detail(done)
