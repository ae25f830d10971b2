"""One service per page: gathers what the page shows from the same services the CLI and the API
call, for one principal (a sales user sees only its owner's accounts and their actions), and
hands the template plain values. Route handlers call exactly one of these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from abmkit import scoped
from abmkit.app import Abm
from abmkit.auth import Principal
from abmkit.config.redact import shown_settings
from abmkit.config.scoring import JOURNEY_STAGES
from abmkit.decide import goals as goal_progress
from abmkit.decide.plays import BUYING_STAGES
from abmkit.errors import AbmError
from abmkit.measure import charts, html, overview
from abmkit.measure.cache import ReportCache
from abmkit.measure.report import Report, build_report, report_moment
from abmkit.score.views import SORTS, account_events, count_accounts, list_accounts, owned_accounts
from abmkit.web import cards

PAGE_SIZE = 25
STAGES = [*BUYING_STAGES, *(s for s in JOURNEY_STAGES if s not in BUYING_STAGES)]
INBOX_TABS = ("pending_approval", "queued", "blocked", "rejected", "sent", "dry_run", "all")


# -- overview ------------------------------------------------------------------------------------
def overview_page(abm: Abm, who: Principal, reports: ReportCache) -> dict[str, Any]:
    """The program at a glance; a sales user's own accounts at a glance."""
    wh, store = abm.warehouse, abm.app_store
    as_of = report_moment(abm)
    mine = owned_accounts(wh, who.owner) if who.owner else None
    trend = overview.engagement_trend(wh, abm.settings, as_of, owner=who.owner)
    activity = overview.agent_activity(store, accounts=mine)
    statuses = overview.actions_by_status(store, mine)
    found: dict[str, Any] = {
        "as_of": as_of, "trend_chart": overview.trend_chart(trend),
        "activity_chart": overview.activity_chart(activity),
        "statuses": [(s, overview.STATUS_LABELS[s], n) for s, n in statuses.items() if n],
        "actions_total": sum(statuses.values()), "pending": statuses["pending_approval"],
    }  # fmt: skip
    if who.owner is None and who.can("reports:read"):
        report = reports.get(
            abm,
            ("web", "overview", as_of),
            lambda: build_report(abm, as_of=as_of, models=("linear",)),
        )
        return found | _program(report)
    return found | _own_accounts(abm, who.owner)


def _program(report: Report) -> dict[str, Any]:
    tiers = report.table("tiers")
    return {
        "scope": "program", "kpis": html.kpi_cards(report)[:8], "notes": report.notes,
        "funnel_chart": charts.funnel(report.table("funnel_stages")),
        "tiers_chart": charts.tiers(tiers),
        "tiers_table": None if tiers.empty else html.html_table(tiers),
        "movers": html.movers_section(report).tables[0][1],
    }  # fmt: skip


def _own_accounts(abm: Abm, owner: str | None) -> dict[str, Any]:
    wh = abm.warehouse
    total = count_accounts(wh, owner=owner)
    ready = count_accounts(wh, owner=owner, sales_ready=True)
    tiered = sum(count_accounts(wh, owner=owner, tier=t) for t in (1, 2, 3))
    top = list_accounts(wh, owner=owner, limit=10).to_pylist()
    kpis = [{"name": "My accounts", "value": f"{total:,}", "note": "Accounts you own."},
            {"name": "Target accounts", "value": f"{tiered:,}", "note": "Yours in tiers 1–3."},
            {"name": "Sales-ready", "value": f"{ready:,}",
             "note": "In market now: reach out first to these."}]  # fmt: skip
    return {"scope": "owner", "kpis": kpis, "notes": [], "top": top}


# -- accounts ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountQuery:
    """The Accounts page's filters, sort and page (already parsed)."""

    tier: int | None = None
    stage: str | None = None
    cluster: int | None = None
    sales_ready: bool | None = None
    search: str | None = None
    sort: str = "priority"
    page: int = 1


def accounts_page(abm: Abm, who: Principal, q: AccountQuery) -> dict[str, Any]:
    """One page of the scored accounts passing the filters (a sales user's own only)."""
    filters = {"tier": q.tier, "stage": q.stage, "cluster": q.cluster,
               "sales_ready": q.sales_ready, "search": q.search}  # fmt: skip
    rows, total = scoped.accounts(abm, owner=who.owner, sort=q.sort, limit=PAGE_SIZE,
                                  offset=(q.page - 1) * PAGE_SIZE, **filters)  # fmt: skip
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if not rows and q.page > pages:  # past the last page (the list shrank): show the last
        return accounts_page(abm, who, replace(q, page=pages))
    first = (q.page - 1) * PAGE_SIZE + 1
    return {"rows": rows, "total": total, "page": q.page, "pages": pages, "query": q,
            "first": first, "last": first + len(rows) - 1, "stages": STAGES,
            "clusters": overview.clusters(abm.warehouse), "sorts": list(SORTS),
            "filtered": any(v is not None for v in filters.values())}  # fmt: skip


# -- one account ---------------------------------------------------------------------------------
def account_page(abm: Abm, who: Principal, key: str) -> dict[str, Any]:
    """Everything about one account, its recommended actions and the agent's decision log."""
    found = scoped.account_page(abm, key, who.owner)
    view = found.view
    events = account_events(abm.warehouse, view.account["account_id"], 40)
    actions = found.open_actions + found.recent_actions
    return {
        "view": view, "reasons": cards.reasons_by_score(view.reasons),
        "committee": cards.committee_seats(found.committee, view.committee),
        "timeline": cards.timeline(events, actions),
        "surge": abm.settings.thresholds.surge_score,
        "recommended": [cards.action_card(a, {}) for a in found.open_actions],
        "log": [cards.action_card(a, {}) for a in actions],
    }  # fmt: skip


# -- the inbox -----------------------------------------------------------------------------------
def inbox_page(abm: Abm, who: Principal, status: str, limit: int,
               account: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The agent's actions of one status (waiting for approval by default), newest first; of
    one account with `account`."""
    if status not in INBOX_TABS:
        raise AbmError(f"status: unknown status {status!r}; one of {', '.join(INBOX_TABS)}")
    wh, store = abm.warehouse, abm.app_store
    rows, total = scoped.actions(abm, owner=who.owner, status=status, account=account,
                                 limit=limit)  # fmt: skip
    mine = owned_accounts(wh, who.owner) if who.owner else None
    if account is not None:
        mine = [a for a in (mine if mine is not None else [account]) if a == account]
    counts = overview.actions_by_status(store, mine)
    tabs = [(s, overview.STATUS_LABELS.get(s, "All"), counts.get(s, sum(counts.values())))
            for s in INBOX_TABS]  # fmt: skip
    names = overview.account_names(wh, {a.account_id for a in rows} | {account or ""})
    return {"cards": [cards.action_card(a, names) for a in rows], "tab": status,
            "account": names.get(account, account) if account else None, "tabs": tabs,
            "limit": limit, "shown_all": len(rows) >= total,
            "reviews": overview.recent_reviews(store) if who.owner is None else []}  # fmt: skip


def review(abm: Abm, who: Principal, action_id: str, verb: str, note: str = "",
           fields: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Approve, reject or edit one waiting action (guardrails are checked again on approval);
    its card as it now stands."""
    if verb == "approve":
        done = scoped.approve(abm, action_id, note, who.owner)
    elif verb == "reject":
        done = scoped.reject(abm, action_id, note, who.owner)
    elif verb == "edit":
        changes = cards.parse_edit(scoped.action(abm, action_id, who.owner), fields or {})
        done = scoped.edit(abm, action_id, changes, note, who.owner)
    else:
        raise AbmError(f"unknown review {verb!r}; approve, reject or edit")
    names = overview.account_names(abm.warehouse, {done.account_id})
    return cards.action_card(done, names) | {"just": verb}


# -- plays, measurement, settings ----------------------------------------------------------------
def plays_page(abm: Abm) -> dict[str, Any]:
    """Every play with its trigger, audience, steps and what it did; the goals and their pace;
    the guardrails every action is checked against."""
    done = overview.actions_by_play(abm.app_store)
    plays = [cards.play_card(play, source, done.get(name, {}))
             for name, (play, source) in sorted(abm.plays().items())]  # fmt: skip
    goals = abm.settings.goals
    progress = goal_progress.progress(abm.warehouse, goals, report_moment(abm)) if goals else []
    return {"plays": plays, "goals": list(zip(goals, progress, strict=False)),
            "guardrails": cards.guardrail_rows(abm.settings,
                                               shown_settings(abm.settings))}  # fmt: skip


def measure_page(abm: Abm, reports: ReportCache) -> dict[str, Any]:
    """The measurement report: headline numbers, funnel, tiers, attribution, lift (built once
    per data version)."""
    report = reports.get(abm, ("web", "report"), lambda: build_report(abm))
    return {"report": report, "kpis": html.kpi_cards(report), "sections": html.sections(report)}


def settings_page(abm: Abm) -> dict[str, Any]:
    """The workspace's settings as read-only tables, with each setting's help; no secret."""
    shown = shown_settings(abm.settings)
    return {
        "sections": cards.settings_sections(abm.settings, shown),
        "workspace": abm.workspace.path,
    }
