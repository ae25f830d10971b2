"""Buying stage, journey stage and the sales-ready flag, from an account's scores.

Buying stage (6sense vocabulary), strongest first: **Purchase** — an open opportunity in a late
stage (`stages.purchase_stages`); **Decision** — an open opportunity, or intent ≥
`decision_intent` with a key-page visit, or engagement ≥ `decision_minutes`; **Consideration** —
intent ≥ `consideration_intent`, or engagement ≥ `consideration_minutes`, or at least
`consideration_contacts` engaged people; **Awareness** — intent ≥ `awareness_intent` or any
engagement; else **Target**.

Journey stage (Demandbase vocabulary), evaluated bottom-up so each account has exactly one:
**Customer** (won business) → **Opportunity** (an open one) → **MQA** (engagement ≥
`mqa_minutes` or propensity ≥ `mqa_propensity`) → **Engaged** (≥ `engaged_minutes`) → **Aware**
(intent ≥ `aware_intent`) → **Qualified** (fit ≥ `qualified_fit`) → else **Unqualified**.

Sales-ready: fit Strong or Moderate AND buying stage Decision or Purchase.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from abmkit.config.settings import Settings
from abmkit.score.signals import Moment, day_of
from abmkit.warehouse.engine import Warehouse


def opportunity_status(wh: Warehouse, settings: Settings, as_of: Moment) -> ir.Table:
    """(account_id, open_opportunities, late_stage_open, won_before, won_later) as of `as_of`:
    an opportunity is open when created by then and not closed by then; won_later: a deal won
    after `as_of` (the CRM's account type says what an account is now, not then)."""
    o = wh.table("opportunities").filter(ibis._.account_id.notnull())
    day = day_of(as_of)
    created = o.created_at.isnull() | (o.created_at <= day)
    closed_by = o.is_closed.fill_null(False) & (o.closed_at.isnull() | (o.closed_at <= day))
    is_open = created & ~closed_by
    late = o.stage.lower().strip().isin([s.lower() for s in settings.stages.purchase_stages])
    won = o.is_won.fill_null(False) & closed_by
    return o.group_by("account_id").agg(
        open_opportunities=ibis.cases((is_open, 1), else_=0).sum(),
        late_stage_open=(is_open & late.fill_null(False)).any(),
        won_before=won.any(),
        won_later=(o.is_won.fill_null(False) & ~closed_by).any(),
    )


def buying_stage(t: ir.Table, settings: Settings) -> ir.StringValue:
    st = settings.stages
    minutes, intent = t.engagement_minutes, t.intent
    return ibis.cases(
        (t.late_stage_open, "Purchase"),
        ((t.open_opportunities > 0) | ((intent >= st.decision_intent) & (t.key_page_visits > 0))
         | (minutes >= st.decision_minutes), "Decision"),
        ((intent >= st.consideration_intent) | (minutes >= st.consideration_minutes)
         | (t.engaged_contacts >= st.consideration_contacts), "Consideration"),
        ((intent >= st.awareness_intent) | (minutes > 0), "Awareness"),
        else_="Target",
    )  # fmt: skip


def journey_stage(t: ir.Table, settings: Settings) -> ir.StringValue:
    st = settings.stages
    return ibis.cases(
        # typed Customer in the CRM (today's value) and no first win after as_of: it already was
        (t.won_before | ((t.account_type.lower() == "customer") & ~t.won_later).fill_null(False),
         "Customer"),
        (t.open_opportunities > 0, "Opportunity"),
        ((t.engagement_minutes >= st.mqa_minutes)
         | (t.propensity >= st.mqa_propensity).fill_null(False), "MQA"),
        (t.engagement_minutes >= st.engaged_minutes, "Engaged"),
        (t.intent >= st.aware_intent, "Aware"),
        (t.fit >= st.qualified_fit, "Qualified"),
        else_="Unqualified",
    )  # fmt: skip


def sales_ready(t: ir.Table) -> ir.BooleanValue:
    return t.fit_bucket.isin(["Strong", "Moderate"]) & t.buying_stage.isin(["Decision", "Purchase"])
