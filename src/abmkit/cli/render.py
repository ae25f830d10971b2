"""How the CLI shows results: Rich tables and progress bars. Presentation only."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
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
    if s.surging:
        top = ", ".join(f"{a['name']} ({a['surging_topics']})" for a in s.surging[:5])
        console.print(f"4. Surging on the most topics in the latest week: {top}")
    took = " · ".join(f"{k} {v:.1f}s" for k, v in s.seconds.items())
    console.print(f"Took {took}. Workspace: {s.workspace} — try `abm status -w {s.workspace}`.")


def audit(console: Console, events) -> None:
    table = Table(title=f"Audit log ({len(events)})")
    for col in ("at", "actor", "action", "target", "outcome", "detail"):
        table.add_column(col)
    for e in events:
        detail = ", ".join(f"{k}={v}" for k, v in (e.detail or {}).items())
        table.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, escape(e.target), e.outcome,
                      escape(detail))  # fmt: skip
    console.print(table)
