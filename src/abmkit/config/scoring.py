"""Settings of account intelligence: the ICP, intent, engagement, stages, propensity and tiers.

Defaults follow how the leading platforms define these things (see docs/scoring.md for each
default and where it comes from); every one can be changed in `abmkit.yaml`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from abmkit.config.base import Section

BUYING_STAGES = ["Target", "Awareness", "Consideration", "Decision", "Purchase"]
JOURNEY_STAGES = ["Unqualified", "Qualified", "Aware", "Engaged", "MQA", "Opportunity", "Customer"]


class AttributeRule(Section):
    """One ICP criterion over a custom attribute (a column of the user's own CRM export)."""

    attribute: str = Field(description="Custom attribute name as loaded, e.g. Funding_Stage__c.")
    op: Literal["equals", "in", "contains", "gte", "lte"] = Field(
        "equals", description="How the value is compared: equals, in (a list), contains, gte, lte."
    )
    value: str | float | list[str] = Field(description="Value (or list, for `in`) to compare to.")
    weight: float = Field(1.0, ge=0, description="Weight of this criterion in the fit score.")
    label: str = Field("", description="How the criterion is named in reasons; default: attribute.")


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
    regions: list[str] = Field(
        default_factory=list,
        description="States or regions that fit (matched like countries; either one is enough).",
    )
    required_technologies: list[str] = Field(
        default_factory=list,
        description="Technologies a fitting account uses; credit is the share of them it has.",
    )
    preferred_technologies: list[str] = Field(
        default_factory=list,
        description="Technologies that make an account fit better; credit is the share it has.",
    )
    excluded_technologies: list[str] = Field(
        default_factory=list, description="Technologies that rule an account out (fit 0)."
    )
    attribute_rules: list[AttributeRule] = Field(
        default_factory=list, description="Criteria over custom attributes, e.g. funding stage."
    )
    excluded_domains: list[str] = Field(
        default_factory=list, description="Accounts never to target (competitors, partners)."
    )
    excluded_industries: list[str] = Field(
        default_factory=list, description="Industries that rule an account out (fit 0)."
    )
    excluded_account_types: list[str] = Field(
        ["Competitor", "Partner"],
        description="CRM account types that rule an account out (fit 0), case-insensitive.",
    )
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "industry": 1.0,
            "employees": 1.0,
            "revenue": 1.0,
            "location": 1.0,
            "required_technologies": 1.0,
            "preferred_technologies": 0.5,
        },  # fmt: skip
        description="Weight of each built-in criterion: industry, employees, revenue, location, "
        "required_technologies, preferred_technologies. A criterion counts only when set.",
    )
    near_factor: float = Field(
        2.0,
        gt=1,
        description="A size within this factor outside the employee or revenue range earns "
        "half credit ('near the ICP').",
    )
    unknown_credit: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Credit for a criterion whose value the account lacks (e.g. no employee "
        "count): neither a match nor a miss.",
    )
    min_customers_for_lookalike: int = Field(
        50,
        ge=2,
        description="Closed-won customers needed before the lookalike model is trained "
        "(fewer: the lookalike score is left empty and `abm score` says why).",
    )
    lookalike_technologies: int = Field(
        30,
        ge=0,
        description="The lookalike model looks at this many of the most common technologies "
        "(each one a yes/no feature); rarer ones are ignored.",
    )


class IntentSettings(Section):
    relevant_topics: list[str] = Field(
        default_factory=list,
        description="Third-party topics that matter to you (case-insensitive); empty = all topics.",
    )
    topic_clusters: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Named groups of topics for reports, e.g. "
        "{'ABM': ['Account Based Marketing']}.",
    )
    lookback_weeks: int = Field(
        12, ge=1, description="Weeks of third-party intent considered (older weeks are ignored)."
    )
    half_life_days: dict[str, float] = Field(
        default_factory=lambda: {"third_party": 25.0, "first_party": 14.0},
        description="Exponential decay half-life per source: a signal this many days old counts "
        "half (a 28-day-old surge counts about half of a 3-day-old one).",
    )
    page_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "/pricing": 5.0,
            "/demo": 5.0,
            "/compare": 4.0,
            "/customers": 2.0,
            "/docs": 2.0,
            "/product": 2.0,
            "/blog": 1.0,
            "/careers": 0.0,
        },  # fmt: skip
        description="First-party page weights by URL path prefix (longest prefix wins); pages "
        "matching none weigh `default_page_weight`. 0 ignores a page (e.g. careers).",
    )
    default_page_weight: float = Field(1.0, ge=0, description="Weight of any other page.")
    first_party_days: int = Field(30, ge=1, description="Days of web visits that count as intent.")
    first_party_scale: float = Field(
        15.0,
        gt=0,
        description="Decayed page points that give a first-party intent of 63 (100·(1-e^-1)); "
        "the score saturates toward 100 above it.",
    )
    momentum_weeks: int = Field(
        4, ge=1, description="Prior weeks that this week's signal is compared with (momentum)."
    )


class EngagementSettings(Section):
    points: dict[str, float] = Field(
        default_factory=lambda: {
            "web_visit": 1.0,
            "email_open": 0.5,
            "email_click": 3.0,
            "email_reply": 10.0,
            "ad_click": 3.0,
            "form_fill": 10.0,
            "content_download": 8.0,
            "webinar": 10.0,
            "event": 15.0,
            "meeting": 30.0,
            "call": 5.0,
            "ad_impression": 0.0,
            "email_sent": 0.0,
            "direct_mail": 0.0,
        },  # fmt: skip
        description="Engagement minutes per touch kind (outbound kinds such as email_sent and "
        "ad_impression earn 0: they are not the account engaging). Unlisted kinds earn "
        "`default_points`.",
    )
    default_points: float = Field(1.0, ge=0, description="Minutes of a kind not listed.")
    url_points: dict[str, float] = Field(
        default_factory=lambda: {"/pricing": 4.0, "/demo": 4.0, "/compare": 3.0},
        description="Minutes added when a touch's URL path starts with the prefix (rules add up).",
    )
    persona_weights: dict[str, float] = Field(
        default_factory=lambda: {"economic_buyer": 2.0, "champion": 1.5, "none": 0.0},
        description="Multiplier by the contact's persona (2.0 = 200%; 0 excludes).",
    )
    seniority_weights: dict[str, float] = Field(
        default_factory=lambda: {"c_level": 1.5, "vp": 1.25},
        description="Multiplier by the contact's seniority; unlisted levels count 100%.",
    )
    tier_weights: dict[str, float] = Field(
        default_factory=lambda: {"1": 1.0, "2": 1.0, "3": 1.0},
        description="Multiplier by the account's tier (multipliers multiply: a 200% persona in "
        "a 200% tier counts 400%).",
    )
    window_days: int = Field(90, ge=1, description="Days of touches that count (3 months).")
    half_life_days: float = Field(
        30.0, gt=0, description="A touch this many days old counts half its minutes."
    )
    cap_per_contact: float = Field(
        50.0, gt=0, description="Most minutes one person can add to an account in the window."
    )
    cap_anonymous: float = Field(
        50.0,
        gt=0,
        description="Most minutes anonymous activity (no known contact) can add to an account.",
    )
    scale: float = Field(
        60.0,
        gt=0,
        description="Minutes that give an engagement score of 63 (100·(1-e^-1)); the score "
        "saturates toward 100 above it.",
    )


class StageSettings(Section):
    qualified_fit: int = Field(70, ge=0, le=100, description="Journey Qualified: fit at least.")
    aware_intent: int = Field(
        50, ge=0, le=100, description="Journey Aware: intent at least (high intent)."
    )
    engaged_minutes: float = Field(
        10.0, ge=0, description="Journey Engaged: engagement minutes in the window at least."
    )
    mqa_minutes: float = Field(
        100.0, ge=0, description="Journey MQA: engagement minutes in the window at least, or…"
    )
    mqa_propensity: float = Field(
        0.85, ge=0, le=1, description="…propensity (pipeline prediction) at least."
    )
    awareness_intent: int = Field(
        20, ge=0, le=100, description="Buying stage Awareness: intent at least, or any minutes."
    )
    consideration_intent: int = Field(
        50, ge=0, le=100, description="Buying stage Consideration: intent at least, or…"
    )
    consideration_minutes: float = Field(
        25.0, ge=0, description="…engagement minutes at least, or…"
    )
    consideration_contacts: int = Field(2, ge=1, description="…engaged contacts at least.")
    decision_intent: int = Field(
        60,
        ge=0,
        le=100,
        description="Buying stage Decision: intent at least together with a visit to a key page "
        "(a page weighing more than the default in intent.page_weights, e.g. pricing) in the "
        "last intent.first_party_days, or…",
    )
    decision_minutes: float = Field(
        75.0, ge=0, description="…engagement minutes at least, or an open opportunity."
    )
    purchase_stages: list[str] = Field(
        ["Negotiation", "Negotiation/Review", "Contract", "Proposal/Price Quote", "Commit"],
        description="Open-opportunity stages (case-insensitive) that put an account in Purchase.",
    )


class PropensitySettings(Section):
    horizon_days: int = Field(
        90, ge=7, description="Propensity = probability of a new opportunity within these days."
    )
    snapshot_every_days: int = Field(
        30, ge=7, description="Days between the snapshots the model is trained on."
    )
    model: Literal["gradient_boosting", "logistic"] = Field(
        "gradient_boosting", description="Model family (both calibrated)."
    )
    min_positive_examples: int = Field(
        30, ge=1, description="Opportunities needed in the training window to train at all."
    )


class TierSettings(Section):
    tier1_capacity: int = Field(20, ge=0, description="Most accounts in Tier 1 (strategic 1:1).")
    tier2_capacity: int = Field(300, ge=0, description="Most accounts in Tier 2 (one-to-few).")
    tier3_capacity: int | None = Field(
        None,
        ge=0,
        description="Most accounts in Tier 3 (programmatic); empty: the rest of the ICP list.",
    )
    tier3_min_fit: int = Field(
        50, ge=0, le=100, description="Fit an account needs to be tiered at all (the ICP list)."
    )
    hysteresis: float = Field(
        0.1,
        ge=0,
        le=1,
        description="A challenger must beat the weakest account of a tier by this share of "
        "priority to take its place, so tiers do not flap between refreshes.",
    )
    expansion_mode: bool = Field(
        False, description="Tier customers too (expansion); by default customers are excluded."
    )
    tier2_clusters: int = Field(12, ge=1, description="Clusters of similar accounts in Tier 2.")


class CommitteeSettings(Section):
    required_personas: list[str] = Field(
        ["economic_buyer", "champion", "technical_evaluator", "blocker"],
        description="Personas a buying committee should include; each missing or silent one is "
        "named as a gap (e.g. 'no economic buyer known').",
    )
    engaged_days: int = Field(
        30,
        ge=1,
        description="A persona counts as engaged when one of its people engaged "
        "(a touch earning engagement minutes) in this many days.",
    )
