"""How the CLI shows results: Rich tables and progress bars. Presentation only."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from abmkit.errors import InputError
from abmkit.warehouse.loads import LoadRecord


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                    console=console, transient=True)  # fmt: skip


@contextlib.contextmanager
def stage_progress(console: Console) -> Iterator[Callable[[str, float], None]]:
    """A callback `progress(stage, fraction)` drawn as one bar."""
    with _progress(console) as bar:
        task = bar.add_task("starting", total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=max(0.0, min(1.0, fraction)))

        yield update


LOAD_COLUMNS = ("rows_read", "inserted", "updated", "unchanged", "quarantined", "skipped",
                "unmatched")  # fmt: skip
OPTIONAL = ("quarantined", "skipped", "unmatched")  # shown only when some file has any


def load_summary(console: Console, err: Console, results: list[LoadRecord | InputError]) -> None:
    loaded = [r for r in results if isinstance(r, LoadRecord)]
    if loaded:
        shown = [c for c in LOAD_COLUMNS
                 if c not in OPTIONAL or any(getattr(r, c) for r in loaded)]  # fmt: skip
        table = Table(title=f"Loaded into {loaded[0].table_name}")
        table.add_column("file", overflow="fold")
        for col in shown:
            table.add_column("read" if col == "rows_read" else col, justify="right")
        table.add_column("seconds", justify="right")
        for rec in loaded:
            values = [f"{getattr(rec, c):,}" for c in shown]
            table.add_row(Path(rec.file).name, *values, f"{rec.seconds:.2f}")
        console.print(table)
    for problem in results:
        if isinstance(problem, InputError):
            err.print(f"[red]rejected:[/] {escape(str(problem))}", highlight=False)
            err.print("  Nothing from this file was loaded. Fix the rows above, or load the good "
                      "rows with --quarantine.")  # fmt: skip


def relink(console: Console, counts) -> None:
    table = Table(title="Re-linked to accounts")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("links changed", justify="right")
    for c in counts:
        table.add_row(c.table, f"{c.rows:,}", f"{c.changed:,}")
    console.print(table)


def match_rates(console: Console, rates, title: str = "Match rates to accounts") -> None:
    table = Table(title=title)
    for col in ("table", "source", "rows", "linked", "how they were linked"):
        table.add_column(col, justify="right" if col in ("rows", "linked") else "left")
    for r in rates:
        methods = sorted(((m, n) for m, n in r.by_method.items() if m != "unmatched"),
                         key=lambda x: -x[1])  # fmt: skip
        how = ", ".join(f"{m} {n:,}" for m, n in methods)
        table.add_row(r.table, r.source, f"{r.rows:,}", f"{r.rate:.1%}", how)
    console.print(table)


def status(console: Console, st) -> None:
    table = Table(title="Canonical tables")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in st.tables.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    match_rates(console, st.match_rates)
    console.print(f"Loads: {st.loads:,} ({st.rejected_loads:,} rejected) · quarantined rows: "
                  f"{st.quarantined_rows:,}")  # fmt: skip


def duplicates(console: Console, pairs) -> None:
    if not pairs:
        console.print("No likely duplicate accounts.")
        return
    table = Table(title=f"{len(pairs)} likely duplicate pairs")
    for col in ("account", "name", "other account", "other name", "score", "why"):
        table.add_column(col)
    for p in pairs:
        table.add_row(p.account_id, p.name or "", p.other_account_id, p.other_name or "",
                      f"{p.score:.0f}", p.reason)  # fmt: skip
    console.print(table)
    console.print("Merge one pair with: abm merge OTHER_ACCOUNT ACCOUNT")


def arrow_table(console: Console, data: pa.Table, title: str) -> None:
    table = Table(title=f"{title} ({data.num_rows:,})")
    for col in data.column_names:
        table.add_column(col)
    for row in data.to_pylist():
        table.add_row(*("" if v is None else escape(str(v)) for v in row.values()))
    console.print(table)


def manifest(console: Console, m) -> None:
    table = Table(title="Simulated market files")
    table.add_column("kind")
    table.add_column("files", justify="right")
    table.add_column("rows", justify="right")
    for kind, paths in m.files.items():
        table.add_row(kind, str(len(paths)), f"{m.counts.get(kind, 0):,}")
    console.print(table)
    console.print(f"Hidden truth (never loaded as features): {m.truth_dir}")


def demo_summary(console: Console, s) -> None:
    """What `abm demo` did, in four numbered parts a newcomer can follow."""
    console.rule(f"abmkit demo · {s.config.accounts:,} simulated accounts · {s.config.months} "
                 f"months · seed {s.config.seed}")  # fmt: skip
    loads = Table(title="1. Ingested through the real path (same files a user would bring)")
    for col in ("table", "files", "rows read", "inserted", "updated", "unchanged", "unmatched"):
        loads.add_column(col, justify="left" if col == "table" else "right")
    for table, records in s.loads.items():
        sums = [sum(getattr(r, f) for r in records) for f in
                ("rows_read", "inserted", "updated", "unchanged", "unmatched")]  # fmt: skip
        loads.add_row(table, str(len(records)), *(f"{v:,}" for v in sums))
    console.print(loads)
    match_rates(console, s.match_rates, title="2. Resolved to accounts")
    p = s.pipeline
    console.print(
        f"3. Pipeline: {p['opportunities']:,.0f} opportunities, {p['open']:,.0f} open, "
        f"{p['won']:,.0f} won (${p['won_amount']:,.0f}), win rate {p['win_rate']:.0%}"
    )
    if s.scoring:
        r = s.scoring
        console.print(f"4. Scored {r.accounts:,} accounts as of {r.as_of:%Y-%m-%d}: fit, "
                      "intent, engagement, stages, priority and tiers (`abm accounts`, "
                      "`abm account`)")  # fmt: skip
        for tier, rows in s.top.items():
            names = ", ".join(f"{escape(str(a['name']))} ({a['priority']:.0f}, "
                              f"{a['buying_stage']})" for a in rows)  # fmt: skip
            console.print(f"   Tier {tier} top: {names or '—'}")
    if s.agent:
        agent_summary(console, s.agent)
    if s.report_path:
        console.print(f"6. Report: {s.report_path} — open it in a browser (it needs no network); "
                      f"the same numbers with `abm report -w {s.workspace}`.")  # fmt: skip
    took = " · ".join(f"{k} {v:.1f}s" for k, v in s.seconds.items())
    console.print(f"Took {took}. Workspace: {s.workspace} — try `abm status -w {s.workspace}`.")


def agent_summary(console: Console, r) -> None:
    """Part 5 of the demo: what the agent's pass queued, what waits for approval, and why."""
    counts = r.by_status
    console.print(f"5. Agent pass as of {r.now:%Y-%m-%d %H:%M} UTC: {r.signals:,} signals, "
                  f"{r.matches:,} play matches → {counts.get('queued', 0):,} queued, "
                  f"{counts.get('pending_approval', 0):,} waiting for approval, "
                  f"{counts.get('blocked', 0):,} blocked (by a guardrail or value)")  # fmt: skip
    from abmkit.decide.loop import describe

    best: dict[str, Any] = {}
    for p in sorted((p for p in r.actions if p.status != "blocked"),
                    key=lambda p: -p.expected_value):  # fmt: skip
        best.setdefault(p.candidate.play, p)
    shown = list(best.values())[:5]
    for p in shown:
        c = p.candidate
        console.print(f"   {p.status:<16} act_{p.key[:20]} {c.play} → {c.channel} for "
                      f"{escape(p.match.account.name or c.account_id)}: "
                      f"{escape(describe(p.match.signal))}; expected value "
                      f"${p.expected_value:,.0f}", highlight=False)  # fmt: skip
    if shown:
        console.print("   See them with `abm actions list -w …` and why with "
                      "`abm agent explain ID -w …`.")  # fmt: skip


def audit(console: Console, events) -> None:
    table = Table(title=f"Audit log ({len(events)})")
    for col in ("at", "actor", "action", "target", "outcome", "detail"):
        table.add_column(col)
    for e in events:
        detail = ", ".join(f"{k}={v}" for k, v in (e.detail or {}).items())
        table.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, escape(e.target), e.outcome,
                      escape(detail))  # fmt: skip
    console.print(table)


def rows_as(console: Console, data: pa.Table, fmt: str, title: str) -> None:
    """Rows as a Rich table, CSV or JSON on stdout (CSV/JSON for notebooks and scripts)."""
    if fmt == "csv":
        buf = io.BytesIO()
        pacsv.write_csv(data, buf)
        console.file.write(buf.getvalue().decode())
    elif fmt == "json":
        console.file.write(json.dumps(data.to_pylist(), default=str, indent=1) + "\n")
    else:
        arrow_table(console, _for_screen(data), title)


def _for_screen(data: pa.Table, width: int = 48) -> pa.Table:
    """Numbers to one decimal, long texts cut to `width` characters with an ellipsis."""
    cols = {}
    for name in data.column_names:
        col = data[name]
        if pa.types.is_floating(col.type):
            col = pc.round(col, 1)
        elif pa.types.is_string(col.type):
            long = pc.greater(pc.utf8_length(col), width)
            col = pc.if_else(long, pc.binary_join_element_wise(
                pc.utf8_slice_codeunits(col, 0, width - 1), "…", ""), col)  # fmt: skip
        cols[name] = col
    return pa.table(cols)


def score_summary(console: Console, r, scored: pa.Table) -> None:
    """What a refresh did: accounts, changes, tiers and their cuts, stage counts."""
    when = r.as_of.strftime("%Y-%m-%d %H:%M") if r.as_of else "now"
    c = r.changed
    what = (f"Re-scored {r.rescored:,} touched of {r.accounts:,} accounts"
            if r.mode == "incremental" else f"Scored {r.accounts:,} accounts")  # fmt: skip
    console.print(f"{what} as of {when}: {c.inserted:,} new, {c.updated:,} changed, "
                  f"{c.unchanged:,} unchanged; {r.tier_changes:,} tier changes.")  # fmt: skip
    for note in r.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    tiers = Table(title="Tiers")
    for col in ("tier", "accounts", "capacity", "lowest priority"):
        tiers.add_column(col, justify="right")
    for cut in r.tiers:
        tiers.add_row(str(cut.tier), f"{cut.filled:,}",
                      f"{cut.capacity:,}" if cut.capacity is not None else "rest of ICP",
                      f"{cut.cut:.1f}" if cut.cut is not None else "")  # fmt: skip
    console.print(tiers)
    tier2 = [r for r in scored.to_pylist() if r["tier"] == 2 and r["cluster"] is not None]
    if tier2:
        clusters = Table(title="Tier 2 clusters (`abm accounts --cluster N`)")
        for col in ("cluster", "accounts", "what they share"):
            clusters.add_column(col, justify="left" if col == "what they share" else "right")
        sizes: dict[int, list] = {}
        for r in tier2:
            sizes.setdefault(r["cluster"], [0, r["cluster_label"]])[0] += 1
        for number, (count, label) in sorted(sizes.items()):
            clusters.add_row(str(number), f"{count:,}", escape(label))
        console.print(clusters)
    stages = Table(title="Buying stages (all accounts)")
    rows = scored.group_by("buying_stage").aggregate([("account_id", "count")]).to_pylist()
    count = {x["buying_stage"]: x["account_id_count"] for x in rows}
    for col in ("stage", "accounts"):
        stages.add_column(col, justify="left" if col == "stage" else "right")
    for name in ("Target", "Awareness", "Consideration", "Decision", "Purchase"):
        stages.add_row(name, f"{count.get(name, 0):,}")
    console.print(stages)
    ready = sum(1 for v in scored["sales_ready"].to_pylist() if v)
    console.print(f"Sales-ready (fit Strong/Moderate and stage Decision/Purchase): {ready:,}. "
                  "List them with `abm accounts --sales-ready`.")  # fmt: skip


def account(console: Console, v) -> None:
    """One account on one screen."""
    a, s = v.account, v.scores
    console.rule(f"{escape(str(a.get('name')))} · {a.get('domain') or 'no domain'} · "
                 f"{a['account_id']}")  # fmt: skip
    shown = ("industry", "employees", "revenue", "country", "region", "technologies", "owner",
             "account_type")  # fmt: skip
    firmo = [f"{k}: {a[k]}" for k in shown if a.get(k)]
    console.print(escape(" · ".join(firmo)))
    if not s:
        console.print("[yellow]Not scored yet: run `abm score`.[/]")
    else:
        tier = f"Tier {s['tier']}" if s.get("tier") else "not tiered"
        console.print(
            f"[bold]{tier}[/] · priority {s['priority']:.1f} · fit {s['fit']} ({s['fit_bucket']})"
            f" · intent {s['intent']:.0f} · engagement {s['engagement']:.0f} "
            f"({s['engagement_minutes']:.0f} min, {s['engaged_contacts']} people) · buying stage "
            f"{s['buying_stage']} · journey {s['journey_stage']}"
            + (" · [green]sales-ready[/]" if s.get("sales_ready") else "")
        )
        reasons = Table(title="Why: every score and its reasons")
        for col in ("score", "factor", "points", "reason"):
            reasons.add_column(col, justify="right" if col == "points" else "left")
        for r in v.reasons:
            reasons.add_row(r["score"], r["factor"], f"{r['points']:.1f}", escape(r["reason"]))
        console.print(reasons)
    _small(
        console,
        "Stage and tier history",
        v.history,
        ("as_of", "fit_bucket", "buying_stage", "journey_stage", "tier"),
    )
    _small(console, "Tier changes", v.tier_changes, ("as_of", "from_tier", "to_tier", "reason"))
    _small(
        console,
        "Buying committee",
        v.committee,
        ("name", "title", "persona", "seniority", "minutes"),
    )
    _small(console, "Engagement by persona", v.personas, ("persona", "known", "engaged",
                                                          "minutes"))  # fmt: skip
    _small(console, "Intent topics", v.topics, ("topic", "best", "last_week", "weeks"))
    _small(console, "Recent touches", v.touches, ("ts", "kind", "channel", "email", "url"))
    _small(
        console,
        "Opportunities",
        v.opportunities,
        ("name", "stage", "amount", "created_at", "closed_at"),
    )


def _small(console: Console, title: str, rows: list[dict], cols: tuple[str, ...]) -> None:
    if not rows:
        console.print(f"{title}: none")
        return
    table = Table(title=title)
    for col in cols:
        table.add_column(col)
    for r in rows:
        table.add_row(*("" if r.get(c) is None else escape(str(r[c])) for c in cols))
    console.print(table)


METRICS = (("auc", "AUC"), ("pr_auc", "PR-AUC"), ("top_decile_lift", "top-decile lift"),
           ("ece", "calibration error"), ("base_rate", "base rate"), ("accounts", "accounts"),
           ("positives", "opened"))  # fmt: skip


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"


def model_list(console: Console, models) -> None:
    table = Table(title=f"Propensity models ({len(models)})")
    for col in ("", "version", "kind", "horizon", "trained on", "tested on", "AUC", "lift"):
        table.add_column(col)
    for m in models:
        table.add_row("*" if m.active else "", m.version, m.kind, f"{m.horizon_days}d",
                      f"{m.train_from:%Y-%m-%d}…{m.train_to:%Y-%m-%d}",
                      f"{m.test_from:%Y-%m-%d}…{m.test_to:%Y-%m-%d}", _fmt(m.metrics.get("auc")),
                      _fmt(m.metrics.get("top_decile_lift")))  # fmt: skip
    console.print(table)


def model_report(console: Console, m) -> None:
    """A model's back-test: overall and by tier, with the windows it was trained and tested on."""
    console.print(f"[bold]Model {m.version}[/] ({m.kind}, {'active' if m.active else 'inactive'}"
                  f"): opens an opportunity within {m.horizon_days} days")  # fmt: skip
    train = m.metrics.get("train", {})
    console.print(f"Trained on {train.get('snapshots', '?')} monthly snapshots, "
                  f"{m.train_from:%Y-%m-%d} to {m.train_to:%Y-%m-%d} (outcomes included): "
                  f"{train.get('accounts', 0):,} account-snapshots, "
                  f"{train.get('positives', 0):,} opened. Tested on the later snapshot of "
                  f"{m.test_from:%Y-%m-%d} (outcomes to {m.test_to:%Y-%m-%d}).")  # fmt: skip
    table = Table(title="Back-test on the later window")
    table.add_column("segment")
    for _, label in METRICS:
        table.add_column(label, justify="right")
    rows = [("all accounts", m.metrics)] + [(f"tier {t}", v) for t, v in
                                             m.metrics.get("by_tier", {}).items()]  # fmt: skip
    for name, values in rows:
        table.add_row(name, *(_fmt(values.get(k)) for k, _ in METRICS))
    console.print(table)


def plays(console: Console, found: dict) -> None:
    """The plays: name, trigger, audience, steps, source."""
    table = Table(title="Plays")
    for col in ("play", "trigger", "audience", "steps", "from"):
        table.add_column(col, overflow="fold")
    for name, (play, source) in sorted(found.items()):
        audience = "tiers " + ",".join(map(str, play.audience.tiers))
        if play.audience.customers:
            audience += ", customers"
        if play.audience.personas:
            audience += ": " + ", ".join(play.audience.personas)
        steps = "; ".join(f"{s.after} {s.channel}" + (f" (tiers {','.join(map(str, s.tiers))})"
                          if s.tiers else "") for s in play.steps)  # fmt: skip
        off = "" if play.enabled else " [dim](off)[/]"
        table.add_row(escape(name) + off, play.trigger.signal, escape(audience), escape(steps),
                      escape(source))  # fmt: skip
    console.print(table)


def rehearsal(console: Console, summary: dict) -> None:
    """Each run's figures, then each policy's mean and spread and its ratio to the rules."""
    runs = Table(title="Rehearsal on the simulated market (pipeline opened by the policy's "
                 "own actions)")  # fmt: skip
    cols = ("policy", "seed", "spend", "pipeline", "pipeline/$", "opps", "meetings",
            "first touch p50 h", "p95 h", "breaches")  # fmt: skip
    for col in cols:
        runs.add_column(col, justify="left" if col == "policy" else "right")
    for r in summary["runs"]:
        runs.add_row(r["policy"], str(r["seed"]), f"${r['spend']:,.0f}", f"${r['pipeline']:,.0f}",
                     f"{r['pipeline_per_dollar']:,.1f}", str(r["opportunities"]),
                     str(r["meetings"]), _fmt(r["first_touch_median_h"]),
                     _fmt(r["first_touch_p95_h"]), str(r["breaches"]))  # fmt: skip
    console.print(runs)
    for policy, p in summary["policies"].items():
        console.print(f"{policy}: pipeline per dollar {p['pipeline_per_dollar_mean']:,.1f} "
                      f"± {p['pipeline_per_dollar_sd']:,.1f} over seeds {p['seeds']}, median "
                      f"first touch {_fmt(p['first_touch_median_h'])} h, "
                      f"{p['breaches']} breaches")  # fmt: skip
    for policy, ratio in summary["vs_rules"].items():
        console.print(f"{policy} ÷ rules, pipeline per dollar: mean {ratio['mean']:.2f}× "
                      f"(seeds: {', '.join(f'{x:.2f}' for x in ratio['per_seed'])}; "
                      f"range {ratio['min']:.2f}–{ratio['max']:.2f})")  # fmt: skip
