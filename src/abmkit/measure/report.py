"""The measurement report: the numbers `abm report` prints, writes as CSV/JSON and draws as HTML.

A `Report` is a set of named tables (pandas DataFrames) plus headline KPIs. Every face — the
CLI tables, `--format csv|json`, the HTML page — reads the same `Report`, so their numbers are
the same numbers. The sections and their columns:

- `kpis` (headline): name, value, unit ("share", "dollars", "unit_cost" — dollars to a tenth
  of a cent —, "days", "ratio", "count"), note.
- `funnel_stages` — accounts at each journey stage, week by week:
  week (date, the Monday), stage (Qualified … Customer, in order), accounts.
- `funnel_moves` — weekly cohorts: accounts that moved from one stage to the next in a week and
  how long they had been in the earlier stage: week, from_stage, to_stage, accounts,
  median_days.
- `tiers` — per tier (1, 2, 3 and "none" for accounts outside the tiers): tier, accounts,
  engaged_accounts, engagement_rate, opportunities, pipeline, pipeline_per_account, won,
  revenue, win_rate, median_velocity_days, committee_penetration.
- `acv` — ABM (tiered) vs non-ABM accounts: group, deals_won, revenue, acv.
- `movers` — top movers of the latest week: account_id, name, domain, tier, from_stage,
  to_stage, priority, priority_change.
- `attribution` — model, channel, conversions, pipeline, revenue.
- `lift` — per holdout scope: scope, metric ("opportunity_rate", "pipeline_per_account"),
  treated, treated_accounts, holdout, holdout_accounts, difference, low, high, significant,
  note (say plainly when the sample is too small).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from abmkit.app import Abm
    from abmkit.measure.journeys import Journeys
    from abmkit.measure.kpis import Period

SECTIONS = ("kpis", "funnel_stages", "funnel_moves", "tiers", "acv", "movers", "attribution",
            "lift")  # fmt: skip
SECTION_TITLES = {
    "kpis": "Headline", "funnel_stages": "Target accounts by journey stage, week by week",
    "funnel_moves": "Stage moves, weekly cohorts", "tiers": "By tier",
    "acv": "Average contract value, ABM vs non-ABM", "movers": "Top movers of the week",
    "attribution": "Attribution (pipeline and revenue per channel)",
    "lift": "Lift against randomized holdouts",
}  # fmt: skip
"""What each section is called in the terminal and the API's index."""


@dataclass
class Report:
    """Everything measured about one workspace as of one moment."""

    workspace: str
    as_of: dt.datetime
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    since: dt.datetime | None = None
    """The first moment of the period the report covers (None: not said)."""
    notes: list[str] = field(default_factory=list)
    """What a reader must know to read the numbers right (e.g. a stage history too short)."""

    def table(self, name: str) -> pd.DataFrame:
        if name not in SECTIONS:
            raise KeyError(f"unknown report section {name!r}; one of {', '.join(SECTIONS)}")
        return self.tables.get(name, pd.DataFrame())


DEFAULT_DAYS = 90
"""A report covers a quarter unless told otherwise."""
ATTRIBUTION_MODELS = ("first", "last", "linear", "time_decay", "u_shaped", "w_shaped", "markov",
                      "shapley")  # fmt: skip


def report_moment(abm: Abm) -> dt.datetime:
    """What a report is as of by default: the moment of the latest scores, else of the latest
    data, else now."""
    from abmkit.score.refresh import latest_data_time

    wh = abm.warehouse
    scored = wh.scalar(wh.table("account_scores").as_of.max())
    if scored is not None and str(scored) != "NaT":
        return pd.Timestamp(scored).to_pydatetime().replace(tzinfo=None)
    return latest_data_time(wh) or dt.datetime.now(dt.UTC).replace(tzinfo=None)


def build_report(abm: Abm, *, as_of: dt.datetime | None = None, days: int = DEFAULT_DAYS,
                 weeks: int = 12, models: tuple[str, ...] = ATTRIBUTION_MODELS,
                 level: str | None = None, lookback: int | None = None) -> Report:  # fmt: skip
    """Every section of the report for the `days` up to `as_of` (default: the latest scores)."""
    from abmkit.measure import kpis
    from abmkit.measure.lift import lift

    as_of = as_of or report_moment(abm)
    period = kpis.Period(as_of - dt.timedelta(days=days), as_of)
    wh, settings = abm.warehouse, abm.settings
    with wh.temporary():  # the report's working tables go when it is built
        start = wh.temp("tiers", kpis.start_tiers(wh, period))
        tiers = kpis.tiers_table(wh, settings, period, start)
        acv = kpis.acv_table(wh, period, start)
        attribution, journeys = attribution_table(abm, period, models, level=level,
                                                  lookback=lookback)  # fmt: skip
        headline = kpis.headline(tiers, acv, kpis.spend(wh, period))
        unattributed = pd.DataFrame([{
            "name": "Pipeline with no touch before it", "value": journeys.untouched_pipeline,
            "unit": "dollars", "note": f"{journeys.untouched:,} opportunities of the period had "
            "no touch in the attribution lookback: no channel gets their credit.",
        }])  # fmt: skip
        tables = {
            "kpis": pd.concat([headline, unattributed], ignore_index=True),
            "funnel_stages": kpis.funnel_stages(wh, period, weeks),
            "funnel_moves": kpis.funnel_moves(wh, period, weeks),
            "tiers": tiers,
            "acv": acv,
            "movers": kpis.movers(wh, period),
            "attribution": attribution,
            "lift": lift(abm),
        }
    return Report(
        str(abm.workspace.path), as_of, tables, since=period.since, notes=history_notes(abm, period)
    )


def history_notes(abm: Abm, period: Period) -> list[str]:
    """Say so when the stage history the tiers and funnel read begins after the period does."""
    first = abm.warehouse.scalar(abm.warehouse.table("score_history").as_of.min())
    if first is None or str(first) == "NaT":
        return [
            "No stage history yet: run `abm score` (with `--replay-weeks N` to replay "
            "weeks of data loaded at once); every account counts as outside the tiers."
        ]
    first = pd.Timestamp(first).to_pydatetime()
    if first > period.since:
        return [
            f"The stage history begins {first:%Y-%m-%d}, after the period does: tiers are "
            "the first recorded, and an account that won before then counts outside them. "
            "Replay more weeks (`abm score --replay-weeks N`) or shorten the period."
        ]
    return []


def attribution_table(abm: Abm, period: Period, models: tuple[str, ...], *,
                      level: str | None = None, lookback: int | None = None,
                      markov_order: int = 1) -> tuple[pd.DataFrame, Journeys]:  # fmt: skip
    """Per model and channel (or campaign): opportunities, pipeline and revenue credited."""
    from abmkit.measure.attribution import attribute
    from abmkit.measure.journeys import account_journeys

    settings = abm.settings
    cfg = settings.measure.attribution
    journeys = account_journeys(abm.warehouse, settings, period.as_of, period.since,
                                lookback=lookback, level=level)  # fmt: skip
    rows: list[dict] = []
    if journeys.opportunities == 0 or not len(journeys.channels):
        return pd.DataFrame(columns=["model", "channel", "conversions", "pipeline",
                                     "revenue"]), journeys  # fmt: skip
    by_pipeline, by_revenue = journeys.paths("pipeline"), journeys.paths("revenue")
    options: dict[str, dict[str, Any]] = {
        "time_decay": {"half_life_days": cfg.half_life_days},
        "shapley": {"max_exact": cfg.max_exact_shapley},
        "markov": {"order": markov_order},
    }
    for model in models:
        p = attribute(by_pipeline, model, **options.get(model, {}))
        r = attribute(by_revenue, model, **options.get(model, {}))
        for i, channel in enumerate(p.channels):
            rows.append({"model": model, "channel": channel,
                         "conversions": float(p.conversions[i]), "pipeline": float(p.value[i]),
                         "revenue": float(r.value[i])})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["_order"] = frame["model"].map(list(models).index)
    frame = frame.sort_values(["_order", "pipeline"], ascending=[True, False])
    return frame.drop(columns="_order").reset_index(drop=True), journeys


def attribution_over(abm: Abm, *, days: int = 365, as_of: dt.datetime | None = None,
                     models: tuple[str, ...] = ATTRIBUTION_MODELS, level: str | None = None,
                     lookback: int | None = None,
                     order: int = 1) -> tuple[pd.DataFrame, Journeys, Period]:  # fmt: skip
    """Attribution of the opportunities created in the `days` up to `as_of` (default: the
    latest scores), as `abm attribution` shows it: the table, the journeys and the period."""
    from abmkit.measure.kpis import Period

    end = as_of or report_moment(abm)
    period = Period(end - dt.timedelta(days=days), end)
    with abm.warehouse.temporary():
        frame, journeys = attribution_table(abm, period, models, level=level,
                                            lookback=lookback, markov_order=order)  # fmt: skip
    return frame, journeys, period


# -- the JSON form (`abm report --format json`, the REST API) -----------------------------------
def plain(value: Any) -> Any:
    """A JSON-able form of a report cell (NaN → null, dates → ISO text)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # NumPy scalars
        return plain(value.item())
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    """A report table as JSON-able rows."""
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def report_json(report: Report, sections: tuple[str, ...] | list[str] = SECTIONS) -> dict:
    """The report as `abm report --format json` writes it (and the API answers it)."""
    return {
        "workspace": report.workspace,
        "as_of": report.as_of.isoformat(),
        "since": report.since.isoformat() if report.since else None,
        "sections": {name: records(report.table(name)) for name in SECTIONS if name in sections},
    }
