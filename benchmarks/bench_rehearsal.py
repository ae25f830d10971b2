"""Rehearsal of the agent against the weekly rules program and a static program, on several
simulated markets.

Run from the repository root: ``.venv/bin/python benchmarks/bench_rehearsal.py [--quick]``.

For each seed, ``abm demo``'s path writes a market, ingests it and scores it; then every policy
runs for 90 simulated days in closed loop against ``MarketEnv`` (``abmkit.decide.rehearsal``).
Prints each run, each policy's mean and spread, and the agent's pipeline per dollar against the
weekly rules program seed by seed; writes ``benchmarks/results/rehearsal.json``. Targets (issue
#4): the agent ≥ 1.3× the rules program's pipeline per dollar on average over ≥ 5 seeds, median
signal-to-first-touch ≤ 1 hour, zero guardrail breaches.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from abmkit.cli.render import rehearsal as show
from abmkit.decide.rehearsal import compare, rehearse

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "rehearsal.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated simulator seeds")
    p.add_argument("--accounts", type=int, default=5000, help="accounts per market")
    p.add_argument("--days", type=int, default=90, help="days rehearsed")
    p.add_argument("--policies", default="agent,rules,static", help="policies to compare")
    p.add_argument("--quick", action="store_true", help="two seeds, 1,500 accounts, 30 days")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.accounts, args.days = "1,2", 1500, 30
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    results = rehearse(args.policies.split(","), seeds, days=args.days, accounts=args.accounts)
    summary = compare(results)
    console = Console(width=120)
    show(console, summary)
    doc = {
        "benchmark": "rehearsal",
        "commit": _commit(),
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "accounts": args.accounts,
        "days": args.days,
        "seconds": round(time.perf_counter() - started, 1),
        **summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    console.print(f"wrote {args.out}")
    agent = summary["vs_rules"].get("agent")
    return 0 if agent is None or agent["mean"] > 0 else 1


def _commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
