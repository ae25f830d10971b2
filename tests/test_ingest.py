"""Ingest on each engine: presets, formats, idempotence, quarantine, load records, linking."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abmkit.app import Abm
from abmkit.config.workspace import init_workspace
from abmkit.errors import InputError
from conftest import by_key, ok, rows_of, snapshot, write_csv, write_text

SF_ACCOUNTS_API = ["Id", "Name", "Website", "Industry", "NumberOfEmployees", "AnnualRevenue",
                   "BillingCountry", "BillingState", "BillingCity", "OwnerId", "Type",
                   "Tech_Stack__c"]  # fmt: skip
SF_ACCOUNT_ROWS = [
    ["001A", "Acme Corp", "https://www.acme.com/", "Software", "1,200", "$1,234,000", "US", "CA",
     "San Francisco", "005X", "Customer", "salesforce;slack"],
    ["001B", "Globex Industries", "globex.io", "Manufacturing", "350", "1.5M", "Germany",
     "Bavaria", "Munich", "005Y", "Prospect", ""],
    ["001C", "Initech, Inc.", "http://initech.com/about", "Software", "80", "2.5B", "US", "TX",
     "Austin", "005X", "Prospect", "hubspot"],
]  # fmt: skip


def load(abm: Abm, table: str, *files: Path, **kw):
    """Load files and return the single LoadRecord (or InputError) per file."""
    results = abm.ingest(table, list(files), **kw)
    return results[0] if len(results) == 1 else results


def sf_accounts(csv_file, name="sf_accounts.csv", rows=SF_ACCOUNT_ROWS) -> Path:
    return csv_file(name, SF_ACCOUNTS_API, rows)


# -- presets ------------------------------------------------------------------------------------
def test_salesforce_api_names_land_in_canonical_columns(abm, csv_file):
    rec = ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    assert (rec.inserted, rec.updated, rec.unchanged, rec.rows_read) == (3, 0, 0, 3)
    acc = by_key(abm, "accounts", "account_id")
    assert set(acc) == {"001A", "001B", "001C"}
    a = acc["001A"]
    assert a["name"] == "Acme Corp"
    assert a["domain"] == "acme.com"
    assert a["industry"] == "Software"
    assert a["employees"] == 1200
    assert a["revenue"] == 1_234_000.0
    assert (a["country"], a["region"], a["city"]) == ("US", "CA", "San Francisco")
    assert (a["owner"], a["account_type"], a["source"]) == ("005X", "Customer", "salesforce")
    assert acc["001B"]["revenue"] == 1_500_000.0
    assert acc["001C"]["revenue"] == 2_500_000_000.0
    assert acc["001C"]["domain"] == "initech.com"
    assert acc["001C"]["name_key"] == "initech"


def test_salesforce_ui_labels_land_in_canonical_columns(abm, csv_file):
    header = ["Account ID", "Account Name", "Website", "Employees", "Annual Revenue",
              "Billing Country", "Billing State/Province", "Billing City", "Account Owner",
              "Account Type", "Parent Account ID"]  # fmt: skip
    rows = [["001P", "Parent Co", "parent.com", "10,000", "$5,000,000", "US", "NY", "New York",
             "Jane Roe", "Customer", ""],
            ["001S", "Sub Co", "sub.com", "50", "$100", "US", "NY", "Albany", "Jane Roe",
             "Customer", "001P"]]  # fmt: skip
    ok(load(abm, "accounts", csv_file("sf_ui.csv", header, rows), preset="salesforce"))
    acc = by_key(abm, "accounts", "account_id")
    assert acc["001P"]["employees"] == 10_000
    assert acc["001P"]["revenue"] == 5_000_000.0
    assert acc["001P"]["owner"] == "Jane Roe"
    assert acc["001S"]["region"] == "NY"
    assert acc["001S"]["parent_account_id"] == "001P"


def test_salesforce_contacts_and_opportunities(abm, csv_file):
    ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    contacts = csv_file(
        "sf_contacts.csv",
        ["Id", "AccountId", "FirstName", "LastName", "Email", "Title", "HasOptedOutOfEmail"],
        [
            ["003A", "001A", "Ann", "Lee", "Ann.Lee@Acme.com", "VP Marketing", "true"],
            ["003B", "001B", "Bo", "Park", "bo@globex.io", "Engineer", "false"],
        ],
    )
    ok(load(abm, "contacts", contacts, preset="salesforce"))
    c = by_key(abm, "contacts", "contact_id")
    assert c["003A"]["account_id"] == "001A"
    assert c["003A"]["email"] == "ann.lee@acme.com"
    assert c["003A"]["name"] == "Ann Lee"
    assert c["003A"]["email_opt_out"] is True
    assert c["003B"]["email_opt_out"] is False
    assert c["003A"]["match_method"] == "id"

    opps = csv_file(
        "sf_opps.csv",
        ["Id", "AccountId", "Name", "StageName", "Amount", "CreatedDate", "CloseDate"],
        [
            [
                "006A",
                "001A",
                "Acme renewal",
                "Closed Won",
                "$1,234,000",
                "2025-01-15",
                "03/04/2025",
            ],
            ["006B", "001B", "Globex new", "Closed Lost", "(1,200)", "2025-02-01", "Mar 4, 2025"],
            ["006C", "001C", "Initech upsell", "Negotiation", "1.5M", "2025-02-02", ""],
        ],
    )
    ok(load(abm, "opportunities", opps, preset="salesforce"))
    o = by_key(abm, "opportunities", "opportunity_id")
    assert o["006A"]["amount"] == 1_234_000.0
    assert o["006B"]["amount"] == -1200.0
    assert o["006C"]["amount"] == 1_500_000.0
    assert o["006A"]["closed_at"] == dt.date(2025, 3, 4)
    assert o["006B"]["closed_at"] == dt.date(2025, 3, 4)
    assert o["006C"]["closed_at"] is None
    assert (o["006A"]["is_won"], o["006A"]["is_closed"]) == (True, True)
    assert (o["006B"]["is_won"], o["006B"]["is_closed"]) == (False, True)
    assert (o["006C"]["is_won"], o["006C"]["is_closed"]) == (None, False)


def test_hubspot_internal_names_and_ui_labels(abm, csv_file):
    internal = csv_file("hs_companies.csv",
                        ["hs_object_id", "name", "domain", "industry", "numberofemployees",
                         "annualrevenue", "country", "state", "city", "lifecyclestage"],
                        [["9001", "Acme Corp", "acme.com", "COMPUTER_SOFTWARE", "1200", "1234000",
                          "United States", "California", "San Francisco", "customer"]])  # fmt: skip
    labels = csv_file("hs_companies_ui.csv",
                      ["Record ID", "Company name", "Company Domain Name", "Number of Employees",
                       "Annual Revenue", "Country/Region", "State/Region"],
                      [["9002", "Globex", "www.globex.io", "350", "1,500,000", "Germany",
                        "Bavaria"]])  # fmt: skip
    ok(load(abm, "accounts", internal, preset="hubspot"))
    ok(load(abm, "accounts", labels, preset="hubspot"))
    acc = by_key(abm, "accounts", "account_id")
    assert acc["9001"]["domain"] == "acme.com"
    assert acc["9001"]["revenue"] == 1_234_000.0
    assert acc["9001"]["region"] == "California"
    assert acc["9001"]["source"] == "hubspot"
    assert acc["9002"]["name"] == "Globex"
    assert acc["9002"]["domain"] == "globex.io"
    assert acc["9002"]["employees"] == 350
    assert acc["9002"]["country"] == "Germany"
    attrs = {(r["entity_id"], r["name"]): r["value"] for r in rows_of(abm, "attributes")}
    assert attrs[("9001", "lifecyclestage")] == "customer"


def test_hubspot_contacts(abm, csv_file):
    ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    contacts = csv_file("hs_contacts.csv",
                        ["Record ID", "First Name", "Last Name", "Email", "Job Title",
                         "Company Name"],
                        [["501", "Cy", "Diaz", "cy@globex.io", "Chief Financial Officer",
                          "Globex"]])  # fmt: skip
    ok(load(abm, "contacts", contacts, preset="hubspot"))
    (c,) = rows_of(abm, "contacts")
    assert (c["contact_id"], c["first_name"], c["title"]) == (
        "501",
        "Cy",
        "Chief Financial Officer",
    )
    assert c["account_name"] == "Globex"
    assert c["account_id"] == "001B"  # by e-mail domain
    assert c["match_method"] == "domain"


# -- values -------------------------------------------------------------------------------------
def test_timestamp_formats(abm, csv_file):
    values = {
        "t1": ("2025-03-04", dt.datetime(2025, 3, 4)),
        "t2": ("03/04/2025", dt.datetime(2025, 3, 4)),
        "t3": ("Mar 4, 2025", dt.datetime(2025, 3, 4)),
        "t4": ("2025-03-04T10:30:00Z", dt.datetime(2025, 3, 4, 10, 30)),
        "t5": ("2025-03-04T12:30:00+02:00", dt.datetime(2025, 3, 4, 10, 30)),
        "t6": ("2025-03-04 10:30:00-05:00", dt.datetime(2025, 3, 4, 15, 30)),
        "t7": ("03/04/2025 2:15 PM", dt.datetime(2025, 3, 4, 14, 15)),
        "t8": ("2025-03-04T10:30:00.250Z", dt.datetime(2025, 3, 4, 10, 30, 0, 250000)),
    }
    rows = [[k, v[0], "email_open", "x@acme.com"] for k, v in values.items()]
    ok(load(abm, "touches", csv_file("touches.csv", ["touch_id", "ts", "kind", "email"], rows)))
    got = {k: r["ts"] for k, r in by_key(abm, "touches", "touch_id").items()}
    assert got == {k: v[1] for k, v in values.items()}


def test_date_formats_and_date_order(workspace, warehouse_url, csv_file):
    rows = [["o1", "2025-03-04"], ["o2", "03/04/2025"], ["o3", "Mar 4, 2025"],
            ["o4", "4 Mar 2025"], ["o5", "2025/03/04"], ["o6", "20250304"],
            ["o7", "2025-03-04T23:59:00Z"]]  # fmt: skip
    f = csv_file("opps.csv", ["opportunity_id", "closed_at"], rows)
    with Abm.open(workspace, {"warehouse": {"url": warehouse_url}}) as abm:
        ok(load(abm, "opportunities", f))
        got = {k: r["closed_at"] for k, r in by_key(abm, "opportunities", "opportunity_id").items()}
    assert got == {f"o{i}": dt.date(2025, 3, 4) for i in range(1, 8)}
    f2 = csv_file("opps_dmy.csv", ["opportunity_id", "closed_at"], [["d1", "03/04/2025"]])
    overrides = {"warehouse": {"url": warehouse_url}, "ingest": {"date_order": "DMY"}}
    with Abm.open(workspace, overrides) as abm:
        ok(load(abm, "opportunities", f2))
        assert by_key(abm, "opportunities", "opportunity_id")["d1"]["closed_at"] == dt.date(
            2025, 4, 3
        )


def test_number_formats(abm, csv_file):
    values = {"n1": ("$1,234,000", 1_234_000.0), "n2": ("1.5M", 1_500_000.0),
              "n3": ("(1,200)", -1200.0), "n4": ("2k", 2000.0), "n5": ("€ 99.50", 99.5),
              "n6": ("-3.25", -3.25), "n7": ("1,000.5", 1000.5), "n8": ("", None)}  # fmt: skip
    rows = [[k, v[0]] for k, v in values.items()]
    ok(load(abm, "opportunities", csv_file("amounts.csv", ["opportunity_id", "amount"], rows)))
    got = {k: r["amount"] for k, r in by_key(abm, "opportunities", "opportunity_id").items()}
    assert got == {k: v[1] for k, v in values.items()}


# -- file shapes --------------------------------------------------------------------------------
@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_other_delimiters_with_quoted_delimiters_and_newlines(abm, csv_file, delimiter):
    rows = [["Acme; Corp", "acme.com", "120", f"line one{delimiter} more\nline two"],
            ["Globex", "globex.io", "35", "plain"]]  # fmt: skip
    f = csv_file(
        "accounts.csv", ["name", "domain", "employees", "notes"], rows, delimiter=delimiter
    )
    ok(load(abm, "accounts", f))
    acc = {r["domain"]: r for r in rows_of(abm, "accounts")}
    assert acc["acme.com"]["name"] == "Acme; Corp"
    assert acc["acme.com"]["employees"] == 120
    assert acc["globex.io"]["employees"] == 35
    notes = {r["value"] for r in rows_of(abm, "attributes") if r["name"] == "notes"}
    assert notes == {f"line one{delimiter} more\nline two", "plain"}


def test_utf8_with_bom(abm, tmp_path):
    f = write_text(tmp_path / "bom.csv", "\ufeffName,Website,Employees\nZürich Versicherung,"
                   "zurich.com,55000\n")  # fmt: skip
    ok(load(abm, "accounts", f))
    (a,) = rows_of(abm, "accounts")
    assert (a["name"], a["domain"], a["employees"]) == ("Zürich Versicherung", "zurich.com", 55000)
    assert not any("\ufeff" in r["name"] for r in rows_of(abm, "attributes"))


def test_cp1252(abm, tmp_path):
    text = "Name,Website,Industry,Budget\nSociété Générale,societegenerale.fr,Banque,€ 1.000\n"
    f = write_text(tmp_path / "cp1252.csv", text, encoding="cp1252")
    assert b"\xe9" in f.read_bytes() and b"\x80" in f.read_bytes()
    ok(load(abm, "accounts", f))
    (a,) = rows_of(abm, "accounts")
    assert a["name"] == "Société Générale"
    (attr,) = rows_of(abm, "attributes")
    assert (attr["name"], attr["value"]) == ("Budget", "€ 1.000")


def test_headerless_file_with_mapping_names(abm, tmp_path):
    f = write_csv(
        tmp_path / "noheader.csv",
        None,
        [["Acme Corp", "acme.com", "1200", "gold"], ["Globex", "globex.io", "35", ""]],
    )
    mapping = tmp_path / "noheader.yaml"
    mapping.write_text(
        "table: accounts\nheader: false\nnames: [company, site, staff, tier]\n"
        "columns:\n  company: name\n  site: domain\n  staff: employees\n  tier: attr:tier\n",
        encoding="utf-8",
    )
    rec = ok(load(abm, "accounts", f, mapping=mapping))
    assert rec.rows_read == 2
    acc = {r["domain"]: r for r in rows_of(abm, "accounts")}
    assert acc["acme.com"]["name"] == "Acme Corp"
    assert acc["globex.io"]["employees"] == 35
    attrs = [(r["name"], r["value"]) for r in rows_of(abm, "attributes")]
    assert attrs == [("tier", "gold")]


def test_mapping_for_another_table_is_refused(abm, tmp_path, csv_file):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("table: contacts\ncolumns: {}\n", encoding="utf-8")
    res = load(abm, "accounts", csv_file("a.csv", ["name"], [["Acme"]]), mapping=mapping)
    assert isinstance(res, InputError)
    assert "contacts" in str(res)
    assert abm.warehouse.count("accounts") == 0


def test_parquet_and_json_lines(abm, tmp_path):
    parquet = tmp_path / "accounts.parquet"
    pq.write_table(pa.table({
        "account_id": ["p1", "p2"], "name": ["Acme Corp", "Globex"],
        "domain": ["acme.com", "globex.io"], "employees": pa.array([1200, None], pa.int64()),
        "revenue": [1.5e6, 2.0], "tier": ["gold", None],
    }), parquet)  # fmt: skip
    jsonl = tmp_path / "contacts.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in [
        {"contact_id": "c1", "email": "ann@acme.com", "first_name": "Ann", "score": 7},
        {"contact_id": "c2", "email": "bo@globex.io", "first_name": "Bo", "score": 3},
    ]) + "\n", encoding="utf-8")  # fmt: skip
    ok(load(abm, "accounts", parquet))
    ok(load(abm, "contacts", jsonl))
    acc = by_key(abm, "accounts", "account_id")
    assert acc["p1"]["employees"] == 1200 and acc["p2"]["employees"] is None
    assert acc["p1"]["revenue"] == 1.5e6
    c = by_key(abm, "contacts", "contact_id")
    assert c["c1"]["account_id"] == "p1" and c["c2"]["account_id"] == "p2"
    attrs = {(r["entity"], r["entity_id"], r["name"]): r["value"]
             for r in rows_of(abm, "attributes")}  # fmt: skip
    assert attrs == {("account", "p1", "tier"): "gold", ("contact", "c1", "score"): "7",
                     ("contact", "c2", "score"): "3"}  # fmt: skip


def test_custom_attributes_are_queryable(abm, csv_file):
    ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    attrs = abm.warehouse.table("attributes")
    stack = attrs.filter((attrs.entity == "account") & (attrs.name == "Tech_Stack__c"))
    got = dict(zip(*stack.select("entity_id", "value").to_pyarrow().to_pydict().values(),
                   strict=True))  # fmt: skip
    assert got == {"001A": "salesforce;slack", "001C": "hubspot"}  # the empty cell is no value
    (row,) = stack.filter(stack.entity_id == "001A").to_pyarrow().to_pylist()
    assert row["attribute_id"] == "account|001A|Tech_Stack__c"
    assert row["load_id"] == by_key(abm, "accounts", "account_id")["001A"]["load_id"]


# -- idempotence and updates --------------------------------------------------------------------
def test_loading_the_same_file_twice_changes_nothing(abm, csv_file):
    f = sf_accounts(csv_file)
    first = ok(load(abm, "accounts", f, preset="salesforce"))
    before = snapshot(abm)
    second = ok(load(abm, "accounts", f, preset="salesforce"))
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 3)
    assert first.inserted == 3
    assert snapshot(abm) == before
    assert abm.warehouse.count("loads") == 2


def test_a_corrected_file_updates_exactly_the_changed_rows(abm, csv_file):
    ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    before = by_key(abm, "accounts", "account_id")
    fixed = [list(r) for r in SF_ACCOUNT_ROWS]
    fixed[1][4] = "400"  # Globex employees corrected
    fixed[2][11] = "hubspot;marketo"  # a custom attribute corrected
    fixed.append(["001D", "Umbrella", "umbrella.com", "Pharma", "9", "", "US", "", "", "", "", ""])
    rec = ok(load(abm, "accounts", sf_accounts(csv_file, "sf_accounts_v2.csv", fixed),
                  preset="salesforce"))  # fmt: skip
    assert (rec.inserted, rec.updated, rec.unchanged) == (1, 1, 2)
    after = by_key(abm, "accounts", "account_id")
    assert after["001B"]["employees"] == 400
    assert after["001B"]["load_id"] == rec.load_id
    for unchanged in ("001A", "001C"):  # not rewritten at all
        assert after[unchanged] == before[unchanged]
    assert after["001D"]["revenue"] is None
    attrs = {(r["entity_id"], r["name"]): r["value"] for r in rows_of(abm, "attributes")}
    assert attrs[("001C", "Tech_Stack__c")] == "hubspot;marketo"
    assert attrs[("001A", "Tech_Stack__c")] == "salesforce;slack"


def test_hubspot_without_revenue_keeps_salesforce_revenue(abm, csv_file):
    ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    hs = csv_file(
        "hs.csv",
        ["Company name", "Company Domain Name", "Number of Employees"],
        [["Acme Corp", "acme.com", "1300"]],
    )
    rec = ok(load(abm, "accounts", hs, preset="hubspot"))
    assert (rec.inserted, rec.updated) == (0, 1)
    acc = by_key(abm, "accounts", "account_id")
    assert set(acc) == {"001A", "001B", "001C"}  # matched by domain, no new account
    assert acc["001A"]["employees"] == 1300
    assert acc["001A"]["revenue"] == 1_234_000.0
    assert acc["001A"]["industry"] == "Software"


# -- quarantine and load records ----------------------------------------------------------------
def test_quarantine_loads_good_rows_and_lists_bad_ones(abm, csv_file):
    rows = [["Acme Corp", "acme.com", "1200", "2020-01-01"],
            ["Globex", "globex.io", "abc", "2020-01-01"],
            ["Initech", "initech.com", "80", "2020-01-01"],
            ["", "", "5", ""]]  # fmt: skip
    f = csv_file("acc_bad.csv", ["name", "domain", "employees", "founded"], rows)
    rec = ok(load(abm, "accounts", f, quarantine=True))
    assert (rec.inserted, rec.quarantined) == (2, 2)
    assert {r["domain"] for r in rows_of(abm, "accounts")} == {"acme.com", "initech.com"}
    q = abm.quarantine().to_pylist()
    assert {(r["file"], r["row"], r["column_name"]) for r in q} == {
        (str(f), 3, "employees"),
        (str(f), 5, "name"),
    }
    bad = next(r for r in q if r["row"] == 3)
    assert "not a whole number" in bad["reason"] and "abc" in bad["reason"]
    assert json.loads(bad["raw"])["employees"] == "abc"
    assert all(r["load_id"] == rec.load_id and r["table_name"] == "accounts" for r in q)
    assert "required" in next(r for r in q if r["row"] == 5)["reason"]
    # the attributes of quarantined rows are not loaded
    assert {r["entity_id"] for r in rows_of(abm, "attributes")} == {
        r["account_id"] for r in rows_of(abm, "accounts")
    }

    again = ok(load(abm, "accounts", f, quarantine=True))
    assert (again.inserted, again.updated, again.unchanged, again.quarantined) == (0, 0, 2, 2)
    assert abm.quarantine().num_rows == len(q)
    assert abm.status().quarantined_rows == 2


def test_load_records_have_checksum_rows_and_outcome(abm, csv_file):
    good = sf_accounts(csv_file)
    bad = csv_file("bad.csv", ["name", "employees"], [["Acme", "many"]])
    results = abm.ingest("accounts", [good, bad], preset="salesforce")
    assert isinstance(results[1], InputError)
    rec = ok(results[0])
    loads = {r["file"]: r for r in abm.loads().to_pylist()}
    assert set(loads) == {str(good), str(bad)}
    g = loads[str(good)]
    assert g["checksum"] == hashlib.sha256(good.read_bytes()).hexdigest()
    assert (g["rows_read"], g["inserted"], g["updated"], g["unchanged"]) == (3, 3, 0, 0)
    assert (g["outcome"], g["preset"], g["table_name"]) == ("ok", "salesforce", "accounts")
    assert g["load_id"] == rec.load_id
    assert g["seconds"] >= 0
    b = loads[str(bad)]
    assert b["outcome"] == "rejected"
    assert "many" in b["message"] and "employees" in b["message"]
    assert b["checksum"] == hashlib.sha256(bad.read_bytes()).hexdigest()
    assert b["inserted"] == 0


# -- linking ------------------------------------------------------------------------------------
def test_contacts_link_by_account_id_and_email_domain_not_free_mail(abm, csv_file):
    ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    rows = [["c1", "001C", "zed@othermail.net"],  # the ID wins over the domain
            ["c2", "", "ann@acme.com"],
            ["c3", "", "bo@mail.globex.io"],
            ["c4", "", "someone@gmail.com"],
            ["c5", "", "x@unknown-company.com"]]  # fmt: skip
    rec = ok(load(abm, "contacts", csv_file("contacts.csv", ["contact_id", "account_id", "email"],
                                            rows)))  # fmt: skip
    c = by_key(abm, "contacts", "contact_id")
    assert (c["c1"]["account_id"], c["c1"]["match_method"]) == ("001C", "id")
    assert (c["c2"]["account_id"], c["c2"]["match_method"]) == ("001A", "domain")
    assert c["c3"]["account_id"] == "001B"
    assert c["c2"]["match_score"] == 100.0
    assert c["c4"]["account_id"] is None and c["c4"]["match_method"] is None
    assert c["c5"]["account_id"] is None
    assert rec.unmatched == 2


def test_web_visits_link_by_ip_range(abm, csv_file):
    ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    ranges = csv_file("ranges.csv", ["start_ip", "end_ip", "domain"],
                      [["10.0.0.0", "10.0.0.255", "acme.com"],
                       ["10.0.0.16", "10.0.0.31", "globex.io"],
                       ["192.168.1.1", "192.168.1.1", "initech.com"]])  # fmt: skip
    ok(load(abm, "ip_ranges", ranges))
    r = {x["start_ip"]: x for x in rows_of(abm, "ip_ranges")}
    assert r["10.0.0.0"]["account_id"] == "001A"
    assert r["10.0.0.16"]["range_id"] == "10.0.0.16-10.0.0.31"
    visits = csv_file("web_visits_202503.csv", ["timestamp", "visitor_ip", "page_url"],
                      [["2025-03-01T10:00:00Z", "10.0.0.5", "/pricing"],
                       ["2025-03-01T10:01:00Z", "10.0.0.20", "/docs"],
                       ["2025-03-01T10:02:00Z", "192.168.1.1", "/"],
                       ["2025-03-01T10:03:00Z", "8.8.8.8", "/blog"]])  # fmt: skip
    rec = ok(load(abm, "touches", visits))
    assert rec.unmatched == 1
    t = {x["ip"]: x for x in rows_of(abm, "touches")}
    assert (t["10.0.0.5"]["account_id"], t["10.0.0.5"]["match_method"]) == ("001A", "ip")
    assert t["10.0.0.20"]["account_id"] == "001B"  # the narrowest range wins
    assert t["192.168.1.1"]["account_id"] == "001C"
    assert t["8.8.8.8"]["account_id"] is None
    assert {x["kind"] for x in t.values()} == {"web_visit"}
    assert {x["source"] for x in t.values()} == {"web_visits"}
    assert all(x["touch_id"].startswith("t_") for x in t.values())


def test_ip_range_with_a_blank_end_is_a_single_address(abm, csv_file):
    ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    ranges = csv_file("ranges.csv", ["start_ip", "end_ip", "domain"],
                      [["10.0.0.0", "10.0.0.255", "acme.com"],
                       ["192.168.1.1", "", "initech.com"]])  # fmt: skip
    ok(load(abm, "ip_ranges", ranges))
    again = ok(load(abm, "ip_ranges", ranges))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    r = {x["start_ip"]: x for x in rows_of(abm, "ip_ranges")}
    assert len(r) == abm.warehouse.count("ip_ranges") == 2
    single = r["192.168.1.1"]
    assert single["range_id"] == "192.168.1.1-192.168.1.1"
    assert (single["end_ip"], single["end_num"]) == ("192.168.1.1", single["start_num"])


def test_touches_loaded_before_accounts_link_after_relink(abm, csv_file):
    touches = csv_file("email_events.csv", ["ts", "kind", "email"],
                       [["2025-03-01", "email_open", "ann@acme.com"],
                        ["2025-03-02", "email_click", "bo@globex.io"],
                        ["2025-03-03", "email_open", "me@gmail.com"]])  # fmt: skip
    rec = ok(load(abm, "touches", touches))
    assert rec.unmatched == 3
    assert all(r["account_id"] is None for r in rows_of(abm, "touches"))
    ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    counts = {c.table: c for c in abm.relink()}
    assert counts["touches"].changed == 2
    assert counts["touches"].rows == 3
    linked = {r["email"]: r["account_id"] for r in rows_of(abm, "touches")}
    assert linked == {"ann@acme.com": "001A", "bo@globex.io": "001B", "me@gmail.com": None}
    assert {c.table: c.changed for c in abm.relink()}["touches"] == 0  # relink is idempotent


def test_opportunities_link_by_exact_and_fuzzy_name(abm, csv_file):
    ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
    rows = [
        ["o1", "Acme Corporation"],  # same normalized name as "Acme Corp"
        ["o2", "Globex Industris"],  # a typo: fuzzy
        ["o3", "Umbrella Pharma"],
    ]  # no such account
    ok(load(abm, "opportunities", csv_file("opps.csv", ["opportunity_id", "account_name"], rows)))
    o = by_key(abm, "opportunities", "opportunity_id")
    assert (o["o1"]["account_id"], o["o1"]["match_method"], o["o1"]["match_score"]) == (
        "001A",
        "name",
        100.0,
    )
    assert (o["o2"]["account_id"], o["o2"]["match_method"]) == ("001B", "fuzzy_name")
    assert 90.0 <= o["o2"]["match_score"] < 100.0
    assert o["o3"]["account_id"] is None and o["o3"]["match_score"] is None


def test_fuzzy_threshold_is_a_setting(workspace, warehouse_url, csv_file):
    overrides = {"warehouse": {"url": warehouse_url}, "resolve": {"name_match_threshold": 99.5}}
    with Abm.open(workspace, overrides) as abm:
        ok(load(abm, "accounts", sf_accounts(csv_file), preset="salesforce"))
        ok(load(abm, "opportunities", csv_file("opps.csv", ["opportunity_id", "account_name"],
                                               [["o2", "Globex Industris"]])))  # fmt: skip
        assert by_key(abm, "opportunities", "opportunity_id")["o2"]["account_id"] is None


# -- property: loading a file twice changes nothing ---------------------------------------------
_words = st.sampled_from(["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne",
                          "wonka", "tyrell", "cyberdyne", "soylent", "vandelay"])  # fmt: skip
_suffix = st.sampled_from(["", " Inc", " Corp", ", Ltd.", " GmbH", " & Co"])
_account = st.fixed_dictionaries({
    "name": st.builds(lambda a, b, s: f"{a.title()} {b.title()}{s}", _words, _words, _suffix),
    "domain": st.builds(lambda a, n: f"{a}{n}.com", _words, st.integers(0, 30)),
    "employees": st.one_of(st.none(), st.integers(0, 200_000)),
})  # fmt: skip
_tables = st.lists(_account, min_size=1, max_size=8, unique_by=lambda r: r["domain"])


def _fresh_app(engine: str, request) -> Abm:
    ws = Path(tempfile.mkdtemp(prefix="abmkit-prop-"))
    init_workspace(ws)
    if engine == "duckdb":
        url = f"duckdb://{ws / 'warehouse.duckdb'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.url(server.create_database())
    return Abm.open(ws, {"warehouse": {"url": url}})


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(accounts=_tables)
def test_property_loading_twice_changes_nothing(engine, request, accounts):
    with _fresh_app(engine, request) as abm:
        f = abm.workspace.path / f"accounts_{uuid.uuid4().hex[:6]}.csv"
        write_csv(
            f,
            ["name", "domain", "employees"],
            [[a["name"], a["domain"], a["employees"]] for a in accounts],
        )
        first = ok(load(abm, "accounts", f))
        assert first.inserted + first.updated + first.unchanged == abm.warehouse.count("accounts")
        before = snapshot(abm)
        second = ok(load(abm, "accounts", f))
        assert (second.inserted, second.updated) == (0, 0)
        assert second.unchanged == first.inserted + first.updated + first.unchanged >= 1
        assert snapshot(abm) == before


def test_intent_keeps_the_strongest_score_of_a_companys_domains(abm, tmp_path):
    """`ae.acme.com` and `acme.com` are one company: one topic, one week, the highest score."""
    surge = tmp_path / "surge_20250105.csv"
    surge.write_text(
        ",ae.acme.com,,,data,data warehousing,70,x[70],United States\n"
        ",acme.com,,,data,data warehousing,55,x[55],United States\n"
        ",acme.com,,,data,etl,61,x[55],United States\n"
        ",acme.com,,,data,etl,61,x[55],United States\n",
        encoding="utf-8",
    )
    rec = ok(load(abm, "intent", surge, preset="bombora"))
    assert (rec.rows_read, rec.inserted) == (4, 2)
    rows = {r["topic"]: r for r in rows_of(abm, "intent")}
    assert {t: (r["domain"], r["score"]) for t, r in rows.items()} == {
        "data warehousing": ("acme.com", 70),
        "etl": ("acme.com", 61),
    }
    assert rows["etl"]["week"] == dt.date(2025, 1, 5)
    again = ok(load(abm, "intent", surge, preset="bombora"))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


def test_a_rejected_later_file_does_not_displace_an_earlier_files_rows(abm, csv_file):
    """Files of one shape load together; when the later one is rejected, the earlier file's
    version of a shared key is the one stored, as if the files had been loaded one by one."""
    header = ["Id", "Name", "Website", "NumberOfEmployees"]
    first = csv_file("a1.csv", header, [["001A", "Acme", "acme.com", "10"]])
    later = csv_file("a2.csv", header, [["001A", "Acme Renamed", "acme.com", "20"],
                                        ["001B", "Broken", "broken.com", "many"]])  # fmt: skip
    loaded, rejected = abm.ingest("accounts", [first, later], preset="salesforce")
    assert ok(loaded).inserted == 1
    assert isinstance(rejected, InputError) and "row 3" in str(rejected)
    (row,) = rows_of(abm, "accounts")
    assert (row["account_id"], row["name"], row["employees"]) == ("001A", "Acme", 10)


def test_files_read_in_one_scan_keep_their_own_row_numbers(abm, csv_file, tmp_path):
    """Files of one shape are read in one scan; each problem still names its own file's row,
    counting the lines the reader rejected, and a header-only file in the batch is rejected
    alone."""
    header = ["name", "domain", "employees"]
    clean = csv_file("b1.csv", header, [["Acme", "acme.com", "10"], ["Beta", "beta.io", "20"]])
    messy = write_text(tmp_path / "b2.csv", "name,domain,employees\n"
                       "Gamma,gamma.com,30\n"
                       "Delta,delta.com,40,extra\n"  # line 3: too many fields
                       "Eps,eps.com,fifty\n"  # line 4: not a number
                       "Zeta,zeta.com,60\n")  # fmt: skip
    empty = write_text(tmp_path / "b3.csv", "name,domain,employees\n")
    loaded, bad, nothing = abm.ingest("accounts", [clean, messy, empty], quarantine=True)
    assert ok(loaded).inserted == 2
    assert isinstance(nothing, InputError) and "no rows" in str(nothing)
    record = ok(bad)
    assert (record.rows_read, record.inserted, record.quarantined) == (4, 2, 2)
    rows = {(r["row"], r["column_name"]): r for r in rows_of(abm, "quarantine")
            if r["file"] == str(messy)}  # fmt: skip
    assert set(rows) == {(3, None), (4, "employees")}
    assert "too many fields" in rows[(3, None)]["reason"]
    assert json.loads(rows[(4, "employees")]["raw"])["employees"] == "fifty"
    names = {r["name"] for r in rows_of(abm, "accounts")}
    assert names == {"Acme", "Beta", "Gamma", "Zeta"}
