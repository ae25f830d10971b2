"""Measurement: the report's sections (the numbers and JSON form of `abm report --format json`),
attribution and lift against the holdouts.

Built answers are kept per server (`abmkit.measure.cache.ReportCache`) and reused until the
workspace's data changes — a refresh of the scores, a load, a holdout assignment — so a page
load does not build the report again.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AfterValidator

from abmkit.api import schemas
from abmkit.api.deps import abm_of, call
from abmkit.api.errors import ERROR_RESPONSES
from abmkit.api.routes.params import Day, Moment
from abmkit.api.security import require
from abmkit.auth import Principal
from abmkit.measure import cache
from abmkit.measure.journeys import lookback_days
from abmkit.measure.report import ATTRIBUTION_MODELS, SECTION_TITLES, SECTIONS

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)
Reader = Annotated[Principal, Depends(require("reports:read"))]
Section = Literal[SECTIONS]  # type: ignore[valid-type]
Model = Literal[ATTRIBUTION_MODELS]  # type: ignore[valid-type]
AsOf = Annotated[dt.datetime | None, Moment,
                 Query(description="The last moment covered (default: the latest "
                       "scores).")]  # fmt: skip


def _lookback(text: str | None) -> int | None:
    return None if text is None else lookback_days(text)


def _checked_lookback(text: str | None) -> str | None:
    _lookback(text)  # a ValueError names the problem; the parameter's 422 names the field
    return text


Lookback = Annotated[str | None, AfterValidator(_checked_lookback),
                     Query(pattern=r"^\d{1,4}[dwm]?$", description="Touches this long before "
                           "an opportunity count: 90d, 12w, 3m (default: "
                           "measure.attribution.lookback_days).")]  # fmt: skip


def report_cache(request: Request) -> cache.ReportCache:
    """The server's cache of built reports (made on first use)."""
    state = request.app.state
    found = getattr(state, "report_cache", None)
    if found is None:
        found = state.report_cache = cache.ReportCache()
    return found


Cache = Annotated[cache.ReportCache, Depends(report_cache)]


@router.get("/reports", response_model=schemas.ReportIndex, summary="The report's sections")
async def list_sections(who: Reader) -> schemas.ReportIndex:
    return schemas.ReportIndex(sections=[
        schemas.SectionRef(name=s, title=SECTION_TITLES[s], url=f"/v1/reports/{s}")
        for s in SECTIONS])  # fmt: skip


@router.get("/reports/{section}", response_model=schemas.ReportOut,
            summary="One section of the report, as `abm report --format json`")  # fmt: skip
async def get_section(
    request: Request,
    who: Reader,
    reports: Cache,
    section: Annotated[Section, Path(description="kpis, funnel_stages, funnel_moves, tiers, "
                                     "acv, movers, attribution or lift.")],
    days: Annotated[int, Query(ge=1, le=3650, description="Days the report covers.")] = 90,
    weeks: Annotated[int, Query(ge=1, le=260, description="Weeks of funnel history.")] = 12,
    as_of: AsOf = None,
) -> schemas.ReportOut:  # fmt: skip
    data = await call(request, cache.report, abm_of(request), reports, sections=(section,),
                      days=days, weeks=weeks, as_of=as_of)  # fmt: skip
    return schemas.ReportOut.model_validate(data)


@router.get("/attribution", response_model=schemas.AttributionOut,
            summary="Credit for pipeline and revenue per channel and model")  # fmt: skip
async def get_attribution(
    request: Request,
    who: Reader,
    reports: Cache,
    model: Annotated[list[Model] | None, Query(description="Models (repeat the parameter); "
                                               "default all.")] = None,
    level: Annotated[Literal["channel", "campaign"] | None,
                     Query(description="Credit channels or campaigns (default: "
                           "measure.attribution.level).")] = None,
    lookback: Lookback = None,
    days: Annotated[int, Query(ge=1, le=3650, description="Opportunities created in this many "
                               "days up to as_of.")] = 365,
    as_of: AsOf = None,
    order: Annotated[int, Query(ge=1, le=4, description="Markov chain order.")] = 1,
) -> schemas.AttributionOut:  # fmt: skip
    data = await call(request, cache.attribution, abm_of(request), reports,
                      models=tuple(dict.fromkeys(model or ATTRIBUTION_MODELS)), level=level,
                      lookback=_lookback(lookback), days=days, as_of=as_of,
                      order=order)  # fmt: skip
    return schemas.AttributionOut.model_validate(data)


@router.get("/lift", response_model=schemas.LiftOut,
            summary="Lift of treated accounts over the randomized holdouts")  # fmt: skip
async def get_lift(
    request: Request,
    who: Reader,
    reports: Cache,
    scope: Annotated[str | None, Query(max_length=120, description="One scope, e.g. tier:1 or "
                                       "play:key-page-visit-sdr.")] = None,
    since: Annotated[dt.date | None, Day, Query(description="Count opportunities created from "
                                                "this day.")] = None,
) -> schemas.LiftOut:  # fmt: skip
    data = await call(request, cache.lift, abm_of(request), reports, scope=scope, since=since)
    return schemas.LiftOut.model_validate(data)
