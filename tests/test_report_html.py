"""The HTML report: self-contained, escaped, atomic, and drawn by a real browser with no network.

The browser tests open the page in headless Chromium (Playwright driving /usr/bin/chromium) with
every request that is not a `file://` one aborted, wait for the four Vega views, and check the
tables show the numbers the shared formatter writes. Without Chromium they are skipped, except
under CI (env `CI` set), which installs it: there a missing browser fails.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from abmkit.measure import html as report_html
from abmkit.measure.formatting import format_table, format_value
from abmkit.measure.html import render_html, write_html
from abmkit.measure.report import Report
from conftest import SCREENSHOTS

CHARTS = {"chart-funnel": "mark-line", "chart-tiers": "mark-rect",
          "chart-attribution": "mark-rect", "chart-lift": "mark-symbol"}  # fmt: skip
STAGES = ("Qualified", "Aware", "Engaged", "MQA", "Opportunity", "Customer")
AS_OF = dt.datetime(2025, 3, 3, 6, 0, tzinfo=dt.UTC)


# -- a realistic small report, built by hand ----------------------------------------------------
def _funnel(weeks: list[dt.date]) -> pd.DataFrame:
    base = np.array([420, 260, 150, 70, 34, 12])
    rows = [(w, s, int(n + 6 * i * (k + 1) / 3)) for i, w in enumerate(weeks)
            for k, (s, n) in enumerate(zip(STAGES, base, strict=True))]  # fmt: skip
    return pd.DataFrame(rows, columns=["week", "stage", "accounts"])


def _moves(weeks: list[dt.date]) -> pd.DataFrame:
    rows = [(w, a, b, 3 + (i * 7 + k) % 11, 9.5 + 2.25 * k + i % 3)
            for i, w in enumerate(weeks[-3:]) for k, (a, b) in
            enumerate(zip(STAGES, STAGES[1:], strict=False))]  # fmt: skip
    return pd.DataFrame(rows, columns=["week", "from_stage", "to_stage", "accounts",
                                       "median_days"])  # fmt: skip


def _tiers() -> pd.DataFrame:
    return pd.DataFrame({
        "tier": [1, 2, 3, "none"], "accounts": [50, 150, 300, 1500],
        "engaged_accounts": [41, 96, 120, 210], "engagement_rate": [0.82, 0.64, 0.4, 0.14],
        "opportunities": [18, 27, 21, 30],
        "pipeline": [2_340_000.0, 1_890_500.0, 840_250.0, 612_000.0],
        "pipeline_per_account": [46_800.0, 12_603.33, 2_800.83, 408.0], "won": [7, 8, 5, 4],
        "revenue": [910_000.0, 520_000.0, 176_000.0, 88_500.0],
        "win_rate": [0.4375, 0.3478, 0.2941, 0.1818],
        "median_velocity_days": [62.0, 71.5, 84.0, np.nan],
        "committee_penetration": [0.58, 0.41, 0.22, 0.05],
    })  # fmt: skip


def _attribution() -> pd.DataFrame:
    channels = ["linkedin", "email", "display", "web", "bdr"]
    models = ["first", "last", "linear", "u_shaped", "w_shaped", "markov"]
    rng = np.random.default_rng(7)
    rows = []
    for model in models:
        split = rng.dirichlet(np.ones(len(channels)))
        rows += [(model, c, 96 * s, 5_682_750 * s, 1_694_500 * s)
                 for c, s in zip(channels, split, strict=True)]  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "channel", "conversions", "pipeline", "revenue"])


def _lift() -> pd.DataFrame:
    cols = ["scope", "metric", "treated", "treated_accounts", "holdout", "holdout_accounts",
            "difference", "low", "high", "significant", "note"]  # fmt: skip
    rows = [
        ("Tier 1", "opportunity_rate", 0.36, 45, 0.2, 5, 0.16, 0.031, 0.289, True, ""),
        ("Tier 2", "opportunity_rate", 0.18, 135, 0.133, 15, 0.047, -0.02, 0.114, False, ""),
        ("Tier 1", "pipeline_per_account", 46_800.0, 45, 31_200.0, 5, 15_600.0, -2_400.0,
         33_600.0, False, "wide interval: 5 holdout accounts"),
        ("Tier 3", "pipeline_per_account", 2_900.0, 3, 2_100.0, 1, np.nan, np.nan, np.nan,
         False, "too few accounts to estimate (1 in the holdout)"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def full_report() -> Report:
    weeks = [dt.date(2024, 12, 16) + dt.timedelta(weeks=i) for i in range(12)]
    kpis = pd.DataFrame([
        ("engagement_rate", 0.233, "share", "Share of target accounts with at least one engaged "
         "touch"),
        ("pipeline_per_account", 2_841.38, "dollars", "Pipeline created ÷ target accounts"),
        ("win_rate", 0.2963, "share", "Won ÷ closed opportunities"),
        ("median_velocity_days", 71.5, "days", "Opportunity created → won, median"),
        ("ACV lift", 1.42, "ratio", "ABM ACV ÷ non-ABM ACV"),
        ("opportunities", 96, "count", "Opened since the program started"),
    ], columns=["name", "value", "unit", "note"])  # fmt: skip
    movers = pd.DataFrame({
        "account_id": ["a-101", "a-102", "a-103"],
        "name": ["Northwind <Traders> & Co", "Globex", "Initech"],
        "domain": ["northwind.example", "globex.example", "initech.example"],
        "tier": [1, 2, "none"], "from_stage": ["MQA", "Engaged", "Aware"],
        "to_stage": ["Opportunity", "MQA", "Engaged"], "priority": [91.24, 77.5, 40.04],
        "priority_change": [12.5, -3.25, 8.0],
    })  # fmt: skip
    acv = pd.DataFrame({"group": ["ABM", "non-ABM"], "deals_won": [20, 4],
                        "revenue": [1_606_000.0, 88_500.0],
                        "acv": [80_300.0, 22_125.0]})  # fmt: skip
    tables = {"kpis": kpis, "funnel_stages": _funnel(weeks), "funnel_moves": _moves(weeks),
              "tiers": _tiers(), "acv": acv, "movers": movers, "attribution": _attribution(),
              "lift": _lift()}  # fmt: skip
    return Report("Acme <Growth> team", AS_OF, tables, since=AS_OF - dt.timedelta(days=90))


def empty_report() -> Report:
    """A new workspace: tiers and a funnel, but no opportunity and no holdout yet."""
    tiers = _tiers().assign(opportunities=0, pipeline=0.0, pipeline_per_account=0.0, won=0,
                            revenue=0.0, win_rate=np.nan, median_velocity_days=np.nan)  # fmt: skip
    weeks = [dt.date(2025, 2, 24)]
    return Report("fresh", AS_OF, {"tiers": tiers, "funnel_stages": _funnel(weeks)})


# -- the page, without a browser ----------------------------------------------------------------
def test_formatter_writes_each_kind_one_way():
    assert format_value("pipeline", 1_234_567.8) == "$1,234,568"
    assert format_value("engagement_rate", 0.8234) == "82.3%"
    assert format_value("median_days", 9.5) == "9.5 days"
    assert format_value("accounts", 1500) == "1,500"
    assert format_value("tier", 1) == "Tier 1" and format_value("tier", "none") == "No tier"
    assert format_value("difference", 0.047, "opportunity_rate") == "+4.7 pp"
    assert format_value("low", -2_400.0, "pipeline_per_account") == "-$2,400"
    assert format_value("value", 1.42, "ratio") == "1.42×"
    assert format_value("week", dt.date(2025, 3, 3)) == "2025-03-03"
    assert format_value("win_rate", np.nan) == format_value("pipeline", None) == "—"
    assert format_value("model", "u_shaped") == "U-shaped"
    assert format_value("conversions", 0.35) == "0.3" and format_value("won", 7.0) == "7"


def test_page_is_self_contained_and_escaped():
    page = render_html(full_report())
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link\b|@import|url\(\s*['\"]?https?:", page, re.I)
    assert "default-src 'none'" in page  # the policy forbids fetching anything
    assert "Acme &lt;Growth&gt; team" in page and "Acme <Growth>" not in page
    assert "Covers 2024-12-03 to 2025-03-03" in page
    assert "Northwind &lt;Traders&gt; &amp; Co" in page
    assert page.count("<script") == 3  # the chart specs, the Vega bundle, the embedding
    assert len(page) < 1_500_000


def test_empty_sections_say_so_in_a_sentence():
    page = render_html(empty_report())
    assert 'id="chart-funnel"' in page
    for chart in ("chart-tiers", "chart-attribution", "chart-lift"):
        assert f'id="{chart}"' not in page
    assert "No opportunities yet, so there is no pipeline" in page
    assert "No holdout yet" in page and "No deals won yet" in page
    bare = render_html(Report("bare", AS_OF))
    assert "<script" not in bare and "No journey-stage history yet" in bare


def test_write_html_replaces_the_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = write_html(empty_report(), tmp_path / "out" / "report.html")
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    before = target.read_bytes()

    def broken(report: Report) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(report_html, "render_html", broken)
    with pytest.raises(RuntimeError):
        write_html(full_report(), target)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


# -- the page in a real browser, offline ---------------------------------------------------------
def open_offline(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    """The page at `path`, with every non-file request aborted and recorded, and its errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    attempted: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("request", lambda q: None if q.url.startswith("file://") else attempted.append(q.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    return page, attempted, errors


def page_rows(page: Any, section: str) -> set[tuple[str, ...]]:
    rows = page.locator(f"table[data-section={section}] tbody tr")
    return {tuple(rows.nth(i).locator("td").all_inner_texts()) for i in range(rows.count())}


def formatted_rows(frame: pd.DataFrame, hide: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    text = format_table(frame.drop(columns=list(hide)))
    return {tuple(row) for row in text.itertuples(index=False)}


@pytest.mark.browser
def test_report_draws_offline_in_chromium(browser: Any, tmp_path: Path):
    report = full_report()
    path = write_html(report, tmp_path / "report.html")
    page, attempted, errors = open_offline(browser, path)
    page.wait_for_function("() => [...document.querySelectorAll('.chart')]"
                           ".every(e => e.dataset.rendered)", timeout=30_000)  # fmt: skip
    for chart, mark in CHARTS.items():
        assert page.get_attribute(f"#{chart}", "data-rendered") == "true", chart
        assert page.locator(f"#{chart} svg .{mark} path").count() > 0, chart
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)

    for section in ("tiers", "acv", "attribution", "lift", "funnel_moves"):
        frame = report.table(section)
        assert page_rows(page, section.split("_")[0]) == formatted_rows(frame), section
    assert page_rows(page, "movers") == formatted_rows(report.table("movers"), ("account_id",))
    kpis = report.table("kpis")
    shown = page.locator(".kpi-value").all_inner_texts()
    assert shown == [
        format_value("value", v, u) for v, u in zip(kpis.value, kpis.unit, strict=True)
    ]
    assert "$2,340,000" in page.locator("#tiers table").inner_text()
    assert attempted == [] and errors == []
    page.close()


@pytest.mark.browser
def test_empty_report_draws_offline_in_chromium(browser: Any, tmp_path: Path):
    path = write_html(empty_report(), tmp_path / "empty.html")
    page, attempted, errors = open_offline(browser, path)
    page.wait_for_selector("#chart-funnel[data-rendered=true] svg", timeout=30_000)
    assert page.locator(".chart").count() == 1
    assert page.locator("#chart-funnel svg .mark-rect path").count() == len(STAGES)  # one week
    assert page.locator("p.empty").count() >= 4
    page.screenshot(path=str(SCREENSHOTS / "report-empty.png"), full_page=True)
    assert attempted == [] and errors == []
    page.close()
