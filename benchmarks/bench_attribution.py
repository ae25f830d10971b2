"""Attribution models against ChannelAttribution, on its own Data.csv and on a million paths.

Run from the repository root:

    .venv/bin/python benchmarks/bench_attribution.py --ca-path /tmp/ca_target   # the comparison
    .venv/bin/python benchmarks/bench_attribution.py                            # abmkit only
    .venv/bin/python benchmarks/bench_attribution.py --markdown   # results/attribution.json

**ChannelAttribution is GPL-3: it is never a dependency of abmkit and never vendored.** This
script imports it only when it can be found; without it, it times abmkit's side only, prints how
to get ChannelAttribution, and writes no JSON unless `--out` is given (the committed
`results/attribution.json` always holds a comparison). How the committed figures were made:
ChannelAttribution (it builds from source, and imports matplotlib) installed with the project's
own pip into a separate folder, which `--ca-path` *appends* to `sys.path` — so the project's
numpy and pandas are the ones imported, and abmkit's dependencies need no second venv:

    .venv/bin/pip install --target /tmp/ca_target ChannelAttribution matplotlib

What is measured, all in one run:

1. ChannelAttribution's `Data.csv` (10,000 paths, from its installed `cypack/data`): first, last
   and linear per channel (conversions and value) against `heuristic_models` — they must be
   equal; first-order Markov against `markov_model` at its defaults, at `nsim_start=2e6,
   conv_par=0.005` and at `nsim_start=2e7` (five seeds each: 0, 1000, …, since CA's seed s
   seeds its ten folds with s…s+9 and seeds one apart share nine folds). The spread over the
   seeds shows how converged CA is; target: abmkit within 1% of the mean of the 2e7 runs for
   every channel with ≥ 1% of the conversions. Orders 2 and 3 are compared too (one 2e7 run).
2. 1,000,000 synthetic distinct paths (seeded; 14 channels, 1–20 touches): seconds of abmkit's
   models (best of 3) and of ChannelAttribution's `heuristic_models` and `markov_model` at its
   defaults, and the ratio CA ÷ abmkit; target: abmkit's Markov at least as fast. CA parses
   the path strings inside each call, abmkit's models get parsed `Paths`, so the ratio is also
   given with abmkit's whole file read (`read_paths`) added to its time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from abmkit.measure.attribution import Paths, attribute, read_paths

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "attribution.json"
CHANNELS = ("paid_search", "organic_search", "display", "paid_social", "organic_social", "email",
            "webinar", "events", "direct_mail", "sdr_call", "content_syndication",
            "review_sites", "partner", "direct")  # fmt: skip
SETTINGS = {  # CA's Markov beyond its defaults: the brief's settings, and 10× the simulations
    "converged": {"nsim_start": 2e6, "conv_par": 0.005},
    "long": {"nsim_start": 2e7, "conv_par": 0.005},
}
SEED_STEP = 1000  # CA's seed s seeds its 10 folds with s..s+9: seeds 1 apart share 9 folds
SHARE_FLOOR = 0.01  # channels with at least this share of the conversions are held to the target
TARGET_DIFF = 0.01  # abmkit within 1% of CA's converged credit for those channels
HOW_TO_GET_CA = (
    "ChannelAttribution is not importable: abmkit's side only. To compare, install it (GPL-3; "
    "it builds from source and needs matplotlib) outside abmkit's dependencies, e.g.\n"
    "  .venv/bin/pip install --target /tmp/ca_target ChannelAttribution matplotlib\n"
    "and run again with --ca-path /tmp/ca_target (or pip install ChannelAttribution into a "
    "benchmark environment)."
)


# -- helpers -----------------------------------------------------------------------------------
def load_ca(extra: Path | None) -> Any:
    """The ChannelAttribution module, or None. `extra` is appended to sys.path, so packages of
    this environment win over copies in it."""
    if extra is not None:
        sys.path.append(str(extra))
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its import prints an advert
            import ChannelAttribution  # noqa: N813
    except ImportError:
        return None
    return ChannelAttribution


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall-clock seconds of `repeat` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def quiet(fn: Callable[[], Any]) -> Callable[[], Any]:
    """`fn` with its prints swallowed (CA prints progress from C++ through Python)."""

    def run() -> Any:
        with contextlib.redirect_stdout(io.StringIO()):
            return fn()

    return run


def machine(ca: Any) -> dict:
    import psutil

    versions: dict[str, str | None] = {}
    for package in ("abmkit", "numpy", "scipy", "pandas", "pyarrow", "ChannelAttribution"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    if ca is not None and versions["ChannelAttribution"] is None:
        versions["ChannelAttribution"] = getattr(ca, "__version__", "found on --ca-path")
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu": cpu, "os": platform.platform(), "python": platform.python_version(),
            "versions": versions}  # fmt: skip


def ours(found: Any, field: str = "conversions") -> pd.Series:
    return pd.Series(getattr(found, field), index=list(found.channels))


# -- 1. ChannelAttribution's Data.csv ----------------------------------------------------------
def data_csv(ca: Any) -> Path:
    import cypack  # ChannelAttribution's compiled package, which ships the data

    return Path(cypack.__file__).parent / "data" / "Data.csv"


def ca_markov(ca: Any, frame: pd.DataFrame, **kw: Any) -> pd.DataFrame:
    """CA's Markov credit per channel: conversions and value."""
    out = quiet(lambda: ca.markov_model(frame, "path", "total_conversions",
                                        var_value="total_conversion_value",
                                        var_null="total_null", verbose=False, flg_pro=False,
                                        **kw))()  # fmt: skip
    return out.set_index("channel_name")[["total_conversions", "total_conversion_value"]]


def compare_data_csv(ca: Any, seeds: int, orders: tuple[int, ...]) -> dict:
    path = data_csv(ca)
    frame = pd.read_csv(path, sep=";")
    paths = read_paths(path)
    total = float(frame["total_conversions"].sum())
    doc: dict[str, Any] = {"file": "ChannelAttribution cypack/data/Data.csv",
                           "paths": len(frame), "conversions": total,
                           "value": float(frame["total_conversion_value"].sum()),
                           "nulls": float(frame["total_null"].sum())}  # fmt: skip
    heur = quiet(lambda: ca.heuristic_models(frame, "path", "total_conversions",
                                             var_value="total_conversion_value",
                                             flg_pro=False))()  # fmt: skip
    heur = heur.set_index("channel_name")
    doc["heuristics"] = {}
    for model, prefix in (("first", "first_touch"), ("last", "last_touch"),
                          ("linear", "linear_touch")):  # fmt: skip
        found = attribute(paths, model)
        doc["heuristics"][model] = {
            "max_abs_diff_conversions": float((ours(found) - heur[f"{prefix}_conversions"])
                                              .abs().max()),
            "max_abs_diff_value": float((ours(found, "value") - heur[f"{prefix}_value"])
                                        .abs().max()),
        }  # fmt: skip
    print(f"[Data.csv] heuristics: {doc['heuristics']}", flush=True)

    seconds, mine = timed(lambda: attribute(paths, "markov"), repeat=3)
    ca_seconds, default = timed(lambda: ca_markov(ca, frame))
    seed_list = [SEED_STEP * i for i in range(seeds)]
    runs: dict[str, list[tuple[float, pd.DataFrame]]] = {}
    for name, settings in SETTINGS.items():
        runs[name] = []
        for seed in seed_list:
            print(f"[Data.csv] CA markov, {settings}, seed {seed} …", flush=True)
            runs[name].append(timed(lambda s=seed, kw=settings: ca_markov(
                ca, frame, seed=s, ncore=2, **kw)))  # fmt: skip
    conv = {name: pd.DataFrame({i: r["total_conversions"] for i, (_, r) in enumerate(rs)})
            for name, rs in runs.items()}  # fmt: skip
    value = pd.DataFrame({i: r["total_conversion_value"] for i, (_, r) in enumerate(runs["long"])})
    rows = []
    for channel in ours(mine).sort_values(ascending=False).index:
        o, v = float(ours(mine)[channel]), float(ours(mine, "value")[channel])
        row: dict[str, Any] = {
            "channel": channel, "share": round(o / total, 4), "abmkit": round(o, 2),
            "ca_default": round(float(default.loc[channel, "total_conversions"]), 2),
            "diff_vs_default_rel": round(o / float(default.loc[channel, "total_conversions"])
                                         - 1, 4),
        }  # fmt: skip
        for name, frame_ in conv.items():
            c = frame_.loc[channel]
            row[f"ca_{name}_mean"] = round(float(c.mean()), 2)
            row[f"ca_{name}_min"] = round(float(c.min()), 2)
            row[f"ca_{name}_max"] = round(float(c.max()), 2)
            row[f"ca_{name}_spread_rel"] = round(float((c.max() - c.min()) / c.mean()), 4)
            row[f"diff_vs_{name}_rel"] = round(o / float(c.mean()) - 1, 4)
        row |= {"abmkit_value": round(v, 2),
                "ca_long_value_mean": round(float(value.loc[channel].mean()), 2),
                "diff_value_vs_long_rel": round(v / float(value.loc[channel].mean()) - 1, 4),
                "held_to_target": o / total >= SHARE_FLOOR}  # fmt: skip
        rows.append(row)
    held = [r for r in rows if r["held_to_target"]]
    doc["markov"] = {
        "abmkit_seconds": round(seconds, 4), "ca_default_seconds": round(ca_seconds, 3),
        "ca_settings": {name: {**kw, "seconds_mean": round(float(np.mean(
            [t for t, _ in runs[name]])), 1)} for name, kw in SETTINGS.items()},
        "ca_seeds": seed_list, "ca_ncore": 2,
        "reference": "mean of the 'long' runs over the seeds",
        "channels": rows,
        "max_diff_vs_long_rel_held": max(abs(r["diff_vs_long_rel"]) for r in held),
        "max_diff_vs_converged_rel_held": max(abs(r["diff_vs_converged_rel"]) for r in held),
        "max_diff_vs_default_rel_held": max(abs(r["diff_vs_default_rel"]) for r in held),
        "max_ca_long_spread_rel_held": max(r["ca_long_spread_rel"] for r in held),
        "max_ca_converged_spread_rel_held": max(r["ca_converged_spread_rel"] for r in held),
        "max_diff_value_vs_long_rel_held": max(abs(r["diff_value_vs_long_rel"]) for r in held),
    }  # fmt: skip
    doc["markov_higher_order"] = []
    for order in orders:
        print(f"[Data.csv] CA markov order {order}, {SETTINGS['long']}, seed 0 …", flush=True)
        t, theirs = timed(lambda o=order: ca_markov(ca, frame, order=o, ncore=2,
                                                    **SETTINGS["long"]))  # fmt: skip
        seconds, found = timed(lambda o=order: attribute(paths, "markov", order=o), repeat=3)
        diff = ours(found) / theirs["total_conversions"] - 1
        big = ours(found) / total >= SHARE_FLOOR
        doc["markov_higher_order"].append({
            "order": order, "abmkit_seconds": round(seconds, 4), "ca_seconds": round(t, 1),
            "max_diff_rel_held": round(float(diff[big].abs().max()), 4),
            "diff_rel": {c: round(float(v), 4) for c, v in diff.items()},
        })  # fmt: skip
    return doc


# -- 2. a million synthetic paths --------------------------------------------------------------
def synthetic(n: int, seed: int) -> dict[str, Any]:
    """`n` distinct paths: channel popularity ∝ 1/rank^0.8, 1 + geometric(0.2) touches (≤ 20),
    journeys per path 1 + Poisson(30 / length²) (short paths are common journeys), conversion
    chance from the channels present and the length, value lognormal per conversion, and each
    touch's age (exponential gaps, 4 days on average, back from the journey's end)."""
    rng = np.random.default_rng(seed)
    k = len(CHANNELS)
    popular = 1 / np.arange(1, k + 1) ** 0.8
    lift = rng.normal(0, 0.35, k)
    names = pa.array(CHANNELS)
    texts, all_lengths, all_channels, keys = [], [], [], []
    have = 0
    while have < n:  # draw more until n distinct paths were drawn
        m = int((n - have) * 1.7) + 1000
        lengths = np.minimum(rng.geometric(0.2, m), 20)
        channel = rng.choice(k, size=int(lengths.sum()), p=popular / popular.sum())
        offsets = pa.array(np.r_[0, np.cumsum(lengths)].astype(np.int64))
        lists = pa.LargeListArray.from_arrays(offsets, names.take(pa.array(channel)))
        text = pc.binary_join(lists, " > ")
        texts.append(text)
        all_lengths.append(lengths)
        all_channels.append(channel)
        keys.append(pd.util.hash_array(np.asarray(text.to_numpy(zero_copy_only=False))))
        have = np.unique(np.concatenate(keys)).size
    first = np.sort(np.unique(np.concatenate(keys), return_index=True)[1])[:n]
    drawn = np.concatenate(all_lengths)
    start = np.cumsum(drawn) - drawn
    lengths = drawn[first]
    touch = np.repeat(start[first] - (np.cumsum(lengths) - lengths), lengths) + np.arange(
        int(lengths.sum())
    )
    channel = np.concatenate(all_channels)[touch]
    text = pa.concat_arrays([t.cast(pa.string()) for t in texts]).take(pa.array(first))
    path_of = np.repeat(np.arange(n), lengths)
    journeys = 1 + rng.poisson(30 / lengths.astype(float) ** 2)
    present = np.zeros((n, k), bool)
    present[path_of, channel] = True
    odds = -2.4 + present @ lift + 0.08 * lengths
    conv = rng.binomial(journeys, 1 / (1 + np.exp(-odds)))
    value = np.round(conv * rng.lognormal(8.0, 0.8, n), 2)
    gaps = rng.exponential(4.0, channel.size)
    ends = np.cumsum(gaps)[np.cumsum(lengths) - 1]
    age = np.repeat(ends, lengths) - np.cumsum(gaps)
    return {"text": text, "channel": channel, "lengths": lengths, "conversions": conv,
            "value": value, "nulls": journeys - conv, "age_days": age}  # fmt: skip


def run_synthetic(ca: Any, n: int, seed: int, scratch: Path) -> dict:
    print(f"[synthetic] drawing {n:,} distinct paths …", flush=True)
    data = synthetic(n, seed)
    file = scratch / "paths.csv"
    lines = pc.binary_join_element_wise(
        data["text"],
        pa.array(data["conversions"].astype(str)),
        pa.array(data["value"].astype(str)),
        pa.array(data["nulls"].astype(str)),
        ";",
    )
    file.write_text("path;total_conversions;total_conversion_value;total_null\n"
                    + "\n".join(lines.to_pylist()) + "\n", encoding="utf-8")  # fmt: skip
    read_seconds, parsed = timed(lambda: read_paths(file), repeat=2)
    paths = Paths.from_arrays(CHANNELS, data["channel"], data["lengths"], data["conversions"],
                              data["value"], data["nulls"], data["age_days"])  # fmt: skip
    assert np.allclose(ours(attribute(parsed, "first")).reindex(list(CHANNELS)),
                       ours(attribute(paths, "first")).reindex(list(CHANNELS)))  # fmt: skip
    doc: dict[str, Any] = {
        "paths": n, "seed": seed, "channels": len(CHANNELS), "touches": int(paths.channel.size),
        "mean_length": round(float(paths.lengths.mean()), 2),
        "max_length": int(paths.lengths.max()),
        "journeys": int((paths.conversions + paths.nulls).sum()),
        "conversions": int(paths.conversions.sum()), "csv_mb": round(file.stat().st_size / 2**20),
        "abmkit_read_paths_seconds": round(read_seconds, 3),
    }  # fmt: skip
    timings: dict[str, float] = {}
    runs: list[tuple[str, dict]] = [
        (m, {}) for m in ("first", "last", "linear", "time_decay", "u_shaped", "w_shaped", "markov")
    ]
    runs += [
        ("markov_order_2", {"order": 2}),
        ("markov_order_3", {"order": 3}),
        ("shapley", {}),
        ("shapley_sampled_1000", {"max_exact": 5, "samples": 1000}),
    ]
    found = {}
    for label, kw in runs:  # fmt: skip
        model = label.split("_order")[0].split("_sampled")[0]
        timings[label], found[label] = timed(lambda m=model, o=kw: attribute(paths, m, **o), 3)
        print(f"[synthetic] abmkit {label}: {timings[label]:.3f} s", flush=True)
    doc["abmkit_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    heuristics = timings["first"] + timings["last"] + timings["linear"]
    doc["abmkit_first_last_linear_seconds"] = round(heuristics, 3)
    if ca is None:
        return doc
    frame = pd.DataFrame({"path": data["text"].to_pandas(),
                          "total_conversions": data["conversions"],
                          "total_conversion_value": data["value"],
                          "total_null": data["nulls"]})  # fmt: skip
    print("[synthetic] CA heuristic_models …", flush=True)
    ca_heur, _ = timed(quiet(lambda: ca.heuristic_models(frame, "path", "total_conversions",
                                                         var_value="total_conversion_value",
                                                         flg_pro=False)))  # fmt: skip
    print("[synthetic] CA markov_model (defaults) …", flush=True)
    ca_markov_seconds, theirs = timed(lambda: ca_markov(ca, frame))
    diff = ours(found["markov"]) / theirs["total_conversions"] - 1
    doc["ca_seconds"] = {"heuristic_models": round(ca_heur, 3),
                         "markov_model_defaults": round(ca_markov_seconds, 3)}  # fmt: skip
    doc["ratio_ca_over_abmkit"] = {
        "first_last_linear": round(ca_heur / heuristics, 2),
        "first_last_linear_with_read": round(ca_heur / (heuristics + read_seconds), 2),
        "markov": round(ca_markov_seconds / timings["markov"], 2),
        "markov_with_read": round(ca_markov_seconds / (timings["markov"] + read_seconds), 2),
    }  # fmt: skip
    doc["markov_diff_vs_ca_defaults_rel"] = {c: round(float(v), 4) for c, v in diff.items()}
    return doc


# -- report ------------------------------------------------------------------------------------
def verdicts(doc: dict) -> list[dict]:
    out = []
    if "data_csv" in doc:
        d = doc["data_csv"]
        exact = max(max(v.values()) for v in d["heuristics"].values())
        out.append({"target": "first/last/linear equal CA's on Data.csv (max abs diff ≤ 1e-6)",
                    "value": exact, "pass": exact <= 1e-6})  # fmt: skip
        worst = d["markov"]["max_diff_vs_long_rel_held"]
        out.append({"target": "Markov within 1% of CA's converged credit (channels ≥ 1% share; "
                              "the mean of its long runs)",
                    "value": worst, "pass": worst <= TARGET_DIFF})  # fmt: skip
    if "ratio_ca_over_abmkit" in doc.get("synthetic", {}):
        r = doc["synthetic"]["ratio_ca_over_abmkit"]["markov"]
        out.append({"target": "Markov at 1M paths at least as fast as CA's at its defaults",
                    "value": r, "pass": r >= 1})  # fmt: skip
    return out


MARKOV_COLUMNS = ("channel", "share", "abmkit", "CA defaults", "Δ", "CA 2e6 mean",
                  "2e6 spread", "Δ", "CA 2e7 mean", "2e7 spread", "Δ")  # fmt: skip


def markov_rows(doc: dict) -> list[list[str]]:
    """The Data.csv Markov comparison as text cells (`*`: under 1% of the conversions)."""
    out = []
    for r in doc["data_csv"]["markov"]["channels"]:
        out.append([r["channel"] + ("" if r["held_to_target"] else " *"), f"{r['share']:.1%}",
                    f"{r['abmkit']:,.1f}", f"{r['ca_default']:,.1f}",
                    f"{r['diff_vs_default_rel']:+.2%}"]
                   + [cell for name in ("converged", "long")
                      for cell in (f"{r[f'ca_{name}_mean']:,.1f}",
                                   f"{r[f'ca_{name}_spread_rel']:.2%}",
                                   f"{r[f'diff_vs_{name}_rel']:+.2%}")])  # fmt: skip
    return out


def timing_rows(doc: dict) -> list[list[str]]:
    """The synthetic timings as text cells: model, abmkit, CA, CA ÷ abmkit."""
    s = doc["synthetic"]
    ca, ratio = s.get("ca_seconds", {}), s.get("ratio_ca_over_abmkit", {})
    out = [["read_paths (file → Paths)", f"{s['abmkit_read_paths_seconds']:.2f}", "", ""],
           ["first + last + linear", f"{s['abmkit_first_last_linear_seconds']:.2f}",
            f"{ca['heuristic_models']:.2f}" if ca else "",
            f"{ratio['first_last_linear']:.1f}×" if ratio else ""]]  # fmt: skip
    for label, seconds in s["abmkit_seconds"].items():
        theirs = ca.get("markov_model_defaults") if label == "markov" else None
        out.append([label, f"{seconds:.2f}", f"{theirs:.2f}" if theirs else "",
                    f"{ratio['markov']:.1f}×" if theirs else ""])  # fmt: skip
    return out


TIMING_COLUMNS = ("model", "abmkit (s)", "ChannelAttribution (s)", "CA ÷ abmkit")


def print_tables(doc: dict) -> None:
    console = Console(width=160)
    tables = [("First-order Markov on Data.csv: conversions per channel", MARKOV_COLUMNS,
               markov_rows(doc) if "data_csv" in doc else None)]  # fmt: skip
    s = doc["synthetic"]
    tables.append((f"{s['paths']:,} distinct paths, {s['touches']:,} touches: seconds",
                   TIMING_COLUMNS, timing_rows(doc)))  # fmt: skip
    for title, columns, rows in tables:
        if rows is None:
            continue
        table = Table(title=title)
        for i, col in enumerate(columns):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for v in doc.get("targets", []):
        print(f"{'PASS' if v['pass'] else 'MISS'}  {v['target']}: {v['value']}")


def markdown(path: Path) -> str:
    """The results in `path` as the Markdown tables of benchmarks/README.md."""
    doc = json.loads(path.read_text())
    out = []
    parts = [(MARKOV_COLUMNS, markov_rows(doc))] if "data_csv" in doc else []
    for columns, rows in [*parts, (TIMING_COLUMNS, timing_rows(doc))]:
        out += ["| " + " | ".join(columns) + " |",
                "| --- |" + " ---: |" * (len(columns) - 1)]  # fmt: skip
        out += ["| " + " | ".join(row) + " |" for row in rows] + [""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ca-path", type=Path, help="a folder holding ChannelAttribution (appended "
                   "to sys.path)")  # fmt: skip
    p.add_argument("--paths", type=int, default=1_000_000, help="synthetic distinct paths")
    p.add_argument("--seeds", type=int, default=5, help="CA seeds per setting beyond defaults")
    p.add_argument("--quick", action="store_true", help="100k paths, 2 CA seeds, no orders 2-3")
    p.add_argument("--out", type=Path, help=f"JSON results (default {RESULTS.name} when CA ran)")
    p.add_argument("--markdown", action="store_true", help="print the results as Markdown")
    args = p.parse_args(argv)
    if args.markdown:
        print(markdown(args.out or RESULTS))
        return 0
    ca = load_ca(args.ca_path)
    if ca is None:
        print(HOW_TO_GET_CA, flush=True)
    n = 100_000 if args.quick else args.paths
    doc: dict[str, Any] = {"benchmark": "attribution",
                           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           "machine": machine(ca)}  # fmt: skip
    if ca is not None:
        doc["data_csv"] = compare_data_csv(ca, 2 if args.quick else args.seeds,
                                           () if args.quick else (2, 3))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="abmkit-attribution-") as scratch:
        doc["synthetic"] = run_synthetic(ca, n, seed=7, scratch=Path(scratch))
    doc["targets"] = verdicts(doc)
    print_tables(doc)
    out = args.out or (RESULTS if ca is not None else None)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
