"""The workspace's effective settings, read-only, with every secret absent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from abmkit.api import schemas
from abmkit.api.deps import abm_of, call
from abmkit.api.errors import ERROR_RESPONSES
from abmkit.api.security import require
from abmkit.auth import Principal
from abmkit.config.redact import shown

router = APIRouter(tags=["settings"], responses=ERROR_RESPONSES)


@router.get("/settings", response_model=schemas.SettingsOut, summary="The effective settings")
async def get_settings(request: Request,
                       who: Annotated[Principal, Depends(require("settings:read"))]
                       ) -> schemas.SettingsOut:  # fmt: skip
    """As `abm init` would write them (file, then `ABM_*` environment, then flags), without a
    password, token or key value: URL passwords and secret query values are dropped, and the
    `ABM_SECRET_*` variables are named, never shown."""
    values, yaml, secrets = await call(request, shown, abm_of(request).settings)
    return schemas.SettingsOut(settings=values, yaml=yaml, secrets_set=secrets)
