"""Ingest + resolve throughput of abmkit against plain pandas, at 1M and 10M touches.

Run from the repository root: ``.venv/bin/python benchmarks/bench_ingest.py [--quick]``.

For each size (accounts × touches) the simulator writes a market once into a cache folder
(``/tmp/abmkit-bench-data`` by default). Every measurement then runs in a fresh subprocess, so
its peak resident memory (``ru_maxrss`` of that process, DuckDB's threads included) is its own:

* **abmkit, first load**: a fresh workspace; accounts and contacts (Salesforce preset) and
  ip_ranges are loaded untimed, then ``Abm.ingest("touches", every monthly touch file)`` is
  timed: reading, typing, validation, normalization, linking to accounts and the upsert.
* **abmkit, re-load**: the same workspace, the same files again (nothing changed).
* **pandas, first load / re-load**: ``benchmarks/pandas_baseline.py``, the same steps written as
  a competent user would with pandas + numpy, landing in a DuckDB file (see that module).
* **floor, first load / re-load**: ``benchmarks/duckdb_floor.py``, the same steps again as
  hand-written DuckDB SQL with none of abmkit's checks: how fast the engine does this work on
  this machine at all, and so the ceiling of any abmkit ÷ pandas ratio.

Both engines must agree on the number of stored touches and of touches linked to an account.
Writes ``benchmarks/results/ingest.json``. Exits non-zero only on a crash or a mismatch; the
targets (abmkit ≥ 5× pandas rows/s at 10M touches, abmkit peak memory < 4 GB) print PASS/MISS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ingest.json"
BASELINE = Path(__file__).with_name("pandas_baseline.py")
FLOOR = Path(__file__).with_name("duckdb_floor.py")
DEFAULT_DATA = Path("/tmp/abmkit-bench-data")
SEED = 7
TOUCHES_PER_ACCOUNT = 187.2
"""Touches per account per unit of touch_scale (measured: 10k accounts, scale 1 → 1.87M)."""
SIZES = {"10kx1M": (10_000, 1_000_000), "100kx1M": (100_000, 1_000_000),
         "10kx10M": (10_000, 10_000_000), "100kx10M": (100_000, 10_000_000)}  # fmt: skip
QUICK = ["10kx1M"]
SPEEDUP_TARGET, MEMORY_TARGET_MB = 5.0, 4096.0
LINKED_TOLERANCE = 0.005


@dataclass
class Run:
    """One measurement: an engine loading the touches of one size, first time or again."""

    size: str
    engine: str
    phase: str
    touches_in: int
    seconds: float
    peak_rss_mb: float
    stored: int
    linked: int

    @property
    def rows_per_s(self) -> float:
        return self.touches_in / self.seconds if self.seconds else 0.0


# --- data -------------------------------------------------------------------------------------


def market_dir(data_dir: Path, size: str) -> Path:
    """The cached market of `size`, written by the simulator the first time it is asked for."""
    accounts, touches = SIZES[size]
    folder = data_dir / f"{size}_seed{SEED}"
    marker = folder / "bench.json"
    if marker.exists():
        return folder
    from abmkit.simulate import MarketConfig, simulate_market

    scale = touches / (TOUCHES_PER_ACCOUNT * accounts)
    cfg = MarketConfig(accounts=accounts, seed=SEED, touch_scale=round(scale, 4))
    print(f"[data] {size}: simulating {accounts:,} accounts at touch_scale={cfg.touch_scale}"
          f" into {folder} …", flush=True)  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    clock = time.perf_counter()
    last = [0.0]

    def progress(stage: str, fraction: float) -> None:
        if fraction - last[0] >= 0.1 or stage == "done":
            last[0] = fraction
            print(f"[data]   {stage} {fraction:.0%} ({time.perf_counter() - clock:.0f}s)",
                  flush=True)  # fmt: skip

    manifest = simulate_market(cfg, folder, progress)
    info = {"size": size, "config": json.loads(cfg.to_json()), "counts": manifest.counts,
            "touch_files": [str(p.relative_to(folder)) for p in manifest.files["touches"]],
            "seconds": round(time.perf_counter() - clock, 1)}  # fmt: skip
    marker.write_text(json.dumps(info, indent=2))
    print(f"[data] {size}: {manifest.counts['touches']:,} touches in {info['seconds']}s",
          flush=True)  # fmt: skip
    return folder


def market_info(folder: Path) -> dict:
    return json.loads((folder / "bench.json").read_text())


def touch_files(folder: Path) -> list[Path]:
    return [folder / p for p in market_info(folder)["touch_files"]]


# --- the abmkit child -------------------------------------------------------------------------


def abmkit_child(data: Path, workspace: Path, phase: str) -> dict:
    """Runs inside a fresh process: load the touches (after the CRM files on a first load)."""
    from abmkit.app import Abm
    from abmkit.config.workspace import init_workspace
    from abmkit.errors import InputError

    if phase == "first":
        shutil.rmtree(workspace, ignore_errors=True)
        init_workspace(workspace)
    files = touch_files(data)
    with Abm.open(workspace) as abm:
        if phase == "first":
            for table, name, preset in (("accounts", "accounts.csv", "salesforce"),
                                        ("contacts", "contacts.csv", "salesforce"),
                                        ("ip_ranges", "ip_ranges.csv", None)):  # fmt: skip
                _check_loaded(abm.ingest(table, [data / name], preset=preset), InputError)
        clock = time.perf_counter()
        results = abm.ingest("touches", files)
        seconds = time.perf_counter() - clock
        _check_loaded(results, InputError)
        touches = abm.warehouse.table("touches")
        stored = int(touches.count().to_pyarrow().as_py())
        linked = int(touches.account_id.notnull().sum().to_pyarrow().as_py())
    return {"seconds": seconds, "touches_in": sum(r.rows_read for r in results),
            "stored": stored, "linked": linked,
            "inserted": sum(r.inserted for r in results),
            "unchanged": sum(r.unchanged for r in results),
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def _check_loaded(results: list, error_type: type) -> None:
    bad = [r for r in results if isinstance(r, error_type)]
    if bad:
        raise SystemExit(f"abmkit rejected a file: {bad[0]}")


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports kB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


# --- driving the children ---------------------------------------------------------------------


def run_child(args: list[str]) -> dict:
    """Run one measurement in a fresh interpreter; its last stdout line is a JSON result."""
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"benchmark child failed ({proc.returncode}): {' '.join(args)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(size: str, data: Path, scratch: Path, engines: list[str]) -> list[Run]:
    runs = []
    for engine in engines:
        target = scratch / f"{size}-{engine}"
        for phase in ("first", "reload"):
            if engine == "abmkit":
                args = [__file__, "--child", phase, "--market", str(data), "--target", str(target)]
            else:
                script = BASELINE if engine == "pandas" else FLOOR
                args = [str(script), "--phase", phase, "--market", str(data),
                        "--db", str(target / "warehouse.duckdb")]  # fmt: skip
            print(f"[run] {size} {engine} {phase} …", flush=True)
            out = run_child(args)
            run = Run(size, engine, phase, out["touches_in"], out["seconds"], out["peak_rss_mb"],
                      out["stored"], out["linked"])  # fmt: skip
            print(f"[run]   {run.seconds:.1f}s, {run.rows_per_s:,.0f} rows/s, "
                  f"peak {run.peak_rss_mb:,.0f} MB, stored {run.stored:,}, "
                  f"linked {run.linked:,}", flush=True)  # fmt: skip
            runs.append(run)
        shutil.rmtree(target, ignore_errors=True)
    return runs


def agreement(runs: list[Run]) -> list[str]:
    """Mismatches between the engines of one size (stored must be equal; linked within 0.5%)."""
    problems = []
    by = {(r.engine, r.phase): r for r in runs}
    for phase, engine in ((ph, e) for ph in ("first", "reload") for e in ("abmkit", "floor")):
        a, p = by.get((engine, phase)), by.get(("pandas", phase))
        if not (a and p):
            continue
        if a.stored != p.stored:
            problems.append(f"{a.size} {phase}: stored touches {engine} {a.stored:,} "
                            f"≠ pandas {p.stored:,}")  # fmt: skip
        if abs(a.linked - p.linked) > LINKED_TOLERANCE * max(a.linked, 1):
            problems.append(f"{a.size} {phase}: linked touches {engine} {a.linked:,} "
                            f"vs pandas {p.linked:,}")  # fmt: skip
    return problems


# --- reporting --------------------------------------------------------------------------------


def ratio(runs: list[Run], run: Run) -> float | None:
    other = next((r for r in runs if (r.size, r.phase, r.engine) ==
                  (run.size, run.phase, "pandas")), None)  # fmt: skip
    return run.rows_per_s / other.rows_per_s if other and other.rows_per_s else None


def print_table(runs: list[Run]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Ingest + resolve of touches (abmkit and the SQL floor vs plain pandas)")
    for name in ("size", "engine", "phase", "seconds", "rows/s", "peak RSS (MB)",
                 "÷ pandas rows/s", "stored", "linked"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("size", "engine", "phase") else "right")
    for run in runs:
        r = ratio(runs, run) if run.engine != "pandas" else None
        table.add_row(label(run.size), run.engine, PHASES[run.phase], f"{run.seconds:.1f}",
                      f"{run.rows_per_s:,.0f}", f"{run.peak_rss_mb:,.0f}",
                      f"{r:.2f}×" if r else "", f"{run.stored:,}", f"{run.linked:,}")  # fmt: skip
    Console().print(table)


PHASES = {"first": "first load", "reload": "re-load"}


def label(size: str) -> str:
    accounts, touches = SIZES[size]
    return f"{accounts // 1000}k × {touches // 1_000_000}M"


def targets(runs: list[Run]) -> list[dict]:
    """PASS/MISS per target, for every size where it applies."""
    verdicts = []
    for run in runs:
        if run.engine != "abmkit":
            continue
        r = ratio(runs, run)
        if SIZES[run.size][1] >= 10_000_000 and r is not None:
            verdicts.append({"target": f"abmkit ≥ {SPEEDUP_TARGET:g}× pandas rows/s",
                             "size": run.size, "phase": run.phase, "value": round(r, 2),
                             "pass": r >= SPEEDUP_TARGET})  # fmt: skip
        verdicts.append({"target": f"abmkit peak RSS < {MEMORY_TARGET_MB:,.0f} MB",
                         "size": run.size, "phase": run.phase,
                         "value": round(run.peak_rss_mb), "pass": run.peak_rss_mb <
                         MEMORY_TARGET_MB})  # fmt: skip
    return verdicts


def machine() -> dict:
    import psutil

    versions = {}
    for package in ("abmkit", "duckdb", "ibis-framework", "pandas", "numpy", "pyarrow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu": platform.processor() or platform.machine(), "os": platform.platform(),
            "python": platform.python_version(), "versions": versions}  # fmt: skip


def write_results(
    path: Path, runs: list[Run], markets: dict, verdicts, problems, complete: bool = False
) -> None:
    rows = [asdict(r) | {"rows_per_s": round(r.rows_per_s),
                         "ratio_over_pandas": (round(x, 3) if (x := ratio(runs, r))
                                               and r.engine != "pandas" else None)}
            for r in runs]  # fmt: skip
    doc = {"benchmark": "ingest", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "machine": machine(), "markets": markets, "runs": rows, "targets": verdicts,
           "mismatches": problems, "complete": complete}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {path}{'' if complete else ' (partial)'}", flush=True)


def markdown(path: Path) -> str:
    """The results in `path` as the Markdown table of benchmarks/README.md."""
    doc = json.loads(path.read_text())
    lines = ["| size | engine | phase | seconds | rows/s | peak RSS (MB) | ÷ pandas |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in doc["runs"]:
        x = r.get("ratio_over_pandas")
        lines.append(f"| {label(r['size'])} | {r['engine']} | {PHASES[r['phase']]} | "
                     f"{r['seconds']:.1f} | {r['rows_per_s']:,} | {r['peak_rss_mb']:,.0f} | "
                     f"{f'{x:.2f}×' if x else ''} |")  # fmt: skip
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="only 10k accounts × 1M touches")
    p.add_argument("--sizes", help=f"comma-separated sizes among {', '.join(SIZES)}")
    p.add_argument("--engines", default="abmkit,pandas,floor",
                   help="comma-separated: abmkit,pandas,floor")  # fmt: skip
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="cache of markets")
    p.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    p.add_argument("--generate-only", action="store_true", help="write the markets and stop")
    p.add_argument("--markdown", action="store_true", help="print --out as a Markdown table")
    p.add_argument("--child", choices=["first", "reload"], help=argparse.SUPPRESS)
    p.add_argument("--market", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--target", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        print(json.dumps(abmkit_child(args.market, args.target, args.child)))
        return 0
    if args.markdown:
        print(markdown(args.out))
        return 0
    sizes = QUICK if args.quick else (args.sizes.split(",") if args.sizes else list(SIZES))
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"unknown size(s) {unknown}; choose among {list(SIZES)}")
    markets = {s: market_dir(args.data_dir, s) for s in sizes}
    if args.generate_only:
        return 0
    engines = args.engines.split(",")
    runs: list[Run] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="abmkit-bench-") as scratch:
        for size, folder in markets.items():
            size_runs = measure(size, folder, Path(scratch), engines)
            problems += agreement(size_runs)
            runs += size_runs
            done = {s: market_info(markets[s]) for s in dict.fromkeys(r.size for r in runs)}
            write_results(args.out, runs, done, targets(runs), problems)  # partial results
    print_table(runs)
    verdicts = targets(runs)
    for v in verdicts:
        print(f"{'PASS' if v['pass'] else 'MISS'}  {v['target']}  [{label(v['size'])}, "
              f"{PHASES[v['phase']]}]: {v['value']}")  # fmt: skip
    for problem in problems:
        print(f"MISMATCH  {problem}")
    write_results(args.out, runs, {s: market_info(f) for s, f in markets.items()}, verdicts,
                  problems, complete=True)  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
