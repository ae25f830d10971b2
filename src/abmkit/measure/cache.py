"""Built reports kept for reuse while the workspace's data stays the same.

Building the report, attribution or lift takes seconds on a real workspace (Markov and Shapley
attribution, bootstrap intervals), and a server is asked for the same one on every page load.
`ReportCache` keeps the JSON form of the last few built, keyed by their parameters, and forgets
all of them as soon as the workspace's data version changes. The version is read before every
answer (a few small queries) and moves with:

- a refresh of the scores (a new row of `score_runs`, which `abm score`, the replay of
  `abm demo` and the incremental refresh of the beacon all write),
- a load of data (a new row of `loads`: touches and opportunities feed attribution even
  before the next refresh),
- a holdout assignment or reset (lift reads the application store's assignments).

Settings do not change while a server runs (they are read when it starts), so they are not part
of the key. The cache belongs to one server (one workspace) and is used under the warehouse's
gate, one request at a time.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abmkit.measure.report import (
    ATTRIBUTION_MODELS,
    SECTIONS,
    attribution_over,
    build_report,
    records,
    report_json,
)
from abmkit.store.models import HoldoutAssignment

if TYPE_CHECKING:
    from abmkit.app import Abm

SIZE = 16
"""How many built answers are kept (the oldest used goes first)."""


def data_version(abm: Abm) -> tuple:
    """What the reports were built from: the latest refresh, the latest load and the holdout
    assignments. Equal versions give equal reports for equal parameters."""
    wh = abm.warehouse
    runs, loads = wh.table("score_runs"), wh.table("loads")
    refresh = (wh.scalar(runs.count()), wh.scalar(runs.finished_at.max()))
    loaded = (wh.scalar(loads.count()), wh.scalar(loads.started_at.max()))
    with Session(abm.app_store.engine) as session:
        held = session.execute(select(func.count(), func.max(HoldoutAssignment.assigned_at))
                               ).one()  # fmt: skip
    return refresh, loaded, tuple(held)


class ReportCache:
    """The last `size` answers built for one workspace, valid for one data version."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self.version: tuple | None = None
        self.entries: OrderedDict[Hashable, Any] = OrderedDict()
        self.builds = 0
        """How many answers were built rather than reused (read by the tests)."""

    def get(self, abm: Abm, key: Hashable, build: Callable[[], Any]) -> Any:
        """The answer for `key`: kept, or built now when the data changed since or it was
        never asked."""
        version = data_version(abm)
        if version != self.version:
            self.entries.clear()
            self.version = version
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        value = self.entries[key] = build()
        self.builds += 1
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value


def report(abm: Abm, cache: ReportCache, *, sections: tuple[str, ...] = SECTIONS,
           days: int = 90, weeks: int = 12,
           as_of: dt.datetime | None = None) -> dict:  # fmt: skip
    """The report's JSON form (`abm report --format json`) with the chosen sections; the whole
    report is built once per parameters and data version, whichever section is asked."""

    def build() -> dict:
        return report_json(build_report(abm, as_of=as_of, days=days, weeks=weeks))

    full = cache.get(abm, ("report", days, weeks, as_of), build)
    return full | {"sections": {k: v for k, v in full["sections"].items() if k in sections}}


def attribution(abm: Abm, cache: ReportCache, *, models: tuple[str, ...] = ATTRIBUTION_MODELS,
                level: str | None = None, lookback: int | None = None, days: int = 365,
                as_of: dt.datetime | None = None, order: int = 1) -> dict:  # fmt: skip
    """Attribution as `abm attribution --format json` gives its rows, with the period and the
    opportunities that had no touch to credit."""

    def build() -> dict:
        frame, journeys, period = attribution_over(abm, days=days, as_of=as_of, models=models,
                                                   level=level, lookback=lookback,
                                                   order=order)  # fmt: skip
        return {"since": period.since.isoformat(), "as_of": period.as_of.isoformat(),
                "opportunities": journeys.opportunities, "untouched": journeys.untouched,
                "untouched_pipeline": float(journeys.untouched_pipeline),
                "rows": records(frame)}  # fmt: skip

    key = ("attribution", models, level, lookback, days, as_of, order)
    return cache.get(abm, key, build)


def lift(abm: Abm, cache: ReportCache, *, scope: str | None = None,
         since: dt.date | None = None) -> dict:  # fmt: skip
    """Lift against the holdouts as `abm lift --format json` gives its rows, with the
    confidence level of the intervals."""
    from abmkit.measure.lift import lift as measure_lift

    def build() -> dict:
        return {"confidence": abm.settings.measure.holdout.confidence,
                "rows": records(measure_lift(abm, scope=scope, since=since))}  # fmt: skip

    return cache.get(abm, ("lift", scope, since), build)
