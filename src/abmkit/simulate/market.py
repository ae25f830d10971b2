"""simulate_market: write the files a real user would bring, and the hidden truth apart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import truth
from .config import MarketConfig, rng_for
from .exports import (
    account_export,
    bombora_table,
    campaign_export,
    contact_export,
    ip_range_export,
    marketing_table,
    opportunity_export,
    web_table,
)
from .pipeline import account_types, build_opportunities
from .signals import week_intent, week_visits
from .touches import CHANNELS, Fatigue, week_touches
from .world import build_world
from .writers import MonthlySink, write_csv

Progress = Callable[[str, float], None]
CAMPAIGN_CHANNELS = CHANNELS[:7]


@dataclass
class SimulationManifest:
    """What simulate_market wrote: files per kind in load order, row counts, truth folder."""

    config: MarketConfig
    out_dir: Path
    files: dict[str, list[Path]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    truth_dir: Path = Path()


def simulate_market(
    cfg: MarketConfig, out_dir: Path, progress: Progress | None = None
) -> SimulationManifest:
    """Build the market for `cfg` and write every file under out_dir (see docs/simulator.md)."""
    out_dir = Path(out_dir)
    report = progress or (lambda stage, fraction: None)
    world = build_world(cfg)
    report("world", 0.1)
    opportunities = build_opportunities(world)
    manifest = SimulationManifest(cfg, out_dir, truth_dir=out_dir / "truth")
    accounts = world.accounts.assign(Type=account_types(world, opportunities))
    _write(manifest, "accounts", out_dir / "accounts.csv", account_export(accounts))
    _write(manifest, "contacts", out_dir / "contacts.csv", contact_export(world.contacts))
    _write(manifest, "ip_ranges", out_dir / "ip_ranges.csv", ip_range_export(accounts))
    report("firmographics", 0.2)
    costs = _write_weeks(world, manifest, report)
    campaigns = campaign_export(cfg, CAMPAIGN_CHANNELS, costs, rng_for(cfg, "campaigns"))
    _write(manifest, "campaigns", out_dir / "campaigns.csv", campaigns)
    _write(
        manifest, "opportunities", out_dir / "opportunities.csv", opportunity_export(opportunities)
    )
    truth.write_truth(world, opportunities, manifest.truth_dir)
    report("done", 1.0)
    order = ["accounts", "contacts", "campaigns", "opportunities", "intent", "touches", "ip_ranges"]
    manifest.files = {k: manifest.files.get(k, []) for k in order}
    manifest.counts = {k: manifest.counts.get(k, 0) for k in order}
    return manifest


def _write(
    manifest: SimulationManifest, kind: str, path: Path, table: pa.Table, header: bool = True
) -> None:
    if header:
        rows = write_csv(path, table)
    else:  # header-less vendor files (Bombora) quote only fields that need it
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_pandas().to_csv(path, header=False, index=False, lineterminator="\n")
        rows = table.num_rows
    manifest.files.setdefault(kind, []).append(path)
    manifest.counts[kind] = manifest.counts.get(kind, 0) + rows


def _write_weeks(world, manifest: SimulationManifest, report: Progress) -> np.ndarray:
    """Touches, visits and intent week by week; returns spend per (channel, month) campaign."""
    cfg = world.cfg
    rngs = {s: rng_for(cfg, s) for s in ("touches", "visits", "intent")}
    touch_dir = manifest.out_dir / "touches"
    web, marketing = MonthlySink(touch_dir, "web_visits"), MonthlySink(touch_dir, "marketing")
    fatigue = Fatigue.empty(world)
    costs = np.zeros(len(CAMPAIGN_CHANNELS) * cfg.months)
    first_month = cfg.start_day.astype("datetime64[M]")
    end_s = int(cfg.end_day.astype("datetime64[s]").astype(np.int64))
    for week in range(cfg.weeks):
        day = cfg.start_day + 7 * week
        days = int(min(7, (cfg.end_day - day).astype(int)))
        start_s = int(day.astype("datetime64[s]").astype(np.int64))
        touches, clicks = week_touches(world, week, start_s, days, fatigue, rngs["touches"])
        table, month, campaign, cost = marketing_table(
            world, _before(touches.columns(), end_s), first_month
        )
        marketing.write(table, month)
        costs += np.bincount(
            campaign[campaign >= 0], weights=cost[campaign >= 0], minlength=len(costs)
        )[: len(costs)]
        visits = week_visits(world, week, start_s, days, clicks, rngs["visits"])
        table, month = web_table(world, visits)
        web.write(table, month)
        intent = week_intent(world, week, rngs["intent"])
        path = manifest.out_dir / "intent" / f"bombora_surge_{_sunday(day)}.csv"
        _write(manifest, "intent", path, bombora_table(world, intent, rngs["intent"]), False)
        report("weeks", 0.2 + 0.7 * (week + 1) / cfg.weeks)
    manifest.files["touches"] = web.close() + marketing.close()
    manifest.counts["touches"] = web.rows + marketing.rows
    return costs


def _before(columns: dict[str, np.ndarray], end_s: int) -> dict[str, np.ndarray]:
    """Drop responses that would fall after the simulated window (a late open of a last send)."""
    keep = columns["ts"] < end_s
    return {k: v[keep] for k, v in columns.items()}


def _sunday(week_start: np.datetime64) -> str:
    """`YYYYMMDD` of the first Sunday on or after the week's first day."""
    weekday = (week_start.astype(np.int64) + 3) % 7  # Monday = 0
    return str(week_start + (6 - weekday) % 7).replace("-", "")
