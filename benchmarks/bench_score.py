"""Full score refresh (`abm score`) of abmkit against plain pandas, at 10k × 1M and 100k × 10M,
with a hand-written DuckDB SQL floor of the same scores.

Run from the repository root: ``.venv/bin/python benchmarks/bench_score.py [--quick]``.

For each size the market of ``bench_ingest`` (same cache, same seed) is loaded once, untimed, into
a scored-ready workspace next to it (``<data-dir>/<size>_seed7/workspace-score``): the demo's
settings (``abmkit.demo``: its mappings, ICP and relevant topics), every table ingested in the
demo's order, then ``Abm.relink()``. Each measurement then runs in a fresh subprocess on a copy
of that workspace (flushed to disk before the clock starts), so its peak resident memory
(``ru_maxrss``, DuckDB's threads included) is its own. Each is made three times, every engine
alike, and the median kept (``REPEATS``: this machine's own noise is ±20% between runs):

* **abmkit, first refresh** — ``Abm.score()`` timed on the copy, whose ``account_scores`` is
  empty: every account scored, reasons, history, tier changes and Tier 2 clusters written.
* **abmkit, again** — a new process, ``Abm.score()`` once more with no new data: it must report
  0 rows inserted or updated.
* **pandas** — ``benchmarks/pandas_score.py``: the same scores and reasons in pandas + numpy
  (the lookalike by abmkit's own scikit-learn model), from reading the warehouse file to two
  parquet files: one row per account, and the reasons (see that module). It leaves out what a
  first refresh needs no comparison for: history, tier changes, the upsert, hysteresis, and the
  Tier 2 clusters.
* **floor** — ``benchmarks/score_floor.py``, on a fresh copy of the scored-ready workspace: the
  same scores and reasons as hand-written DuckDB SQL (``CREATE TEMP TABLE … AS SELECT`` over the
  warehouse file, ``COPY … TO`` the same two parquet files), with none of abmkit's machinery
  (no Ibis, no upsert, no history). How fast the engine does this work on this machine at all:
  the ceiling of any abmkit ÷ pandas ratio. **floor_stored**: the same, storing what abmkit
  stores (``account_scores``, and the reasons abmkit does not read from the scores in
  ``stored_reasons``; one transaction) rather than parquet: the ceiling of a refresh that keeps
  what it computes.
* **abmkit, incremental** — ``Abm.score(incremental=True)`` in a fresh process: one touch (a
  meeting of a known contact, at the time of the latest touch so that ``as_of`` stays) is
  ingested untimed, then the incremental refresh is timed (it re-scores that one account: the
  first refresh of a process also builds its statements, and the first ever in a workspace
  also compiles them, keeping their SQL in the workspace's ``cache/statements.json``); then, in
  the same process, ten more touches, each for another account, each followed by a timed
  incremental refresh ("running process": what the agent's loop or the server sees; the median
  and the slowest are kept); then a full refresh (untimed) must change nothing. Then, in another
  fresh process, one more touch and one timed incremental refresh that reads the statements the
  first process kept ("statements kept": ``abm score --incremental`` from cron, a restarted
  server). Target: under a second.

Agreement: every account's stored ``account_scores`` row is compared with the pandas row, and
with the floor's (the same checks, reported the same way under the floor's name). Each
numeric column (lookalike included) must agree within 0.01 once both are rounded to 2 decimals
(and be empty for the same accounts); buckets, stages, exclusions, surging topics and sales-ready
must be equal, and the tiers must hold the same number of accounts. abmkit's reasons, read
through its view ``score_reasons``, are compared with the pandas reasons: the same
(account_id, score, factor) keys, points within 0.01 once both are rounded to 2 decimals, the
same words; disagreements are counted per score and factor, with the first few as examples.
Writes ``benchmarks/results/score.json``; exits non-zero on a crash or a disagreement. Targets
(the issue): the first refresh at 100k × 10M in ≤ 30 s, under 4 GB peak, and ≥ 5× faster than
pandas; PASS/MISS is printed for every size, the speed-up's with the floor's (pandas ÷ floor:
the most any engine could reach).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench_ingest import (
    DEFAULT_DATA,
    SIZES,
    label,
    machine,
    market_dir,
    market_info,
    peak_rss_mb,
    run_child,
    touch_files,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "score.json"
PANDAS = Path(__file__).with_name("pandas_score.py")
FLOOR = Path(__file__).with_name("score_floor.py")
FLOORS = ("floor", "floor_stored")
"""The floor writing parquet files, and the floor storing its rows where abmkit does."""
WORKSPACE = "workspace-score"
SCORE_SIZES, QUICK = ["10kx1M", "100kx10M"], ["10kx1M"]
WARM_REFRESHES = 10  # incremental refreshes timed in one running process, each for a new account
TIME_TARGET_S, MEMORY_TARGET_MB, SPEEDUP_TARGET = 30.0, 4096.0, 5.0
INCREMENTAL_TARGET_S = 1.0
"""The issue asks for one account "well under a second"; this is the line under it."""
NUMERIC = ["fit", "intent", "intent_3p", "intent_1p", "momentum_3p", "momentum_1p",
           "topics_surging", "key_page_visits", "engagement", "engagement_minutes",
           "engaged_contacts", "engaged_personas", "open_opportunities", "priority",
           "lookalike"]  # fmt: skip
EXACT = ["fit_bucket", "fit_excluded", "top_topics", "buying_stage", "journey_stage",
         "sales_ready", "as_of"]  # fmt: skip
TOLERANCE = 0.01  # after rounding both sides to 2 decimals
REASON_KEY = ["account_id", "score", "factor"]
EXAMPLES = 3  # disagreeing reasons shown per score and kind of disagreement
KINDS = {"only_abmkit": "only abmkit has a row", "points_differ": "points differ",
         "reason_differs": "words differ"}  # fmt: skip
"""The kinds of reason disagreement, in words (`only_<engine>`: only that engine has a row)."""


@dataclass
class Run:
    """One measurement of one size: an engine refreshing every account's scores."""

    size: str
    engine: str
    phase: str
    seconds: float | None
    peak_rss_mb: float
    accounts: int = 0
    detail: dict = field(default_factory=dict)


# --- the scored-ready workspace ---------------------------------------------------------------


def market_files(folder: Path) -> dict[str, list[Path]]:
    """The files of a cached market, per kind of LOAD_PLAN (intent weeks in date order)."""
    single = {k: [folder / f"{k}.csv"] for k in ("accounts", "contacts", "campaigns",
                                                 "opportunities", "ip_ranges")}  # fmt: skip
    return single | {"intent": sorted((folder / "intent").glob("*.csv")),
                     "touches": touch_files(folder)}  # fmt: skip


def prepare_child(market: Path, workspace: Path) -> dict:
    """Runs inside a fresh process: a workspace with the demo's settings and every table of the
    market ingested and linked (nothing scored yet)."""
    from abmkit.app import Abm
    from abmkit.config.settings import Settings
    from abmkit.config.workspace import init_workspace
    from abmkit.demo import DEMO_MAPPINGS, DEMO_SCORING, LOAD_PLAN
    from abmkit.errors import InputError

    shutil.rmtree(workspace, ignore_errors=True)
    settings = Settings.model_validate({"ingest": {"mappings": DEMO_MAPPINGS}} | DEMO_SCORING)
    init_workspace(workspace, settings=settings)
    files = market_files(market)
    clock = time.perf_counter()
    counts = {}
    with Abm.open(workspace) as abm:
        for table, kind, preset in LOAD_PLAN:
            results = abm.ingest(table, files[kind], preset=preset)
            bad = [r for r in results if isinstance(r, InputError)]
            if bad:
                raise SystemExit(f"abmkit rejected a {table} file: {bad[0]}")
            counts[table] = abm.warehouse.count(table)
        abm.relink()
    return {"counts": counts, "seconds": round(time.perf_counter() - clock, 1),
            "prepared": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip


def scored_ready(market: Path) -> Path:
    """The cached scored-ready workspace of a market, prepared (untimed) the first time."""
    workspace = market / WORKSPACE
    marker = workspace / "prepared.json"
    if not marker.exists():
        print(f"[prepare] {market.name}: ingesting every table into {workspace} …", flush=True)
        out = run_child([__file__, "--child", "prepare", "--market", str(market),
                         "--workspace", str(workspace)])  # fmt: skip
        marker.write_text(json.dumps(out, indent=2) + "\n")
        print(f"[prepare]   {out['seconds']}s: {out['counts']}", flush=True)
    return workspace


# --- the abmkit children ----------------------------------------------------------------------


def refresh_child(workspace: Path, phase: str) -> dict:
    """Runs inside a fresh process: one timed `Abm.score()` (phase first: on empty scores)."""
    from abmkit.app import Abm

    with Abm.open(workspace) as abm:
        stored = abm.warehouse.count("account_scores")
        if phase == "first" and stored:
            raise SystemExit(f"{workspace}: account_scores holds {stored} rows, expected none")
        clock = time.perf_counter()
        result = abm.score()
        seconds = time.perf_counter() - clock
        # Untimed above: some reasons are rendered from the stored scores when read (the view
        # score_reasons). What reading every one of them costs, as a full export would:
        clock = time.perf_counter()
        read = abm.warehouse.arrow(abm.warehouse.table("score_reasons")).num_rows
        reading = time.perf_counter() - clock
    return refresh_summary(result) | {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "reasons_read": read,
        "reasons_read_seconds": reading,
    }


def refresh_summary(result) -> dict:
    changed = result.changed
    return {"accounts": result.accounts, "as_of": str(result.as_of),
            "inserted": changed.inserted, "updated": changed.updated,
            "unchanged": changed.unchanged, "tier_changes": result.tier_changes,
            "history_rows": result.history_rows, "notes": result.notes,
            "mode": getattr(result, "mode", "full"), "rescored": getattr(result, "rescored", None),
            "tiers": {c.tier: c.filled for c in result.tiers}}  # fmt: skip


# ---- (d) incremental refresh --------------------------------------------------------------


def incremental_child(workspace: Path) -> dict:
    """Runs inside a fresh process, on a workspace already scored."""
    from abmkit.app import Abm

    with Abm.open(workspace) as abm:
        touch, account_id, ingest_seconds = _load_one_touch(abm, workspace, skip=set())
        clock = time.perf_counter()
        result = abm.score(incremental=True)
        seconds = time.perf_counter() - clock
        # Again in the same process, each time for another account: what a long-running loop
        # or server sees, with its statements built and compiled by the first refresh.
        skip, warm_all = {account_id}, []
        for _ in range(WARM_REFRESHES):
            _, other, _ = _load_one_touch(abm, workspace, skip=skip)
            skip.add(other)
            clock = time.perf_counter()
            warm = abm.score(incremental=True)
            warm_all.append(time.perf_counter() - clock)
            if (warm.mode, warm.rescored) != ("incremental", 1):
                raise SystemExit(f"a warm incremental refresh was {warm.mode}, "
                                 f"{warm.rescored} re-scored")  # fmt: skip
        warm_seconds = statistics.median(warm_all)
        clock = time.perf_counter()
        check = abm.score()  # not the measure: a full refresh must find nothing left to change
        check_seconds = time.perf_counter() - clock
    return refresh_summary(result) | {
        "seconds": seconds, "warm_seconds": warm_seconds, "ingest_seconds": ingest_seconds,
        "warm_all": [round(x, 4) for x in warm_all], "warm_max": max(warm_all),
        "touch": touch, "account_id": account_id,
        "full_after": {"inserted": check.changed.inserted, "updated": check.changed.updated,
                       "seconds": check_seconds},
        "peak_rss_mb": peak_rss_mb(),
    }  # fmt: skip


def incremental_kept_child(workspace: Path) -> dict:
    """Runs inside a fresh process, on the workspace `incremental_child` left: one more new
    touch, then one timed incremental refresh that reads the statements the earlier process
    compiled (the workspace's `cache/statements.json`) instead of compiling them."""
    from abmkit.app import Abm

    with Abm.open(workspace) as abm:
        if not abm.workspace.statements.exists():
            raise SystemExit(f"{abm.workspace.statements}: no statements kept by the last process")
        t = abm.warehouse.table("touches")
        earlier = t.filter(t.source == "bench_score").account_id.to_pyarrow().to_pylist()
        touch, account_id, ingest_seconds = _load_one_touch(abm, workspace, set(earlier))
        clock = time.perf_counter()
        result = abm.score(incremental=True)
        seconds = time.perf_counter() - clock
        if (result.mode, result.rescored) != ("incremental", 1):
            raise SystemExit(f"the incremental refresh was {result.mode}, {result.rescored} "
                             "re-scored")  # fmt: skip
    return refresh_summary(result) | {"seconds": seconds, "ingest_seconds": ingest_seconds,
                                      "touch": touch, "account_id": account_id,
                                      "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def _load_one_touch(abm, workspace: Path, skip: set[str]) -> tuple[dict, str, float]:
    """Ingest one new touch (see `one_touch`) for an account not in `skip`, check that it was
    stored and linked, and return it, its account and the seconds the ingest took."""
    from abmkit.errors import InputError

    touch = one_touch(abm, skip)
    account_id = touch.pop("_account_id")
    path = workspace / f"one_touch_{len(skip)}.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(touch))
        writer.writeheader()
        writer.writerow(touch)
    clock = time.perf_counter()
    loaded = abm.ingest("touches", [path])
    ingest_seconds = time.perf_counter() - clock
    if isinstance(loaded[0], InputError) or loaded[0].inserted != 1:
        raise SystemExit(f"the one new touch was not inserted: {loaded[0]}")
    t = abm.warehouse.table("touches")
    new = (t.email == touch["email"]) & (t.kind == "meeting") & (t.source == touch["source"])
    linked = t.filter(new).account_id.to_pyarrow().to_pylist()
    if linked != [account_id]:
        raise SystemExit(f"the new touch was linked to {linked}, expected [{account_id}]")
    return touch, account_id, ingest_seconds


def one_touch(abm, skip: set[str]) -> dict:
    """A meeting with a known contact whose persona weighs in engagement, at the time of the
    latest touch: `as_of` stays where it was, so only that account's signals move (a later time
    would move `as_of` and with it every account's decayed signals)."""
    from abmkit.resolve.personas import persona_of

    wh, weights = abm.warehouse, abm.settings.engagement.persona_weights
    latest = wh.table("touches").ts.max().execute()
    c = wh.table("contacts")
    people = c.filter(c.email.notnull() & c.account_id.notnull()).order_by("contact_id")
    for row in people.limit(500).to_pyarrow().to_pylist():
        found = row["persona"] or getattr(persona_of(row["title"], abm.settings.personas),
                                          "persona", "none")  # fmt: skip
        if weights.get(found, 1.0) > 0 and row["account_id"] not in skip:
            when = latest.strftime("%Y-%m-%dT%H:%M:%SZ")
            return {"ts": when, "email": row["email"], "channel": "sales", "kind": "meeting",
                    "source": "bench_score", "_account_id": row["account_id"]}  # fmt: skip
    raise SystemExit("no contact with a weighted persona among the first 500")


# --- agreement --------------------------------------------------------------------------------


REASONS_SQL = "SELECT account_id, score, factor, points, reason FROM score_reasons"


def stored(workspace: Path, sql: str):
    """The result of `sql` over a workspace's warehouse (read-only), as a pandas DataFrame."""
    import duckdb

    con = duckdb.connect(str(workspace / "warehouse.duckdb"), read_only=True)
    try:
        return con.sql(sql).df()
    finally:
        con.close()


def reason_agreement(size: str, ours, theirs, engine: str = "pandas") -> tuple[dict, list[str]]:
    """Per score, how abmkit's stored reasons (`ours`) and those of `engine` (`theirs`: pandas or
    the floor) differ: the same (account_id, score, factor) keys, points within TOLERANCE after
    rounding both to 2 decimals, the same words."""
    problems: list[str] = []
    report: dict = {"rows": {"abmkit": len(ours), engine: len(theirs)}, "scores": {}}
    for name, df in (("abmkit", ours), (engine, theirs)):
        twice = int(df.duplicated(REASON_KEY).sum())
        if twice:
            problems.append(f"{size}: {name} has {twice:,} reason rows whose (account_id, score, "
                            "factor) repeats")  # fmt: skip
    m = ours.merge(theirs, on=REASON_KEY, how="outer", suffixes=("_abmkit", f"_{engine}"),
                   indicator=True).sort_values(REASON_KEY)  # fmt: skip
    for score, g in m.groupby("score", sort=True):
        both = g[g["_merge"] == "both"]
        x, y = both["points_abmkit"].round(2), both[f"points_{engine}"].round(2)
        points_bad = (x.isna() != y.isna()) | ((x - y).abs() >= TOLERANCE - 1e-9)
        a, b = both["reason_abmkit"].astype("string"), both[f"reason_{engine}"].astype("string")
        words_bad = ~((a == b).fillna(False) | (a.isna() & b.isna()))
        kinds = {"only_abmkit": g[g["_merge"] == "left_only"],
                 f"only_{engine}": g[g["_merge"] == "right_only"],
                 "points_differ": both[points_bad], "reason_differs": both[words_bad]}  # fmt: skip
        entry = {"abmkit_rows": int((g["_merge"] != "right_only").sum()),
                 f"{engine}_rows": int((g["_merge"] != "left_only").sum())}  # fmt: skip
        for kind, rows in kinds.items():
            entry[kind] = len(rows)
            if not len(rows):
                continue
            entry[f"{kind}_by_factor"] = rows["factor"].value_counts().to_dict()
            examples = [_reason_example(kind, r, engine)
                        for r in rows.head(EXAMPLES).to_dict("records")]  # fmt: skip
            entry[f"{kind}_examples"] = examples
            said = KINDS.get(kind) or f"only {engine} has a row"
            problems.append(f"{size}: {score} reasons, {said} on {len(rows):,} row(s) "
                            f"(by factor {entry[f'{kind}_by_factor']}), e.g. "
                            + " | ".join(examples))  # fmt: skip
        if len(both) and points_bad.any():
            entry["points_max_abs_diff"] = float((x - y).abs().max())
        report["scores"][score] = entry
    return report, problems


def _reason_example(kind: str, row: dict, engine: str = "pandas") -> str:
    where = f"{row['account_id']}/{row['factor']}"
    if kind == "only_abmkit":
        return f"{where}: {_plain(row['points_abmkit'])} {_plain(row['reason_abmkit'])!r}"
    if kind == f"only_{engine}":
        return (f"{where}: {_plain(row[f'points_{engine}'])} "
                f"{_plain(row[f'reason_{engine}'])!r}")  # fmt: skip
    if kind == "points_differ":
        return (f"{where}: abmkit {_plain(row['points_abmkit'])} vs {engine} "
                f"{_plain(row[f'points_{engine}'])} "
                f"({_plain(row['reason_abmkit'])!r})")  # fmt: skip
    return (f"{where}: abmkit {_plain(row['reason_abmkit'])!r} vs {engine} "
            f"{_plain(row[f'reason_{engine}'])!r}")  # fmt: skip


def agreement(size: str, ours, theirs, engine: str = "pandas") -> tuple[dict, list[str]]:
    """Per column, how far abmkit's stored scores (`ours`) are from those of `engine` (`theirs`:
    pandas or the floor)."""
    import numpy as np

    problems: list[str] = []
    a, p = ours.set_index("account_id"), theirs.set_index("account_id")
    if set(a.index) != set(p.index):
        only = sorted(set(a.index) ^ set(p.index))[:3]
        problems.append(f"{size}: different accounts (abmkit {len(a)} vs {engine} {len(p)}), "
                        f"e.g. {only}")  # fmt: skip
    p = p.reindex(a.index)
    report: dict = {"accounts": len(a), "columns": {}}
    for col in NUMERIC:
        x, y = a[col].astype("float64").round(2), p[col].astype("float64").round(2)
        diff = (x - y).abs().to_numpy()
        one_null = (x.isna() != y.isna()).to_numpy()
        bad = one_null | (np.nan_to_num(diff) >= TOLERANCE - 1e-9)
        entry = {"max_abs_diff": float(np.nanmax(diff)) if (~np.isnan(diff)).any() else 0.0,
                 "null_mismatches": int(one_null.sum()), "differing": int(bad.sum())}  # fmt: skip
        if bad.any():
            worst = int(np.argmax(np.where(one_null, np.inf, np.nan_to_num(diff))))
            aid = a.index[worst]
            entry["example"] = {"account_id": aid, "abmkit": _plain(a[col].iloc[worst]),
                                engine: _plain(p[col].iloc[worst])}  # fmt: skip
            problems.append(f"{size}: {col} differs for {entry['differing']:,} accounts, e.g. "
                            f"{aid}: abmkit {entry['example']['abmkit']} vs {engine} "
                            f"{entry['example'][engine]}")  # fmt: skip
        report["columns"][col] = entry
    for col in EXACT:
        x, y = a[col].astype("string"), p[col].astype("string")
        bad = ~((x == y).fillna(False) | (x.isna() & y.isna()))
        entry = {"differing": int(bad.sum())}
        if bad.any():
            aid = bad[bad].index[0]
            entry["example"] = {"account_id": aid, "abmkit": _plain(a.at[aid, col]),
                                engine: _plain(p.at[aid, col])}  # fmt: skip
            problems.append(f"{size}: {col} differs for {entry['differing']:,} accounts, e.g. "
                            f"{aid}: abmkit {entry['example']['abmkit']!r} vs {engine} "
                            f"{entry['example'][engine]!r}")  # fmt: skip
        report["columns"][col] = entry
    counts = {name: _tier_counts(df["tier"]) for name, df in (("abmkit", a), (engine, p))}
    report["tiers"] = counts
    report["accounts_in_another_tier"] = int(
        (a["tier"].fillna(0).astype(int) != p["tier"].fillna(0).astype(int)).sum()
    )
    if counts["abmkit"] != counts[engine]:
        problems.append(f"{size}: tier counts abmkit {counts['abmkit']} vs {engine} "
                        f"{counts[engine]}")  # fmt: skip
    return report, problems


def _tier_counts(tier) -> dict[str, int]:
    values = tier.fillna(0).astype(int).value_counts().sort_index()
    return {("untiered" if k == 0 else f"tier {k}"): int(n) for k, n in values.items()}


def _plain(value):
    """A value of a DataFrame cell as plain JSON (None for missing)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, (int, float, bool, str)) else str(value)


# --- driving the children ---------------------------------------------------------------------


def measure(size: str, market: Path, scratch: Path) -> tuple[list[Run], dict, list[str]]:
    """The runs of one size: abmkit's and pandas' on a fresh copy of its scored-ready workspace,
    the floor's on another."""
    source = scored_ready(market)
    workspace = scratch / size / "workspace"
    shutil.rmtree(workspace.parent, ignore_errors=True)
    runs, problems = [], []
    for phase in ("first", "again"):
        print(f"[run] {size} abmkit {PHASES[phase]} (median of {REPEATS}) …", flush=True)

        def once(phase: str = phase) -> dict:
            if phase == "first":  # each on a fresh copy: its scores are empty
                shutil.rmtree(workspace, ignore_errors=True)
                settled_copy(source, workspace)
            return run_child([__file__, "--child", phase, "--workspace", str(workspace)])

        out = median_of(once)
        runs.append(_run(size, "abmkit", phase, out))
        print(f"[run]   then reading all {out['reasons_read']:,} reasons (some rendered from "
              f"the scores as read): {out['reasons_read_seconds']:.2f}s", flush=True)  # fmt: skip
    again = runs[-1].detail
    if again["inserted"] or again["updated"]:
        problems.append(f"{size}: a refresh with no new data changed {again['inserted']} + "
                        f"{again['updated']} rows")  # fmt: skip
    import pandas as pd

    ours = stored(workspace, "SELECT * FROM account_scores")
    our_reasons = stored(workspace, REASONS_SQL)
    report: dict = {}
    for engine in ("pandas", *FLOORS):
        print(f"[run] {size} {engine} …", flush=True)
        run, parquet, reasons = _compared_run(size, engine, source, workspace)
        runs.append(run)
        check, found = agreement(size, ours, pd.read_parquet(parquet), engine)
        why, found_reasons = reason_agreement(size, our_reasons, pd.read_parquet(reasons), engine)
        check["reasons"] = why
        problems += found + found_reasons
        rows = check["reasons"]["rows"]
        print(f"[check] {size} {engine}: scores {len(found)} disagreement(s), tiers "
              f"{check['tiers'][engine]}; reasons {rows['abmkit']:,} (abmkit) vs "
              f"{rows[engine]:,} ({engine}) rows, {len(found_reasons)} disagreement(s)",
              flush=True)  # fmt: skip
        if engine == "pandas":  # agreement.<size>; the floor's in agreement.<size>.floor
            report |= check
        else:
            report[engine] = check
    print(f"[run] {size} abmkit {PHASES['incremental']} …", flush=True)
    out, error = attempt([__file__, "--child", "incremental", "--workspace", str(workspace)])
    if error:
        problems.append(f"{size}: the incremental refresh crashed: {error}")
    else:
        warm = dict(out, seconds=out["warm_seconds"], peak_rss_mb=out["peak_rss_mb"])
        runs.append(_run(size, "abmkit", "incremental", out))
        runs.append(_run(size, "abmkit", "incremental_warm", warm))
        after = out["full_after"]
        print(f"[run]   mode {out['mode']}, {out['rescored']} account(s) re-scored; "
              f"a full refresh after it: {after['seconds']:.1f}s, changed "
              f"{after['inserted'] + after['updated']}", flush=True)  # fmt: skip
        if out["mode"] != "incremental":
            print(f"[run]   (ran as {out['mode']}: {'; '.join(out['notes'])})", flush=True)
        if after["inserted"] or after["updated"]:
            problems.append(f"{size}: after the incremental refresh a full one still changed "
                            f"{after['inserted']} + {after['updated']} rows")  # fmt: skip
        print(f"[run] {size} abmkit {PHASES['incremental_kept']} …", flush=True)
        kept, error = attempt([__file__, "--child", "incremental_kept", "--workspace",
                               str(workspace)])  # fmt: skip
        if error:
            problems.append(f"{size}: the incremental refresh in a new process crashed: {error}")
        else:
            runs.append(_run(size, "abmkit", "incremental_kept", kept))
    shutil.rmtree(workspace.parent, ignore_errors=True)
    return runs, report, problems


REPEATS = 3
"""Every timed run of a first or repeated refresh, of pandas and of the floors is made this
many times, each in a fresh process (and on a fresh copy where it writes), and the median by
time is kept with its peak memory (the machine's own noise is ±20% from one run to the next)."""


def median_of(run: Callable[[], dict]) -> dict:
    """The median run of REPEATS by seconds, with every run's time in `repeats`."""
    outs = sorted((run() for _ in range(REPEATS)), key=lambda o: o["seconds"])
    middle = outs[len(outs) // 2]
    return middle | {"repeats": [round(o["seconds"], 3) for o in outs]}


def settled_copy(source: Path, target: Path) -> None:
    """Copy a workspace and flush the copy to disk before anything is timed on it: the first
    commit of a refresh syncs the warehouse file, and would otherwise also pay for writing out
    the few hundred megabytes this harness has just copied (most of a second here)."""
    shutil.copytree(source, target)
    os.sync()


def _compared_run(size: str, engine: str, source: Path, workspace: Path) -> tuple[Run, Path, Path]:
    """pandas (on the workspace abmkit refreshed: it reads only the source tables) or the floor
    (on a fresh copy of the scored-ready workspace), writing the scores and the reasons next to
    `workspace`: (the run, the scores' file, the reasons' file)."""
    folder = workspace.parent
    parquet, reasons = folder / f"{engine}_scores.parquet", folder / f"{engine}_reasons.parquet"
    target = workspace
    if engine in FLOORS:
        target = folder / f"{engine}-workspace"
    script = PANDAS if engine == "pandas" else FLOOR

    def once() -> dict:
        if target != workspace:  # each on a fresh copy (the stored floor writes into it)
            shutil.rmtree(target, ignore_errors=True)
            settled_copy(source, target)
        return run_child([str(script), "--workspace", str(target), "--out", str(parquet),
                          "--reasons-out", str(reasons),
                          *(["--store"] if engine == "floor_stored" else [])])  # fmt: skip

    out = median_of(once)
    if target != workspace:
        shutil.rmtree(target, ignore_errors=True)
    return _run(size, engine, "first", out), parquet, reasons


def attempt(args: list[str]) -> tuple[dict, str | None]:
    """Run a child that may fail without stopping the benchmark: (its result, None) or ({}, the
    last line of its error output)."""
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        return {}, last_error(proc.stderr) or f"exit code {proc.returncode}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def last_error(stderr: str) -> str:
    """The last exception of a traceback with the lines that follow it, on one line."""
    lines = stderr.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    if not starts:
        return lines[-1].strip() if lines else ""
    return " ".join(line.strip() for line in lines[starts[-1] : starts[-1] + 5])


def _run(size: str, engine: str, phase: str, out: dict) -> Run:
    run = Run(size, engine, phase, out.pop("seconds"), out.pop("peak_rss_mb"),
              out.get("accounts", 0), out)  # fmt: skip
    changed = (f", inserted {out['inserted']:,}, updated {out['updated']:,}"
               if "inserted" in out else "")  # fmt: skip
    print(f"[run]   {run.seconds:.1f}s, peak {run.peak_rss_mb:,.0f} MB, "
          f"{run.accounts:,} accounts{changed}", flush=True)  # fmt: skip
    return run


# --- reporting --------------------------------------------------------------------------------

PHASES = {"first": "first refresh", "again": "again, no new data",
          "incremental": "incremental, 1 new touch, new process, first ever (compiles)",
          "incremental_kept": "incremental, 1 new touch, new process, statements kept",
          "incremental_warm": "incremental, 1 new touch, running process (median of 10)",
          }  # fmt: skip


def ratio(runs: list[Run], run: Run) -> float | None:
    """How many times faster than pandas (pandas seconds ÷ this run's seconds)."""
    other = next((r for r in runs if (r.size, r.engine) == (run.size, "pandas")), None)
    return other.seconds / run.seconds if other and other.seconds and run.seconds else None


def print_table(runs: list[Run]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Full score refresh (abm score): abmkit and the SQL floor against plain "
                  "pandas")  # fmt: skip
    for name in ("size", "engine", "run", "seconds", "peak RSS (MB)", "pandas ÷ engine",
                 "accounts", "inserted", "updated"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("size", "engine", "run") else "right")
    for run in runs:
        r = ratio(runs, run) if run.engine != "pandas" else None
        d = run.detail
        digits = 2 if run.phase.startswith("incremental") else 1
        table.add_row(label(run.size), run.engine, PHASES[run.phase], f"{run.seconds:.{digits}f}",
                      f"{run.peak_rss_mb:,.0f}", f"{r:.2f}×" if r else "", f"{run.accounts:,}",
                      f"{d['inserted']:,}" if "inserted" in d else "",
                      f"{d['updated']:,}" if "updated" in d else "")  # fmt: skip
    Console(width=max(Console().width, 120)).print(table)


def targets(runs: list[Run]) -> list[dict]:
    """PASS/MISS of the issue's targets for abmkit's first refresh of every size; the speed-up's
    verdict also holds the floor's (`floor`: pandas ÷ floor, the ceiling of any engine's)."""
    verdicts = []
    for run in (r for r in runs if (r.engine, r.phase) == ("abmkit", "first")):
        r = ratio(runs, run)
        floor = next((x for x in runs if (x.size, x.engine) == (run.size, "floor")), None)
        ceiling = ratio(runs, floor) if floor else None
        kept = next((x for x in runs if (x.size, x.engine) == (run.size, "floor_stored")), None)
        stored_ceiling = ratio(runs, kept) if kept else None
        verdicts.append({"target": f"first refresh ≤ {TIME_TARGET_S:g} s", "size": run.size,
                         "value": round(run.seconds, 1),
                         "pass": run.seconds <= TIME_TARGET_S})  # fmt: skip
        verdicts.append({"target": f"peak RSS < {MEMORY_TARGET_MB:,.0f} MB", "size": run.size,
                         "value": round(run.peak_rss_mb),
                         "pass": run.peak_rss_mb < MEMORY_TARGET_MB})  # fmt: skip
        if r is not None:
            verdicts.append({"target": f"≥ {SPEEDUP_TARGET:g}× pandas", "size": run.size,
                             "value": round(r, 2), "pass": r >= SPEEDUP_TARGET,
                             "floor": round(ceiling, 2) if ceiling else None,
                             "floor_stored": round(stored_ceiling, 2) if stored_ceiling
                             else None})  # fmt: skip
    for run in (r for r in runs if r.engine == "abmkit" and r.phase.startswith("incremental")):
        verdicts.append({"target": f"{PHASES[run.phase]} < {INCREMENTAL_TARGET_S:g} s",
                         "size": run.size, "value": round(run.seconds, 2),
                         "pass": run.seconds < INCREMENTAL_TARGET_S})  # fmt: skip
    return verdicts


def write_results(path: Path, runs: list[Run], markets: dict, checks: dict, problems: list[str],
                  complete: bool = False) -> None:  # fmt: skip
    rows = [asdict(r) | {"pandas_over_engine": round(x, 3) if (x := ratio(runs, r))
                         and r.engine != "pandas" else None} for r in runs]  # fmt: skip
    doc = {"benchmark": "score", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "machine": machine(), "markets": markets, "runs": rows, "agreement": checks,
           "targets": targets(runs), "mismatches": problems, "complete": complete}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"wrote {path}{'' if complete else ' (partial)'}", flush=True)


def markdown(path: Path) -> str:
    """The results in `path` as the Markdown table of benchmarks/README.md."""
    doc = json.loads(path.read_text())
    lines = ["| size | engine | run | seconds | peak RSS (MB) | pandas ÷ engine |",
             "| --- | --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    for r in doc["runs"]:
        x = r.get("pandas_over_engine", r.get("pandas_over_abmkit"))  # the key of older files
        digits = 2 if r["phase"].startswith("incremental") else 1
        lines.append(f"| {label(r['size'])} | {r['engine']} | {PHASES[r['phase']]} | "
                     f"{r['seconds']:.{digits}f} | {r['peak_rss_mb']:,.0f} | "
                     f"{f'{x:.2f}×' if x else ''} |")  # fmt: skip
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="only 10k accounts × 1M touches")
    p.add_argument("--sizes", help=f"comma-separated sizes among {', '.join(SIZES)} "
                   f"(default {','.join(SCORE_SIZES)})")  # fmt: skip
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="cache of markets")
    p.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    p.add_argument("--prepare-only", action="store_true",
                   help="write the markets and their scored-ready workspaces and stop")  # fmt: skip
    p.add_argument("--markdown", action="store_true", help="print --out as a Markdown table")
    p.add_argument("--child", choices=["prepare", "first", "again", "incremental",
                                       "incremental_kept"],
                   help=argparse.SUPPRESS)  # fmt: skip
    p.add_argument("--market", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def child(args: argparse.Namespace) -> dict:
    if args.child == "prepare":
        return prepare_child(args.market, args.workspace)
    if args.child == "incremental":
        return incremental_child(args.workspace)
    if args.child == "incremental_kept":
        return incremental_kept_child(args.workspace)
    return refresh_child(args.workspace, args.child)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        print(json.dumps(child(args), default=str))
        return 0
    if args.markdown:
        print(markdown(args.out))
        return 0
    sizes = QUICK if args.quick else (args.sizes.split(",") if args.sizes else SCORE_SIZES)
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"unknown size(s) {unknown}; choose among {list(SIZES)}")
    markets = {s: market_dir(args.data_dir, s) for s in sizes}
    for folder in markets.values():
        scored_ready(folder)
    if args.prepare_only:
        return 0
    runs: list[Run] = []
    checks: dict = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="abmkit-bench-score-") as scratch:
        for size, folder in markets.items():
            size_runs, checks[size], found = measure(size, folder, Path(scratch))
            runs += size_runs
            problems += found
            done = {s: market_info(markets[s]) for s in checks}
            write_results(args.out, runs, done, checks, problems)  # partial results
    print_table(runs)
    for v in targets(runs):
        floor = f" (the SQL floor: {v['floor']}×, the ceiling" if v.get("floor") else ""
        if floor and v.get("floor_stored"):
            floor += f"; storing its rows as abmkit does: {v['floor_stored']}×"
        floor += ")" if floor else ""
        print(f"{'PASS' if v['pass'] else 'MISS'}  {v['target']}  [{label(v['size'])}]: "
              f"{v['value']}{floor}")  # fmt: skip
    for problem in problems:
        print(f"MISMATCH  {problem}")
    write_results(args.out, runs, {s: market_info(f) for s, f in markets.items()}, checks,
                  problems, complete=True)  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
