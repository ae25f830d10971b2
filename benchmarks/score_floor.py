"""The engine's floor for bench_score: every account's scores and reasons as hand-written DuckDB
SQL.

Run by ``bench_score.py`` in a fresh process; prints one JSON line. Standalone:
``.venv/bin/python benchmarks/score_floor.py --workspace WS --out scores.parquet
[--reasons-out reasons.parquet]``.

It answers "how fast can a full refresh go on this machine at all?": the same formulas and words
as ``pandas_score.py`` (see that module and docs/scoring.md), written by someone who knows DuckDB
as a handful of ``CREATE TEMP TABLE … AS SELECT`` statements over the workspace's warehouse file
(opened read-only, with the workspace's ``warehouse.memory_limit``), and two ``COPY … TO``
parquet files with the same columns and rounding as the pandas version's. Python does only what
the pandas version does with abmkit's own functions: personas read from titles by
``persona_of`` (once per distinct title, then joined), and the lookalike model
(``lookalike_scores``, scikit-learn). Timed, from the start: the settings, the lookalike, every
statement and both files.

None of abmkit's machinery: no Ibis, no upsert (no comparison with stored
rows), no ``score_history`` or ``tier_changes``, no Tier 2 clusters; a *first* refresh, so
neither tier multipliers of engagement nor hysteresis apply. A ratio of abmkit to pandas can only
approach the ratio of this floor to pandas.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from abmkit.config.settings import Settings
from abmkit.config.workspace import open_workspace
from abmkit.resolve.personas import persona_of
from abmkit.warehouse.engine import open_warehouse
from pandas_score import LN2, cli, lookalike, number_words, peak_rss_mb

WHITESPACE = " \t\n\r\x0b\x0c"  # what abmkit's strip() trims
SCORE_COLUMNS = ["account_id", "fit", "fit_bucket", "fit_excluded", "topics_surging",
                 "top_topics", "intent_3p", "momentum_3p", "key_page_visits", "intent_1p",
                 "momentum_1p", "engagement_minutes", "engaged_contacts", "engaged_personas",
                 "engagement", "open_opportunities", "intent", "buying_stage", "journey_stage",
                 "sales_ready", "priority", "tier", "as_of", "propensity", "model_version",
                 "lookalike"]  # fmt: skip
FLOATS = ["intent_3p", "momentum_3p", "intent_1p", "momentum_1p", "engagement_minutes",
          "engagement", "intent", "priority"]  # fmt: skip
ROUNDED = ["intent_3p", "intent_1p", "intent", "engagement", "engagement_minutes",
           "anonymous_minutes"]  # fmt: skip
"""The floats the reasons of intent, engagement and priority read (as stored: 4 decimals)."""


# --- SQL text ---------------------------------------------------------------------------------


def lit(value) -> str:
    """A Python value as a SQL literal (floats by their shortest exact spelling)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"({value!r})" if value < 0 else repr(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def one_of(expr: str, options: list[str]) -> str:
    return f"{expr} IN ({', '.join(lit(o) for o in options)})" if options else "false"


def lower_in(column: str, options: list[str]) -> str:
    """Case-insensitive membership, as the ICP's lists are matched."""
    wanted = [o.lower().strip() for o in options]
    return one_of(f"lower(trim({column}, {lit(WHITESPACE)}))", wanted)


def cases(pairs: list[tuple[str, str]], default: str) -> str:
    """CASE of (condition, value) pairs, the first that holds winning."""
    if not pairs:
        return default
    return f"CASE {' '.join(f'WHEN {c} THEN {v}' for c, v in pairs)} ELSE {default} END"


def counted(n: str, one: str, many: str) -> str:
    """`1 minute`, `3 minutes`."""
    noun = f"CASE WHEN {n} = 1 THEN {lit(' ' + one)} ELSE {lit(' ' + many)} END"
    return f"CAST({n} AS VARCHAR) || {noun}"


def decay(age: str, half_life: float) -> str:
    return f"exp(greatest({age}, 0) * {lit(-LN2 / half_life)})"


def saturate(points: str, scale: float) -> str:
    return f"100.0 * (1.0 - exp(-CAST({points} AS DOUBLE) / {lit(float(scale))}))"


def weight_of(column: str, weights: dict[str, float]) -> str:
    """Multiplier of a value, 1.0 when unlisted or missing."""
    return cases([(f"{column} = {lit(k)}", lit(float(v))) for k, v in weights.items()], "1.0")


def ex(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyConnection:
    """Run one statement; its time goes to stderr, to see where the floor's seconds go."""
    clock = time.perf_counter()
    result = con.execute(sql)
    print(f"{time.perf_counter() - clock:6.2f}s {' '.join(sql.split())[:70]}", file=sys.stderr)
    return result


# --- fit --------------------------------------------------------------------------------------


def fit_criteria(icp) -> list[tuple[str, float, str, str]]:
    """(factor, weight, credit, words) of every criterion the ICP sets, as SQL over the accounts
    with `_techs` (';a;b;'), `_employees` and `_revenue` (doubles)."""
    w, unknown, out = icp.weights, lit(float(icp.unknown_credit)), []
    if icp.industries:
        hit = lower_in("industry", icp.industries)
        out.append(("industry", w.get("industry", 1.0),
                    f"CASE WHEN industry IS NULL THEN {unknown} WHEN {hit} THEN 1.0 ELSE 0.0 END",
                    cases([("industry IS NULL", lit("industry unknown")),
                           (hit, "'industry ' || industry || ' is in the ICP'")],
                          "'industry ' || industry || ' is not in the ICP'")))  # fmt: skip
    for noun, low, high in (("employees", icp.min_employees, icp.max_employees),
                            ("revenue", icp.min_revenue, icp.max_revenue)):  # fmt: skip
        if low is None and high is None:
            continue
        v, inside, nearby = f"_{noun}", [], []
        if low is not None:
            inside.append(f"{v} >= {lit(float(low))}")
            nearby.append(f"{v} >= {lit(low / icp.near_factor)}")
        if high is not None:
            inside.append(f"{v} <= {lit(float(high))}")
            nearby.append(f"{v} <= {lit(high * icp.near_factor)}")
        span = (f"{number_words(low) if low is not None else '0'}–"
                f"{number_words(high) if high is not None else '∞'}")  # fmt: skip
        said = f"'{noun} ' || CAST(CAST({v} AS BIGINT) AS VARCHAR)"
        within, near = " AND ".join(inside), " AND ".join(nearby)
        out.append((noun, w.get(noun, 1.0),
                    f"CASE WHEN {v} IS NULL THEN {unknown} WHEN {within} THEN 1.0 "
                    f"WHEN {near} THEN 0.5 ELSE 0.0 END",
                    cases([(f"{v} IS NULL", lit(f"{noun} unknown")),
                           (within, f"{said} || {lit(f' within {span}')}"),
                           (near, f"{said} || {lit(f' near {span}')}")],
                          f"{said} || {lit(f' outside {span}')}")))  # fmt: skip
    if icp.countries or icp.regions:
        hits = [f"coalesce({lower_in(col, wanted)}, false)"
                for col, wanted in (("country", icp.countries), ("region", icp.regions))
                if wanted]  # fmt: skip
        hit, place = " OR ".join(hits), "coalesce(region || ', ' || country, country, region)"
        known = "(country IS NOT NULL OR region IS NOT NULL)"
        out.append(("location", w.get("location", 1.0),
                    f"CASE WHEN NOT {known} THEN {unknown} WHEN {hit} THEN 1.0 ELSE 0.0 END",
                    cases([(f"NOT {known}", lit("location unknown")),
                           (hit, f"'location ' || {place} || ' is in the ICP'")],
                          f"'location ' || {place} || ' is not in the ICP'")))  # fmt: skip
    known = f"(technologies IS NOT NULL AND trim(technologies, {lit(WHITESPACE)}) != '')"
    for key, wanted, noun in (
        ("required_technologies", icp.required_technologies, "required technologies"),
        ("preferred_technologies", icp.preferred_technologies, "preferred technologies"),
    ):
        if not wanted:
            continue
        has = [f"contains(_techs, {lit(f';{t.lower().strip()};')})" for t in wanted]
        hits = " + ".join(f"CASE WHEN {h} THEN 1.0 ELSE 0.0 END" for h in has)
        share = f"(({hits}) / {len(wanted)})"  # the share of them it uses
        listed = ", ".join(f"CASE WHEN {h} THEN {lit(t)} END"  # the ones it has, in order
                           for h, t in zip(has, wanted, strict=True))  # fmt: skip
        out.append((key, w.get(key, 1.0), f"CASE WHEN NOT {known} THEN {unknown} ELSE {share} END",
                    cases([(f"NOT {known}", lit(f"{noun}: technologies unknown")),
                           (f"{share} = 0", lit(f"{noun}: none of {', '.join(wanted)}"))],
                          f"{lit(f'{noun}: has ')} || concat_ws(', ', {listed})")))  # fmt: skip
    return out


def exclusion(icp) -> str:
    """Why an account is ruled out (the first rule that applies), or NULL."""
    rules = [("domain", icp.excluded_domains,
              "'excluded: domain ' || domain || ' is on the do-not-target list'"),
             ("industry", icp.excluded_industries, "'excluded: industry ' || industry"),
             ("account_type", icp.excluded_account_types,
              "'excluded: account type ' || account_type")]  # fmt: skip
    pairs = [(f"coalesce({lower_in(col, wanted)}, false)", words)
             for col, wanted, words in rules if wanted]  # fmt: skip
    pairs += [(f"contains(_techs, {lit(f';{t.lower().strip()};')})", lit(f"excluded: uses {t}"))
              for t in icp.excluded_technologies]  # fmt: skip
    return cases(pairs, "NULL::VARCHAR")


def fit_sql(settings: Settings) -> tuple[str, list[str]]:
    """The statement of the `fit` table (account_id, account_type, fit, fit_bucket, fit_excluded,
    and per criterion its points `_p<i>` and words `_r<i>`), and the SELECTs of its reasons."""
    icp, th = settings.icp, settings.thresholds
    if icp.attribute_rules:
        raise SystemExit("score_floor: ICP attribute_rules are not implemented")
    criteria = fit_criteria(icp)
    total = sum(weight for _, weight, _, _ in criteria)
    cols = [f"CAST(({credit}) * {lit(100.0 * weight / total)} AS DOUBLE) AS _p{i}, "
            f"coalesce({words}, {lit(factor + ' unknown')}) AS _r{i}"
            for i, (factor, weight, credit, words) in enumerate(criteria)]  # fmt: skip
    raw = " + ".join(f"_p{i}" for i in range(len(criteria))) or "50.0"
    techs = (f"';' || trim(regexp_replace(lower(coalesce(technologies, '')), "
             f"'\\s*[;,|]\\s*', ';', 'g'), {lit(WHITESPACE)}) || ';'")  # fmt: skip
    statement = f"""CREATE TEMP TABLE fit AS
        SELECT *, CASE WHEN fit >= {th.fit_strong} THEN 'Strong'
                       WHEN fit >= {th.fit_moderate} THEN 'Moderate' ELSE 'Weak' END AS fit_bucket
        FROM (SELECT *, CASE WHEN fit_excluded IS NOT NULL THEN 0
                             ELSE CAST(round({raw}) AS BIGINT) END AS fit
              FROM (SELECT account_id, account_type, {exclusion(icp)} AS fit_excluded
                           {"".join(", " + c for c in cols)}
                    FROM (SELECT *, {techs} AS _techs, CAST(employees AS DOUBLE) AS _employees,
                                 CAST(revenue AS DOUBLE) AS _revenue FROM accounts)))"""
    reasons = [f"SELECT account_id, 'fit' AS score, {lit(factor)} AS factor, round(_p{i}, 1) "
               f"AS points, _r{i} AS reason FROM fit"
               for i, (factor, _, _, _) in enumerate(criteria)]  # fmt: skip
    if not criteria:
        reasons.append("SELECT account_id, 'fit', 'icp', 50.0, "
                       "'no ICP criteria set (icp in abmkit.yaml)' FROM fit")  # fmt: skip
    reasons.append("SELECT account_id, 'fit', 'exclusion', 0.0, fit_excluded FROM fit "
                   "WHERE fit_excluded IS NOT NULL")  # fmt: skip
    return statement, reasons


# --- intent -----------------------------------------------------------------------------------


def momentum(value: str, weeks: int) -> str:
    """The last 7 days' sum of `value` against the mean of the `weeks` weeks before, in percent,
    over rows with `bucket` (whole weeks of age); NULL when the weeks before had nothing."""
    now = f"coalesce(sum({value}) FILTER (WHERE bucket = 0), 0)"
    before = f"coalesce(sum({value}) FILTER (WHERE bucket BETWEEN 1 AND {weeks}), 0)"
    prior = f"(CAST({before} AS DOUBLE) / {weeks})"
    return f"CASE WHEN {prior} > 0 THEN round(100.0 * ({now} - {prior}) / {prior}, 0) END"


def third_party_sql(settings: Settings, as_of: dt.datetime) -> str:
    cfg = settings.intent
    last_start = (as_of - dt.timedelta(days=7)).date()
    start = (as_of - dt.timedelta(weeks=cfg.lookback_weeks + 1)).date()
    topics = one_of("lower(topic)", [x.lower() for x in cfg.relevant_topics])
    strength = (f"CAST(score - 50 AS DOUBLE) / 50.0 * "
                f"{decay('age', cfg.half_life_days.get('third_party', 25.0))}")  # fmt: skip
    return f"""CREATE TEMP TABLE third_party AS
        WITH weeks AS (
            SELECT account_id, topic, score, greatest(score - 50, 0) AS raw,
                   CASE WHEN score >= {settings.thresholds.surge_score}
                        THEN least({strength}, 0.99) ELSE 0.0 END AS s,
                   CAST(floor(age / 7.0) AS BIGINT) AS bucket
            FROM (SELECT *, (epoch({lit(as_of)}) - epoch(CAST(week AS TIMESTAMP))) / 86400.0
                            - 7.0 AS age
                  FROM intent WHERE account_id IS NOT NULL AND week > {lit(start)}
                  AND week <= {lit(last_start)}
                  {f"AND {topics}" if cfg.relevant_topics else ""})),
        topics AS (
            SELECT account_id, topic, max(s) AS s, max(score) AS best FROM weeks
            GROUP BY account_id, topic HAVING max(s) > 0),
        per AS (
            SELECT account_id, 100.0 * (1.0 - exp(sum(ln(1.0 - s)))) AS intent_3p,
                   count(*) AS topics_surging,
                   string_agg(topic || ' (' || CAST(best AS VARCHAR) || ')', ', '
                              ORDER BY s DESC, topic) AS top_topics
            FROM topics GROUP BY account_id),
        moved AS (
            SELECT account_id, {momentum("raw", cfg.momentum_weeks)} AS momentum_3p FROM weeks
            WHERE bucket BETWEEN 0 AND {cfg.momentum_weeks} GROUP BY account_id)
        SELECT * FROM per LEFT JOIN moved USING (account_id)"""


def first_party_sql(settings: Settings, as_of: dt.datetime) -> str:
    cfg = settings.intent
    window = max(cfg.first_party_days, 7 * (cfg.momentum_weeks + 1))
    recent = f"age <= {lit(float(cfg.first_party_days))}"
    points = f"page_weight * {decay('age', cfg.half_life_days.get('first_party', 14.0))}"
    return f"""CREATE TEMP TABLE first_party AS
        SELECT account_id, key_page_visits, momentum_1p,
               {saturate('points', cfg.first_party_scale)} AS intent_1p
        FROM (SELECT account_id, sum(CASE WHEN {recent} THEN {points} ELSE 0.0 END) AS points,
                     count(*) FILTER (WHERE key_page AND {recent}) AS key_page_visits,
                     {momentum('page_weight', cfg.momentum_weeks)} AS momentum_1p
              FROM (SELECT *, CAST(floor(age / 7.0) AS BIGINT) AS bucket FROM recent
                    WHERE kind = 'web_visit' AND url IS NOT NULL
                    AND ts > {lit(as_of - dt.timedelta(days=window))})
              GROUP BY account_id)"""  # fmt: skip


# --- people, pages and engagement -------------------------------------------------------------


def title_personas(con: duckdb.DuckDBPyConnection, settings: Settings) -> pa.Table:
    """(title, persona) read by abmkit's rules, once per distinct title of a contact whose file
    gave no persona ("none": no persona takes it)."""
    titles = [r[0] for r in con.execute("SELECT DISTINCT title FROM contacts WHERE persona IS "
                                        "NULL AND title IS NOT NULL").fetchall()]  # fmt: skip
    read = [getattr(persona_of(t, settings.personas), "persona", "none") for t in titles]
    return pa.table({"title": pa.array(titles, pa.string()),
                     "persona": pa.array(read, pa.string())})  # fmt: skip


def pages_sql(settings: Settings) -> str:
    """Per distinct URL of the touches (missing: ''): its path, page weight, whether it is a key
    page, and the engagement minutes its URL rules add."""
    cfg, rules = settings.intent, settings.engagement.url_points
    ordered = sorted(cfg.page_weights.items(), key=lambda kv: -len(kv[0]))  # longest first
    weight = cases([(f"starts_with(path, {lit(p.lower())})", lit(float(w))) for p, w in ordered],
                   lit(float(cfg.default_page_weight)))  # fmt: skip
    keys = [p.lower() for p, w in cfg.page_weights.items() if w > cfg.default_page_weight]
    key = " OR ".join(f"starts_with(path, {lit(k)})" for k in keys) or "false"
    extra = " + ".join(f"CASE WHEN starts_with(path, {lit(p.lower())}) THEN {lit(float(w))} "
                       "ELSE 0.0 END" for p, w in rules.items()) or "0.0"  # fmt: skip
    scheme = "'^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)'"
    return f"""CREATE TEMP TABLE pages AS
        SELECT url, {weight} AS page_weight, {key} AS key_page, {extra} AS url_minutes
        FROM (SELECT url, lower(CASE WHEN regexp_extract(url, {scheme}, 1) != ''
                                     THEN regexp_extract(url, {scheme}, 1)
                                     WHEN regexp_extract(url, '^(/[^?#]*)', 1) != ''
                                     THEN regexp_extract(url, '^(/[^?#]*)', 1)
                                     ELSE '/' END) AS path
              FROM (SELECT DISTINCT coalesce(url, '') AS url FROM touches))"""


def recent_sql(settings: Settings, as_of: dt.datetime) -> str:
    """The touches linked to an account in the longest window a score looks at (engagement,
    the committee, first-party intent and its momentum) before `as_of`, with the person behind each
    (`who`: the contact found by ID, else the first contact ID of the e-mail, else the e-mail;
    missing: anonymous), their persona and seniority, the touch's age in days and its page."""
    intent = settings.intent
    days = max(settings.engagement.window_days, settings.committee.engaged_days,
               intent.first_party_days, 7 * (intent.momentum_weeks + 1))  # fmt: skip
    return f"""CREATE TEMP TABLE recent AS
        SELECT r.ts, r.account_id, r.kind, r.url,
               (epoch({lit(as_of)}) - epoch(r.ts)) / 86400.0 AS age,
               coalesce(i.contact_id, m.contact_id, r.email) AS who,
               coalesce(i.persona, m.persona) AS persona,
               coalesce(i.seniority, m.seniority) AS seniority,
               p.page_weight, p.key_page, p.url_minutes
        FROM touches r
        LEFT JOIN people i ON r.contact_id = i.contact_id
        LEFT JOIN (SELECT * FROM people WHERE email IS NOT NULL
                   QUALIFY row_number() OVER (PARTITION BY email ORDER BY contact_id) = 1) m
               ON r.email = m.email
        JOIN pages p ON coalesce(r.url, '') = p.url
        WHERE r.account_id IS NOT NULL AND r.ts > {lit(as_of - dt.timedelta(days=days))}
        AND r.ts <= {lit(as_of)}"""


def engagement_sql(settings: Settings, as_of: dt.datetime) -> str:
    cfg = settings.engagement
    kind = cases([(f"kind = {lit(k)}", lit(float(v))) for k, v in cfg.points.items()],
                 lit(float(cfg.default_points)))  # fmt: skip
    # a first refresh: no previous tiers, so every tier multiplier is 1
    weight = (f"{weight_of('persona', cfg.persona_weights)} * "
              f"{weight_of('seniority', cfg.seniority_weights)}")  # fmt: skip
    minutes = f"({kind} + url_minutes) * {weight} * {decay('age', cfg.half_life_days)}"
    cap = cases([("who IS NULL", lit(float(cfg.cap_anonymous)))], lit(float(cfg.cap_per_contact)))
    known = "minutes > 0 AND who IS NOT NULL"
    return f"""CREATE TEMP TABLE engaged AS
        SELECT *, {saturate('engagement_minutes', cfg.scale)} AS engagement
        FROM (SELECT account_id, sum(minutes) AS engagement_minutes,
                     sum(minutes) FILTER (WHERE who IS NULL) AS anonymous_minutes,
                     count(DISTINCT who) FILTER (WHERE {known}) AS engaged_contacts,
                     count(DISTINCT persona) FILTER (WHERE {known} AND persona != 'none')
                         AS engaged_personas
              FROM (SELECT account_id, who, max(persona) AS persona, least(sum({minutes}), {cap})
                           AS minutes
                    FROM recent WHERE ts > {lit(as_of - dt.timedelta(days=cfg.window_days))}
                    GROUP BY account_id, who)
              GROUP BY account_id)"""  # fmt: skip


def committee_sql(settings: Settings, as_of: dt.datetime) -> str | None:
    """The committee reasons: per account and required persona, its people known, those engaged
    lately (a touch earning minutes in `engaged_days`), and the points (engaged: a full share of
    100, known but silent: half, missing: none). None when no committee is configured."""
    cfg, points = settings.committee, settings.engagement.points
    required, days = cfg.required_personas, cfg.engaged_days
    if not required:
        return None
    if settings.engagement.default_points > 0:  # every kind but those listed with 0
        earns = f"NOT {one_of('kind', [k for k, v in points.items() if v == 0])}"
    else:
        earns = one_of("kind", [k for k, v in points.items() if v > 0])
    share = 100.0 / len(required)
    roles = ", ".join(f"({lit(p)})" for p in required)
    label = "replace(r.persona, '_', ' ')"
    n, e = "coalesce(k.n, 0)", "coalesce(g.e, 0)"
    reason = cases([(f"{n} = 0", f"'no ' || {label} || ' known'"),
                    (f"{e} = 0", f"{label} || ' known (' || CAST({n} AS VARCHAR) || "
                                 f"{lit(f') but not engaged in {days} days')}")],
                   f"{label} || ' engaged (' || CAST({e} AS VARCHAR) || ' of ' || "
                   f"CAST({n} AS VARCHAR) || ', last ' || CAST(CAST(g.last AS DATE) AS VARCHAR) "
                   "|| ')'")  # fmt: skip
    return f"""CREATE TEMP TABLE committee AS
        WITH known AS (
            SELECT account_id, persona, count(*) AS n FROM people
            WHERE account_id IS NOT NULL AND {one_of('persona', required)}
            GROUP BY account_id, persona),
        engaged AS (
            SELECT account_id, persona, count(DISTINCT who) AS e, max(ts) AS last FROM recent
            WHERE ts > {lit(as_of - dt.timedelta(days=days))} AND {one_of('persona', required)}
            AND {earns} GROUP BY account_id, persona)
        SELECT a.account_id, 'committee' AS score, r.persona AS factor,
               round(CASE WHEN {n} = 0 THEN 0.0 WHEN {e} = 0 THEN {lit(share / 2)}
                          ELSE {lit(share)} END, 1) AS points,
               {reason} AS reason
        FROM accounts a CROSS JOIN (VALUES {roles}) r(persona)
        LEFT JOIN known k ON k.account_id = a.account_id AND k.persona = r.persona
        LEFT JOIN engaged g ON g.account_id = a.account_id AND g.persona = r.persona"""  # fmt: skip


# --- opportunities, stages, priority, tiers ---------------------------------------------------


def opportunities_sql(settings: Settings, as_of: dt.datetime) -> str:
    day, stages = lit(as_of.date()), [s.lower() for s in settings.stages.purchase_stages]
    late = f"coalesce({one_of(f'lower(trim(stage, {lit(WHITESPACE)}))', stages)}, false)"
    return f"""CREATE TEMP TABLE opps AS
        SELECT account_id, count(*) FILTER (WHERE is_open) AS open_opportunities,
               bool_or(is_open AND {late}) AS late_stage_open,
               bool_or(coalesce(is_won, false) AND closed_by) AS won_before
        FROM (SELECT *, (created_at IS NULL OR created_at <= {day}) AND NOT closed_by AS is_open
              FROM (SELECT *, coalesce(is_closed, false)
                              AND (closed_at IS NULL OR closed_at <= {day}) AS closed_by
                    FROM opportunities WHERE account_id IS NOT NULL))
        GROUP BY account_id"""  # fmt: skip


def scored_sql(settings: Settings) -> str:
    """Every account with every score, stages, priority (and each part of it), and its tier:
    eligible accounts by priority into the capacities (no incumbents on a first refresh)."""
    st, w, tiers = settings.stages, settings.weights, settings.tiers
    total = (w.fit + w.intent + w.engagement) or 1.0
    buying = cases([
        ("late_stage_open", "'Purchase'"),
        (f"open_opportunities > 0 OR (intent >= {st.decision_intent} AND key_page_visits > 0) "
         f"OR engagement_minutes >= {st.decision_minutes}", "'Decision'"),
        (f"intent >= {st.consideration_intent} OR engagement_minutes >= "
         f"{st.consideration_minutes} OR engaged_contacts >= {st.consideration_contacts}",
         "'Consideration'"),
        (f"intent >= {st.awareness_intent} OR engagement_minutes > 0", "'Awareness'"),
    ], "'Target'")  # fmt: skip
    journey = cases([
        ("won_before OR coalesce(lower(account_type) = 'customer', false)", "'Customer'"),
        ("open_opportunities > 0", "'Opportunity'"),
        (f"engagement_minutes >= {st.mqa_minutes}", "'MQA'"),  # no propensity model
        (f"engagement_minutes >= {st.engaged_minutes}", "'Engaged'"),
        (f"intent >= {st.aware_intent}", "'Aware'"),
        (f"fit >= {st.qualified_fit}", "'Qualified'"),
    ], "'Unqualified'")  # fmt: skip
    customer = "journey_stage = 'Customer'" if not tiers.expansion_mode else "false"
    seats, cuts = 0, []
    for number, capacity in ((1, tiers.tier1_capacity), (2, tiers.tier2_capacity),
                             (3, tiers.tier3_capacity)):  # fmt: skip
        if capacity is None:
            cuts.append(("true", str(number)))
            break
        seats += capacity
        cuts.append((f"tier_rank <= {seats}", str(number)))
    zero = {"intent_3p": "0.0", "intent_1p": "0.0", "topics_surging": "0", "key_page_visits": "0",
            "engagement": "0.0", "engagement_minutes": "0.0", "anonymous_minutes": "0.0",
            "engaged_contacts": "0", "engaged_personas": "0", "open_opportunities": "0",
            "late_stage_open": "false", "won_before": "false"}  # fmt: skip
    filled = ", ".join(f"coalesce({c}, {v}) AS {c}" for c, v in zero.items())
    return f"""CREATE TEMP TABLE scored AS
        SELECT *, CAST(CASE WHEN eligible THEN {cases(cuts, 'NULL')} END AS BIGINT) AS tier
        FROM (SELECT *, CASE WHEN eligible THEN row_number() OVER (
                  PARTITION BY eligible ORDER BY coalesce(priority, 0) DESC, account_id) END
                  AS tier_rank
              FROM (SELECT *, fit_bucket IN ('Strong', 'Moderate')
                              AND buying_stage IN ('Decision', 'Purchase') AS sales_ready,
                           fit_excluded IS NULL AND NOT ({customer})
                           AND fit >= {tiers.tier3_min_fit} AS eligible,
                           round(c_fit + c_intent + c_engagement, 2) AS priority
                    FROM (SELECT *, {buying} AS buying_stage, {journey} AS journey_stage,
                                 fit * {lit(w.fit / total)} AS c_fit,
                                 intent * {lit(w.intent / total)} AS c_intent,
                                 engagement * {lit(w.engagement / total)} AS c_engagement
                          FROM (SELECT *, 100.0 * (1.0 - (1.0 - intent_3p / 100.0)
                                                   * (1.0 - intent_1p / 100.0)) AS intent
                                FROM (SELECT f.account_id, f.account_type, f.fit, f.fit_bucket,
                                             f.fit_excluded, t.top_topics, t.momentum_3p,
                                             p.momentum_1p, {filled}
                                      FROM fit f
                                      LEFT JOIN third_party t USING (account_id)
                                      LEFT JOIN first_party p USING (account_id)
                                      LEFT JOIN engaged e USING (account_id)
                                      LEFT JOIN opps o USING (account_id))))))"""  # fmt: skip


def reason_sql(settings: Settings) -> list[str]:
    """The SELECTs of the reasons of intent, engagement and priority, over `scored` with its
    floats as stored (abmkit reads these reasons from its stored row)."""
    days, w = settings.engagement.window_days, settings.weights
    total = (w.fit + w.intent + w.engagement) or 1.0
    rounded = ", ".join(f"round({c}, 4) AS {c}" for c in ROUNDED)
    parts = ", ".join(f"round({c}, 4) * {lit(getattr(w, c) / total)} AS c_{c}"
                      for c in ("fit", "intent", "engagement"))  # fmt: skip
    stored = (f"(SELECT * EXCLUDE (c_fit, c_intent, c_engagement) REPLACE ({rounded}), {parts} "
              "FROM scored) AS s")  # fmt: skip
    topics = counted("topics_surging", "relevant topic", "relevant topics")
    visits = counted("key_page_visits", "key-page visit", "key-page visits")
    third = cases([("topics_surging > 0", f"{topics} || ' surging: ' || top_topics")],
                  "'no relevant topic surging'")  # fmt: skip
    first = cases([("key_page_visits > 0", f"{visits} || ' lately'"),
                   ("intent_1p > 0", "'web visits, none to key pages'")],
                  "'no recent web visits'")  # fmt: skip
    minutes = counted("CAST(round(engagement_minutes, 0) AS BIGINT)", "minute", "minutes")
    people = (f"{counted('engaged_contacts', 'known person', 'known people')} || ' (' || "
              f"{counted('engaged_personas', 'persona', 'personas')} || ')'")  # fmt: skip
    source = cases([("engaged_contacts > 0 AND anonymous_minutes > 0",
                     f"{people} || ' and anonymous visits'"),
                    ("engaged_contacts > 0", people)], "'anonymous visits'")  # fmt: skip
    said = f"{minutes} || {lit(f' in {days} days from ')} || {source}"
    words = cases([("engagement_minutes > 0", said)], lit(f"no engagement in {days} days"))
    out = [f"SELECT account_id, 'intent', 'third_party', round(intent_3p, 1), {third} "
           f"FROM {stored}",
           f"SELECT account_id, 'intent', 'first_party', round(intent_1p * (1.0 - intent_3p / "
           f"100.0), 1), {first} FROM {stored}",
           f"SELECT account_id, 'engagement', 'minutes', round(engagement, 1), {words} "
           f"FROM {stored}"]  # fmt: skip
    weights = {"fit": w.fit, "intent": w.intent, "engagement": w.engagement}
    for name, weight in weights.items():
        of = "" if abs(total - 1.0) < 1e-9 else f" (weight {weight:g} of {total:g})"
        text = (f"'{name} ' || CAST(CAST(round({name}, 0) AS BIGINT) AS VARCHAR) || "
                f"{lit(f' × {weight / total:.3g}{of}')}")  # fmt: skip
        out.append(f"SELECT account_id, 'priority', '{name}', round(c_{name}, 1), {text} "
                   f"FROM {stored}")  # fmt: skip
    return out


# --- the child --------------------------------------------------------------------------------


def run(workspace: Path, out: Path, reasons_out: Path, store: bool = False) -> dict:
    """With `store`, the scores and reasons are written where abmkit keeps them (its
    `account_scores`, and `stored_reasons` for the reasons it does not read from the scores; one
    transaction) instead of the two parquet files, which are then exported, untimed, for the
    comparison (the scores from the table, every reason from the working tables)."""
    if store:  # untimed: the tables as this release of abmkit makes them (columns added)
        open_warehouse(open_workspace(workspace).warehouse_url).close()
    clock = time.perf_counter()
    ws = open_workspace(workspace)
    settings = ws.settings
    db = Path(ws.warehouse_url.removeprefix("duckdb://"))
    model = lookalike(db, settings)  # abmkit's own scikit-learn model, on its own connection
    modelled = time.perf_counter() - clock
    con = duckdb.connect(str(db), read_only=not store)
    ex(con, f"SET memory_limit = {lit(settings.warehouse.memory_limit)}")
    ex(con, "SET preserve_insertion_order = false")  # no statement here needs the order
    # The moment of the latest signal: the last touch, or the end of the last intent week.
    latest = con.execute("SELECT (SELECT max(ts) FROM touches), "
                         "(SELECT max(week) FROM intent)").fetchone()  # fmt: skip
    candidates = [latest[0]] if latest[0] is not None else []
    if latest[1] is not None:
        candidates.append(dt.datetime.combine(latest[1], dt.time()) + dt.timedelta(days=7))
    if not candidates:
        raise SystemExit("score_floor: no touches or intent loaded")
    as_of = max(candidates)
    con.register("title_personas", title_personas(con, settings))
    ex(
        con,
        """CREATE TEMP TABLE people AS
        SELECT c.contact_id, c.account_id, c.email, c.seniority,
               coalesce(c.persona, t.persona) AS persona
        FROM contacts c LEFT JOIN title_personas t ON c.persona IS NULL AND c.title = t.title""",
    )
    ex(con, pages_sql(settings))
    ex(con, recent_sql(settings, as_of))
    fit, fit_reasons = fit_sql(settings)
    for statement in (fit, third_party_sql(settings, as_of), first_party_sql(settings, as_of),
                      engagement_sql(settings, as_of), opportunities_sql(settings, as_of),
                      scored_sql(settings)):  # fmt: skip
        ex(con, statement)
    reasons = list(fit_reasons)  # the ones abmkit writes; then those it reads from the scores
    committee = committee_sql(settings, as_of)
    if committee:
        ex(con, committee)
        reasons.append("SELECT * FROM committee")
    if model.scores is not None:
        con.register("lookalike_scores", model.scores)
        con.register("lookalike_reasons", model.reasons)
        reasons.append("SELECT account_id, score, factor, points, reason FROM lookalike_reasons")
        source, look = "scored LEFT JOIN lookalike_scores USING (account_id)", "lookalike"
    else:
        source, look = "scored", "NULL"
    floats = {c: f"round({c}, 4) AS {c}" for c in FLOATS}
    columns = floats | {"as_of": f"{lit(as_of)} AS as_of", "propensity": "NULL::DOUBLE AS "
                        "propensity", "model_version": "NULL::VARCHAR AS model_version",
                        "lookalike": f"round(CAST({look} AS DOUBLE), 4) AS lookalike"}  # fmt: skip
    select = ", ".join(columns.get(c, c) for c in SCORE_COLUMNS)

    def rows_of(selects: list[str]) -> str:
        union = " UNION ALL ".join(f"({r})" for r in selects)
        return f"""SELECT account_id, score, factor, CAST(points AS DOUBLE) AS points,
            reason FROM ({union}) r(account_id, score, factor, points, reason)"""

    reason_rows = rows_of(reasons + reason_sql(settings))
    if store:  # as abmkit stores them: the scores, and the reasons it cannot read from them
        ex(con, "BEGIN TRANSACTION")
        names = ", ".join(SCORE_COLUMNS)
        ex(con, f"INSERT INTO account_scores ({names}, anonymous_minutes, scored_at) "
                f"SELECT {select}, round(anonymous_minutes, 4), {lit(dt.datetime.now())} "
                f"FROM {source}")  # fmt: skip
        ex(
            con,
            f"""INSERT INTO stored_reasons (account_id, score, factor, points, reason)
            SELECT * FROM ({rows_of(reasons)})""",
        )
        ex(con, "COMMIT")
        seconds = time.perf_counter() - clock
        ex(con, f"COPY (SELECT {', '.join(SCORE_COLUMNS)} FROM account_scores) "
                f"TO {lit(str(out))} (FORMAT parquet)")  # fmt: skip
        ex(con, f"COPY ({reason_rows}) TO {lit(str(reasons_out))} (FORMAT parquet)")
    else:
        ex(con, f"COPY (SELECT {select} FROM {source}) TO {lit(str(out))} (FORMAT parquet)")
        ex(con, f"COPY ({reason_rows}) TO {lit(str(reasons_out))} (FORMAT parquet)")
        seconds = time.perf_counter() - clock
    accounts = con.execute("SELECT count(*) FROM scored").fetchone()[0]
    tiers = dict(con.execute("SELECT tier, count(*) FROM scored WHERE tier IS NOT NULL "
                             "GROUP BY tier ORDER BY tier").fetchall())  # fmt: skip
    rows = con.execute(f"SELECT count(*) FROM {lit(str(reasons_out))}").fetchone()[0]
    con.close()
    return {"seconds": seconds, "lookalike_seconds": modelled, "accounts": accounts,
            "reasons": rows, "tiers": {int(k): int(n) for k, n in tiers.items()},
            "lookalike_note": model.note, "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def main() -> int:
    return cli("hand-written DuckDB floor of abm score (bench_score)", run,
               {"store": "store the results in the warehouse, as abmkit does"})  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
