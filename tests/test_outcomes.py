"""Win rate per segment and pipeline per account, on each engine: a hand-made market whose every
figure is worked out below, and the Maven CRM files checked against pandas reading the CSVs."""

from __future__ import annotations

import pandas as pd
import pytest

from abmkit.app import Abm
from abmkit.errors import AbmError
from conftest import REPO, ok

MAVEN = REPO / "examples" / "maven_crm"

ACCOUNT_HEADER = ["Id", "Name", "Website", "Industry"]
ACCOUNTS = [["001A", "Acme", "acme.com", "Software"],
            ["001B", "Beta", "beta.io", "Software"],
            ["001C", "Gamma", "gamma.com", "Retail"],
            ["001D", "Delta", "delta.com", ""],  # industry unknown
            ["001E", "Epsilon", "epsilon.com", "Retail"]]  # fmt: skip
OPP_HEADER = ["Id", "AccountId", "StageName", "Amount", "CreatedDate", "CloseDate"]
OPPS = [["o1", "001A", "Closed Won", "1000", "2026-01-05", "2026-03-01"],
        ["o2", "001A", "Closed Lost", "500", "2026-01-06", "2026-03-02"],
        ["o3", "001A", "Discovery", "2000", "2026-04-01", ""],  # open: not in the denominator
        ["o4", "001B", "Closed Won", "", "2026-02-01", "2026-05-01"],  # won, amount unknown
        ["o5", "001B", "Prospecting", "", "2026-05-01", ""],
        ["o6", "001C", "Negotiation", "300", "2026-05-02", ""],  # Retail: nothing closed
        ["o7", "001D", "Closed Lost", "700", "2026-01-07", "2026-02-01"],
        # no account: left out of every figure; and Epsilon (001E) has no opportunity at all
        ["o8", "", "Closed Won", "9999", "2026-01-08", "2026-02-02"]]  # fmt: skip

RATE_COLUMNS = ("accounts", "closed", "won", "lost", "win_rate", "won_amount")
PIPELINE_COLUMNS = ("opportunities", "open_opportunities", "pipeline", "open_pipeline",
                    "won_amount")  # fmt: skip


@pytest.fixture
def market(abm, csv_file) -> Abm:
    ok(abm.ingest("accounts", [csv_file("acc.csv", ACCOUNT_HEADER, ACCOUNTS)],
                  preset="salesforce")[0])  # fmt: skip
    ok(abm.ingest("opportunities", [csv_file("opp.csv", OPP_HEADER, OPPS)],
                  preset="salesforce")[0])  # fmt: skip
    return abm


def keyed(rows: list[dict], key: str, columns: tuple[str, ...]) -> dict[str, dict]:
    return {r[key]: {c: r[c] for c in columns} for r in rows}


def test_win_rate_counts_decided_deals_of_linked_accounts_only(market):
    got = keyed(market.win_rates().to_pylist(), "industry", RATE_COLUMNS)
    assert got == {
        # Acme: 1 won, 1 lost, 1 open (not counted); Beta: 1 won with no amount
        "Software": {"accounts": 2, "closed": 3, "won": 2, "lost": 1,
                     "win_rate": pytest.approx(2 / 3), "won_amount": 1000.0},
        # Gamma's deal is open and Epsilon has none: no rate rather than a rate of 0
        "Retail": {"accounts": 0, "closed": 0, "won": 0, "lost": 0, "win_rate": None,
                   "won_amount": 0.0},
        "(unknown)": {"accounts": 1, "closed": 1, "won": 0, "lost": 1, "win_rate": 0.0,
                      "won_amount": 0.0},
    }  # fmt: skip


def test_win_rate_by_another_accounts_column(market):
    got = keyed(market.win_rates(by="account_id").to_pylist(), "account_id", ("closed", "won"))
    assert got == {"001A": {"closed": 2, "won": 1}, "001B": {"closed": 1, "won": 1},
                   "001C": {"closed": 0, "won": 0}, "001D": {"closed": 1, "won": 0},
                   "001E": {"closed": 0, "won": 0}}  # fmt: skip


def test_an_unknown_segment_column_is_an_error_naming_the_allowed_ones(market):
    for call in (market.win_rates, market.pipeline_per_account):
        with pytest.raises(AbmError, match=r"'sector'.*industry.*region"):
            call(by="sector")


def test_pipeline_per_account_counts_every_deal_and_every_account(market):
    got = keyed(market.pipeline_per_account().to_pylist(), "account_id", PIPELINE_COLUMNS)
    assert got == {
        "001A": {"opportunities": 3, "open_opportunities": 1, "pipeline": 3500.0,
                 "open_pipeline": 2000.0, "won_amount": 1000.0},
        # NULL amounts count as 0: the deals count, their value does not
        "001B": {"opportunities": 2, "open_opportunities": 1, "pipeline": 0.0,
                 "open_pipeline": 0.0, "won_amount": 0.0},
        "001C": {"opportunities": 1, "open_opportunities": 1, "pipeline": 300.0,
                 "open_pipeline": 300.0, "won_amount": 0.0},
        "001D": {"opportunities": 1, "open_opportunities": 0, "pipeline": 700.0,
                 "open_pipeline": 0.0, "won_amount": 0.0},
        "001E": {"opportunities": 0, "open_opportunities": 0, "pipeline": 0.0,
                 "open_pipeline": 0.0, "won_amount": 0.0},
    }  # fmt: skip
    assert market.pipeline_per_account().column("account_id")[0].as_py() == "001A"  # most first


def test_pipeline_per_segment_divides_by_all_its_accounts(market):
    columns = ("accounts", "accounts_with_pipeline", "pipeline", "pipeline_per_account",
               "pipeline_per_account_with_pipeline")  # fmt: skip
    got = keyed(market.pipeline_per_account(by="industry").to_pylist(), "industry", columns)
    assert got == {
        "Software": {"accounts": 2, "accounts_with_pipeline": 2, "pipeline": 3500.0,
                     "pipeline_per_account": 1750.0, "pipeline_per_account_with_pipeline": 1750.0},
        # Epsilon has no deal: it halves Retail's pipeline per account, not the other figure
        "Retail": {"accounts": 2, "accounts_with_pipeline": 1, "pipeline": 300.0,
                   "pipeline_per_account": 150.0, "pipeline_per_account_with_pipeline": 300.0},
        "(unknown)": {"accounts": 1, "accounts_with_pipeline": 1, "pipeline": 700.0,
                      "pipeline_per_account": 700.0,
                      "pipeline_per_account_with_pipeline": 700.0},
    }  # fmt: skip


def test_a_won_deal_is_closed_even_when_the_source_leaves_is_closed_blank(abm, csv_file):
    ok(abm.ingest("accounts", [csv_file("acc.csv", ACCOUNT_HEADER, ACCOUNTS[:1])],
                  preset="salesforce")[0])  # fmt: skip
    header = ["Id", "AccountId", "Amount", "IsClosed", "IsWon"]
    rows = [["w", "001A", "10", "", "true"], ["l", "001A", "20", "true", "false"],
            ["o", "001A", "40", "", ""]]  # fmt: skip
    ok(abm.ingest("opportunities", [csv_file("opp.csv", header, rows)], preset="salesforce")[0])
    (rate,) = abm.win_rates().to_pylist()
    assert (rate["closed"], rate["won"], rate["lost"]) == (2, 1, 1)
    (acme,) = abm.pipeline_per_account().to_pylist()
    assert (acme["open_opportunities"], acme["open_pipeline"], acme["pipeline"]) == (1, 40.0, 70.0)


# -- the Maven CRM files -----------------------------------------------------------------------
def maven_deals(folder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accounts and the deals with an account, joined by name, straight from the CSV files."""
    accounts = pd.read_csv(folder / "accounts.csv")
    deals = pd.read_csv(folder / "sales_pipeline.csv")
    assert deals["account"].isna().sum() == 1_425  # left out on both sides
    deals = deals.merge(accounts[["account", "sector"]], on="account", how="inner")
    assert len(deals) == 8_800 - 1_425
    deals["won"] = deals["deal_stage"] == "Won"
    deals["closed"] = deals["deal_stage"].isin(["Won", "Lost"])
    deals["amount"] = deals["close_value"].fillna(0.0)
    deals["won_amount"] = deals["amount"].where(deals["won"], 0.0)
    deals["open_amount"] = deals["amount"].where(~deals["closed"], 0.0)
    return accounts, deals


def pandas_win_rates(deals: pd.DataFrame) -> dict[str, dict]:
    out = {}
    for sector, d in deals.groupby("sector"):
        closed, won = int(d["closed"].sum()), int(d["won"].sum())
        out[sector] = {"accounts": d.loc[d["closed"], "account"].nunique(), "closed": closed,
                       "won": won, "lost": closed - won, "win_rate": won / closed,
                       "won_amount": d["won_amount"].sum()}  # fmt: skip
    return out


def pandas_pipeline(accounts: pd.DataFrame, deals: pd.DataFrame) -> dict[str, dict]:
    out = {}
    for name in accounts["account"]:
        d = deals[deals["account"] == name]
        out[name] = {"opportunities": len(d), "open_opportunities": int((~d["closed"]).sum()),
                     "pipeline": d["amount"].sum(), "open_pipeline": d["open_amount"].sum(),
                     "won_amount": d["won_amount"].sum()}  # fmt: skip
    return out


def approx_each(got: dict[str, dict], expected: dict[str, dict]) -> None:
    assert set(got) == set(expected)
    for key, figures in expected.items():
        assert got[key] == pytest.approx(figures), key


@pytest.mark.realdata
def test_maven_crm_outcomes_match_pandas(abm, data_dir):
    folder = data_dir / "maven_crm"
    ok(abm.ingest("accounts", [folder / "accounts.csv"], mapping=MAVEN / "accounts.yaml")[0])
    ok(abm.ingest("opportunities", [folder / "sales_pipeline.csv"],
                  mapping=MAVEN / "pipeline.yaml")[0])  # fmt: skip
    accounts, deals = maven_deals(folder)

    rates = keyed(abm.win_rates().to_pylist(), "industry", RATE_COLUMNS)
    expected_rates = pandas_win_rates(deals)
    assert "technolgy" in rates and "technology" not in rates  # the source's typo is a sector
    approx_each(rates, expected_rates)

    pipeline = keyed(abm.pipeline_per_account().to_pylist(), "name", PIPELINE_COLUMNS)
    expected_pipeline = pandas_pipeline(accounts, deals)
    assert len(expected_pipeline) == 85
    approx_each(pipeline, expected_pipeline)

    per_sector = keyed(abm.pipeline_per_account(by="industry").to_pylist(), "industry",
                       ("accounts", "accounts_with_pipeline", "pipeline_per_account"))  # fmt: skip
    expected_sector = {
        sector: {"accounts": len(a), "accounts_with_pipeline": int(a["account"].isin(
                     deals["account"]).sum()),
                 "pipeline_per_account": deals.loc[deals["sector"] == sector, "amount"].sum()
                 / len(a)}
        for sector, a in accounts.groupby("sector")
    }  # fmt: skip
    approx_each(per_sector, expected_sector)
