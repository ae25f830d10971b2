"""Goals: a metric for a segment of accounts over a calendar period, its progress and its gap.

Progress compares the period so far with the whole previous period: the target is the previous
period's value × (1 + target_change) (or the absolute `target`), and the pace is that target ×
the share of the period gone by. A goal behind its pace raises the value of actions on its
accounts (`Account.goal_boost`, at most `agent.max_goal_boost`), so the agent favours the
segments that are behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from abmkit.config.settings import Goal
from abmkit.decide.agent import Account
from abmkit.errors import ConfigError
from abmkit.warehouse.engine import Warehouse

if TYPE_CHECKING:
    from abmkit.app import Abm

ENGAGED_KINDS = ("email_click", "email_reply", "form_fill", "meeting", "web_visit", "event",
                 "ad_click")  # fmt: skip


@dataclass(frozen=True)
class Progress:
    goal: str
    metric: str
    period_start: dt.date
    period_end: dt.date
    previous: float
    target: float
    actual: float
    pace: float
    """Where the metric should be by now to reach the target at the period's end."""

    @property
    def gap(self) -> float:
        """How far behind the pace (0 when on or ahead of it)."""
        return max(self.pace - self.actual, 0.0)

    @property
    def behind(self) -> bool:
        return self.actual < self.pace

    @property
    def share_behind(self) -> float:
        return self.gap / self.pace if self.pace > 0 else 0.0


def period(kind: str, now: dt.datetime) -> tuple[dt.date, dt.date, dt.date]:
    """(start of the previous period, start of this one, start of the next)."""
    d = now.date()
    if kind == "month":
        start = d.replace(day=1)
        months = 1
    elif kind == "quarter":
        start = d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1)
        months = 3
    else:
        start = d.replace(month=1, day=1)
        months = 12
    return _add_months(start, -months), start, _add_months(start, months)


def _add_months(d: dt.date, months: int) -> dt.date:
    index = d.year * 12 + d.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def segment_filter(t: ir.Table, segment: Mapping[str, object], where: str) -> ir.Table:
    """Accounts of `t` in the segment: column → value or list; min_/max_ bounds on numbers."""
    for key, wanted in segment.items():
        bound, column = _bound(key, t)
        if column not in t.columns:
            raise ConfigError(f"{where}: unknown column {column!r}; one of "
                              f"{', '.join(sorted(t.columns))}")  # fmt: skip
        col = t[column]
        if bound == "min":
            t = t.filter(col >= wanted)
        elif bound == "max":
            t = t.filter(col <= wanted)
        elif isinstance(wanted, list):
            t = t.filter(col.isin(wanted))
        else:
            t = t.filter(col == wanted)
    return t


def _bound(key: str, t: ir.Table) -> tuple[str, str]:
    for prefix in ("min_", "max_"):
        if key.startswith(prefix) and key not in t.columns:
            return prefix[:3], key.removeprefix(prefix)
    return "", key


def accounts_table(wh: Warehouse) -> ir.Table:
    scores = wh.table("account_scores").drop("as_of", "scored_at")
    return wh.table("accounts").join(scores, "account_id", how="left")


def progress(wh: Warehouse, goals: list[Goal], now: dt.datetime) -> list[Progress]:
    out = []
    for n, goal in enumerate(goals):
        members = segment_filter(accounts_table(wh), goal.segment, f"goals.{n}.segment")
        ids = members.select("account_id")
        before, start, end = period(goal.period, now)
        previous = _metric(wh, goal.metric, ids, before, start)
        actual = _metric(wh, goal.metric, ids, start, end)
        target = goal.target if goal.target is not None else previous * (1 + goal.target_change)
        elapsed = (now - dt.datetime.combine(start, dt.time())).total_seconds()
        span = (end - start).days * 86400
        share = min(max(elapsed / span, 0.0), 1.0)
        out.append(Progress(goal.name, goal.metric, start, end, previous, target, actual,
                            target * share))  # fmt: skip
    return out


def _metric(wh: Warehouse, metric: str, ids: ir.Table, start: dt.date, end: dt.date) -> float:
    if metric in ("pipeline", "opportunities"):
        o = wh.table("opportunities")
        o = o.filter((o.created_at >= start) & (o.created_at < end))
        o = o.semi_join(ids, "account_id")
        value = o.amount.sum() if metric == "pipeline" else o.count()
    else:
        t = wh.table("touches")
        t = t.filter(
            (t.ts >= ibis.date(start).cast("timestamp")) & (t.ts < ibis.date(end).cast("timestamp"))
        ).semi_join(ids, "account_id")
        if metric == "meetings":
            value = t.filter(t.kind == "meeting").count()
        else:
            value = t.filter(t.kind.isin(ENGAGED_KINDS)).account_id.nunique()
    return float(wh.scalar(value) or 0.0)


def boost(accounts: dict[str, Account], progress_: list[Progress], wh: Warehouse,
          goals: list[Goal]) -> dict[str, Account]:  # fmt: skip
    """Accounts of goals behind pace, with their boost and the goals' names."""
    behind = [(g, p) for g, p in zip(goals, progress_, strict=True) if p.behind]
    if not behind:
        return accounts
    out = dict(accounts)
    for n, (goal, p) in enumerate(behind):
        members = segment_filter(accounts_table(wh), goal.segment, f"goals.{n}.segment")
        for account_id in members.select("account_id").to_pyarrow().column(0).to_pylist():
            a = out.get(account_id)
            if a is not None:
                out[account_id] = replace(a, goal_boost=max(a.goal_boost, p.share_behind),
                                          goals=(*a.goals, goal.name))  # fmt: skip
    return out


def board(
    abm: Abm, as_of: dt.datetime | None = None
) -> tuple[dt.datetime, list[tuple[Goal, Progress]]]:
    """Every configured goal with its progress as of a moment (default: that of the latest
    scores, as reports are), for the faces that show goals beside the plays."""
    from abmkit.measure.report import report_moment

    now = as_of or report_moment(abm)
    goals = abm.settings.goals
    return now, list(zip(goals, progress(abm.warehouse, goals, now), strict=True))
