"""Real files no one on the team wrote (../shared/data): Bombora, Maven CRM, Fortune lists."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import pytest

from abmkit.errors import InputError
from abmkit.resolve.domains import normalize_domain
from conftest import REPO, by_key, ok, rows_of, snapshot

pytestmark = pytest.mark.realdata

ADAT = "bombora/Input_AllDomainsAllTopics_20150719-reduced-sample.csv"
SURGE = "bombora/Output_MasterSurgeFile_20150719-sample.csv"
MAVEN = REPO / "examples" / "maven_crm"

FORTUNE_MAPPING = """\
table: accounts
columns:
  Company: name
  Website: domain
  Employees: employees
  Revenue (rounded): revenue
  City: city
  State: region
"""
JOBBOT_MAPPING = """\
table: accounts
columns:
  company: name
  website: domain
  employees: employees
  revenue: revenue
  locations: city
  locations2: region
"""


def _distinct(path: Path, cols: tuple[int, ...]) -> int:
    with path.open(encoding="utf-8", newline="") as fh:
        return len({tuple(r[c].strip().lower() for c in cols) for r in csv.reader(fh)})


def _pairs(path: Path) -> set[tuple[str, str]]:
    """(registrable domain, topic) pairs: `ae.example.com` is the company `example.com`."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {(normalize_domain(r[1]), r[5].strip().lower()) for r in csv.reader(fh)}


def test_bombora_all_topics_file_loads_and_duplicates_collapse(duck_abm, data_dir):
    adat = data_dir / ADAT
    a = ok(duck_abm.ingest("intent", [adat], preset="bombora")[0])
    assert a.rows_read == 10_000
    pairs = len(_pairs(adat))
    assert pairs < 10_000  # the file repeats (domain, topic) once per metro area
    assert (a.inserted, a.updated, a.unchanged) == (pairs, 0, 0)
    intent = duck_abm.warehouse.table("intent")
    assert intent.count().execute() == pairs
    assert set(intent.week.to_pyarrow().to_pylist()) == {dt.date(2015, 7, 19)}
    assert set(intent.source.to_pyarrow().to_pylist()) == {"bombora"}
    scores = intent.score.to_pyarrow().to_pylist()
    assert min(scores) >= 2 and max(scores) <= 98
    assert duck_abm.warehouse.count("attributes") == 0  # metro columns are not kept
    one = (
        intent.filter(
            (intent.domain == "0-lightower.net") & (intent.topic == "recurring journal entries")
        )
        .to_pyarrow()
        .to_pylist()
    )
    assert len(one) == 1 and one[0]["score"] == 53 and one[0]["category"] == "accounting"
    again = ok(duck_abm.ingest("intent", [adat], preset="bombora")[0])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, pairs)


def test_bombora_master_surge_file_loads(duck_abm, data_dir):
    surge = data_dir / SURGE
    # 566 rows are domains without any topic (empty Topic, score 0): no signal, not an error
    with_topic = {p for p in _pairs(surge) if p[1]}
    s = ok(duck_abm.ingest("intent", [surge], preset="bombora")[0])
    assert s.rows_read == 10_000
    intent = duck_abm.warehouse.table("intent")
    got = {(r["domain"], r["topic"].lower()) for r in
           intent.select("domain", "topic").to_pyarrow().to_pylist() if r["topic"]}  # fmt: skip
    assert got == with_topic
    assert intent.filter(intent.topic.isnull() | (intent.topic == "")).count().execute() == 0


def test_maven_crm_with_the_example_mappings(duck_abm, data_dir):
    acc = ok(duck_abm.ingest("accounts", [data_dir / "maven_crm/accounts.csv"],
                             mapping=MAVEN / "accounts.yaml")[0])  # fmt: skip
    assert acc.inserted == 85
    accounts = rows_of(duck_abm, "accounts")
    assert len(accounts) == 85
    by_name = {a["name"]: a for a in accounts}
    acme = by_name["Acme Corporation"]
    assert acme["industry"] == "technolgy"  # the source's typo is kept, not fixed by hand
    assert acme["revenue"] == pytest.approx(1100.04e6)
    assert acme["employees"] == 2822
    assert acme["country"] == "United States"
    subsidiaries = [a for a in accounts if a["parent_name"]]
    assert len(subsidiaries) == 15
    for sub in subsidiaries:
        assert sub["parent_account_id"] == by_name[sub["parent_name"]]["account_id"]
    years = {r["entity_id"]: r["value"] for r in rows_of(duck_abm, "attributes")
             if r["name"] == "year_established"}  # fmt: skip
    assert len(years) == 85 and years[acme["account_id"]] == "1996"

    opp = ok(duck_abm.ingest("opportunities", [data_dir / "maven_crm/sales_pipeline.csv"],
                             mapping=MAVEN / "pipeline.yaml")[0])  # fmt: skip
    assert (opp.rows_read, opp.inserted) == (8_800, 8_800)
    assert opp.unmatched == 1_425
    o = by_key(duck_abm, "opportunities", "opportunity_id")
    assert len(o) == 8_800
    first = o["1C1I7A6R"]
    assert (first["stage"], first["is_won"], first["is_closed"]) == ("Won", True, True)
    assert first["amount"] == 1054.0
    assert first["created_at"] == dt.date(2016, 10, 20)
    assert first["closed_at"] == dt.date(2017, 3, 1)
    assert first["account_id"] == by_name["Cancity"]["account_id"]
    stages = {}
    for r in o.values():
        stages.setdefault(r["stage"], set()).add((r["is_won"], r["is_closed"]))
    assert stages["Won"] == {(True, True)}
    assert stages["Lost"] == {(False, True)}
    assert stages["Engaging"] == stages["Prospecting"] == {(None, False)}
    unmatched = [r for r in o.values() if r["account_id"] is None]
    assert len(unmatched) == 1_425
    assert all(r["account_name"] is None for r in unmatched)
    assert {r["stage"] for r in unmatched} <= {"Engaging", "Prospecting"}
    attrs = {(r["entity"], r["name"]) for r in rows_of(duck_abm, "attributes")}
    assert {("opportunity", "sales_agent"), ("opportunity", "product")} <= attrs
    rate = next(r for r in duck_abm.status().match_rates if r.table == "opportunities")
    assert (rate.rows, rate.matched) == (8_800, 8_800 - 1_425)


def _too_wide_rows(path: Path) -> list[int]:
    """Rows with unquoted commas. FedEx's row quotes its industry after a space
    (`, "Mail, Package and Freight Delivery"`); the reader honours that quote, so it is not one."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, skipinitialspace=True)
        return [i for i, r in enumerate(rows, start=1) if len(r) > 10]


@pytest.fixture
def fortune_mapping(tmp_path) -> Path:
    path = tmp_path / "fortune500.yaml"
    path.write_text(FORTUNE_MAPPING, encoding="utf-8")
    return path


def test_fortune500_raw_quarantines_rows_with_unquoted_commas(duck_abm, data_dir,
                                                              fortune_mapping):  # fmt: skip
    path = data_dir / "firmographics/stablemap_fortune500Raw.csv"
    wide = _too_wide_rows(path)
    assert len(wide) == 3
    rec = ok(duck_abm.ingest("accounts", [path], mapping=fortune_mapping, quarantine=True)[0])
    assert (rec.rows_read, rec.inserted, rec.quarantined) == (500, 497, 3)
    assert duck_abm.warehouse.count("accounts") == 497
    q = duck_abm.quarantine().to_pylist()
    assert sorted(r["row"] for r in q) == wide
    assert all("too many fields" in r["reason"] and r["file"] == str(path) for r in q)
    assert len(q) == 3  # one problem per row, however many fields it had
    assert all(r["raw"] for r in q)  # the original line is kept for fixing (quarantine export)
    walmart = next(a for a in rows_of(duck_abm, "accounts") if a["name"] == "Walmart")
    assert walmart["domain"] == "walmart.com"
    assert walmart["employees"] == 2_100_000
    assert walmart["revenue"] == 681e9
    assert (walmart["city"], walmart["region"]) == ("Bentonville", "Arkansas")
    attrs = {(r["entity_id"], r["name"]): r["value"] for r in rows_of(duck_abm, "attributes")}
    assert attrs[(walmart["account_id"], "CEO")] == "Douglas McMillon"
    fedex = next(a for a in rows_of(duck_abm, "accounts") if a["name"] == "FedEx")
    assert fedex["industry"] == "Mail, Package and Freight Delivery"


def test_fortune500_raw_without_quarantine_is_rejected_naming_rows(duck_abm, data_dir,
                                                                   fortune_mapping):  # fmt: skip
    path = data_dir / "firmographics/stablemap_fortune500Raw.csv"
    before = snapshot(duck_abm)
    (result,) = duck_abm.ingest("accounts", [path], mapping=fortune_mapping)
    assert isinstance(result, InputError)
    message = str(result)
    for row in _too_wide_rows(path):
        assert f"row {row}: too many fields" in message
    assert snapshot(duck_abm) == before


def test_cp1252_fortune_list(duck_abm, data_dir, tmp_path):
    path = data_dir / "firmographics/jobbot_fortune1000.csv"
    mapping = tmp_path / "jobbot.yaml"
    mapping.write_text(JOBBOT_MAPPING, encoding="utf-8")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")  # really not UTF-8
    rec = ok(duck_abm.ingest("accounts", [path], mapping=mapping)[0])
    assert (rec.rows_read, rec.inserted) == (500, 500)
    names = {a["name"]: a for a in rows_of(duck_abm, "accounts")}
    assert len(names) == 500
    non_ascii = [n for n in names if not n.isascii()]
    assert "Estée Lauder" in non_ascii
    assert not any("\ufffd" in n or "Ã" in n for n in names)
    assert names["Amazon"]["revenue"] == 716_924_000_000
    assert names["Amazon"]["domain"] == "amazon.com"


def test_bombora_surge_file_scores_end_to_end(duck_abm, data_dir, tmp_path):
    """The real surge file through ingest, linking and scoring; the third-party intent of each
    account checked against a computation straight from the file."""
    surge = data_dir / SURGE
    best: dict[str, dict[str, int]] = {}
    with surge.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            domain, topic = normalize_domain(row[1]), row[5].strip()
            if domain and topic:
                topics = best.setdefault(domain, {})
                topics[topic.lower()] = max(topics.get(topic.lower(), 0), int(row[6]))
    domains = sorted(best)[:60]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,domain\n" + "".join(f"{d},{d}\n" for d in domains))
    ok(duck_abm.ingest("accounts", [accounts])[0])
    ok(duck_abm.ingest("intent", [surge], preset="bombora")[0])
    week_end = dt.datetime(2015, 7, 26)  # the file's week (from its name) has ended
    duck_abm.score(week_end)
    scores = {r["account_id"]: r for r in rows_of(duck_abm, "account_scores")}
    ids = {r["domain"]: r["account_id"] for r in rows_of(duck_abm, "accounts")}
    surging_somewhere = 0
    for domain in domains:
        strengths = [min((s - 50) / 50, 0.99) for s in best[domain].values() if s >= 60]
        expected = 100 * (1 - math.prod(1 - x for x in strengths))
        got = scores[ids[domain]]
        assert got["topics_surging"] == len(strengths), domain
        assert got["intent_3p"] == pytest.approx(expected, abs=1e-3), domain
        surging_somewhere += bool(strengths)
    assert 0 < surging_somewhere < len(domains)  # both kinds of account are in the sample
