"""The propensity model registry: every version with its window and back-test, and activating
one (a rollback), which only an admin may do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from abmkit.api import schemas
from abmkit.api.deps import abm_of, call
from abmkit.api.errors import ERROR_RESPONSES
from abmkit.api.routes import render
from abmkit.api.security import require
from abmkit.auth import Principal

router = APIRouter(tags=["models"], responses=ERROR_RESPONSES)
Reader = Annotated[Principal, Depends(require("models:read"))]
Activator = Annotated[Principal, Depends(require("models:activate"))]
Version = Annotated[str, Path(min_length=1, max_length=40)]


@router.get("/models", response_model=list[schemas.ModelSummary],
            summary="Every model version, newest first")  # fmt: skip
async def list_models(request: Request, who: Reader) -> list[schemas.ModelSummary]:
    found = await call(request, abm_of(request).models)
    return [render.model_summary(m) for m in found]


@router.get("/models/{version}", response_model=schemas.ModelDetail,
            summary="One model: window, settings, back-test")  # fmt: skip
async def get_model(request: Request, version: Version, who: Reader) -> schemas.ModelDetail:
    found = await call(request, abm_of(request).model, version)
    return render.model_detail(found)


@router.post("/models/{version}/activate", response_model=schemas.ModelDetail,
             summary="Make a version the active one (a rollback)")  # fmt: skip
async def activate_model(request: Request, version: Version,
                         who: Activator) -> schemas.ModelDetail:  # fmt: skip
    """The next refresh of the scores uses it."""
    chosen = await call(request, abm_of(request).activate_model, version)
    return render.model_detail(chosen)
