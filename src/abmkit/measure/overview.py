"""What the web UI's Overview shows that the report does not: how engagement moved week by week,
what the agent did day by day, and the accounts one sales owner holds.

Each figure is a small function over the warehouse (Ibis) or the application store (SQLAlchemy)
returning a DataFrame, plus an Altair chart of it in the report's house style, so the Overview
and anything else (a notebook, the API) read the same numbers.

- **Engagement trend**: per week (Monday) and current tier, the accounts with at least one
  engaged touch (a kind that earns engagement minutes, as in the KPIs) and those touches.
- **Agent activity**: the agent's actions by the day they were decided and their status now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import altair as alt
import ibis
import ibis.expr.datatypes as idt
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abmkit.config.settings import Settings
from abmkit.decide import inbox
from abmkit.measure import charts
from abmkit.measure.formatting import format_value
from abmkit.score.signals import earns_minutes
from abmkit.store.db import AppStore
from abmkit.store.models import ACTION_STATUSES, Action, AuditEvent
from abmkit.warehouse.engine import Warehouse

REVIEWS = ("action.approve", "action.reject", "action.edit")
STATUS_LABELS = {"pending_approval": "Waiting for approval", "queued": "Queued",
                 "sending": "Sending", "sent": "Sent", "dry_run": "Dry run (not sent)",
                 "blocked": "Blocked by a guardrail", "rejected": "Rejected",
                 "dead": "Failed"}  # fmt: skip
STATUS_COLORS = {"pending_approval": "#f59f00", "queued": "#2f6fde", "sending": "#7048e8",
                 "sent": "#12a594", "dry_run": "#5c940d", "blocked": "#e8590c",
                 "rejected": "#868e96", "dead": "#c2255c"}  # fmt: skip
TIER_LABELS = ("Tier 1", "Tier 2", "Tier 3", "No tier")


def account_names(wh: Warehouse, ids: Collection[str]) -> dict[str, str]:
    """account_id → name, for the accounts of a list of actions."""
    if not ids:
        return {}
    acc = wh.table("accounts")
    rows = acc.filter(acc.account_id.isin(sorted(ids))).select("account_id", "name")
    return {str(r["account_id"]): str(r["name"] or r["account_id"])
            for r in rows.to_pyarrow().to_pylist()}  # fmt: skip


# -- engagement --------------------------------------------------------------------------------
def engagement_trend(wh: Warehouse, settings: Settings, as_of: dt.datetime, *, weeks: int = 12,
                     owner: str | None = None) -> pd.DataFrame:  # fmt: skip
    """week (the Monday), tier ("Tier 1" … "No tier"), engaged_accounts, engaged_touches for
    the `weeks` weeks up to `as_of`; with `owner`, that owner's accounts only."""
    start = _monday(as_of.date()) - dt.timedelta(weeks=weeks - 1)
    t = wh.table("touches")
    t = t.filter(t.account_id.notnull() & earns_minutes(t.kind, settings)
                 & (t.ts >= ibis.literal(dt.datetime.combine(start, dt.time()), idt.timestamp))
                 & (t.ts <= ibis.literal(as_of, idt.timestamp)))  # fmt: skip
    acc = wh.table("accounts").select(_aid="account_id", _owner="owner")
    scores = wh.table("account_scores").select(_sid="account_id", _tier="tier")
    j = t.join(acc, t.account_id == acc._aid).left_join(scores, t.account_id == scores._sid)
    if owner is not None:
        j = j.filter(j._owner == owner)
    week = j.ts.truncate("W").cast(idt.date).name("week")
    rows = j.group_by([week, j._tier.name("tier")]).agg(
        engaged_accounts=j.account_id.nunique(), engaged_touches=j.count()
    ).to_pandas()  # fmt: skip
    return _weekly_grid(rows, start, weeks)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _weekly_grid(rows: pd.DataFrame, start: dt.date, weeks: int) -> pd.DataFrame:
    """Every week × tier that engaged at all, zeros where nothing happened that week, so a
    quiet week reads as a dip."""
    tiers = [format_value("tier", "none" if pd.isna(t) else int(t)) for t in rows["tier"]]
    rows = rows.assign(tier=tiers, week=pd.to_datetime(rows["week"]).dt.date)
    rows = rows.groupby(["week", "tier"], as_index=False)[["engaged_accounts",
                                                           "engaged_touches"]].sum()  # fmt: skip
    grid = pd.MultiIndex.from_product(
        [[start + dt.timedelta(weeks=n) for n in range(weeks)], list(TIER_LABELS)],
        names=["week", "tier"])  # fmt: skip
    full = rows.set_index(["week", "tier"]).reindex(grid, fill_value=0).reset_index()
    full = full[full["tier"].isin(set(rows["tier"]))]
    return full.astype({"engaged_accounts": int, "engaged_touches": int})


def trend_chart(trend: pd.DataFrame) -> dict[str, Any] | None:
    """Engaged accounts per week, one line per tier."""
    if trend.empty or not trend["engaged_accounts"].any():
        return None
    data = trend.assign(week=[format_value("week", w) for w in trend["week"]],
                        accounts_text=[format_value("accounts", n)
                                       for n in trend["engaged_accounts"]])  # fmt: skip
    tiers = [t for t in TIER_LABELS if t in set(data["tier"])]
    chart = alt.Chart(alt.Data(values=charts.records(data))).mark_line(
        point=alt.OverlayMarkDef(size=30), strokeWidth=2.5
    ).encode(
        x=alt.X("utcyearmonthdate(week):T", title="Week",
                axis=alt.Axis(format="%b %-d", labelAngle=0, grid=False)),
        y=alt.Y("engaged_accounts:Q", title="Engaged accounts"),
        color=alt.Color("tier:N", title="Tier", sort=tiers, scale=alt.Scale(domain=tiers)),
        tooltip=[alt.Tooltip("week:N", title="Week"), alt.Tooltip("tier:N", title="Tier"),
                 alt.Tooltip("accounts_text:N", title="Engaged accounts")],
    ).properties(width="container", height=240)  # fmt: skip
    return charts.styled(chart)


# -- the agent ---------------------------------------------------------------------------------
def agent_activity(store: AppStore, *, days: int = 14,
                   accounts: Collection[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """day, status, actions: what the agent decided on each of the `days` days up to its
    latest decision, by status now; with `accounts`, those accounts' actions only."""
    day = func.date(Action.created_at)
    with Session(store.engine) as session:
        last = session.scalar(select(func.max(Action.created_at)))
        if last is None:
            return pd.DataFrame(columns=["day", "status", "actions"])
        since = dt.datetime.combine(last.date() - dt.timedelta(days=days - 1), dt.time())
        q = select(day, Action.status, func.count()).where(Action.created_at >= since)
        rows = _in_chunks(session, q.group_by(day, Action.status), accounts)
    frame = pd.DataFrame(rows, columns=["day", "status", "actions"])
    frame["day"] = [str(d)[:10] for d in frame["day"]]
    return frame.groupby(["day", "status"], as_index=False)["actions"].sum()


def _in_chunks(session: Session, q: Any, accounts: Collection[str] | None) -> list[tuple]:
    """Run `q`, or once per 500 of `accounts` when given (a bounded IN list per query)."""
    return [tuple(r) for part in inbox.per_accounts(q, accounts) for r in session.execute(part)]


def actions_by_status(store: AppStore,
                      accounts: Collection[str] | None = None) -> dict[str, int]:  # fmt: skip
    """How many actions are in each status now (every status, zeros included)."""
    with Session(store.engine) as session:
        q = select(Action.status, func.count()).group_by(Action.status)
        found: dict[str, int] = {s: 0 for s in ACTION_STATUSES}
        for status, n in _in_chunks(session, q, accounts):
            found[status] = found.get(status, 0) + int(n)
    return found


def activity_chart(activity: pd.DataFrame) -> dict[str, Any] | None:
    """Actions decided per day over the 14 days up to the latest, stacked by status now."""
    if activity.empty:
        return None
    statuses = [s for s in STATUS_LABELS if s in set(activity["status"])]
    last = dt.date.fromisoformat(max(activity["day"]))
    days = [format_value("week", last - dt.timedelta(days=n)) for n in range(13, -1, -1)]
    data = activity.assign(status=[STATUS_LABELS.get(s, s) for s in activity["status"]],
                           day=[format_value("week", d) for d in activity["day"]],
                           actions_text=[format_value("accounts", n)
                                         for n in activity["actions"]])  # fmt: skip
    labels = [STATUS_LABELS[s] for s in statuses]
    chart = alt.Chart(alt.Data(values=charts.records(data))).mark_bar(
        cornerRadiusTopLeft=2, cornerRadiusTopRight=2
    ).encode(
        x=alt.X("day:O", title="Day decided", sort=days, axis=alt.Axis(labelAngle=-40),
                scale=alt.Scale(domain=days, paddingInner=0.25)),
        y=alt.Y("sum(actions):Q", title="Actions"),
        color=alt.Color("status:N", title="Status now", sort=labels,
                        scale=alt.Scale(domain=labels,
                                        range=[STATUS_COLORS[s] for s in statuses])),
        tooltip=[alt.Tooltip("day:N", title="Day"), alt.Tooltip("status:N", title="Status"),
                 alt.Tooltip("actions_text:N", title="Actions")],
    ).properties(width="container", height=240)  # fmt: skip
    return charts.styled(chart)


def actions_by_play(store: AppStore) -> dict[str, dict[str, int]]:
    """Per play, how many of its actions are in each status now."""
    q = select(Action.play, Action.status, func.count()).group_by(Action.play, Action.status)
    found: dict[str, dict[str, int]] = {}
    with Session(store.engine) as session:
        for play, status, n in session.execute(q):
            found.setdefault(play, {})[status] = int(n)
    return found


def clusters(wh: Warehouse) -> list[tuple[int, str]]:
    """The Tier 2 clusters of the latest scores: (number, label), by number."""
    s = wh.table("account_scores")
    rows = s.filter(s.cluster.notnull()).group_by("cluster").agg(label=s.cluster_label.max())
    return [(int(r["cluster"]), str(r["label"] or "")) for r in
            rows.order_by("cluster").to_pyarrow().to_pylist()]  # fmt: skip


def recent_reviews(store: AppStore, limit: int = 10) -> list[AuditEvent]:
    """The latest approvals, rejections and edits, newest first, with who made them."""
    q = select(AuditEvent).where(AuditEvent.action.in_(REVIEWS))
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.scalars(q.order_by(AuditEvent.id.desc()).limit(limit)))
