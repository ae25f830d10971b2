"""The report of a real workspace, end to end: `abm demo` on a small simulated market writes the
HTML report; headless Chromium opens it with the network blocked; every chart draws and every
number on the page equals what `abm report --format json` gives for the same workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from abmkit.cli import app
from abmkit.demo import DemoSummary, run_demo
from abmkit.measure.formatting import format_value
from conftest import SCREENSHOTS
from test_report_html import (
    CHARTS,
    formatted_rows,
    open_offline,
    page_rows,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoSummary:
    ws = tmp_path_factory.mktemp("report") / "ws"
    return run_demo(ws, accounts=700, months=6, seed=3, replay_weeks=4)


def cli_report(ws: Path) -> dict:
    result = CliRunner().invoke(app, ["report", "-w", str(ws), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_demo_writes_the_report_and_the_cli_reads_the_same_workspace(demo):
    assert demo.report_path == demo.workspace / "report.html" and demo.report_path.is_file()
    data = cli_report(demo.workspace)
    sections = data["sections"]
    assert sum(r["accounts"] for r in sections["tiers"]) == 700
    assert len({r["week"] for r in sections["funnel_stages"]}) == 5  # 4 replayed weeks + now
    assert {"first", "markov", "shapley"} <= {r["model"] for r in sections["attribution"]}
    assert sections["lift"] and all(r["scope"].startswith("tier:") for r in sections["lift"])
    table = CliRunner().invoke(app, ["report", "-w", str(demo.workspace), "--section", "tiers"])
    assert table.exit_code == 0
    pipeline = next(r for r in sections["tiers"] if r["tier"] == "2")["pipeline"]
    assert format_value("pipeline", pipeline) in table.output


@pytest.mark.browser
def test_demo_report_opens_offline_with_the_cli_numbers(demo, browser: Any):
    sections = {k: pd.DataFrame(v) for k, v in cli_report(demo.workspace)["sections"].items()}
    page, attempted, errors = open_offline(browser, demo.report_path)
    page.wait_for_function("() => [...document.querySelectorAll('.chart')]"
                           ".every(e => e.dataset.rendered)", timeout=60_000)  # fmt: skip
    for chart in CHARTS:
        assert page.get_attribute(f"#{chart}", "data-rendered") == "true", chart
        assert page.locator(f"#{chart} svg").count() > 0, chart
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "demo-report.png"), full_page=True)
    for section in ("tiers", "acv", "attribution", "lift", "funnel_moves"):
        assert page_rows(page, section.split("_")[0]) == formatted_rows(sections[section]), section
    assert page_rows(page, "movers") == formatted_rows(sections["movers"], ("account_id",))
    kpis = sections["kpis"]
    assert page.locator(".kpi-value").all_inner_texts() == [
        format_value("value", v, u) for v, u in zip(kpis.value, kpis.unit, strict=True)
    ]
    assert attempted == [] and errors == []
    page.close()
