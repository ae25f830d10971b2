"""The one settings tree of a workspace: every field has a default and help text.

Layering, lowest to highest: defaults → the workspace file (`abmkit.yaml`) → `ABM_*` environment
variables (nested with `__`, e.g. `ABM_WAREHOUSE__URL`) → CLI flags. Secrets (passwords, API keys)
are never read from the file: only from the environment (`ABM_SECRET_*`), see `secrets.py`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from abmkit.act.crm import CrmWriteSettings
from abmkit.act.sequences import SequenceSettings
from abmkit.config.base import Section
from abmkit.config.realtime import BeaconSettings, PersonalizationSettings, RoutingSettings
from abmkit.config.scoring import (
    CommitteeSettings,
    EngagementSettings,
    IcpSettings,
    IntentSettings,
    PropensitySettings,
    StageSettings,
    TierSettings,
)
from abmkit.config.server import ServerSettings
from abmkit.content.settings import ContentSettings
from abmkit.decide.budget import BudgetSettings


class WarehouseSettings(Section):
    url: str = Field(
        "duckdb:///{workspace}/warehouse.duckdb",
        description="Analytics store URL (Ibis). `{workspace}` expands to the workspace folder. "
        "Examples: duckdb:///path/file.duckdb, postgres://user@host:5432/db.",
    )
    memory_limit: str = Field(
        "3GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="Most memory the embedded DuckDB (warehouse and file reading) may use before "
        "it spills to disk, e.g. 3GB.",
    )


class AppStoreSettings(Section):
    url: str = Field(
        "sqlite:///{workspace}/app.sqlite",
        description="Application store URL (SQLAlchemy): plays, actions, approvals, audit log.",
    )


class IngestSettings(Section):
    max_field_bytes: int = Field(
        1_048_576, ge=1, description="Largest value accepted in one cell; longer ones are errors."
    )
    max_problems_shown: int = Field(
        20, ge=1, description="How many problems an error message lists before '... and N more'."
    )
    date_order: str = Field(
        "MDY",
        pattern="^(MDY|DMY)$",
        description="How to read ambiguous dates like 03/04/2025: MDY (US) or DMY.",
    )
    mappings: dict[str, dict] = Field(
        default_factory=dict,
        description="Named column mappings for other sources, usable as `--preset NAME`; "
        "same shape as a mapping file (see examples/).",
    )


class CrmSettings(Section):
    won_stages: list[str] = Field(
        ["Closed Won", "Won", "closedwon"],
        description="Opportunity stage names that mean won (case-insensitive).",
    )
    lost_stages: list[str] = Field(
        ["Closed Lost", "Lost", "closedlost"],
        description="Opportunity stage names that mean lost (case-insensitive).",
    )


class ResolveSettings(Section):
    name_match_threshold: float = Field(
        90.0,
        ge=0,
        le=100,
        description="Fuzzy company-name score (0-100) at or above which a record without a "
        "domain is matched to an account; every match keeps its score.",
    )
    duplicate_threshold: float = Field(
        93.0,
        ge=0,
        le=100,
        description="Name score at or above which two accounts are reported as likely duplicates.",
    )
    use_ip_ranges: bool = Field(
        True, description="Match web visits to accounts through the loaded ip_ranges table."
    )


class WeightSettings(Section):
    fit: float = Field(0.4, ge=0, le=1, description="Weight of fit in the combined priority.")
    intent: float = Field(0.3, ge=0, le=1, description="Weight of intent in the priority.")
    engagement: float = Field(0.3, ge=0, le=1, description="Weight of engagement in the priority.")


class ThresholdSettings(Section):
    surge_score: int = Field(
        60, ge=0, le=100, description="Bombora-style topic score at or above which a topic surges."
    )
    in_market_topic_share: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Share of relevant topics that must surge to call an account in market.",
    )
    fit_strong: int = Field(81, ge=0, le=100, description="Fit score from which fit is Strong.")
    fit_moderate: int = Field(50, ge=0, le=100, description="Fit score from which fit is Moderate.")


class Persona(Section):
    """One buying-committee persona: which titles belong to it. The first persona that matches a
    title wins. Keywords are whole words or regular expressions, matched against the title in
    lower case with punctuation removed and abbreviations spelled out ("Sr. Dir." reads
    "senior director", "VP," reads "vp")."""

    name: str = Field(description="Persona key stored on each contact, e.g. 'economic_buyer'.")
    title_keywords: list[str] = Field(
        default_factory=list,
        description="Title words or regular expressions that put a contact in this persona "
        "whatever the department and seniority, e.g. 'cfo', 'head of data'.",
    )
    departments: list[str] = Field(
        default_factory=list,
        description="Departments read from the title (marketing, sales, customer_success, "
        "finance, operations, hr, product, data, it, engineering, security, legal, procurement, "
        "executive, administration) that are in this persona; empty means any.",
    )
    seniorities: list[str] = Field(
        default_factory=list,
        description="Seniority levels read from the title (c_level, vp, director, manager, "
        "individual) that are in this persona; empty means any. With departments, both must "
        "hold; with neither, only title_keywords match.",
    )
    exclude_keywords: list[str] = Field(
        default_factory=list,
        description="Title words or regular expressions that keep a contact out of this persona "
        "even when the rest matches, e.g. 'assistant', 'intern'.",
    )


def _default_personas() -> list[Persona]:
    """Blockers first: security, legal and procurement review and can veto a deal at any level,
    so a CISO or a General Counsel is a blocker, not an economic buyer (a vendor selling to
    security teams lists its own personas). Assistants, interns, students, board members,
    investors and retirees are in no persona."""
    not_buyers = [r"assistant(?! (vp|director|manager|controller|general counsel))", "intern",
                  "internship", "student", "trainee", "board", "retired", "former",
                  r"investor(?! relations)"]  # fmt: skip
    ranks = ["c_level", "vp", "director", "manager", "individual"]
    business = ["marketing", "sales", "customer_success", "finance", "operations", "hr", "product"]

    def persona(name: str, departments: list[str], seniorities: list[str]) -> Persona:
        return Persona(
            name=name, departments=departments, seniorities=seniorities, exclude_keywords=not_buyers
        )

    return [
        persona("blocker", ["security", "legal", "procurement"], ranks),
        persona("economic_buyer", [], ["c_level", "vp"]),
        persona("champion", [], ["director", "manager"]),
        persona("technical_evaluator", ["engineering", "it", "data"], ["individual"]),
        persona("end_user", business, ["individual"]),
    ]


class Goal(Section):
    """A number to move for a segment of accounts over a period, e.g. pipeline from Series-B
    SaaS accounts +20% this quarter. Progress is the metric in the current period against the
    same span just before it; the agent favours accounts of goals behind their pace."""

    name: str = Field(description="What the goal is called in reports.")
    metric: Literal["pipeline", "opportunities", "meetings", "engaged_accounts"] = Field(
        description="pipeline (opportunity amount created), opportunities (created), meetings "
        "(meeting touches) or engaged_accounts (accounts with an engaged touch)."
    )
    target_change: float = Field(
        description="Relative change wanted against the previous period, e.g. 0.2 for +20%."
    )
    target: float | None = Field(
        None, ge=0, description="An absolute target instead (e.g. 2000000 for $2M pipeline)."
    )
    period: Literal["month", "quarter", "year"] = Field("quarter", description="Calendar period.")
    segment: dict[str, Any] = Field(
        default_factory=dict,
        description="Which accounts count: column -> value or list of values over the scored "
        "accounts (tier, cluster, buying_stage, journey_stage, fit_bucket, industry, country, "
        "region, account_type or a custom attribute), and min_/max_ bounds on numbers "
        "(min_employees: 200). Empty: every account.",
    )


class GuardrailSettings(Section):
    """Limits the agent never exceeds: every candidate action is checked against each of them
    when it is decided and again, in the same transaction that reserves its spend, when it is
    queued; the executor checks quiet hours and the audience minimum again when it sends."""

    daily_budget: float = Field(500.0, ge=0, description="Most the agent may spend in one day.")
    weekly_budget: float = Field(2500.0, ge=0, description="Most the agent may spend in 7 days.")
    channel_daily_budget: dict[str, float] = Field(
        default_factory=lambda: {"linkedin_audience": 200.0, "google_audience": 100.0,
                                 "meta_audience": 100.0, "direct_mail": 150.0},
        description="Most spent per channel and day (channels not listed: the daily budget).",
    )  # fmt: skip
    channel_weekly_budget: dict[str, float] = Field(
        default_factory=dict, description="Most spent per channel over 7 days."
    )
    play_daily_budget: dict[str, float] = Field(
        default_factory=dict, description="Most spent per play and day."
    )
    play_weekly_budget: dict[str, float] = Field(
        default_factory=dict, description="Most spent per play over 7 days."
    )
    account_weekly_budget: float = Field(
        250.0, ge=0, description="Most spent on one account over 7 days."
    )
    max_touches_per_contact_week: int = Field(
        3, ge=0, description="Frequency cap: messages to one person over 7 days, all channels."
    )
    max_touches_per_contact_channel_week: dict[str, int] = Field(
        default_factory=lambda: {"email": 2, "sequence": 2, "direct_mail": 1},
        description="Frequency cap per person and channel over 7 days.",
    )
    max_touches_per_account_week: int = Field(
        15, ge=0, description="Frequency cap: actions on one account over 7 days."
    )
    max_touches_per_account_channel_week: dict[str, int] = Field(
        default_factory=lambda: {"email": 6, "task": 3, "owner_alert": 3},
        description="Frequency cap per account and channel over 7 days.",
    )
    do_not_contact: list[str] = Field(
        default_factory=list,
        description="E-mail addresses, domains (@example.com) or account IDs never contacted.",
    )
    require_consent_regions: list[str] = Field(
        ["EU", "UK"],
        description="Regions where a person is e-mailed only with recorded consent (the "
        "contact attribute named by consent_attribute is true): opt-in rules such as GDPR.",
    )
    consent_attribute: str = Field(
        "email_consent", description="Contact custom attribute that records consent (true/yes/1)."
    )
    blocked_countries: list[str] = Field(
        default_factory=list, description="Countries (ISO codes or names) never contacted."
    )
    min_audience_size: int = Field(
        300, ge=0, description="Smallest ad audience to push (LinkedIn needs 300 matched members)."
    )
    min_audience_size_by_channel: dict[str, int] = Field(
        default_factory=lambda: {"linkedin_audience": 300, "google_audience": 1000,
                                 "meta_audience": 100},
        description="Smallest audience per platform (Google Customer Match serves from 1,000 "
        "active members in a network, Meta needs 100 matched people).",
    )  # fmt: skip
    approval_for_tier1: bool = Field(
        True, description="Actions on Tier 1 accounts wait for a person's approval."
    )
    approval_above_spend: float = Field(
        1000.0, ge=0, description="Any action costing more than this waits for approval."
    )
    approval_first_run: bool = Field(
        True, description="A play's first actions wait for approval (unless the play says no)."
    )
    quiet_hours: str = Field(
        "20:00-08:00",
        pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$",
        description="Local hours (recipient's time zone) when no e-mail or message leaves; "
        "such actions wait for the morning.",
    )
    quiet_weekends: bool = Field(True, description="No e-mail or message on local weekends.")
    default_timezone: str = Field(
        "UTC", description="Time zone of people whose country gives none."
    )


class EmailSettings(Section):
    """The SMTP server e-mails leave through; the password only from the environment
    (`ABM_SECRET_SMTP_PASSWORD`)."""

    host: str = Field("127.0.0.1", description="SMTP server host.")
    port: int = Field(25, ge=1, le=65535, description="SMTP server port (587 with STARTTLS).")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS first.")
    username: str = Field("", description="SMTP login (empty: none).")
    sender: str = Field("abm@example.com", description="The From address of e-mails.")
    timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for the server.")
    unsubscribe: str = Field(
        "", description="mailto: or https: address for List-Unsubscribe (empty: none)."
    )


class WebhookSettings(Section):
    """Where `webhook` actions are POSTed, signed with `ABM_SECRET_WEBHOOK_KEY`."""

    url: str = Field("", description="Receiver URL (empty: webhook actions are dry-run).")
    timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for the receiver.")


class SlackSettings(Section):
    """Slack alerts go to the incoming-webhook URL in `ABM_SECRET_SLACK_WEBHOOK_URL`."""

    timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for Slack.")


class ChannelSettings(Section):
    email: EmailSettings = Field(
        default_factory=EmailSettings, description="How e-mails are sent (SMTP)."
    )
    webhook: WebhookSettings = Field(
        default_factory=WebhookSettings, description="Where signed webhooks go."
    )
    slack: SlackSettings = Field(default_factory=SlackSettings, description="Slack alerts.")
    crm: CrmWriteSettings = Field(
        default_factory=CrmWriteSettings, description="How scores are written back to the CRM."
    )
    sequence: SequenceSettings = Field(
        default_factory=SequenceSettings, description="The outreach tool's import format."
    )
    enabled: list[str] = Field(
        ["linkedin_audience", "google_audience", "meta_audience", "email", "sequence", "task",
         "owner_alert", "slack", "webhook", "crm_update", "direct_mail"],
        description="Channels the agent may act through (a play step on another is skipped).",
    )  # fmt: skip
    live: list[str] = Field(
        default_factory=list,
        description="Connectors that really send (email, webhook, slack, owner_alert); every "
        "other action is dry-run: its exact payload is written under outbox/ in the workspace "
        "and nothing leaves. Audience, task, sequence and CRM actions always become files "
        "there, in each platform's import format.",
    )
    costs: dict[str, float] = Field(
        default_factory=lambda: {"linkedin_audience": 0.0, "google_audience": 0.0,
                                 "meta_audience": 0.0, "email": 0.05, "sequence": 0.05,
                                 "task": 12.0, "owner_alert": 0.0, "slack": 0.0, "webhook": 0.0,
                                 "crm_update": 0.0, "direct_mail": 60.0},
        description="Expected cost of one action per channel in dollars (for a task, the "
        "rep's time). Putting people in an audience costs nothing by itself: the campaign's "
        "budget, split by the bandit (budget.*), pays for what they are shown.",
    )  # fmt: skip


class ExecutorSettings(Section):
    """How the outbox is sent: retries with exponential backoff, then the dead-letter state."""

    max_attempts: int = Field(6, ge=1, description="Attempts before an action is dead.")
    backoff_s: float = Field(30.0, gt=0, description="Wait before the first retry, doubled each.")
    backoff_max_s: float = Field(3600.0, gt=0, description="Longest wait between retries.")
    lease_s: float = Field(
        120.0, gt=0, description="How long a claimed action is its executor's before another "
        "may take it over (after a crash)."
    )  # fmt: skip
    batch: int = Field(100, ge=1, description="Actions claimed at a time.")
    poll_s: float = Field(5.0, gt=0, description="Seconds between passes of a running executor.")
    recheck_after_s: float = Field(
        60.0, ge=0,
        description="An action leaving more than this late (or on a later day) than planned is "
        "checked against every guardrail again at the time it really leaves.",
    )  # fmt: skip


class AgentSettings(Section):
    """How the agent values actions. Rates are priors from public B2B benchmarks
    (docs/agent.md); `abm agent run` replaces them with what the workspace's own outcomes
    show once there are enough."""

    meeting_rate: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.002, "sequence": 0.003, "task": 0.03,
                                 "direct_mail": 0.03, "linkedin_audience": 0.004,
                                 "google_audience": 0.003, "meta_audience": 0.002,
                                 "owner_alert": 0.02},
        description="Chance that one action leads to a meeting with an account of average "
        "interest: e-mail 25% open × 3% reply × 25% meeting; a rep's call 3%; a week of ads "
        "0.45% CTR × 3% form fill per exposure.",
    )  # fmt: skip
    opportunity_per_meeting: float = Field(
        0.2, gt=0, le=1, description="Chance that a meeting opens an opportunity."
    )
    deal_size: float = Field(
        40000.0, gt=0, description="Expected deal when the account's history gives none."
    )
    signal_lift: dict[str, float] = Field(
        default_factory=lambda: {"key_page_visit": 3.0, "intent_surge": 2.0,
                                 "engagement_spike": 2.0, "stalled_opportunity": 2.0,
                                 "new_committee_member": 1.5, "customer_expansion": 2.0},
        description="How much more likely an account with this fresh signal is to respond.",
    )  # fmt: skip
    fatigue: float = Field(
        0.85, gt=0, le=1, description="Response multiplier per touch on the channel in 7 days."
    )
    min_value_ratio: float | None = Field(
        None,
        ge=0,
        description="Take an action only when its expected pipeline is at least this many times "
        "its cost. Empty: the pipeline per dollar the workspace's program made over the last "
        "12 months (opportunity amounts created ÷ campaign costs), so every action the agent "
        "pays for promises better than the program's average; 1.5 without that history.",
    )
    max_goal_boost: float = Field(
        0.5, ge=0, description="Most a goal behind pace raises its accounts' value (0.5 = +50%)."
    )
    interval_minutes: float = Field(
        5.0, gt=0, description="`abm agent watch`: minutes between passes."
    )


class AttributionSettings(Section):
    """Account-level attribution: which touches of an account get credit for its opportunity."""

    lookback_days: int = Field(
        90, ge=1, description="Touches at most this many days before the opportunity was "
        "created count toward it."
    )  # fmt: skip
    half_life_days: float = Field(
        7.0, gt=0, description="time_decay: a touch this many days older gets half the credit."
    )
    level: Literal["channel", "campaign"] = Field(
        "channel", description="What gets the credit: the touch's channel or its campaign."
    )
    touches: Literal["engaged", "all"] = Field(
        "engaged", description="Which touches take part: `engaged` — the kinds that earn "
        "engagement minutes (an ad shown or an e-mail sent is not the account engaging) — or "
        "`all`."
    )  # fmt: skip
    max_exact_shapley: int = Field(
        15, ge=1, le=20, description="Shapley values are exact up to this many channels and "
        "estimated from sampled orderings beyond."
    )  # fmt: skip


class HoldoutSettings(Section):
    """Randomized holdouts: a stable share of target accounts the plays leave alone, so lift is
    measured against accounts that were never treated."""

    share: float = Field(
        0.1, ge=0, le=0.5, description="Share of each scope's target accounts held out (0: none)."
    )
    by: Literal["tier", "play"] = Field(
        "tier", description="Hold accounts out per tier (of every play) or per play."
    )
    salt: str = Field(
        "abmkit", description="Mixed into the hash that assigns accounts; assignments are "
        "recorded, so changing it (or the share) never reassigns anyone silently."
    )  # fmt: skip
    min_accounts: int = Field(
        30, ge=1, description="Fewer accounts than this in either group: the lift is reported "
        "as too small a sample to judge."
    )  # fmt: skip
    confidence: float = Field(
        0.95, gt=0.5, lt=1, description="Confidence level of the lift intervals."
    )


class MeasureSettings(Section):
    """Reports, attribution and holdouts."""

    attribution: AttributionSettings = Field(
        default_factory=AttributionSettings, description="Account-level attribution."
    )
    holdout: HoldoutSettings = Field(
        default_factory=HoldoutSettings, description="Randomized holdout accounts."
    )


class Settings(Section):
    """Everything a workspace can be told. Written to `abmkit.yaml` by `abm init`."""

    warehouse: WarehouseSettings = Field(
        default_factory=WarehouseSettings, description="Where the canonical tables live."
    )
    app_store: AppStoreSettings = Field(
        default_factory=AppStoreSettings, description="Where transactional rows live."
    )
    ingest: IngestSettings = Field(
        default_factory=IngestSettings, description="How files are read and checked."
    )
    crm: CrmSettings = Field(default_factory=CrmSettings, description="CRM vocabulary.")
    resolve: ResolveSettings = Field(
        default_factory=ResolveSettings, description="How records are matched to accounts."
    )
    icp: IcpSettings = Field(default_factory=IcpSettings, description="Ideal customer profile.")
    weights: WeightSettings = Field(
        default_factory=WeightSettings, description="How scores combine into priority."
    )
    thresholds: ThresholdSettings = Field(
        default_factory=ThresholdSettings, description="Cut-offs for surges and fit buckets."
    )
    intent: IntentSettings = Field(
        default_factory=IntentSettings, description="Which intent counts and how it decays."
    )
    engagement: EngagementSettings = Field(
        default_factory=EngagementSettings, description="Engagement minutes, weights and caps."
    )
    stages: StageSettings = Field(
        default_factory=StageSettings, description="Thresholds of buying and journey stages."
    )
    propensity: PropensitySettings = Field(
        default_factory=PropensitySettings, description="The opportunity-propensity model."
    )
    tiers: TierSettings = Field(default_factory=TierSettings, description="Tier capacities.")
    committee: CommitteeSettings = Field(
        default_factory=CommitteeSettings, description="What a complete buying committee is."
    )
    personas: list[Persona] = Field(
        default_factory=_default_personas, description="Buying-committee personas."
    )
    goals: list[Goal] = Field(default_factory=list, description="Goals the agent works toward.")
    guardrails: GuardrailSettings = Field(
        default_factory=GuardrailSettings, description="Limits the agent never exceeds."
    )
    channels: ChannelSettings = Field(
        default_factory=ChannelSettings, description="Channels, connectors and costs."
    )
    content: ContentSettings = Field(
        default_factory=ContentSettings, description="Templates, an optional LLM, brand rules."
    )
    budget: BudgetSettings = Field(
        default_factory=BudgetSettings,
        description="How the paid budget is split across channel × tier or cluster arms; "
        "budget.max_change is the guardrail on how far a split moves per cycle.",
    )
    agent: AgentSettings = Field(
        default_factory=AgentSettings, description="How the agent values actions."
    )
    executor: ExecutorSettings = Field(
        default_factory=ExecutorSettings, description="Retries and leases of the outbox."
    )
    measure: MeasureSettings = Field(
        default_factory=MeasureSettings, description="Reports, attribution and holdouts."
    )
    server: ServerSettings = Field(
        default_factory=ServerSettings,
        description="Sign-in, cookies and the websites the public endpoints answer.",
    )
    beacon: BeaconSettings = Field(
        default_factory=BeaconSettings, description="How website events are queued and processed."
    )
    personalization: PersonalizationSettings = Field(
        default_factory=PersonalizationSettings,
        description="The variant of each page slot a website visitor sees.",
    )
    routing: RoutingSettings = Field(
        default_factory=RoutingSettings, description="Whom a chat or form hand-off goes to."
    )
