"""The reasons behind each score, and which of them are written and which are read.

An account has about sixteen reasons. Those of fit (one per ICP criterion), of the buying
committee (one per required persona) and of the lookalike model (its top features) come from
data the stored scores do not hold, so a refresh writes them to `stored_reasons`. The others
follow from the account's own row of `account_scores` and the settings: intent (third-party,
then what first-party adds), engagement, and the parts of priority. They are not written: the
view `score_reasons` renders them from that row each time it is read, and shows the written ones
beside them. Each full refresh defines the view again with its own settings, so the words and
points always explain the scores as stored, and a changed weight shows in both at once.

Points are the stored values rounded to one decimal (the stored floats carry four).
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir

from abmkit.config.settings import Settings
from abmkit.score.fit import REASON_COLUMNS
from abmkit.score.tiers import priority_parts
from abmkit.warehouse.engine import Warehouse

VIEW = "score_reasons"
STORED = "stored_reasons"
READ = ("intent", "engagement", "priority")
"""The scores whose reasons the view reads from `account_scores` (the others are written)."""


def define_view(wh: Warehouse, settings: Settings) -> None:
    """Define `score_reasons` with `settings`: the written reasons and those read from the
    stored scores (call in the refresh's transaction, after its scores are written)."""
    wh.define_view(VIEW, reasons_view(wh, settings))


def reasons_view(wh: Warehouse, settings: Settings) -> ir.Table:
    """Every account's reasons: the written ones, then those read from its stored scores."""
    stored = wh.table(STORED)
    stored = stored.filter(~stored.score.isin(READ))  # rows an earlier release wrote
    return ibis.union(stored.select(*REASON_COLUMNS), *read_reasons(wh.table("account_scores"),
                                                                   settings))  # fmt: skip


def read_reasons(s: ir.Table, settings: Settings) -> list[ir.Table]:
    """The reasons of intent, engagement and priority of the rows `s` (columns of
    `account_scores`), one table per factor."""
    return [*_intent(s), _engagement(s, settings), *_priority(s, settings)]


def _intent(s: ir.Table) -> list[ir.Table]:
    third = ibis.cases(
        (s.topics_surging > 0, counted(s.topics_surging, "relevant topic", "relevant topics")
         + " surging: " + s.top_topics),
        else_=ibis.literal("no relevant topic surging"),
    )  # fmt: skip
    key = counted(s.key_page_visits, "key-page visit", "key-page visits") + " lately"
    first = ibis.cases(
        (s.key_page_visits > 0, key),
        (s.intent_1p > 0, ibis.literal("web visits, none to key pages")),
        else_=ibis.literal("no recent web visits"),
    )
    adds = s.intent_1p * (1.0 - s.intent_3p / 100.0)
    return [
        _row(s, "intent", "third_party", s.intent_3p, third),
        _row(s, "intent", "first_party", adds, first),
    ]


def counted(n: ir.IntegerValue, one: str, many: str) -> ir.StringValue:
    """A count and its noun: `1 minute`, `3 minutes`."""
    return n.cast(idt.string) + ibis.cases((n == 1, f" {one}"), else_=f" {many}")


def _engagement(s: ir.Table, settings: Settings) -> ir.Table:
    days = settings.engagement.window_days
    minutes = counted(s.engagement_minutes.round(0).cast(idt.int64), "minute", "minutes")
    people = (counted(s.engaged_contacts, "known person", "known people") + " ("
              + counted(s.engaged_personas, "persona", "personas") + ")")  # fmt: skip
    anonymous = s.anonymous_minutes > 0
    source = ibis.cases(
        ((s.engaged_contacts > 0) & anonymous, people + " and anonymous visits"),
        (s.engaged_contacts > 0, people),
        else_=ibis.literal("anonymous visits"),
    )
    words = ibis.cases(
        (s.engagement_minutes > 0, minutes + f" in {days} days from " + source),
        else_=ibis.literal(f"no engagement in {days} days"),
    )
    return _row(s, "engagement", "minutes", s.engagement, words)


def _priority(s: ir.Table, settings: Settings) -> list[ir.Table]:
    """The blend's three parts; with a propensity model (the row names its version) they are
    context, and the expected value is the priority."""
    w = settings.weights
    words = {"fit": w.fit, "intent": w.intent, "engagement": w.engagement}
    total = sum(words.values()) or 1.0
    parts = priority_parts(s.fit, s.intent, s.engagement, settings)
    modelled = s.model_version.notnull()
    out = []
    for name, weight in words.items():
        # the points use the weight's share of all three; say so when they do not add up to 1
        of = "" if abs(total - 1.0) < 1e-9 else f" (weight {weight:g} of {total:g})"
        text = (ibis.literal(f"{name} ") + s[name].round(0).cast(idt.int64).cast(idt.string)
                + f" × {weight / total:.3g}{of}")  # fmt: skip
        text = text + ibis.cases((modelled, " (context: the model weighs every signal itself)"),
                                 else_="")  # fmt: skip
        out.append(_row(s, "priority", name, parts[name], text))
    m = s.filter(modelled)
    pct = (m.propensity * 100).round(1).cast(idt.string)
    acv = m.expected_acv.round(0).cast(idt.int64).cast(idt.string)
    text = ibis.cases(
        (m.propensity.isnull(), ibis.literal("no propensity: an opportunity is already open")),
        else_="propensity " + pct + "% (model " + m.model_version + ") × expected ACV $" + acv
        + " (" + m.acv_basis + ")",
    )  # fmt: skip
    # the priority is that value (0 without a propensity), as stored
    out.append(_row(m, "priority", "expected_value", m.priority, text))
    return out


def _row(s: ir.Table, score: str, factor: str, points: ir.NumericValue,
         reason: ir.StringValue) -> ir.Table:  # fmt: skip
    return s.select("account_id", score=ibis.literal(score), factor=ibis.literal(factor),
                    points=points.cast(idt.float64).round(1), reason=reason)  # fmt: skip
