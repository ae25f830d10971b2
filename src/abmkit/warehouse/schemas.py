"""The canonical tables: the contract between the stages of abmkit.

Each table has one natural key column (composite keys are folded into one deterministic string at
ingest), a typed schema, the columns a file must provide, and bookkeeping columns that never count
as a change (which load wrote the row, when).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt

BOOKKEEPING = ("load_id", "loaded_at")
MATCH_COLUMNS = {"match_method": dt.string, "match_score": dt.float64}


@dataclass(frozen=True)
class TableSpec:
    """One canonical table."""

    name: str
    key: str
    columns: dict[str, dt.DataType]
    required: tuple[str, ...] = ()
    resolves_accounts: bool = False
    doc: str = ""
    custom_attributes: bool = False
    entity: str = ""  # singular name used in the attributes table
    strongest: str | None = None  # rows of one file sharing a key keep the highest of this

    @property
    def schema(self) -> ibis.Schema:
        cols = dict(self.columns)
        if self.resolves_accounts:
            cols.update(MATCH_COLUMNS)
        cols.update({"load_id": dt.string, "loaded_at": dt.timestamp})
        return ibis.schema(cols)

    @property
    def content_columns(self) -> list[str]:
        """Columns whose change makes a row 'updated' (everything but key and bookkeeping)."""
        return [c for c in self.schema.names if c != self.key and c not in BOOKKEEPING]


S, I, F, B, D, T = dt.string, dt.int64, dt.float64, dt.boolean, dt.date, dt.timestamp  # noqa: E741

ACCOUNTS = TableSpec(
    "accounts",
    entity="account",
    key="account_id",
    columns={
        "account_id": S, "name": S, "domain": S, "name_key": S, "industry": S, "employees": I,
        "revenue": F, "country": S, "region": S, "city": S, "technologies": S,
        "parent_account_id": S, "parent_name": S, "owner": S, "account_type": S, "source": S,
    },
    required=("name|domain",),
    custom_attributes=True,
    doc="Companies: one row per account, keyed by the source's ID or, without one, by domain.",
)  # fmt: skip

CONTACTS = TableSpec(
    "contacts",
    entity="contact",
    key="contact_id",
    columns={
        "contact_id": S, "account_id": S, "email": S, "first_name": S, "last_name": S,
        "name": S, "title": S, "seniority": S, "department": S, "persona": S, "country": S,
        "email_opt_out": B, "do_not_call": B, "account_name": S, "domain": S, "source": S,
    },
    required=("contact_id|email",),
    resolves_accounts=True,
    custom_attributes=True,
    doc="People at accounts; linked to an account by ID or e-mail domain.",
)  # fmt: skip

TOUCHES = TableSpec(
    "touches",
    key="touch_id",
    columns={
        "touch_id": S, "ts": T, "account_id": S, "contact_id": S, "email": S, "domain": S,
        "ip": S, "channel": S, "kind": S, "campaign_id": S, "cost": F, "url": S,
        "referrer": S, "session_id": S, "source": S,
    },
    required=("ts", "kind|url"),
    resolves_accounts=True,
    doc="One row per interaction; keyed by its own ID or a hash of its content.",
)  # fmt: skip

INTENT = TableSpec(
    "intent",
    key="intent_id",
    columns={
        "intent_id": S, "week": D, "account_id": S, "domain": S, "company_name": S,
        "topic": S, "category": S, "score": I, "source": S,
    },
    required=("week", "domain", "topic", "score"),
    resolves_accounts=True,
    strongest="score",
    doc="Third-party topic scores per (week, domain, topic, source); 0-100, 50 = average.",
)  # fmt: skip

OPPORTUNITIES = TableSpec(
    "opportunities",
    entity="opportunity",
    key="opportunity_id",
    columns={
        "opportunity_id": S, "account_id": S, "account_name": S, "name": S, "stage": S,
        "amount": F, "created_at": D, "closed_at": D, "is_closed": B, "is_won": B,
        "owner": S, "source": S,
    },
    required=("opportunity_id",),
    resolves_accounts=True,
    custom_attributes=True,
    doc="CRM opportunities with stage, amount and dates.",
)  # fmt: skip

CAMPAIGNS = TableSpec(
    "campaigns",
    key="campaign_id",
    columns={
        "campaign_id": S, "name": S, "campaign_type": S, "channel": S, "status": S,
        "start_date": D, "end_date": D, "budgeted_cost": F, "actual_cost": F, "source": S,
    },
    required=("campaign_id",),
    doc="Marketing campaigns that touches refer to.",
)  # fmt: skip

IP_RANGES = TableSpec(
    "ip_ranges",
    key="range_id",
    columns={
        "range_id": S, "start_ip": S, "end_ip": S, "start_num": I, "end_num": I,
        "domain": S, "account_id": S, "source": S,
    },
    required=("start_ip", "domain"),
    resolves_accounts=True,
    doc="IPv4 ranges owned by companies (reverse-IP data) for matching anonymous web visits.",
)  # fmt: skip

CANONICAL: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (ACCOUNTS, CONTACTS, TOUCHES, INTENT, OPPORTUNITIES, CAMPAIGNS, IP_RANGES)
}

ATTRIBUTES = ibis.schema(
    {"attribute_id": S, "entity": S, "entity_id": S, "name": S, "value": S, "load_id": S,
     "loaded_at": T}
)  # fmt: skip

LOADS = ibis.schema(
    {"load_id": S, "table_name": S, "file": S, "checksum": S, "preset": S, "started_at": T,
     "seconds": F, "rows_read": I, "inserted": I, "updated": I, "unchanged": I,
     "quarantined": I, "skipped": I, "unmatched": I, "outcome": S, "message": S}
)  # fmt: skip

QUARANTINE = ibis.schema(
    {"load_id": S, "table_name": S, "file": S, "row": I, "column_name": S, "reason": S,
     "raw": S}
)  # fmt: skip

ACCOUNT_MERGES = ibis.schema(
    {"from_account_id": S, "into_account_id": S, "merged_at": T, "reason": S}
)  # fmt: skip

ACCOUNT_SCORES = ibis.schema(
    {"account_id": S, "as_of": T, "fit": I, "fit_bucket": S, "fit_excluded": S,
     "intent": F, "intent_3p": F, "intent_1p": F, "momentum_3p": F, "momentum_1p": F,
     "topics_surging": I, "top_topics": S, "key_page_visits": I, "engagement": F,
     "engagement_minutes": F, "engaged_contacts": I, "engaged_personas": I,
     "open_opportunities": I, "propensity": F, "model_version": S, "priority": F,
     "buying_stage": S, "journey_stage": S, "sales_ready": B, "tier": I, "scored_at": T,
     "cluster": I, "cluster_label": S, "lookalike": F, "anonymous_minutes": F,
     "expected_acv": F, "acv_basis": S}
)  # fmt: skip
"""One row per account: its current scores (rewritten only where something changed), with what
the reasons read from it (`abmkit.score.reasons`)."""

SCORE_REASONS = ibis.schema(
    {"account_id": S, "score": S, "factor": S, "points": F, "reason": S}
)  # fmt: skip
"""Why each score is what it is: per account, score and factor, the points and the words. The
table `stored_reasons` keeps the ones a refresh must write (an account's are written and replaced
together); the view `score_reasons` adds those read from `account_scores`."""

SCORE_HISTORY = ibis.schema(
    {"account_id": S, "as_of": T, "fit_bucket": S, "buying_stage": S, "journey_stage": S,
     "tier": I, "priority": F, "recorded_at": T}
)  # fmt: skip
"""A row whenever an account's bucket, stages or tier change, to report movement over time."""

TIER_CHANGES = ibis.schema(
    {"account_id": S, "as_of": T, "from_tier": I, "to_tier": I, "reason": S, "recorded_at": T}
)  # fmt: skip
"""Every tier change with its reason."""

SCORE_RUNS = ibis.schema(
    {"run_id": S, "mode": S, "as_of": T, "settings_hash": S,
     "model_version": S, "accounts": I, "rescored": I, "inserted": I, "updated": I,
     "tier_changes": I, "started_at": T, "finished_at": T, "note": S}
)  # fmt: skip
"""One row per refresh (mode full, incremental or as-of): its settings and model and what it
changed; the loads it took into account are in `score_loads`."""

SCORE_LOADS = ibis.schema({"load_id": S, "run_id": S})
"""The loads (files) a refresh has taken into account: the next incremental refresh re-scores the
accounts of the rows written by any other load."""

SYSTEM: dict[str, ibis.Schema] = {
    "attributes": ATTRIBUTES,
    "loads": LOADS,
    "quarantine": QUARANTINE,
    "account_merges": ACCOUNT_MERGES,
    "account_scores": ACCOUNT_SCORES,
    "stored_reasons": SCORE_REASONS,
    "score_history": SCORE_HISTORY,
    "tier_changes": TIER_CHANGES,
    "score_runs": SCORE_RUNS,
    "score_loads": SCORE_LOADS,
}

RETIRED: dict[str, list[str]] = {
    "stored_reasons": ["reason_id"],  # a key per reason, made of the three columns that name it
}
"""Columns an earlier release kept that nothing reads or writes any more: dropped when a
warehouse is opened. Only derived data retires (scores are computed again on every refresh)."""

RENAMED: dict[str, str] = {
    "score_reasons": "stored_reasons",  # its name is now the view's, over it and account_scores
}
"""System tables an earlier release named otherwise: renamed, rows and all, when a warehouse is
opened (before `RETIRED` applies)."""

VIEWS: dict[str, str] = {"score_reasons": "stored_reasons"}
"""Views over the system tables, read like tables and never written, and the table each shows
until a refresh defines it (`abmkit.score.reasons`)."""
