"""Back-test of the propensity model on simulated markets, over several seeds.

Run from the repository root: ``.venv/bin/python benchmarks/bench_propensity.py [--quick]``.

For each seed, ``abm demo``'s path writes a market (accounts × 12 months), ingests it through
the real path and scores it; then ``Abm.train_model`` trains on the earlier monthly snapshots and
tests on the latest snapshot whose 90-day outcome is known (a later window than any training
outcome). Prints a table and writes ``benchmarks/results/propensity.json``. Targets (issue #3):
AUC ≥ 0.75 and top-decile lift ≥ 3 on every seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from abmkit.app import Abm
from abmkit.demo import run_demo

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "propensity.json"
TARGETS = {"auc": 0.75, "top_decile_lift": 3.0}


def run(seed: int, accounts: int, kind: str, scratch: Path) -> dict:
    ws = scratch / f"seed{seed}-{kind}"
    clock = time.perf_counter()
    run_demo(ws, accounts=accounts, months=12, seed=seed)
    built = time.perf_counter() - clock
    with Abm.open(ws, {"propensity": {"model": kind}}) as abm:
        clock = time.perf_counter()
        result = abm.train_model()
        trained = time.perf_counter() - clock
    m = result.model
    return {"seed": seed, "accounts": accounts, "model": kind, "version": m.version,
            "train_rows": result.rows_train, "test_rows": result.rows_test,
            "train_window": [str(m.train_from.date()), str(m.train_to.date())],
            "test_window": [str(m.test_from.date()), str(m.test_to.date())],
            "metrics": m.metrics, "seconds_market": round(built, 1),
            "seconds_train": round(trained, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="7,11,23", help="comma-separated simulator seeds")
    p.add_argument("--accounts", type=int, default=5000, help="accounts per market")
    p.add_argument("--models", default="gradient_boosting,logistic", help="model kinds")
    p.add_argument("--quick", action="store_true", help="one seed, 2,500 accounts")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    seeds = [7] if args.quick else [int(s) for s in args.seeds.split(",")]
    accounts = 2500 if args.quick else args.accounts
    runs = []
    with tempfile.TemporaryDirectory(prefix="abmkit-propensity-") as scratch:
        for seed in seeds:
            for kind in args.models.split(","):
                print(f"[run] seed {seed}, {kind} …", flush=True)
                runs.append(run(seed, accounts, kind, Path(scratch)))
    table = Table(title="Propensity back-test on a later window (90-day horizon)")
    for col in ("seed", "model", "test window", "accounts", "opened", "AUC", "PR-AUC",
                "top-decile lift", "calibration error"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in runs:
        m = r["metrics"]
        table.add_row(str(r["seed"]), r["model"], " … ".join(r["test_window"]),
                      f"{m['accounts']:,}", f"{m['positives']:,}", f"{m['auc']:.3f}",
                      f"{m['pr_auc']:.3f}", f"{m['top_decile_lift']:.2f}",
                      f"{m['ece']:.3f}")  # fmt: skip
    Console().print(table)
    verdicts = [{"seed": r["seed"], "model": r["model"], "target": k,
                 "value": r["metrics"][k], "pass": r["metrics"][k] >= v}
                for r in runs for k, v in TARGETS.items()]  # fmt: skip
    for v in verdicts:
        print(f"{'PASS' if v['pass'] else 'MISS'}  {v['target']} ≥ {TARGETS[v['target']]:g} "
              f"[seed {v['seed']}, {v['model']}]: {v['value']}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "propensity", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "runs": runs, "targets": verdicts}  # fmt: skip
    args.out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
