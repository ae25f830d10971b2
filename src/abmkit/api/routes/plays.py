"""Plays (built-in and the workspace's own, validated) and the goals the agent works toward,
with their progress."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from abmkit.api import schemas
from abmkit.api.deps import abm_of, call
from abmkit.api.errors import ERROR_RESPONSES
from abmkit.api.routes import render
from abmkit.api.routes.params import Moment
from abmkit.api.security import require
from abmkit.auth import Principal
from abmkit.decide.goals import board
from abmkit.decide.plays import play_named

router = APIRouter(tags=["plays"], responses=ERROR_RESPONSES)
Reader = Annotated[Principal, Depends(require("plays:read"))]


@router.get("/plays", response_model=list[schemas.PlayOut], summary="Every play")
async def list_plays(request: Request, who: Reader) -> list[schemas.PlayOut]:
    found = await call(request, abm_of(request).plays)
    return [render.play_out(play, source) for play, source in found.values()]


@router.get("/plays/{name}", response_model=schemas.PlayOut, summary="One play")
async def get_play(request: Request, who: Reader,
                   name: Annotated[str, Path(max_length=100)]) -> schemas.PlayOut:  # fmt: skip
    play, source = await call(request, play_named, abm_of(request), name)
    return render.play_out(play, source)


@router.get("/goals", response_model=schemas.Goals, summary="Goals with their progress")
async def list_goals(request: Request, who: Reader,
                     as_of: Annotated[dt.datetime | None, Moment,
                                      Query(description="Measure progress as of this moment "
                                            "(default: the latest scores).")] = None,
                     ) -> schemas.Goals:  # fmt: skip
    now, rows = await call(request, board, abm_of(request), as_of)
    return schemas.Goals(as_of=now, items=[render.goal_out(g, p) for g, p in rows])
