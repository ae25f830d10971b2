"""Back-test of the propensity model on simulated markets, over several seeds.

Run from the repository root: ``.venv/bin/python benchmarks/bench_propensity.py [--quick]``.

For each seed, ``abm demo``'s path writes a market (accounts × 12 months), ingests it through
the real path and scores it; then ``Abm.train_model`` trains on the earlier monthly snapshots and
tests on the latest snapshot whose 90-day outcome is known (a later window than any training
outcome). The **oracle AUC** next to it is the ceiling any model can reach on that snapshot: the
exact chance of an opportunity given the simulator's hidden state (see `oracle_auc`). Prints a
table and writes ``benchmarks/results/propensity.json``. Targets (issue #3):
AUC ≥ 0.75 and top-decile lift ≥ 3 on every seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.metrics import roc_auc_score

from abmkit.app import Abm
from abmkit.demo import run_demo
from abmkit.score.propensity import snapshot
from abmkit.simulate.pipeline import NOISE_PER_WEEK, OPPORTUNITY_ON_BUYING
from abmkit.simulate.states import (
    BUYING,
    DORMANT,
    RESEARCHING,
    STATES,
    TRANSITIONS,
    entry_probability,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "propensity.json"
TARGETS = {"auc": 0.75, "top_decile_lift": 3.0}


def oracle_auc(ws: Path, abm: Abm, as_of: dt.datetime) -> float:
    """AUC on the test snapshot of the exact probability, from the simulator's hidden state at
    `as_of` (state, segment, propensity), that the account opens an opportunity within the
    horizon: the ceiling of any model, since observable signals only hint at that state. The
    truth is read here, in the benchmark, and never by abmkit."""
    truth = ws / "market" / "truth"
    weeks = pd.read_parquet(truth / "account_weeks.parquet")
    accounts = pd.read_parquet(truth / "accounts_truth.parquet").set_index("account_id")
    weeks = weeks[weeks["week_start"] <= pd.Timestamp(as_of)]
    now = weeks[weeks["week_start"] == weeks["week_start"].max()].set_index("account_id")
    frame = snapshot(abm.warehouse, abm.settings, as_of)[["account_id", "label"]]
    frame = frame.join(now["state"], on="account_id").join(accounts, on="account_id")
    state = frame["state"].astype(str).map({s: i for i, s in enumerate(STATES)}).to_numpy()
    segment = frame["segment"].map({"SMB": 0, "Mid-Market": 1, "Enterprise": 2}).to_numpy()
    horizon = abm.settings.propensity.horizon_days // 7
    n = len(frame)
    mass = np.zeros((n, 4))
    mass[np.arange(n), state] = 1.0
    mass[:, BUYING] = 0.0  # already buying at the snapshot: its opportunity is already open
    rows = TRANSITIONS[segment].copy()  # (n, 4, 4)
    entry = entry_probability(frame["propensity"].to_numpy())
    rows[:, DORMANT, DORMANT], rows[:, DORMANT, RESEARCHING] = 1 - entry, entry
    hit = np.zeros(n)
    for _ in range(horizon):  # mass that has not yet entered buying, moved one week
        step = np.einsum("ni,nij->nj", mass, rows)
        hit += step[:, BUYING]
        mass = step
        mass[:, BUYING] = 0.0
    p = OPPORTUNITY_ON_BUYING * hit + (1 - OPPORTUNITY_ON_BUYING * hit) * NOISE_PER_WEEK * horizon
    return round(float(roc_auc_score(frame["label"], p)), 4)


def run(seed: int, accounts: int, kind: str, scratch: Path) -> dict:
    ws = scratch / f"seed{seed}-{kind}"
    clock = time.perf_counter()
    run_demo(ws, accounts=accounts, months=12, seed=seed)
    built = time.perf_counter() - clock
    with Abm.open(ws, {"propensity": {"model": kind}}) as abm:
        clock = time.perf_counter()
        result = abm.train_model()
        trained = time.perf_counter() - clock
        ceiling = oracle_auc(ws, abm, result.model.test_from)
    m = result.model
    return {"seed": seed, "accounts": accounts, "model": kind, "version": m.version,
            "train_rows": result.rows_train, "test_rows": result.rows_test,
            "train_window": [str(m.train_from.date()), str(m.train_to.date())],
            "test_window": [str(m.test_from.date()), str(m.test_to.date())],
            "metrics": m.metrics, "oracle_auc": ceiling, "seconds_market": round(built, 1),
            "seconds_train": round(trained, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="7,11,23", help="comma-separated simulator seeds")
    p.add_argument("--accounts", type=int, default=10_000, help="accounts per market")
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
    for col in ("seed", "model", "test window", "accounts", "opened", "AUC", "oracle AUC",
                "PR-AUC", "top-decile lift", "calibration error"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in runs:
        m = r["metrics"]
        table.add_row(str(r["seed"]), r["model"], " … ".join(r["test_window"]),
                      f"{m['accounts']:,}", f"{m['positives']:,}", f"{m['auc']:.3f}",
                      f"{r['oracle_auc']:.3f}", f"{m['pr_auc']:.3f}", f"{m['top_decile_lift']:.2f}",
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
