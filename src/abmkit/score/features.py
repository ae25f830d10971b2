"""Features of every account **as of** a moment, for the propensity model.

Everything here is computed from what was known at `as_of`: touches up to it, intent weeks that
had ended by it, opportunities created (and closed) by it. Firmographics and fit come from the
accounts table as loaded (a CRM export is a picture of today; of its columns only size, industry,
country and technologies are used, which rarely change). Adding events after `as_of` cannot
change a row of this table — a test holds it to that.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir

from abmkit.config.settings import Settings
from abmkit.score.fit import fit_scores
from abmkit.score.signals import (
    Moment,
    day_of,
    days_before,
    days_earlier,
    engagement,
    first_party_intent,
    key_page,
    moment,
    third_party_intent,
    url_path,
)
from abmkit.warehouse.engine import Warehouse

NUMERIC = ["fit", "log_employees", "log_revenue", "technologies", "intent_3p", "topics_surging",
           "momentum_3p", "intent_1p", "key_page_visits", "momentum_1p", "engagement_minutes",
           "engaged_contacts", "engaged_personas", "visits_30d", "visits_90d", "clicks_90d",
           "meetings_90d", "forms_90d", "days_since_touch", "prior_opportunities",
           "won_before", "days_since_closed", "surging_2w", "weeks_surging_4w", "best_score_2w",
           "visits_14d", "key_visits_14d", "weeks_surging_8w", "topics_surging_8w",
           "visit_weeks_8w"]  # fmt: skip
CATEGORICAL = ["industry", "country"]
FEATURES = NUMERIC + CATEGORICAL


TOUCH_FEATURE_DAYS = 365
"""The model's touch counts look back a year."""
INTENT_FEATURE_DAYS = 7 + 56
"""…and its intent features eight complete weeks (the week still running does not count)."""


def reach_days(settings: Settings, with_model: bool) -> tuple[int, int]:
    """How many days before `as_of` any score of a refresh reads touches, and intent weeks
    (with the model's features when a model is active), with a day's margin. A refresh of a
    few accounts copies only their rows this recent: a longer window in the settings widens it."""
    cfg = settings.intent
    touches = max(cfg.first_party_days, 7 * (cfg.momentum_weeks + 1),
                  settings.engagement.window_days, settings.committee.engaged_days)  # fmt: skip
    weeks = 7 * (cfg.lookback_weeks + 1)
    if with_model:
        touches, weeks = max(touches, TOUCH_FEATURE_DAYS), max(weeks, INTENT_FEATURE_DAYS)
    return int(touches) + 1, int(weeks) + 1


def features_as_of(wh: Warehouse, settings: Settings, as_of: Moment) -> ir.Table:
    """(account_id, open_now, *FEATURES) for every account, from data known at `as_of`."""
    fit, _ = fit_scores(wh, settings)
    acc = wh.table("accounts")
    base = acc.select(
        "account_id", "industry", "country",
        log_employees=(acc.employees.cast(idt.float64) + 1).ln(),
        log_revenue=(acc.revenue + 1).ln(),
        technologies=ibis.cases(
            (acc.technologies.isnull() | (acc.technologies.strip() == ""), 0),
            else_=acc.technologies.re_split(r"\s*[;,|]\s*").length()),
    )  # fmt: skip
    eng, _ = engagement(wh, settings, as_of)
    parts = [fit.select("account_id", "fit"), third_party_intent(wh, settings, as_of),
             first_party_intent(wh, settings, as_of), eng, _touch_counts(wh, settings, as_of),
             _recent_intent(wh, settings, as_of), _opportunity_history(wh, as_of)]  # fmt: skip
    t = base
    for part in parts:
        t = t.left_join(part, "account_id").drop("account_id_right")
    fills = {c: 0 for c in NUMERIC if c not in ("log_employees", "log_revenue", "momentum_3p",
                                                "momentum_1p", "days_since_touch",
                                                "days_since_closed")}  # fmt: skip
    t = t.mutate(**{c: t[c].fill_null(v) for c, v in fills.items()},
                 open_now=t.open_now.fill_null(False))  # fmt: skip
    return t.select("account_id", "open_now", *[t[c].cast(idt.float64).name(c) for c in NUMERIC],
                    *CATEGORICAL)  # fmt: skip


def _recent_intent(wh: Warehouse, settings: Settings, as_of: Moment) -> ir.Table:
    """Surges of relevant topics in the last complete weeks: how many topics in the last two
    and the last eight, in how many of the last four and eight weeks any topic surged (research
    lasts weeks: persistence tells it from a one-off), and the best score of the last two."""
    t = wh.table("intent").filter(ibis._.account_id.notnull())
    last_start = day_of(as_of, 7)
    t = t.filter((t.week <= last_start) & (t.week > day_of(as_of, INTENT_FEATURE_DAYS)))
    if settings.intent.relevant_topics:
        t = t.filter(t.topic.lower().isin([x.lower() for x in settings.intent.relevant_topics]))
    surge = t.score >= settings.thresholds.surge_score
    recent = t.week > day_of(as_of, 7 + 14)
    month = t.week > day_of(as_of, 7 + 28)
    return t.group_by("account_id").agg(
        surging_2w=t.topic.nunique(where=surge & recent),
        weeks_surging_4w=t.week.nunique(where=surge & month),
        best_score_2w=t.score.max(where=recent),
        weeks_surging_8w=t.week.nunique(where=surge),
        topics_surging_8w=t.topic.nunique(where=surge),
    )


def _touch_counts(wh: Warehouse, settings: Settings, as_of: Moment) -> ir.Table:
    t = wh.table("touches").filter(ibis._.account_id.notnull() & (ibis._.ts <= moment(as_of)))
    t = t.filter(t.ts > days_earlier(as_of, TOUCH_FEATURE_DAYS))
    t = t.mutate(_path=url_path(t.url))
    age = days_before(as_of, t.ts)

    def count(condition: ir.BooleanValue) -> ir.IntegerValue:
        return ibis.cases((condition, 1), else_=0).sum()

    visit = t.kind == "web_visit"
    key = key_page(t._path, settings)
    return t.group_by("account_id").agg(
        visits_14d=count(visit & (age <= 14)),
        key_visits_14d=count(visit & key & (age <= 14)),
        visits_30d=count(visit & (age <= 30)),
        visits_90d=count(visit & (age <= 90)),
        clicks_90d=count(t.kind.isin(["email_click", "ad_click"]) & (age <= 90)),
        meetings_90d=count(t.kind.isin(["meeting", "call", "email_reply"]) & (age <= 90)),
        forms_90d=count(
            t.kind.isin(["form_fill", "webinar", "event", "content_download"]) & (age <= 90)
        ),  # fmt: skip
        days_since_touch=age.min(),
        visit_weeks_8w=(age / 7.0).floor().nunique(where=visit & (age < 56)),
    )


def _opportunity_history(wh: Warehouse, as_of: Moment) -> ir.Table:
    o = wh.table("opportunities").filter(ibis._.account_id.notnull() & ibis._.created_at.notnull())
    day = day_of(as_of)
    o = o.filter(o.created_at <= day)
    closed = o.is_closed.fill_null(False) & o.closed_at.notnull() & (o.closed_at <= day)
    days = days_before(day.cast(idt.timestamp), o.closed_at.cast(idt.timestamp))
    return o.group_by("account_id").agg(
        prior_opportunities=o.count(),
        won_before=ibis.cases((closed & o.is_won.fill_null(False), 1), else_=0).max(),
        days_since_closed=days.min(where=closed).cast(idt.float64),
        open_now=(~closed).any(),
    )


def opened_within(wh: Warehouse, as_of: dt.datetime, days: int) -> ir.Table:
    """(account_id, label): whether the account opened an opportunity in (as_of, as_of+days]."""
    o = wh.table("opportunities").filter(ibis._.account_id.notnull() & ibis._.created_at.notnull())
    start, end = as_of.date(), (as_of + dt.timedelta(days=days)).date()
    hits = o.filter((o.created_at > start) & (o.created_at <= end))
    return hits.group_by("account_id").agg(label=ibis.literal(1))
