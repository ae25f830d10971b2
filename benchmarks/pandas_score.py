"""The plain-pandas version of `abm score` for bench_score: every account's scores and their
reasons, the way a competent data scientist would write them with pandas + numpy, from the same
warehouse file.

Run by ``bench_score.py`` in a fresh process; prints one JSON line. Standalone:
``.venv/bin/python benchmarks/pandas_score.py --workspace WS --out scores.parquet
[--reasons-out reasons.parquet]``.

Timed, from the start: the workspace's settings; the columns the scores need of ``accounts``,
``contacts``, ``touches``, ``intent`` and ``opportunities``, read whole from the workspace's
DuckDB file with ``.df()`` (no filter pushed into DuckDB: the rest is pandas); then the same
formulas as ``abmkit.score`` (docs/scoring.md), vectorized, with no loop over rows:

* ``as_of`` = the latest touch, or the end of the latest intent week (abmkit's
  ``latest_data_time``);
* fit: every ICP criterion's credit, 100 × Σ weight·credit ÷ Σ weight, exclusions (domains,
  industries, account types, technologies) set it to 0; buckets;
* third-party intent (surging relevant topics, decayed strengths, noisy-OR), topics surging and
  their labels, first-party intent (page weights by longest URL-path prefix, decayed, saturated)
  and key-page visits, momentum per source, intent combined;
* engagement minutes (kind points + URL points, persona and seniority multipliers, decay, caps
  per person and for anonymous activity), the score, the anonymous minutes, engaged contacts
  and personas; personas are read from titles by ``abmkit.resolve.personas.persona_of`` (the
  same rules), once per distinct title as abmkit does;
* open opportunities, buying and journey stages, sales-ready, priority (the blend of fit, intent
  and engagement: no propensity model), eligibility and tiers by capacity;
* the **lookalike** score and its reasons: ``abmkit.score.lookalike.lookalike_scores`` itself
  (scikit-learn and numpy, which a pandas user would write the same way), on a read-only
  connection to the same file;
* the **reasons** (abmkit's ``score_reasons``: account, score, factor, points, words), built as
  string columns (``+`` on string Series, ``mask``, ``np.where``): fit per ICP criterion and
  exclusion, intent (third-party, first-party), engagement (minutes), priority (the fit, intent
  and engagement parts), the buying committee (per required persona: known, engaged lately or a
  gap), and the lookalike's top three; those of intent, engagement and priority from the
  scores as rounded for storing (abmkit renders them from its stored row: its view
  ``score_reasons``), so every one of them is computed here, and all of them are written;
* the scores (one row per account, floats rounded to 4 decimals as abmkit stores them) and the
  reasons (≈ 16 rows per account) are written to two parquet files.

It still does less than abmkit's refresh: no ``score_history`` or ``tier_changes``, no upsert
(no comparison with stored rows), and **no Tier 2 clusters** (k-means;
skipped). It scores a *first* refresh: there are no previous tiers, so neither tier multipliers
of engagement nor hysteresis apply. ICP rules over custom attributes are not implemented (the
demo's ICP has none; a workspace that sets them is refused).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from abmkit.config.settings import Settings
from abmkit.config.workspace import open_workspace
from abmkit.resolve.personas import persona_of
from abmkit.score.lookalike import Lookalike, lookalike_scores
from abmkit.warehouse.engine import Warehouse

LN2 = 0.6931471805599453
DAY = pd.Timedelta(days=1)
COLUMNS = {
    "accounts": ["account_id", "domain", "industry", "employees", "revenue", "country", "region",
                 "technologies", "account_type"],
    "contacts": ["contact_id", "account_id", "email", "title", "persona", "seniority"],
    "touches": ["ts", "account_id", "contact_id", "email", "kind", "url"],
    "intent": ["week", "account_id", "topic", "score"],
    "opportunities": ["account_id", "stage", "created_at", "closed_at", "is_closed", "is_won"],
}  # fmt: skip
ZERO = {"intent_3p": 0.0, "intent_1p": 0.0, "topics_surging": 0, "key_page_visits": 0,
        "engagement": 0.0, "engagement_minutes": 0.0, "anonymous_minutes": 0.0,
        "engaged_contacts": 0, "engaged_personas": 0, "open_opportunities": 0}  # fmt: skip
REASON_COLUMNS = ["account_id", "score", "factor", "points", "reason"]


# --- small helpers ----------------------------------------------------------------------------


def round_half_away(x, digits: int = 0):
    """Round half away from zero, as the engine's ROUND does (numpy rounds half to even)."""
    y = np.asarray(x, dtype="float64") * 10.0**digits
    whole = np.trunc(y)
    return (whole + np.sign(y) * (np.abs(y - whole) >= 0.5)) / 10.0**digits


def decay(age_days, half_life: float):
    return np.exp(np.maximum(age_days, 0) * (-LN2 / half_life))


def days_before(as_of: dt.datetime, ts: pd.Series) -> np.ndarray:
    return ((pd.Timestamp(as_of) - ts) / DAY).to_numpy("float64")


def saturate(points, scale: float):
    return 100.0 * (1.0 - np.exp(-np.asarray(points, dtype="float64") / scale))


def lower_in(values: pd.Series, options: list[str]) -> pd.Series:
    wanted = [o.lower().strip() for o in options]
    return values.str.lower().str.strip().isin(wanted).fillna(False).astype(bool)


def distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(code of each row, the distinct values): work done once per distinct value is taken back
    to the rows with `result[codes]`. The values must not be missing."""
    codes, uniques = pd.factorize(values)
    assert (codes >= 0).all(), "distinct() of a column with missing values"
    return codes, pd.Series(uniques, dtype="str")


def url_path(urls: pd.Series) -> pd.Series:
    """`https://www.x.com/pricing?a=1` → `/pricing`; a bare path stays; else `/`."""
    path = urls.str.extract(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)", expand=False)
    bare = urls.str.extract(r"^(/[^?#]*)", expand=False)
    path = path.where(path.fillna("") != "", bare.where(bare.fillna("") != "", "/"))
    return path.str.lower()


def prefix_weight(paths: pd.Series, weights: dict[str, float], default: float) -> pd.Series:
    """Weight of the longest prefix in `weights` that each path starts with, else `default`."""
    out = pd.Series(float(default), index=paths.index)
    for prefix, w in sorted(weights.items(), key=lambda kv: len(kv[0])):  # longest wins: last
        out = out.mask(paths.str.startswith(prefix.lower()), float(w))
    return out


def prefix_points(paths: pd.Series, points: dict[str, float]) -> pd.Series:
    """Sum of the points of every prefix each path starts with."""
    out = pd.Series(0.0, index=paths.index)
    for prefix, w in points.items():
        out = out + np.where(paths.str.startswith(prefix.lower()), float(w), 0.0)
    return out


def choose(index: pd.Index, cases: list[tuple], default) -> pd.Series:
    """A string column: the value of the first case whose condition holds, else `default`
    (`np.select` keeping pandas' string dtype; values are strings or string Series)."""
    out = pd.Series(default, index=index, dtype="str")
    for condition, value in reversed(cases):  # the first case wins: applied last
        out = out.mask(np.asarray(condition, bool), value)
    return out


def reasons(account_id: pd.Series, score: str, factor, points, reason) -> pd.DataFrame:
    """Rows of score_reasons, one per account (every column on `account_id`'s index), `points`
    rounded to 1 decimal as abmkit's are."""
    index = account_id.index
    return pd.DataFrame({"account_id": account_id, "score": score, "factor": factor,
                         "points": pd.Series(round_half_away(points, 1), index=index),
                         "reason": reason}, index=index).reset_index(drop=True)  # fmt: skip


def as_text(values, index: pd.Index) -> pd.Series:
    """Whole numbers as text (`3`, not `3.0`)."""
    return pd.Series(np.asarray(values, "int64"), index=index).astype("str")


def counted(values, one: str, many: str, index: pd.Index) -> pd.Series:
    """A whole number and its noun: `1 minute`, `3 minutes`."""
    n = np.asarray(values, "int64")
    return as_text(n, index) + pd.Series(np.where(n == 1, f" {one}", f" {many}"), index=index)


def lookup(values: pd.Series, weights: dict[str, float]) -> np.ndarray:
    """Multiplier per value, 1.0 when unlisted or missing."""
    if not weights:
        return np.ones(len(values))
    return values.map(weights).astype("float64").fillna(1.0).to_numpy()


# --- reading ----------------------------------------------------------------------------------


def read_tables(db: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {name: con.sql(f"SELECT {', '.join(cols)} FROM {name}").df()
                for name, cols in COLUMNS.items()}  # fmt: skip
    finally:
        con.close()


def latest_data_time(tables: dict[str, pd.DataFrame]) -> dt.datetime:
    candidates = [tables["touches"]["ts"].max(), tables["intent"]["week"].max() + 7 * DAY]
    return max(c for c in candidates if pd.notna(c)).to_pydatetime()


# --- fit --------------------------------------------------------------------------------------


def tech_list(acc: pd.DataFrame) -> pd.Series:
    raw = acc["technologies"].fillna("").str.lower()
    return ";" + raw.str.replace(r"\s*[;,|]\s*", ";", regex=True).str.strip() + ";"


def number_words(x: float) -> str:
    """1500 → '1.5k', 2e7 → '20M' (abmkit's way of showing an ICP range)."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if x >= size:
            return f"{x / size:g}{suffix}"
    return f"{x:g}"


def size_criterion(v: pd.Series, low, high, near: float, unknown: float,
                   noun: str) -> tuple[np.ndarray, pd.Series]:  # fmt: skip
    """(credit, reason) of an employee or revenue range."""
    inside = np.ones(len(v), bool)
    nearby = np.ones(len(v), bool)
    if low is not None:
        inside &= v >= low
        nearby &= v >= low / near
    if high is not None:
        inside &= v <= high
        nearby &= v <= high * near
    credit = np.select([v.isna(), inside, nearby], [unknown, 1.0, 0.5], 0.0)
    span = (f"{number_words(low) if low is not None else '0'}–"
            f"{number_words(high) if high is not None else '∞'}")  # fmt: skip
    said = f"{noun} " + as_text(np.rint(v.fillna(0)), v.index)  # the engine's cast: half to even
    reason = choose(v.index, [(v.isna(), f"{noun} unknown"),
                              (inside, said + f" within {span}"),
                              (nearby, said + f" near {span}")],
                    said + f" outside {span}")  # fmt: skip
    return credit, reason


def in_icp(acc: pd.DataFrame, known, hit, name: str, shown: pd.Series, unknown: float):
    """(credit, reason) of a yes/no criterion (industry, location)."""
    credit = np.select([~known, hit], [unknown, 1.0], 0.0)
    reason = choose(acc.index, [(~known, f"{name} unknown"),
                                (hit, f"{name} " + shown + " is in the ICP")],
                    f"{name} " + shown + " is not in the ICP")  # fmt: skip
    return credit, reason


def tech_criterion(acc: pd.DataFrame, techs: pd.Series, wanted: list[str], unknown: float,
                   noun: str) -> tuple[np.ndarray, pd.Series]:  # fmt: skip
    """(credit, reason) of required or preferred technologies: the share the account uses."""
    known = acc["technologies"].notna() & (acc["technologies"].fillna("").str.strip() != "")
    hits = [techs.str.contains(f";{t.lower().strip()};", regex=False) for t in wanted]
    share = sum(h.astype("float64") for h in hits) / len(wanted)
    listed = pd.Series("", index=acc.index, dtype="str")  # the ones it has, in the ICP's order
    for name, hit in zip(wanted, hits, strict=True):
        listed = listed.mask(hit, listed + np.where(listed == "", "", ", ") + name)
    reason = choose(acc.index, [(~known, f"{noun}: technologies unknown"),
                                (share == 0, f"{noun}: none of {', '.join(wanted)}")],
                    f"{noun}: has " + listed)  # fmt: skip
    return np.where(known, share, unknown), reason


def fit_criteria(acc: pd.DataFrame, icp) -> list[tuple[str, float, np.ndarray, pd.Series]]:
    """(factor, weight, credit per account, reason per account) of every criterion the ICP
    sets."""
    w, unknown, out = icp.weights, icp.unknown_credit, []
    if icp.industries:
        hit = lower_in(acc["industry"], icp.industries)
        credit, reason = in_icp(acc, acc["industry"].notna(), hit, "industry", acc["industry"],
                                unknown)  # fmt: skip
        out.append(("industry", w.get("industry", 1.0), credit, reason))
    for col, low, high in (("employees", icp.min_employees, icp.max_employees),
                           ("revenue", icp.min_revenue, icp.max_revenue)):  # fmt: skip
        if low is not None or high is not None:
            v = acc[col].astype("float64")
            credit, reason = size_criterion(v, low, high, icp.near_factor, unknown, col)
            out.append((col, w.get(col, 1.0), credit, reason))
    if icp.countries or icp.regions:
        known = acc["country"].notna() | acc["region"].notna()
        hit = np.zeros(len(acc), bool)
        if icp.countries:
            hit |= lower_in(acc["country"], icp.countries)
        if icp.regions:
            hit |= lower_in(acc["region"], icp.regions)
        place = (acc["region"] + ", " + acc["country"]).fillna(acc["country"])
        place = place.fillna(acc["region"])
        credit, reason = in_icp(acc, known, hit, "location", place, unknown)
        out.append(("location", w.get("location", 1.0), credit, reason))
    techs = tech_list(acc)
    for key, wanted, noun in (
        ("required_technologies", icp.required_technologies, "required technologies"),
        ("preferred_technologies", icp.preferred_technologies, "preferred technologies"),
    ):
        if wanted:
            credit, reason = tech_criterion(acc, techs, wanted, unknown, noun)
            out.append((key, w.get(key, 1.0), credit, reason))
    return out


def exclusion(acc: pd.DataFrame, icp) -> pd.Series:
    """Why an account is ruled out (the first rule that applies), or missing."""
    words = {"domain": "excluded: domain " + acc["domain"] + " is on the do-not-target list",
             "industry": "excluded: industry " + acc["industry"],
             "account_type": "excluded: account type " + acc["account_type"]}  # fmt: skip
    lists = {"domain": icp.excluded_domains, "industry": icp.excluded_industries,
             "account_type": icp.excluded_account_types}  # fmt: skip
    cases = [(lower_in(acc[col], wanted), words[col]) for col, wanted in lists.items() if wanted]
    techs = tech_list(acc)
    for tech in icp.excluded_technologies:
        uses = techs.str.contains(f";{tech.lower().strip()};", regex=False)
        cases.append((uses, pd.Series(f"excluded: uses {tech}", index=acc.index)))
    why = pd.Series(None, index=acc.index, dtype="str")
    for hit, text in reversed(cases):  # the first rule wins: written last
        why = why.mask(hit, text)
    return why


def fit_scores(acc: pd.DataFrame, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(account_id, fit, fit_bucket, fit_excluded) per account, and the fit reasons: one row per
    criterion (its points add up to fit), one per exclusion."""
    icp, th = settings.icp, settings.thresholds
    if icp.attribute_rules:
        raise SystemExit("pandas_score: ICP attribute_rules are not implemented")
    criteria = fit_criteria(acc, icp)
    total = sum(w for _, w, _, _ in criteria)
    raw = np.full(len(acc), 50.0)
    parts = [credit * (100.0 * w / total if total else 0.0) for _, w, credit, _ in criteria]
    if parts:
        raw = parts[0]
        for part in parts[1:]:
            raw = raw + part
    excluded = exclusion(acc, icp)
    fit = np.where(excluded.notna(), 0, round_half_away(raw)).astype("int64")
    bucket = np.select([fit >= th.fit_strong, fit >= th.fit_moderate], ["Strong", "Moderate"],
                       "Weak")  # fmt: skip
    scores = pd.DataFrame({"account_id": acc["account_id"], "fit": fit, "fit_bucket": bucket,
                           "fit_excluded": excluded})  # fmt: skip
    rows = [reasons(acc["account_id"], "fit", factor, part, reason.fillna(f"{factor} unknown"))
            for (factor, _, _, reason), part in zip(criteria, parts, strict=True)]  # fmt: skip
    if not criteria:
        rows.append(reasons(acc["account_id"], "fit", "icp", raw,
                            "no ICP criteria set (icp in abmkit.yaml)"))  # fmt: skip
    out = excluded.notna()
    rows.append(reasons(acc.loc[out, "account_id"], "fit", "exclusion", np.zeros(out.sum()),
                        excluded[out]))  # fmt: skip
    return scores, pd.concat(rows, ignore_index=True)


# --- intent -----------------------------------------------------------------------------------


def weekly_momentum(account: pd.Series, value: np.ndarray, age: np.ndarray,
                    weeks: int) -> pd.Series:  # fmt: skip
    """Per account: the last 7 days' sum of `value` against the mean of the `weeks` weeks
    before, in percent; missing when the weeks before had nothing."""
    bucket = np.floor(age / 7.0)
    keep = (bucket >= 0) & (bucket <= weeks)
    frame = pd.DataFrame({"account_id": account.to_numpy()[keep],
                          "now": np.where(bucket[keep] == 0, value[keep], 0),
                          "before": np.where(bucket[keep] > 0, value[keep], 0)})  # fmt: skip
    agg = frame.groupby("account_id", sort=False)[["now", "before"]].sum()
    prior = agg["before"].astype("float64") / weeks
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = round_half_away(100.0 * (agg["now"] - prior) / prior)
    return pd.Series(np.where(prior > 0, pct, np.nan), index=agg.index)


def third_party(intent: pd.DataFrame, settings: Settings, as_of: dt.datetime) -> pd.DataFrame:
    cfg = settings.intent
    last_start = pd.Timestamp((as_of - dt.timedelta(days=7)).date())
    start = pd.Timestamp((as_of - dt.timedelta(weeks=cfg.lookback_weeks + 1)).date())
    t = intent[intent["account_id"].notna() & (intent["week"] > start)
               & (intent["week"] <= last_start)]  # fmt: skip
    if cfg.relevant_topics:
        t = t[lower_in(t["topic"], cfg.relevant_topics)]
    score = t["score"].to_numpy("float64")
    age = days_before(as_of, t["week"]) - 7.0
    strength = (score - 50) / 50.0 * decay(age, cfg.half_life_days.get("third_party", 25.0))
    surging = score >= settings.thresholds.surge_score
    t = t.assign(_s=np.where(surging, np.minimum(strength, 0.99), 0.0))
    topics = t.groupby(["account_id", "topic"], sort=False)
    topics = topics.agg(_s=("_s", "max"), _best=("score", "max"))
    topics = topics[topics["_s"] > 0].reset_index()
    topics = topics.sort_values(["account_id", "_s", "topic"], ascending=[True, False, True])
    topics["_log"] = np.log(1.0 - topics["_s"])
    topics["_label"] = topics["topic"] + " (" + topics["_best"].astype("str") + ")"
    per = topics.groupby("account_id", sort=False).agg(
        _log=("_log", "sum"), topics_surging=("topic", "size"), top_topics=("_label", ", ".join)
    )
    per["intent_3p"] = 100.0 * (1.0 - np.exp(per.pop("_log")))
    raw = np.maximum(score - 50, 0)
    momentum = weekly_momentum(t["account_id"], raw, age, cfg.momentum_weeks)
    return per.join(momentum.rename("momentum_3p"), how="left")


def first_party(touches: pd.DataFrame, settings: Settings, as_of: dt.datetime) -> pd.DataFrame:
    cfg = settings.intent
    window = max(cfg.first_party_days, 7 * (cfg.momentum_weeks + 1))
    since = as_of - dt.timedelta(days=window)
    t = touches[touches["account_id"].notna() & touches["url"].notna()
                & (touches["kind"] == "web_visit") & (touches["ts"] > since)
                & (touches["ts"] <= as_of)]  # fmt: skip
    keys = [p.lower() for p, w in cfg.page_weights.items() if w > cfg.default_page_weight]

    codes, urls = distinct(t["url"])
    paths = url_path(urls)
    weight = prefix_weight(paths, cfg.page_weights, cfg.default_page_weight).to_numpy()[codes]
    is_key = paths.str.startswith(tuple(keys)).to_numpy(bool)[codes] if keys else False
    age = days_before(as_of, t["ts"])
    recent = age <= cfg.first_party_days
    half = cfg.half_life_days.get("first_party", 14.0)
    frame = pd.DataFrame({"account_id": t["account_id"].to_numpy(),
                          "_pts": np.where(recent, weight * decay(age, half), 0.0),
                          "key_page_visits": (is_key & recent).astype("int64")})  # fmt: skip
    agg = frame.groupby("account_id", sort=False).sum()
    agg["intent_1p"] = saturate(agg.pop("_pts"), cfg.first_party_scale)
    momentum = weekly_momentum(t["account_id"], weight, age, cfg.momentum_weeks)
    return agg.join(momentum.rename("momentum_1p"), how="left")


# --- engagement -------------------------------------------------------------------------------


def contacts_with_personas(contacts: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The file's persona, else the one read from the title ("none": no persona takes it)."""
    titles = contacts["title"].dropna().unique()
    read = {t: getattr(persona_of(t, settings.personas), "persona", "none") for t in titles}
    persona = contacts["persona"].fillna(contacts["title"].map(read))
    return contacts.assign(persona=persona)


def recent_touches(touches: pd.DataFrame, c: pd.DataFrame, settings: Settings,
                   as_of: dt.datetime) -> pd.DataFrame:  # fmt: skip
    """The touches linked to an account in the longest window engagement or the committee
    looks at, with the person behind each (`c`: the contacts with their personas): `who` (the
    contact found by ID, else by e-mail, the first contact ID of that e-mail; else the e-mail;
    missing: anonymous), `persona` and `seniority`."""
    days = max(settings.engagement.window_days, settings.committee.engaged_days)
    t = touches[touches["account_id"].notna()
                & (touches["ts"] > as_of - dt.timedelta(days=days))
                & (touches["ts"] <= as_of)]  # fmt: skip
    by_id = c.set_index("contact_id")
    by_mail = c[c["email"].notna()].sort_values("contact_id").drop_duplicates("email")
    by_mail = by_mail.set_index("email")
    cid = t["contact_id"].where(t["contact_id"].isin(by_id.index))
    cid2 = t["email"].map(by_mail["contact_id"])
    return t.assign(
        who=cid.fillna(cid2).fillna(t["email"]),
        persona=cid.map(by_id["persona"]).fillna(t["email"].map(by_mail["persona"])),
        seniority=cid.map(by_id["seniority"]).fillna(t["email"].map(by_mail["seniority"])),
    )


def engagement(recent: pd.DataFrame, settings: Settings, as_of: dt.datetime) -> pd.DataFrame:
    """Per account: engagement minutes (all, and those of anonymous activity) and score, engaged
    contacts and personas (`recent`: see `recent_touches`)."""
    cfg = settings.engagement
    t = recent[recent["ts"] > as_of - dt.timedelta(days=cfg.window_days)]
    persona = t["persona"]
    base = t["kind"].map(cfg.points).astype("float64").fillna(cfg.default_points).to_numpy()
    if cfg.url_points:
        codes, urls = distinct(t["url"].fillna(""))
        base = base + prefix_points(url_path(urls), cfg.url_points).to_numpy()[codes]
    weight = lookup(persona, cfg.persona_weights) * lookup(t["seniority"], cfg.seniority_weights)
    # no previous tiers (a first refresh): every tier multiplier is 1
    minutes = base * weight * decay(days_before(as_of, t["ts"]), cfg.half_life_days)
    frame = pd.DataFrame({"account_id": t["account_id"].to_numpy(), "who": t["who"].to_numpy(),
                          "persona": persona.to_numpy(), "m": minutes})  # fmt: skip
    people = frame.groupby(["account_id", "who"], sort=False, dropna=False).agg(
        raw=("m", "sum"), persona=("persona", "max")).reset_index()  # fmt: skip
    cap = np.where(people["who"].isna(), cfg.cap_anonymous, cfg.cap_per_contact)
    people["minutes"] = np.minimum(people["raw"], cap)
    known = (people["minutes"] > 0) & people["who"].notna()
    counted = people[known & people["persona"].notna() & (people["persona"] != "none")]
    anonymous = people[people["who"].isna()]
    acc = pd.DataFrame({
        "engagement_minutes": people.groupby("account_id", sort=False)["minutes"].sum(),
        "anonymous_minutes": anonymous.groupby("account_id", sort=False)["minutes"].sum(),
        "engaged_contacts": people[known].groupby("account_id", sort=False)["who"].nunique(),
        "engaged_personas": counted.groupby("account_id", sort=False)["persona"].nunique(),
    })  # fmt: skip
    zero = ["anonymous_minutes", "engaged_contacts", "engaged_personas"]
    acc[zero] = acc[zero].fillna(0)
    acc["engagement"] = saturate(acc["engagement_minutes"], cfg.scale)
    return acc


# --- the buying committee ---------------------------------------------------------------------


def earns_minutes(kind: pd.Series, settings: Settings) -> pd.Series:
    """Whether a touch of this kind earns engagement minutes (outbound kinds do not)."""
    points = settings.engagement.points
    if settings.engagement.default_points > 0:
        return kind.notna() & ~kind.isin([k for k, v in points.items() if v == 0])
    return kind.isin([k for k, v in points.items() if v > 0])


def committee(acc: pd.DataFrame, recent: pd.DataFrame, c: pd.DataFrame, settings: Settings,
              as_of: dt.datetime) -> pd.DataFrame:  # fmt: skip
    """The committee reasons: per account and required persona, how many of its people are
    known, how many engaged lately (a touch earning minutes in `engaged_days`), and the points
    (engaged: a full share of 100, known but silent: half, missing: none)."""
    cfg = settings.committee
    required = cfg.required_personas
    if not required:  # no committee configured: no rows
        return pd.DataFrame({k: pd.Series(dtype="float64" if k == "points" else "str")
                             for k in REASON_COLUMNS})  # fmt: skip
    share, days = 100.0 / len(required), cfg.engaged_days
    mine = c[c["account_id"].notna() & c["persona"].isin(required)]
    known = mine.groupby(["account_id", "persona"]).size()
    t = recent[(recent["ts"] > as_of - dt.timedelta(days=days))
               & earns_minutes(recent["kind"], settings)
               & recent["persona"].isin(required)]  # fmt: skip
    engaged = t.groupby(["account_id", "persona"]).agg(engaged=("who", "nunique"),
                                                          last=("ts", "max"))  # fmt: skip
    engaged["day"] = engaged["last"].dt.strftime("%Y-%m-%d")
    grid = pd.MultiIndex.from_product([acc["account_id"], required],
                                      names=["account_id", "persona"])  # fmt: skip
    n = known.reindex(grid, fill_value=0).to_numpy()
    e = engaged["engaged"].reindex(grid, fill_value=0).to_numpy()
    g = pd.DataFrame({"account_id": grid.get_level_values("account_id"),
                      "persona": grid.get_level_values("persona")})  # fmt: skip
    label = g["persona"].str.replace("_", " ")
    n_text, e_text = as_text(n, g.index), as_text(e, g.index)
    day = pd.Series(engaged["day"].reindex(grid).to_numpy(), index=g.index, dtype="str")
    reason = choose(g.index, [
        (n == 0, "no " + label + " known"),
        (e == 0, label + " known (" + n_text + f") but not engaged in {days} days"),
    ], label + " engaged (" + e_text + " of " + n_text + ", last " + day + ")")  # fmt: skip
    points = np.select([n == 0, e == 0], [0.0, share / 2], share)
    return reasons(g["account_id"], "committee", g["persona"], points, reason)


# --- opportunities, stages, priority, tiers ---------------------------------------------------


def opportunity_status(opps: pd.DataFrame, settings: Settings, as_of: dt.datetime) -> pd.DataFrame:
    o = opps[opps["account_id"].notna()]
    day = pd.Timestamp(as_of.date())
    created = o["created_at"].isna() | (o["created_at"] <= day)
    closed = o["is_closed"].fillna(False).astype(bool)
    closed_by = closed & (o["closed_at"].isna() | (o["closed_at"] <= day))
    is_open = created & ~closed_by
    late = lower_in(o["stage"], settings.stages.purchase_stages)
    won = o["is_won"].fillna(False).astype(bool) & closed_by
    frame = pd.DataFrame({"account_id": o["account_id"], "open_opportunities": is_open.astype(int),
                          "late_stage_open": is_open & late, "won_before": won})  # fmt: skip
    return frame.groupby("account_id", sort=False).agg(
        open_opportunities=("open_opportunities", "sum"),
        late_stage_open=("late_stage_open", "any"), won_before=("won_before", "any"))  # fmt: skip


def stages(t: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    st = settings.stages
    minutes, intent = t["engagement_minutes"], t["intent"]
    buying = np.select(
        [t["late_stage_open"],
         (t["open_opportunities"] > 0) | ((intent >= st.decision_intent)
                                          & (t["key_page_visits"] > 0))
         | (minutes >= st.decision_minutes),
         (intent >= st.consideration_intent) | (minutes >= st.consideration_minutes)
         | (t["engaged_contacts"] >= st.consideration_contacts),
         (intent >= st.awareness_intent) | (minutes > 0)],
        ["Purchase", "Decision", "Consideration", "Awareness"], "Target")  # fmt: skip
    customer = t["won_before"] | (t["account_type"].str.lower() == "customer").fillna(False)
    journey = np.select(
        [customer, t["open_opportunities"] > 0, minutes >= st.mqa_minutes,
         minutes >= st.engaged_minutes, intent >= st.aware_intent, t["fit"] >= st.qualified_fit],
        ["Customer", "Opportunity", "MQA", "Engaged", "Aware", "Qualified"],
        "Unqualified")  # fmt: skip
    late = np.isin(buying, ["Decision", "Purchase"])
    ready = t["fit_bucket"].isin(["Strong", "Moderate"]) & late
    return t.assign(buying_stage=buying, journey_stage=journey, sales_ready=ready)


def tiers(t: pd.DataFrame, settings: Settings) -> pd.Series:
    """Tier per account: eligible accounts by priority into the capacities (first refresh: no
    incumbents, so no hysteresis)."""
    cfg = settings.tiers
    customer = (t["journey_stage"] == "Customer") & (not cfg.expansion_mode)
    eligible = t["fit_excluded"].isna() & ~customer & (t["fit"] >= cfg.tier3_min_fit)
    pool = t.loc[eligible, ["account_id", "priority"]].assign(p=lambda d: d.priority.fillna(0))
    ranked = pool.sort_values(["p", "account_id"], ascending=[False, True])["account_id"]
    tier = pd.Series(pd.NA, index=t["account_id"], dtype="Int64")
    start = 0
    for number, capacity in ((1, cfg.tier1_capacity), (2, cfg.tier2_capacity),
                             (3, cfg.tier3_capacity)):  # fmt: skip
        end = len(ranked) if capacity is None else min(start + capacity, len(ranked))
        tier.loc[ranked.iloc[start:end].to_numpy()] = number
        start = end
    return tier.to_numpy()


# --- the reasons of intent, engagement and priority ------------------------------------------


def intent_reasons(t: pd.DataFrame) -> list[pd.DataFrame]:
    """Third-party intent's points and words, then what first-party intent adds to it."""
    topics = counted(t["topics_surging"], "relevant topic", "relevant topics", t.index)
    third = choose(t.index, [(t["topics_surging"] > 0, topics + " surging: " + t["top_topics"])],
                   "no relevant topic surging")  # fmt: skip
    visits = counted(t["key_page_visits"], "key-page visit", "key-page visits", t.index)
    first = choose(t.index, [
        (t["key_page_visits"] > 0, visits + " lately"),
        (t["intent_1p"] > 0, "web visits, none to key pages"),
    ], "no recent web visits")  # fmt: skip
    adds = t["intent_1p"] * (1.0 - t["intent_3p"] / 100.0)
    return [reasons(t["account_id"], "intent", "third_party", t["intent_3p"], third),
            reasons(t["account_id"], "intent", "first_party", adds, first)]  # fmt: skip


def engagement_reasons(t: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    days = settings.engagement.window_days
    minutes = counted(round_half_away(t["engagement_minutes"]), "minute", "minutes", t.index)
    people = (counted(t["engaged_contacts"], "known person", "known people", t.index) + " ("
              + counted(t["engaged_personas"], "persona", "personas", t.index) + ")")  # fmt: skip
    known = t["engaged_contacts"] > 0
    source = choose(t.index, [(known & (t["anonymous_minutes"] > 0),
                               people + " and anonymous visits"),
                              (known, people)], "anonymous visits")  # fmt: skip
    said = minutes + f" in {days} days from " + source
    words = choose(t.index, [(t["engagement_minutes"] > 0, said)], f"no engagement in {days} days")
    return reasons(t["account_id"], "engagement", "minutes", t["engagement"], words)


def priority_reasons(t: pd.DataFrame, parts: dict[str, pd.Series],
                     settings: Settings) -> list[pd.DataFrame]:  # fmt: skip
    """Each part of the blend (no propensity model): the score, its weight's share of the three
    (and the weight itself when they do not add up to 1), its points."""
    w = settings.weights
    weights = {"fit": w.fit, "intent": w.intent, "engagement": w.engagement}
    total = sum(weights.values()) or 1.0
    out = []
    for name, weight in weights.items():
        of = "" if abs(total - 1.0) < 1e-9 else f" (weight {weight:g} of {total:g})"
        text = (f"{name} " + as_text(round_half_away(t[name]), t.index)
                + f" × {weight / total:.3g}{of}")  # fmt: skip
        out.append(reasons(t["account_id"], "priority", name, parts[name], text))
    return out


def score(tables: dict[str, pd.DataFrame], settings: Settings,
          lookalike: Lookalike) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """(one row of scores per account, the reasons in long form)."""
    as_of = latest_data_time(tables)
    acc = tables["accounts"]
    contacts = contacts_with_personas(tables["contacts"], settings)
    recent = recent_touches(tables["touches"], contacts, settings, as_of)
    fit, fit_why = fit_scores(acc, settings)
    t = acc[["account_id", "account_type"]].merge(fit, on="account_id")
    t = t.set_index("account_id", drop=False)
    for part in (third_party(tables["intent"], settings, as_of),
                 first_party(tables["touches"], settings, as_of),
                 engagement(recent, settings, as_of),
                 opportunity_status(tables["opportunities"], settings, as_of)):  # fmt: skip
        t = t.join(part, how="left")
    t = t.reset_index(drop=True).fillna(ZERO)
    for flag in ("late_stage_open", "won_before"):
        t[flag] = t[flag].fillna(False).astype(bool)
    t["intent"] = 100.0 * (1.0 - (1.0 - t["intent_3p"] / 100.0) * (1.0 - t["intent_1p"] / 100.0))
    t = stages(t, settings)
    w = settings.weights
    total = (w.fit + w.intent + w.engagement) or 1.0
    parts = {"fit": t["fit"] * (w.fit / total), "intent": t["intent"] * (w.intent / total),
             "engagement": t["engagement"] * (w.engagement / total)}  # fmt: skip
    t["priority"] = round_half_away(parts["fit"] + parts["intent"] + parts["engagement"], 2)
    t["tier"] = tiers(t, settings)
    t["as_of"] = pd.Timestamp(as_of)
    t["propensity"], t["model_version"] = np.nan, None
    why = [fit_why, committee(acc, recent, contacts, settings, as_of)]
    if lookalike.scores is not None:
        found = lookalike.scores.to_pandas().set_index("account_id")["lookalike"]
        t["lookalike"] = t["account_id"].map(found).astype("float64")
        why.append(lookalike.reasons.to_pandas())
    else:
        t["lookalike"] = np.nan
    floats = ["intent", "intent_3p", "intent_1p", "momentum_3p", "momentum_1p", "engagement",
              "engagement_minutes", "anonymous_minutes", "priority", "lookalike"]  # fmt: skip
    t[floats] = round_half_away(t[floats].to_numpy("float64"), 4)
    # the reasons abmkit reads from its stored scores: from the values as stored
    parts = {"fit": t["fit"] * (w.fit / total), "intent": t["intent"] * (w.intent / total),
             "engagement": t["engagement"] * (w.engagement / total)}  # fmt: skip
    why += [*intent_reasons(t), engagement_reasons(t, settings),
            *priority_reasons(t, parts, settings)]  # fmt: skip
    ints = ["topics_surging", "key_page_visits", "engaged_contacts", "engaged_personas",
            "open_opportunities"]  # fmt: skip
    t[ints] = t[ints].astype("int64")
    scores = t.drop(columns=["account_type", "late_stage_open", "won_before",
                             "anonymous_minutes"])  # fmt: skip
    return scores, pd.concat(why, ignore_index=True)[REASON_COLUMNS]


def lookalike(db: Path, settings: Settings) -> Lookalike:
    """abmkit's lookalike model itself (scikit-learn + numpy: what a pandas user would write
    too), reading the accounts and won deals over a read-only connection to the same file."""
    wh = Warehouse(f"duckdb://{db}?read_only=true")
    try:
        return lookalike_scores(wh, settings)
    finally:
        wh.close()


# --- the child --------------------------------------------------------------------------------


def run(workspace: Path, out: Path, reasons_out: Path) -> dict:
    clock = time.perf_counter()
    ws = open_workspace(workspace)
    db = Path(ws.warehouse_url.removeprefix("duckdb://"))
    tables = read_tables(db)
    read = time.perf_counter() - clock
    model = lookalike(db, ws.settings)
    modelled = time.perf_counter() - clock - read
    scores, why = score(tables, ws.settings, model)
    scores.to_parquet(out, index=False)
    why.to_parquet(reasons_out, index=False)
    seconds = time.perf_counter() - clock
    counts = scores["tier"].value_counts().sort_index()
    return {"seconds": seconds, "read_seconds": read, "lookalike_seconds": modelled,
            "accounts": len(scores), "reasons": len(why),
            "rows_read": {k: len(v) for k, v in tables.items()},
            "tiers": {int(k): int(n) for k, n in counts.items()}, "lookalike_note": model.note,
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def main() -> int:
    return cli("plain-pandas version of abm score (bench_score)", run)


def cli(description: str, run, flags: dict[str, str] | None = None) -> int:
    """The command line shared with score_floor.py: run(workspace, out, reasons_out, **flags)
    → JSON; `flags`: extra on/off options (name → help)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--workspace", type=Path, required=True, help="a scored-ready workspace")
    p.add_argument("--out", type=Path, required=True, help="parquet file of the scores")
    p.add_argument("--reasons-out", type=Path,
                   help="parquet file of the reasons (default: OUT_reasons.parquet)")  # fmt: skip
    for flag, text in (flags or {}).items():
        p.add_argument(f"--{flag}", action="store_true", help=text)
    args = p.parse_args()
    reasons_out = args.reasons_out or args.out.with_name(f"{args.out.stem}_reasons.parquet")
    options = {flag: getattr(args, flag) for flag in flags or {}}
    print(json.dumps(run(args.workspace, args.out, reasons_out, **options)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
