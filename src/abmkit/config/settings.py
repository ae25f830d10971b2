"""The one settings tree of a workspace: every field has a default and help text.

Layering, lowest to highest: defaults → the workspace file (`abmkit.yaml`) → `ABM_*` environment
variables (nested with `__`, e.g. `ABM_WAREHOUSE__URL`) → CLI flags. Secrets (passwords, API keys)
are never read from the file: only from the environment (`ABM_SECRET_*`), see `secrets.py`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """Base of every settings section: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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


class IcpSettings(Section):
    industries: list[str] = Field(
        default_factory=list, description="Industries that fit; empty means any industry."
    )
    min_employees: int | None = Field(None, ge=0, description="Smallest employee count that fits.")
    max_employees: int | None = Field(None, ge=0, description="Largest employee count that fits.")
    min_revenue: float | None = Field(None, ge=0, description="Smallest annual revenue (USD).")
    max_revenue: float | None = Field(None, ge=0, description="Largest annual revenue (USD).")
    countries: list[str] = Field(
        default_factory=list, description="Countries that fit; empty means anywhere."
    )
    required_technologies: list[str] = Field(
        default_factory=list, description="Technologies an account must use to fit."
    )
    excluded_technologies: list[str] = Field(
        default_factory=list, description="Technologies that rule an account out."
    )
    excluded_domains: list[str] = Field(
        default_factory=list, description="Accounts never to target (competitors, partners)."
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


class TierSettings(Section):
    tier1_capacity: int = Field(25, ge=0, description="Accounts in Tier 1 (strategic 1:1).")
    tier2_capacity: int = Field(300, ge=0, description="Accounts in Tier 2 (ABM-lite 1:few).")
    tier3_capacity: int = Field(3000, ge=0, description="Accounts in Tier 3 (programmatic 1:many).")
    tier2_clusters: int = Field(12, ge=1, description="Number of clusters within Tier 2.")


class Persona(Section):
    name: str = Field(description="Persona name shown in the UI, e.g. 'Economic buyer'.")
    title_keywords: list[str] = Field(
        default_factory=list, description="Title words that put a contact in this persona."
    )
    departments: list[str] = Field(
        default_factory=list, description="Departments of this persona; empty means any."
    )


def _default_personas() -> list[Persona]:
    return [
        Persona(name="Economic buyer", title_keywords=["chief", "cfo", "ceo", "vp", "head"]),
        Persona(name="Champion", title_keywords=["director", "manager", "lead"]),
        Persona(name="Technical evaluator", title_keywords=["engineer", "architect", "it"]),
        Persona(name="Blocker", title_keywords=["procurement", "legal", "security", "counsel"]),
    ]


class Goal(Section):
    name: str = Field(description="What the goal is called in reports.")
    metric: str = Field(description="Metric to move, e.g. 'pipeline', 'opportunities', 'meetings'.")
    target_change: float = Field(description="Relative change wanted, e.g. 0.2 for +20%.")
    segment: str = Field("", description="Filter of accounts the goal is about; empty = all.")


class GuardrailSettings(Section):
    daily_budget: float = Field(500.0, ge=0, description="Most the agent may spend in one day.")
    max_touches_per_contact_week: int = Field(
        3, ge=0, description="Frequency cap: touches per person per week."
    )
    max_touches_per_account_week: int = Field(
        15, ge=0, description="Frequency cap: touches per account per week."
    )
    min_audience_size: int = Field(
        300, ge=0, description="Smallest ad audience to push (LinkedIn needs 300 matched members)."
    )
    approval_for_tier1: bool = Field(
        True, description="Actions on Tier 1 accounts wait for a person's approval."
    )
    approval_above_spend: float = Field(
        1000.0, ge=0, description="Any action costing more than this waits for approval."
    )
    quiet_hours: str = Field(
        "20:00-08:00", description="Local hours when no e-mail or message is sent."
    )


class ChannelSettings(Section):
    enabled: list[str] = Field(
        ["linkedin", "google", "meta", "display", "email", "sales", "direct_mail"],
        description="Channels the agent may act through.",
    )
    daily_budget: dict[str, float] = Field(
        default_factory=lambda: {"linkedin": 200.0, "google": 100.0, "display": 100.0},
        description="Budget per paid channel and day.",
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
    tiers: TierSettings = Field(default_factory=TierSettings, description="Tier capacities.")
    personas: list[Persona] = Field(
        default_factory=_default_personas, description="Buying-committee personas."
    )
    goals: list[Goal] = Field(default_factory=list, description="Goals the agent works toward.")
    guardrails: GuardrailSettings = Field(
        default_factory=GuardrailSettings, description="Limits the agent never exceeds."
    )
    channels: ChannelSettings = Field(
        default_factory=ChannelSettings, description="Channels and their budgets."
    )
