"""The bodies the REST API answers and accepts, as pydantic models, so the OpenAPI document
describes every field (`abmkit.api.routes.render` fills them from the services' results)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from abmkit.decide.plays import Audience, Step, Trigger

T = TypeVar("T")
Row = dict[str, Any]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


Utc = Annotated[dt.datetime, AfterValidator(_utc)]
"""A moment as the stores keep it (UTC without a zone), answered with its zone: `…Z`."""


class Page(BaseModel, Generic[T]):
    """One page of a list: `total` counts every item that passes the filters."""

    items: list[T]
    total: int = Field(description="Items passing the filters, over every page.")
    limit: int
    offset: int


# -- accounts ---------------------------------------------------------------------------------
class AccountSummary(BaseModel):
    """An account in the list: its tier, cluster, scores and stages."""

    account_id: str
    name: str | None = None
    domain: str | None = None
    tier: int | None = Field(None, description="1, 2 or 3; null when outside the tiers.")
    cluster: int | None = Field(None, description="Tier 2 cluster of similar accounts.")
    cluster_label: str | None = None
    priority: float | None = Field(None, description="0–100: what the agent works on first.")
    fit: int | None = Field(None, description="ICP fit 0–100.")
    fit_bucket: str | None = None
    intent: float | None = Field(None, description="Third- and first-party intent 0–100.")
    engagement: float | None = Field(None, description="Engagement 0–100.")
    buying_stage: str | None = None
    journey_stage: str | None = None
    sales_ready: bool | None = None
    top_topics: str | None = Field(None, description="Surging intent topics with their scores.")


class Firmographics(BaseModel):
    account_id: str
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    employees: int | None = None
    revenue: float | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    technologies: str | None = None
    parent_account_id: str | None = None
    parent_name: str | None = None
    owner: str | None = Field(None, description="The CRM owner (a sales user sees its own).")
    account_type: str | None = None
    source: str | None = None


class Scores(BaseModel):
    """Every score of the account as of its latest refresh."""

    as_of: Utc | None = None
    fit: int | None = None
    fit_bucket: str | None = None
    fit_excluded: str | None = None
    intent: float | None = None
    intent_3p: float | None = None
    intent_1p: float | None = None
    momentum_3p: float | None = None
    momentum_1p: float | None = None
    topics_surging: int | None = None
    top_topics: str | None = None
    key_page_visits: int | None = None
    engagement: float | None = None
    engagement_minutes: float | None = None
    engaged_contacts: int | None = None
    engaged_personas: int | None = None
    open_opportunities: int | None = None
    propensity: float | None = None
    model_version: str | None = None
    priority: float | None = None
    buying_stage: str | None = None
    journey_stage: str | None = None
    sales_ready: bool | None = None
    tier: int | None = None
    cluster: int | None = None
    cluster_label: str | None = None
    lookalike: float | None = None
    scored_at: Utc | None = None


class Reason(BaseModel):
    score: str = Field(description="fit, intent, engagement, stage, tier, committee, …")
    factor: str
    points: float | None = None
    reason: str


class StageSnapshot(BaseModel):
    as_of: Utc
    fit_bucket: str | None = None
    buying_stage: str | None = None
    journey_stage: str | None = None
    tier: int | None = None
    priority: float | None = None
    recorded_at: Utc | None = None


class TierChange(BaseModel):
    as_of: Utc
    from_tier: int | None = None
    to_tier: int | None = None
    reason: str | None = None
    recorded_at: Utc | None = None


class Cluster(BaseModel):
    id: int
    label: str | None = None


class CommitteeMember(BaseModel):
    name: str | None = None
    title: str | None = None
    persona: str | None = None
    seniority: str | None = None
    department: str | None = None
    email: str | None = None
    minutes: float | None = Field(None, description="Engagement minutes in the window.")


class PersonaEngagement(BaseModel):
    persona: str | None = None
    known: int
    engaged: int
    minutes: float | None = None


class RequiredPersona(BaseModel):
    persona: str
    status: Literal["engaged", "silent", "missing"]
    points: float
    reason: str


class Committee(BaseModel):
    """The buying committee: the people known, engagement per persona, and each required
    persona's state with the gaps in words."""

    coverage: float = Field(description="0–100: required personas engaged (silent: half).")
    required: list[RequiredPersona]
    gaps: list[str]
    members: list[CommitteeMember]
    by_persona: list[PersonaEngagement]


class Topic(BaseModel):
    topic: str
    best: float | None = None
    last_week: dt.date | None = None
    weeks: int


class Touch(BaseModel):
    ts: Utc
    kind: str | None = None
    channel: str | None = None
    email: str | None = None
    url: str | None = None


class Opportunity(BaseModel):
    name: str | None = None
    stage: str | None = None
    amount: float | None = None
    created_at: dt.date | None = None
    closed_at: dt.date | None = None


class ActionSummary(BaseModel):
    """One of the agent's actions, as the inbox lists it."""

    id: str
    status: str = Field(description="pending_approval, queued, sending, sent, dry_run, blocked, "
                        "rejected or dead.")  # fmt: skip
    play: str
    step: int
    channel: str
    account_id: str
    contact_id: str | None = None
    tier: int | None = None
    cost: float
    expected_value: float | None = None
    created_at: Utc
    not_before: Utc = Field(description="When it leaves, at the earliest (UTC).")
    reviewed_by: str | None = None
    reviewed_at: Utc | None = None


class AccountActions(BaseModel):
    pending: list[ActionSummary] = Field(description="Not sent yet: waiting for approval, "
                                         "queued or sending.")  # fmt: skip
    recent: list[ActionSummary] = Field(description="The latest others, newest first.")


class AccountDetail(BaseModel):
    """Everything `abm account` shows, the committee map with its gaps, and the account's
    actions."""

    account: Firmographics
    scores: Scores | None
    reasons: list[Reason]
    cluster: Cluster | None
    history: list[StageSnapshot] = Field(description="Stage and tier snapshots, newest first.")
    tier_changes: list[TierChange]
    committee: Committee
    topics: list[Topic]
    touches: list[Touch] = Field(description="The most recent touches, newest first.")
    opportunities: list[Opportunity]
    actions: AccountActions


class TimelineEntry(BaseModel):
    at: Utc
    kind: Literal["touch", "stage", "tier", "opportunity", "action"]
    summary: str
    detail: Row


class Timeline(BaseModel):
    account_id: str
    items: list[TimelineEntry] = Field(description="Newest first.")


# -- actions ---------------------------------------------------------------------------------
class Verdict(BaseModel):
    rule: str
    outcome: str = Field(description="pass, block, approval, defer or hold.")
    reason: str
    until: str | None = None


class Recheck(BaseModel):
    at: str
    on: str | None = None
    verdicts: list[Verdict]


class Edit(BaseModel):
    at: str
    by: str | None = None
    before: Row


class DecisionLog(BaseModel):
    """Why the agent decided the action, and what happened to it since."""

    signal: Row | None = Field(None, description="kind, account_id, at, ref, detail.")
    reasons: list[str] = []
    p_meeting: float | None = None
    value: float | None = None
    cost: float | None = None
    expected_value: float | None = None
    verdicts: list[Verdict] = Field([], description="Each guardrail's verdict when decided.")
    recheck: list[Recheck] = Field([], description="Guardrails checked again (approval, send).")
    edits: list[Edit] = []


class ActionDetail(ActionSummary):
    """An action with the exact payload that will leave and its decision log."""

    key: str = Field(description="Idempotency key: the receiver sees it too.")
    payload: Row = Field(description="Exactly what will leave.")
    editable: list[str] = Field(description="Payload fields a reviewer may change.")
    decision: DecisionLog
    review_note: str | None = None
    last_error: str | None = None
    attempts: int = 0
    sent_at: Utc | None = None


class Review(BaseModel):
    note: str = Field("", max_length=2000, description="Why (kept with the action).")


class Changes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: Row = Field(description="Payload fields to replace; only the channel's editable "
                         "ones (see `editable`).")  # fmt: skip
    note: str = Field("", max_length=2000, description="Why (kept with the action).")


# -- plays, goals, models ------------------------------------------------------------------
class PlayOut(BaseModel):
    name: str
    description: str
    source: str = Field(description="built-in, or the workspace file it comes from.")
    enabled: bool
    approval_first_run: bool
    trigger: Trigger
    audience: Audience
    steps: list[Step]


class GoalProgress(BaseModel):
    period_start: dt.date
    period_end: dt.date
    previous: float = Field(description="The metric over the whole previous period.")
    target: float
    actual: float = Field(description="The metric so far this period.")
    pace: float = Field(description="Where it should be by now to reach the target.")
    gap: float = Field(description="How far behind the pace (0 when on or ahead).")
    behind: bool


class GoalOut(BaseModel):
    name: str
    metric: str
    period: str
    target_change: float
    target: float | None
    segment: Row
    progress: GoalProgress


class Goals(BaseModel):
    as_of: Utc = Field(description="The moment progress is measured at.")
    items: list[GoalOut]


class ModelSummary(BaseModel):
    version: str
    created_at: Utc
    kind: str
    horizon_days: int
    train_from: Utc
    train_to: Utc
    test_from: Utc
    test_to: Utc
    auc: float | None = None
    top_decile_lift: float | None = None
    active: bool


class ModelDetail(ModelSummary):
    settings: Row
    metrics: Row = Field(description="The back-test: AUC, PR-AUC, top-decile lift, "
                         "calibration, by tier.")  # fmt: skip
    features: list[str]


# -- reports and settings --------------------------------------------------------------------
class SectionRef(BaseModel):
    name: str
    title: str
    url: str


class ReportIndex(BaseModel):
    sections: list[SectionRef]


class ReportOut(BaseModel):
    """As `abm report --format json` writes it."""

    workspace: str
    as_of: str
    since: str | None
    sections: dict[str, list[Row]]


class AttributionRow(BaseModel):
    model: str
    channel: str = Field(description="The channel, or the campaign with level=campaign.")
    conversions: float
    pipeline: float
    revenue: float


class AttributionOut(BaseModel):
    since: str
    as_of: str
    opportunities: int = Field(description="Opportunities of the period with a touch to credit.")
    untouched: int = Field(description="Opportunities with no touch in the lookback.")
    untouched_pipeline: float
    rows: list[AttributionRow]


class LiftRow(BaseModel):
    scope: str
    metric: str
    treated: float | None = None
    treated_accounts: int
    holdout: float | None = None
    holdout_accounts: int
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    significant: bool
    note: str | None = None


class LiftOut(BaseModel):
    confidence: float
    rows: list[LiftRow]


class SettingsOut(BaseModel):
    settings: Row = Field(description="The effective settings (file, environment, flags), "
                          "every secret absent.")  # fmt: skip
    yaml: str = Field(description="The same, as `abm init` writes the config file.")
    secrets_set: list[str] = Field(description="Names of the ABM_SECRET_* variables set (never "
                                   "their values).")  # fmt: skip
