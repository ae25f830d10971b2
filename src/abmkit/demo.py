"""`abm demo`: simulate a market → ingest it through the real path → resolve → summarize.

Later stages (score, agent, measure, serve) join this flow as their issues land. Re-running is
safe: the simulator is deterministic and every load is idempotent, so a second run reports
unchanged rows.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abmkit.app import Abm
from abmkit.config.settings import Settings
from abmkit.config.workspace import init_workspace, open_workspace
from abmkit.decide.loop import PassReport
from abmkit.errors import AbmError, InputError
from abmkit.score.refresh import RefreshResult
from abmkit.simulate import MarketConfig, simulate_market
from abmkit.status import MatchRate
from abmkit.warehouse.loads import LoadRecord

Progress = Callable[[str, float], None]

# The simulated CRM keeps its technographics in a custom field, as real orgs do; the workspace
# maps it onto the canonical column through the same config a user would write.
DEMO_MAPPINGS = {
    "simulated_crm": {"extends": "salesforce", "columns": {"Tech_Stack__c": "technologies"}},
}
# What the simulated seller (a customer-data/analytics platform) would write as its ICP and
# relevant intent topics: its own view of its market, not the simulator's hidden truth.
DEMO_SCORING = {
    "icp": {
        "industries": ["Technology", "Financial Services", "Telecommunications", "Insurance",
                       "Media", "Healthcare", "Consulting"],
        "min_employees": 200,
        "max_employees": 20000,
        "preferred_technologies": ["Snowflake", "Databricks", "BigQuery", "dbt", "Segment",
                                   "AWS"],
    },
    "intent": {"relevant_topics": ["data warehousing", "data integration",
                                   "customer data platform", "data governance",
                                   "business intelligence", "predictive analytics",
                                   "marketing analytics", "account based marketing",
                                   "intent data", "marketing automation"]},
}  # fmt: skip
DEMO_SITE = {
    "server": {"sites": [{"key": "demo_site_key", "name": "the simulated seller's website",
                          "origins": ["https://www.seller.example", "http://127.0.0.1:8000",
                                      "http://localhost:8000"]}]},
    "personalization": {"defaults": {
        "headline": "Customer data your whole team can use",
        "subheadline": "One platform for warehousing, governance and analytics.",
        "cta": "Read the overview",
        "proof": "Answers on pricing, setup and rollout in one place."}},
}  # fmt: skip
"""The simulated seller's website: its site key (public, as in its pages' HTML) and the text
its page slots show visitors no rule personalizes (docs/realtime.md)."""
REPLAY_WEEKS = 13
"""Weekly refreshes the demo replays before scoring now: a quarter of stage history, so the
report (90 days by default) has its funnel and the tiers accounts held when it began."""
LOAD_PLAN = (  # (table, manifest kind, preset) in dependency order
    ("accounts", "accounts", "simulated_crm"),
    ("contacts", "contacts", "salesforce"),
    ("campaigns", "campaigns", "salesforce"),
    ("opportunities", "opportunities", "salesforce"),
    ("ip_ranges", "ip_ranges", None),
    ("intent", "intent", "bombora"),
    ("touches", "touches", None),
)


@dataclass
class DemoSummary:
    workspace: Path
    config: MarketConfig
    seconds: dict[str, float] = field(default_factory=dict)
    loads: dict[str, list[LoadRecord]] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    match_rates: list[MatchRate] = field(default_factory=list)
    pipeline: dict[str, float] = field(default_factory=dict)
    scoring: RefreshResult | None = None
    top: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    agent: PassReport | None = None
    report_path: Path | None = None


def run_demo(
    workspace: Path,
    *,
    accounts: int = 5000,
    months: int = 12,
    seed: int = 7,
    replay_weeks: int = REPLAY_WEEKS,
    write_report: bool = True,
    overrides: dict | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    report = progress or (lambda stage, fraction: None)
    demo_settings = {"ingest": {"mappings": DEMO_MAPPINGS}} | DEMO_SCORING | DEMO_SITE
    # The workspace file holds the demo's settings, so `abm score -w …` afterwards agrees.
    init_workspace(workspace, settings=Settings.model_validate(demo_settings))
    settings_overrides = demo_settings | (overrides or {})
    cfg = MarketConfig(accounts=accounts, months=months, seed=seed)
    summary = DemoSummary(workspace, cfg)
    clock = time.perf_counter()
    manifest = simulate_market(
        cfg, workspace / "market", progress=lambda s, f: report(f"simulating: {s}", 0.3 * f)
    )
    summary.seconds["simulate"] = time.perf_counter() - clock
    with Abm(open_workspace(workspace, settings_overrides)) as abm:
        _ingest_all(abm, manifest, summary, report)
        report("resolving", 0.8)
        clock = time.perf_counter()
        abm.relink()
        summary.seconds["resolve"] = time.perf_counter() - clock
        status = abm.status()
        summary.tables, summary.match_rates = status.tables, status.match_rates
        summary.pipeline = pipeline_summary(abm)
        report("scoring", 0.82)
        clock = time.perf_counter()
        summary.scoring = abm.replay(replay_weeks, _part_of(report, "scoring", 0.82, 0.14))
        summary.seconds["score"] = time.perf_counter() - clock
        summary.top = {tier: abm.accounts(tier=tier, limit=5).to_pylist() for tier in (1, 2, 3)}
        report("agent pass", 0.96)
        clock = time.perf_counter()
        summary.agent = _agent_pass(abm, cfg)
        summary.seconds["agent"] = time.perf_counter() - clock
        if write_report:
            report("report", 0.98)
            clock = time.perf_counter()
            summary.report_path = _write_report(abm, workspace / "report.html")
            summary.seconds["report"] = time.perf_counter() - clock
    report("done", 1.0)
    return summary


def _agent_pass(abm: Abm, cfg: MarketConfig) -> PassReport:
    """One agent pass on the morning the simulated data was exported (09:00 UTC)."""
    from abmkit.decide.loop import run_pass

    export_day = dt.datetime.fromisoformat(str(cfg.end_day))
    return run_pass(abm, now=export_day + dt.timedelta(hours=9))


def _write_report(abm: Abm, path: Path) -> Path:
    """The measurement report of the demo workspace, as one self-contained HTML file."""
    from abmkit.measure.html import write_html
    from abmkit.measure.report import build_report

    return write_html(build_report(abm), path)


def _part_of(report: Progress, label: str, start: float, span: float) -> Progress:
    """A progress callback for one step that moves its share of the overall bar."""
    return lambda stage, fraction: report(f"{label}: {stage}", start + span * fraction)


def _ingest_all(abm: Abm, manifest, summary: DemoSummary, report: Progress) -> None:
    clock = time.perf_counter()
    span = 0.5 / len(LOAD_PLAN)
    for i, (table, kind, preset) in enumerate(LOAD_PLAN):
        results = abm.ingest(
            table,
            manifest.files[kind],
            preset=preset,
            progress=_part_of(report, table, 0.3 + span * i, span),
        )
        failed = [r for r in results if isinstance(r, InputError)]
        if failed:  # the simulator writes clean files: a rejection here is a bug to surface
            raise AbmError(f"demo data for {table} was rejected:\n{failed[0]}")
        summary.loads[table] = [r for r in results if isinstance(r, LoadRecord)]
    summary.seconds["ingest"] = time.perf_counter() - clock


def pipeline_summary(abm: Abm) -> dict[str, float]:
    opps = abm.warehouse.table("opportunities")
    row = (
        opps.aggregate(
            opportunities=opps.count(),
            open=(~opps.is_closed.fill_null(False)).sum(),
            won=opps.is_won.fill_null(False).sum(),
            lost=(opps.is_closed.fill_null(False) & ~opps.is_won.fill_null(False)).sum(),
            won_amount=opps.amount.sum(where=opps.is_won.fill_null(False)),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    closed = (row["won"] or 0) + (row["lost"] or 0)
    row["win_rate"] = (row["won"] or 0) / closed if closed else 0.0
    return {k: float(v or 0) for k, v in row.items()}


DEMO_EMAIL = "admin@demo.abmkit.dev"


def demo_login(workspace: Path) -> tuple[str, str]:
    """An admin for the demo workspace with a fresh random password (a new one each run, so a
    demo left serving on a shared machine is not open to a published password)."""
    import secrets

    from abmkit.auth import add_user, list_users, set_password

    password = secrets.token_urlsafe(12)
    with Abm.open(workspace) as abm:
        if any(u.email == DEMO_EMAIL for u in list_users(abm.app_store)):
            set_password(abm.app_store, DEMO_EMAIL, password)
        else:
            add_user(abm.app_store, DEMO_EMAIL, password, role="admin", name="Demo admin")
    return DEMO_EMAIL, password
