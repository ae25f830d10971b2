"""Coverage and false positives of the lift intervals on simulated markets with a known effect.

Run from the repository root: ``.venv/bin/python benchmarks/bench_lift.py [--quick]``.

For each seed, `abmkit.simulate.experiment.run_experiment` builds a market, splits its target
accounts into treated and holdout with the workspace's hash, runs 26 more weeks of the hidden
buying-state chain in which treatment multiplies a treated account's weekly chance of starting
to research and of moving on to evaluate by 1 + effect, and computes the **true effect**
exactly (the chain's expectations, not a simulation). Each seed's outcomes are then judged as
`abm lift` judges a workspace: the opportunity rate by Newcombe's hybrid score interval, the
pipeline per account by the residual bootstrap (the default) and, for comparison, by
`scipy.stats.bootstrap`'s BCa and percentile intervals resampling each group alone.

Reported per design (holdout size), effect, metric and method: how often the 95% interval
covers the true effect, how often the difference is called significant (with no effect: the
false-positive rate), how often the sample is flagged as too small, the median interval width.
Prints a table and writes ``benchmarks/results/lift.json``. Targets, for the default methods in
every design: coverage ≥ 90%, and with no effect a false-positive rate consistent with the
nominal 5% (the count of seeds called significant no larger than a Binomial(seeds, 5%) reaches
with 99% probability: 18 of 200, 7 of 50).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy import stats

from abmkit.measure.lift import compare_means, compare_rates
from abmkit.simulate import MarketConfig
from abmkit.simulate.experiment import run_experiment
from abmkit.simulate.world import build_world

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "lift.json"
TARGETS = {"coverage": 0.90, "false_positive_rate": 0.05}
DEFAULTS = {"opportunity_rate": "newcombe", "pipeline_per_account": "residual"}
PIPELINE_METHODS = ("residual", "BCa", "percentile")


@dataclass(frozen=True)
class Design:
    """A holdout of `share` of the target accounts of markets of `accounts` companies."""

    name: str
    accounts: int
    targeted_share: float
    share: float
    effects: tuple[float, ...]


DESIGNS = (
    Design("10% of ~750", 3000, 0.25, 0.10, (0.0, 1.0, -0.5)),
    Design("25% of ~750", 3000, 0.25, 0.25, (0.0, 1.0)),
    Design("50% of ~3,600", 4000, 1.0, 0.50, (0.0, 1.0)),
)


def judge(args: tuple[Design, int]) -> list[dict]:
    """Every (effect, metric, method) verdict for one design and seed."""
    design, seed = args
    cfg = MarketConfig(accounts=design.accounts, seed=seed, targeted_share=design.targeted_share)
    world = build_world(cfg)
    rows = []
    for effect in design.effects:
        e = run_experiment(cfg, effect=effect, share=design.share, world=world)
        base = {"design": design.name, "seed": seed, "effect": effect}
        t, h = e.group("treated", "opportunity"), e.group("holdout", "opportunity")
        rows.append(_row(base, "opportunity_rate", "newcombe", compare_rates(t, h),
                         e.true_effect["opportunity_rate"]))  # fmt: skip
        t, h = e.group("treated", "pipeline"), e.group("holdout", "pipeline")
        for method in PIPELINE_METHODS:
            c = compare_means(t, h, seed=seed, method=method)
            rows.append(_row(base, "pipeline_per_account", method, c,
                             e.true_effect["pipeline_per_account"]))  # fmt: skip
    return rows


def _row(base: dict, metric: str, method: str, c, truth: float) -> dict:
    return {**base, "metric": metric, "method": method, "truth": truth,
            "difference": c.difference, "low": c.low, "high": c.high,
            "covered": bool(c.low <= truth <= c.high),
            "excludes_zero": bool(c.low > 0 or c.high < 0), "significant": c.significant,
            "too_small": "too small" in c.note, "treated_accounts": c.treated_accounts,
            "holdout_accounts": c.holdout_accounts}  # fmt: skip


def summarize(rows: list[dict]) -> list[dict]:
    """One line per design, effect, metric and method."""
    keys = sorted({(r["design"], r["effect"], r["metric"], r["method"]) for r in rows},
                  key=lambda k: ([d.name for d in DESIGNS].index(k[0]), k[1] != 0, k[1], k[2],
                                 k[3] != DEFAULTS[k[2]], k[3]))  # fmt: skip
    out = []
    for design, effect, metric, method in keys:
        part = [r for r in rows if (r["design"], r["effect"], r["metric"], r["method"]) ==
                (design, effect, metric, method)]  # fmt: skip
        out.append({
            "design": design, "effect": effect, "metric": metric, "method": method,
            "default": DEFAULTS[metric] == method, "seeds": len(part),
            "holdout_accounts": float(np.median([r["holdout_accounts"] for r in part])),
            "treated_accounts": float(np.median([r["treated_accounts"] for r in part])),
            "true_effect": float(np.mean([r["truth"] for r in part])),
            "coverage": float(np.mean([r["covered"] for r in part])),
            "excludes_zero": float(np.mean([r["excludes_zero"] for r in part])),
            "significant": float(np.mean([r["significant"] for r in part])),
            "too_small": float(np.mean([r["too_small"] for r in part])),
            "median_width": float(np.median([r["high"] - r["low"] for r in part])),
        })  # fmt: skip
    return out


def verdicts(summary: list[dict]) -> list[dict]:
    found = []
    for s in summary:
        if not s["default"]:
            continue
        found.append({"design": s["design"], "effect": s["effect"], "metric": s["metric"],
                      "target": "coverage", "value": s["coverage"],
                      "pass": s["coverage"] >= TARGETS["coverage"]})  # fmt: skip
        if s["effect"] == 0:
            most = stats.binom.ppf(0.99, s["seeds"], TARGETS["false_positive_rate"])
            found.append({"design": s["design"], "effect": 0.0, "metric": s["metric"],
                          "target": "false_positive_rate", "value": s["significant"],
                          "pass": bool(round(s["significant"] * s["seeds"]) <= most)})  # fmt: skip
    return found


def show(summary: list[dict]) -> None:
    table = Table(title="Lift intervals (95%) against the exact true effect, 26 weeks")
    for col in ("design", "effect", "metric", "method", "holdout", "true effect", "coverage",
                "significant", "too small", "median width"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("design", "metric", "method") else "right")
    for s in summary:
        money = s["metric"] == "pipeline_per_account"

        def fmt(x: float, money: bool = money) -> str:
            return f"${x:,.0f}" if money else f"{x:.2%}"

        table.add_row(s["design"], f"{s['effect']:+.1f}", s["metric"],
                      s["method"] + (" *" if s["default"] else ""),
                      f"{s['holdout_accounts']:,.0f}", fmt(s["true_effect"]),
                      f"{s['coverage']:.1%}", f"{s['significant']:.1%}", f"{s['too_small']:.0%}",
                      fmt(s["median_width"]))  # fmt: skip
    Console(width=160).print(table)
    print("* the method abm lift uses; significant = interval leaves out 0 and the sample is "
          "large enough to judge (with effect 0: the false-positive rate)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=200, help="markets per design")
    p.add_argument("--quick", action="store_true", help="50 markets per design")
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    seeds = range(1, (50 if args.quick else args.seeds) + 1)
    clock = time.perf_counter()
    work = [(d, s) for d in DESIGNS for s in seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [r for part in pool.map(judge, work, chunksize=4) for r in part]
    seconds = time.perf_counter() - clock
    summary = summarize(rows)
    show(summary)
    found = verdicts(summary)
    for v in found:
        bound = "≥ {:.0%}" if v["target"] == "coverage" else "≤ {:.0%} (binomial, 1% level)"
        print(f"{'PASS' if v['pass'] else 'MISS'}  {v['target']} "
              f"{bound.format(TARGETS[v['target']])} "
              f"[{v['design']}, effect {v['effect']:+.1f}, {v['metric']}]: "
              f"{v['value']:.1%}")  # fmt: skip
    print(f"{len(work):,} markets in {seconds:,.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "lift", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "seeds": len(seeds), "weeks": 26, "confidence": 0.95, "seconds": round(seconds, 1),
           "designs": [vars(d) for d in DESIGNS], "summary": summary, "targets": found}  # fmt: skip
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
