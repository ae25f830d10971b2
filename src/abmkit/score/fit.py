"""Fit: how well each account matches the ideal customer profile, with one reason per criterion.

Each criterion set in `icp` earns a credit between 0 and 1 (a match 1, a miss 0, a size near the
range ½, an unknown value `unknown_credit`); fit = 100 × Σ weight·credit ÷ Σ weight, so the
points of the reasons add up to the score. An exclusion (a domain, industry, account type or
technology ruled out) sets fit to 0 and says why. Buckets: Strong ≥ `thresholds.fit_strong`,
Moderate ≥ `thresholds.fit_moderate`, Weak below (6sense: 81 and 50).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from abmkit.config.scoring import AttributeRule, IcpSettings
from abmkit.config.settings import Settings
from abmkit.score.incremental import memoized
from abmkit.warehouse.engine import Warehouse

REASON_COLUMNS = ["account_id", "score", "factor", "points", "reason"]


@dataclass(frozen=True)
class Criterion:
    """One ICP criterion: its name, weight, credit (0..1) and the words that explain it."""

    factor: str
    weight: float
    credit: ir.FloatingValue
    reason: ir.StringValue


def _lower_in(value: ir.StringValue, options: list[str]) -> ir.BooleanValue:
    return value.lower().strip().isin([o.lower().strip() for o in options])


def _size(t: ir.Table, column: str, low: float | None, high: float | None, near: float,
          unknown: float, noun: str) -> tuple[ir.FloatingValue, ir.StringValue]:  # fmt: skip
    v = t[column].cast(dt.float64)
    inside = ibis.literal(True)
    nearby = ibis.literal(True)
    if low is not None:
        inside &= v >= low
        nearby &= v >= low / near
    if high is not None:
        inside &= v <= high
        nearby &= v <= high * near
    lo = compact_number(low) if low is not None else "0"
    hi = compact_number(high) if high is not None else "∞"
    span = f"{lo}–{hi}"
    shown = v.cast(dt.int64).cast(dt.string)
    credit = ibis.cases((v.isnull(), unknown), (inside, 1.0), (nearby, 0.5), else_=0.0)
    reason = ibis.cases(
        (v.isnull(), ibis.literal(f"{noun} unknown")),
        (inside, ibis.literal(f"{noun} ") + shown + f" within {span}"),
        (nearby, ibis.literal(f"{noun} ") + shown + f" near {span}"),
        else_=ibis.literal(f"{noun} ") + shown + f" outside {span}",
    )
    return credit, reason


def compact_number(x: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if x >= size:
            return f"{x / size:g}{suffix}"
    return f"{x:g}"


def _tech_list(t: ir.Table) -> ir.StringValue:
    """Technologies as ';a;b;c;' (lower-case), so membership is a plain substring test; read
    from `_techs` when the table has it (computed once per row by `fit_scores`)."""
    if "_techs" in t.columns:
        return t._techs
    raw = t.technologies.fill_null("").lower().re_replace(r"\s*[;,|]\s*", ";").strip()
    return ";" + raw + ";"


def _has_tech(techs: ir.StringValue, tech: str) -> ir.BooleanValue:
    return techs.contains(f";{tech.lower().strip()};")


def _tech_share(t: ir.Table, wanted: list[str], unknown: float,
                noun: str) -> tuple[ir.FloatingValue, ir.StringValue]:  # fmt: skip
    techs = _tech_list(t)
    hits = [ibis.cases((_has_tech(techs, w), 1.0), else_=0.0) for w in wanted]
    share = sum(hits[1:], hits[0]) / len(wanted)
    known = t.technologies.notnull() & (t.technologies.strip() != "")
    found = [ibis.cases((_has_tech(techs, w), ibis.literal(w)), else_=ibis.null(dt.string))
             for w in wanted]  # fmt: skip
    listed = ibis.literal(", ").join(found)  # CONCAT_WS: the technologies it lacks drop out
    reason = ibis.cases(
        (~known, ibis.literal(f"{noun}: technologies unknown")),
        (share == 0, ibis.literal(f"{noun}: none of {', '.join(wanted)}")),
        else_=ibis.literal(f"{noun}: has ") + listed,
    )
    return ibis.cases((~known, unknown), else_=share), reason


def criteria(t: ir.Table, icp: IcpSettings) -> list[Criterion]:
    """The criteria the ICP sets, as expressions over the accounts table `t`."""
    w, out = icp.weights, []
    unknown = icp.unknown_credit
    if icp.industries:
        known = t.industry.notnull()
        hit = _lower_in(t.industry, icp.industries)
        out.append(Criterion(
            "industry", w.get("industry", 1.0),
            ibis.cases((~known, unknown), (hit, 1.0), else_=0.0),
            ibis.cases((~known, ibis.literal("industry unknown")),
                       (hit, "industry " + t.industry + " is in the ICP"),
                       else_="industry " + t.industry + " is not in the ICP"),
        ))  # fmt: skip
    if icp.min_employees is not None or icp.max_employees is not None:
        credit, reason = _size(t, "employees", icp.min_employees, icp.max_employees,
                               icp.near_factor, unknown, "employees")  # fmt: skip
        out.append(Criterion("employees", w.get("employees", 1.0), credit, reason))
    if icp.min_revenue is not None or icp.max_revenue is not None:
        credit, reason = _size(t, "revenue", icp.min_revenue, icp.max_revenue, icp.near_factor,
                               unknown, "revenue")  # fmt: skip
        out.append(Criterion("revenue", w.get("revenue", 1.0), credit, reason))
    if icp.countries or icp.regions:
        known = t.country.notnull() | t.region.notnull()
        hit = ibis.literal(False)
        if icp.countries:
            hit |= _lower_in(t.country, icp.countries).fill_null(False)
        if icp.regions:
            hit |= _lower_in(t.region, icp.regions).fill_null(False)
        place = ibis.coalesce(t.region + ", " + t.country, t.country, t.region)
        out.append(Criterion(
            "location", w.get("location", 1.0),
            ibis.cases((~known, unknown), (hit, 1.0), else_=0.0),
            ibis.cases((~known, ibis.literal("location unknown")),
                       (hit, "location " + place + " is in the ICP"),
                       else_="location " + place + " is not in the ICP"),
        ))  # fmt: skip
    for key, wanted, noun in (
        ("required_technologies", icp.required_technologies, "required technologies"),
        ("preferred_technologies", icp.preferred_technologies, "preferred technologies"),
    ):
        if wanted:
            credit, reason = _tech_share(t, wanted, unknown, noun)
            out.append(Criterion(key, w.get(key, 1.0), credit, reason))
    return out


def _attribute_criteria(
    wh: Warehouse, t: ir.Table, icp: IcpSettings
) -> tuple[ir.Table, list[Criterion]]:
    """Criteria over custom attributes: each rule's value joined onto the accounts."""
    attrs = wh.table("attributes").filter(ibis._.entity == "account")
    out = []
    for i, rule in enumerate(icp.attribute_rules):
        col = f"_attr_{i}"
        values = attrs.filter(attrs.name == rule.attribute).select(
            _aid=attrs.entity_id, **{col: attrs.value}
        )
        t = t.left_join(values, t.account_id == values._aid).drop("_aid")
        out.append(_rule(t[col], rule, icp.unknown_credit))
    return t, out


def _rule(v: ir.StringValue, rule: AttributeRule, unknown: float) -> Criterion:
    label = rule.label or rule.attribute
    if rule.op == "in":
        options = rule.value if isinstance(rule.value, list) else [str(rule.value)]
        hit = _lower_in(v, options)
        wanted = " or ".join(options)
    elif rule.op in ("gte", "lte"):
        number = v.re_replace(r"[^0-9.\-]", "").try_cast(dt.float64)
        limit = float(rule.value) if not isinstance(rule.value, list) else float(rule.value[0])
        hit = number >= limit if rule.op == "gte" else number <= limit
        wanted = f"{'≥' if rule.op == 'gte' else '≤'} {limit:g}"
    elif rule.op == "contains":
        hit = v.lower().contains(str(rule.value).lower())
        wanted = f"containing {rule.value}"
    else:
        hit = v.lower().strip() == str(rule.value).lower().strip()
        wanted = str(rule.value)
    hit = hit.fill_null(False)
    return Criterion(
        f"attribute:{rule.attribute}", rule.weight,
        ibis.cases((v.isnull(), unknown), (hit, 1.0), else_=0.0),
        ibis.cases((v.isnull(), ibis.literal(f"{label} unknown")),
                   (hit, f"{label} " + v + f" matches {wanted}"),
                   else_=f"{label} " + v + f" does not match {wanted}"),
    )  # fmt: skip


def _exclusion(t: ir.Table, icp: IcpSettings) -> ir.StringValue:
    """Why an account is ruled out, or NULL."""
    cases = []
    if icp.excluded_domains:
        listed = _lower_in(t.domain, icp.excluded_domains).fill_null(False)
        cases.append((listed, "excluded: domain " + t.domain + " is on the do-not-target list"))
    if icp.excluded_industries:
        cases.append((_lower_in(t.industry, icp.excluded_industries).fill_null(False),
                      "excluded: industry " + t.industry))  # fmt: skip
    if icp.excluded_account_types:
        cases.append((_lower_in(t.account_type, icp.excluded_account_types).fill_null(False),
                      "excluded: account type " + t.account_type))  # fmt: skip
    if icp.excluded_technologies:
        techs = _tech_list(t)
        for tech in icp.excluded_technologies:
            cases.append((_has_tech(techs, tech), ibis.literal(f"excluded: uses {tech}")))
    return ibis.cases(*cases, else_=ibis.null(dt.string)) if cases else ibis.null(dt.string)


def fit_scores(wh: Warehouse, settings: Settings) -> tuple[ir.Table, ir.Table]:
    """(account_id, fit, fit_bucket, fit_excluded) per account, and the reasons in long form
    (account_id, score='fit', factor, points, reason)."""
    icp = settings.icp
    t = wh.table("accounts")
    t = t.mutate(_techs=_tech_list(t))  # once per row: every technology rule reads it
    t, attribute_rules = _attribute_criteria(wh, t, icp)
    rules = criteria(t, icp) + attribute_rules
    total = sum(c.weight for c in rules)
    excluded = _exclusion(t, icp)
    cols: dict[str, ir.Value] = {"account_id": t.account_id, "_excluded": excluded}
    for i, c in enumerate(rules):
        share = 100.0 * c.weight / total if total else 0.0
        cols[f"_p{i}"] = (c.credit * share).cast(dt.float64)
        cols[f"_r{i}"] = c.reason.fill_null(c.factor + " unknown")
    # in a refresh, computed once for the scores and their reasons
    wide = memoized(wh, "fit", lambda: t.select(**cols))
    if rules:
        raw = sum((wide[f"_p{i}"] for i in range(1, len(rules))), wide["_p0"])
    else:  # no criteria: every account is as good as any other
        raw = ibis.literal(50.0)
    fit = ibis.cases((wide._excluded.notnull(), 0), else_=raw.round().cast(dt.int64))
    th = settings.thresholds
    bucket = ibis.cases((fit >= th.fit_strong, "Strong"), (fit >= th.fit_moderate, "Moderate"),
                        else_="Weak")  # fmt: skip
    scores = wide.select("account_id", fit=fit, fit_bucket=bucket, fit_excluded=wide._excluded)
    parts = [
        wide.select(
            "account_id",
            score=ibis.literal("fit"),
            factor=ibis.literal(c.factor),
            points=wide[f"_p{i}"].round(1),
            reason=wide[f"_r{i}"],
        )  # fmt: skip
        for i, c in enumerate(rules)
    ]
    if not rules:
        unset = ibis.literal("no ICP criteria set (icp in abmkit.yaml)")
        parts.append(wide.select("account_id", score=ibis.literal("fit"),
                                 factor=ibis.literal("icp"), points=ibis.literal(50.0),
                                 reason=unset))  # fmt: skip
    parts.append(
        wide.filter(wide._excluded.notnull()).select(
            "account_id", score=ibis.literal("fit"), factor=ibis.literal("exclusion"),
            points=ibis.literal(0.0), reason=wide._excluded)
    )  # fmt: skip
    return scores, ibis.union(*parts)
