"""The plain-pandas version of `abm score` for bench_score: every account's scores, the way a
competent data scientist would write them with pandas + numpy, from the same warehouse file.

Run by ``bench_score.py`` in a fresh process; prints one JSON line. Standalone:
``.venv/bin/python benchmarks/pandas_score.py --workspace WS --out scores.parquet``.

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
  per person and for anonymous activity), the score, engaged contacts and personas; personas are
  read from titles by ``abmkit.resolve.personas.persona_of`` (the same rules), once per distinct
  title as abmkit does;
* open opportunities, buying and journey stages, sales-ready, priority (the blend of fit, intent
  and engagement: no propensity model), eligibility and tiers by capacity;
* the result (one row per account, floats rounded to 4 decimals as abmkit stores them) is
  written to a parquet file.

It does less than abmkit's refresh: no reasons (``score_reasons``, the buying committee), no
``score_history`` or ``tier_changes``, no upsert, and **no Tier 2 clusters** (k-means; skipped).
It scores a *first* refresh: there are no previous tiers, so neither tier multipliers of
engagement nor hysteresis apply. ICP rules over custom attributes are not implemented (the demo's
ICP has none; a workspace that sets them is refused).
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

LN2 = 0.6931471805599453
DAY = pd.Timedelta(days=1)
COLUMNS = {
    "accounts": ["account_id", "domain", "industry", "employees", "revenue", "country", "region",
                 "technologies", "account_type"],
    "contacts": ["contact_id", "email", "title", "persona", "seniority"],
    "touches": ["ts", "account_id", "contact_id", "email", "kind", "url"],
    "intent": ["week", "account_id", "topic", "score"],
    "opportunities": ["account_id", "stage", "created_at", "closed_at", "is_closed", "is_won"],
}  # fmt: skip
ZERO = {"intent_3p": 0.0, "intent_1p": 0.0, "topics_surging": 0, "key_page_visits": 0,
        "engagement": 0.0, "engagement_minutes": 0.0, "engaged_contacts": 0,
        "engaged_personas": 0, "open_opportunities": 0}  # fmt: skip


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


def size_credit(v: pd.Series, low, high, near: float, unknown: float) -> np.ndarray:
    inside = np.ones(len(v), bool)
    nearby = np.ones(len(v), bool)
    if low is not None:
        inside &= v >= low
        nearby &= v >= low / near
    if high is not None:
        inside &= v <= high
        nearby &= v <= high * near
    return np.select([v.isna(), inside, nearby], [unknown, 1.0, 0.5], 0.0)


def fit_credits(acc: pd.DataFrame, icp) -> list[tuple[float, np.ndarray]]:
    """(weight, credit per account) of every criterion the ICP sets."""
    w, unknown, out = icp.weights, icp.unknown_credit, []
    if icp.industries:
        hit = lower_in(acc["industry"], icp.industries)
        credit = np.select([acc["industry"].isna(), hit], [unknown, 1.0], 0.0)
        out.append((w.get("industry", 1.0), credit))
    for col, low, high in (("employees", icp.min_employees, icp.max_employees),
                           ("revenue", icp.min_revenue, icp.max_revenue)):  # fmt: skip
        if low is not None or high is not None:
            v = acc[col].astype("float64")
            out.append((w.get(col, 1.0), size_credit(v, low, high, icp.near_factor, unknown)))
    if icp.countries or icp.regions:
        known = acc["country"].notna() | acc["region"].notna()
        hit = np.zeros(len(acc), bool)
        if icp.countries:
            hit |= lower_in(acc["country"], icp.countries)
        if icp.regions:
            hit |= lower_in(acc["region"], icp.regions)
        out.append((w.get("location", 1.0), np.select([~known, hit], [unknown, 1.0], 0.0)))
    techs = tech_list(acc)
    known = acc["technologies"].notna() & (acc["technologies"].fillna("").str.strip() != "")
    for key, wanted in (("required_technologies", icp.required_technologies),
                        ("preferred_technologies", icp.preferred_technologies)):  # fmt: skip
        if wanted:
            hits = [techs.str.contains(f";{t.lower().strip()};", regex=False) for t in wanted]
            share = sum(h.astype("float64") for h in hits) / len(wanted)
            out.append((w.get(key, 1.0), np.where(known, share, unknown)))
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


def fit_scores(acc: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    icp, th = settings.icp, settings.thresholds
    if icp.attribute_rules:
        raise SystemExit("pandas_score: ICP attribute_rules are not implemented")
    credits = fit_credits(acc, icp)
    total = sum(w for w, _ in credits)
    raw = np.full(len(acc), 50.0)
    if credits:
        parts = [credit * (100.0 * w / total if total else 0.0) for w, credit in credits]
        raw = parts[0]
        for part in parts[1:]:
            raw = raw + part
    excluded = exclusion(acc, icp)
    fit = np.where(excluded.notna(), 0, round_half_away(raw)).astype("int64")
    bucket = np.select([fit >= th.fit_strong, fit >= th.fit_moderate], ["Strong", "Moderate"],
                       "Weak")  # fmt: skip
    return pd.DataFrame({"account_id": acc["account_id"], "fit": fit, "fit_bucket": bucket,
                         "fit_excluded": excluded})  # fmt: skip


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


def engagement(touches: pd.DataFrame, contacts: pd.DataFrame, settings: Settings,
               as_of: dt.datetime) -> pd.DataFrame:  # fmt: skip
    cfg = settings.engagement
    t = touches[touches["account_id"].notna()
                & (touches["ts"] > as_of - dt.timedelta(days=cfg.window_days))
                & (touches["ts"] <= as_of)]  # fmt: skip
    c = contacts_with_personas(contacts, settings)
    by_id = c.set_index("contact_id")
    by_mail = c[c["email"].notna()].sort_values("contact_id").drop_duplicates("email")
    by_mail = by_mail.set_index("email")
    cid = t["contact_id"].where(t["contact_id"].isin(by_id.index))
    cid2 = t["email"].map(by_mail["contact_id"])
    who = cid.fillna(cid2).fillna(t["email"])
    persona = cid.map(by_id["persona"]).fillna(t["email"].map(by_mail["persona"]))
    seniority = cid.map(by_id["seniority"]).fillna(t["email"].map(by_mail["seniority"]))
    base = t["kind"].map(cfg.points).astype("float64").fillna(cfg.default_points).to_numpy()
    if cfg.url_points:
        codes, urls = distinct(t["url"].fillna(""))
        base = base + prefix_points(url_path(urls), cfg.url_points).to_numpy()[codes]
    weight = lookup(persona, cfg.persona_weights) * lookup(seniority, cfg.seniority_weights)
    # no previous tiers (a first refresh): every tier multiplier is 1
    minutes = base * weight * decay(days_before(as_of, t["ts"]), cfg.half_life_days)
    frame = pd.DataFrame({"account_id": t["account_id"].to_numpy(), "who": who.to_numpy(),
                          "persona": persona.to_numpy(), "m": minutes})  # fmt: skip
    people = frame.groupby(["account_id", "who"], sort=False, dropna=False).agg(
        raw=("m", "sum"), persona=("persona", "max")).reset_index()  # fmt: skip
    cap = np.where(people["who"].isna(), cfg.cap_anonymous, cfg.cap_per_contact)
    people["minutes"] = np.minimum(people["raw"], cap)
    known = (people["minutes"] > 0) & people["who"].notna()
    counted = people[known & people["persona"].notna() & (people["persona"] != "none")]
    acc = pd.DataFrame({
        "engagement_minutes": people.groupby("account_id", sort=False)["minutes"].sum(),
        "engaged_contacts": people[known].groupby("account_id", sort=False)["who"].nunique(),
        "engaged_personas": counted.groupby("account_id", sort=False)["persona"].nunique(),
    })  # fmt: skip
    acc[["engaged_contacts", "engaged_personas"]] = acc[
        ["engaged_contacts", "engaged_personas"]].fillna(0)  # fmt: skip
    acc["engagement"] = saturate(acc["engagement_minutes"], cfg.scale)
    return acc


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


def score(tables: dict[str, pd.DataFrame], settings: Settings) -> pd.DataFrame:
    as_of = latest_data_time(tables)
    acc = tables["accounts"]
    t = acc[["account_id", "account_type"]].merge(fit_scores(acc, settings), on="account_id")
    t = t.set_index("account_id", drop=False)
    for part in (third_party(tables["intent"], settings, as_of),
                 first_party(tables["touches"], settings, as_of),
                 engagement(tables["touches"], tables["contacts"], settings, as_of),
                 opportunity_status(tables["opportunities"], settings, as_of)):  # fmt: skip
        t = t.join(part, how="left")
    t = t.reset_index(drop=True).fillna(ZERO)
    for flag in ("late_stage_open", "won_before"):
        t[flag] = t[flag].fillna(False).astype(bool)
    t["intent"] = 100.0 * (1.0 - (1.0 - t["intent_3p"] / 100.0) * (1.0 - t["intent_1p"] / 100.0))
    t = stages(t, settings)
    w = settings.weights
    total = (w.fit + w.intent + w.engagement) or 1.0
    blend = (t["fit"] * (w.fit / total) + t["intent"] * (w.intent / total)
             + t["engagement"] * (w.engagement / total))  # fmt: skip
    t["priority"] = round_half_away(blend, 2)
    t["tier"] = tiers(t, settings)
    t["as_of"] = pd.Timestamp(as_of)
    t["propensity"], t["model_version"] = np.nan, None
    floats = ["intent", "intent_3p", "intent_1p", "momentum_3p", "momentum_1p", "engagement",
              "engagement_minutes", "priority"]  # fmt: skip
    t[floats] = round_half_away(t[floats].to_numpy("float64"), 4)
    ints = ["topics_surging", "key_page_visits", "engaged_contacts", "engaged_personas",
            "open_opportunities"]  # fmt: skip
    t[ints] = t[ints].astype("int64")
    return t.drop(columns=["account_type", "late_stage_open", "won_before"])


# --- the child --------------------------------------------------------------------------------


def run(workspace: Path, out: Path) -> dict:
    clock = time.perf_counter()
    ws = open_workspace(workspace)
    tables = read_tables(Path(ws.warehouse_url.removeprefix("duckdb://")))
    read = time.perf_counter() - clock
    scores = score(tables, ws.settings)
    scores.to_parquet(out, index=False)
    seconds = time.perf_counter() - clock
    counts = scores["tier"].value_counts().sort_index()
    return {"seconds": seconds, "read_seconds": read, "accounts": len(scores),
            "rows_read": {k: len(v) for k, v in tables.items()},
            "tiers": {int(k): int(n) for k, n in counts.items()},
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def main() -> int:
    p = argparse.ArgumentParser(description="plain-pandas version of abm score (bench_score)")
    p.add_argument("--workspace", type=Path, required=True, help="a scored-ready workspace")
    p.add_argument("--out", type=Path, required=True, help="parquet file of the scores")
    args = p.parse_args()
    print(json.dumps(run(args.workspace, args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
