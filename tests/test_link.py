"""Duplicates, merges and match rates on each engine."""

from __future__ import annotations

import pytest

from abmkit.errors import AbmError
from conftest import by_key, ok, rows_of

ACCOUNTS = (["Id", "Name", "Website", "Industry", "NumberOfEmployees", "Tier__c", "Region__c"],
            [["A1", "Acme Corp", "acme.com", "Software", "", "gold", ""],
             ["A2", "Acme Corporation", "https://acme.com", "", "1200", "silver", "EMEA"],
             ["G1", "Globex Industries", "globex.io", "Manufacturing", "300", "", ""],
             ["G2", "Globex Industries Inc", "", "Manufacturing", "", "", ""],
             ["H1", "Hooli", "hooli.xyz", "Software", "90", "", ""],
             ["H2", "Hooli", "hooli.de", "Software", "12", "", ""]])  # fmt: skip


@pytest.fixture
def loaded(abm, csv_file):
    ok(abm.ingest("accounts", [csv_file("accounts.csv", *ACCOUNTS)], preset="salesforce")[0])
    ok(abm.ingest("contacts", [csv_file("contacts.csv", ["contact_id", "account_id", "email"],
                                        [["c1", "A2", "ann@acme.com"],
                                         ["c2", "A1", "bo@acme.com"]])])[0])  # fmt: skip
    ok(
        abm.ingest(
            "touches",
            [
                csv_file(
                    "touches.csv",
                    ["touch_id", "ts", "kind", "account_id"],
                    [
                        ["t1", "2025-03-01", "email_open", "A2"],
                        ["t2", "2025-03-02", "email_open", "H1"],
                    ],
                )
            ],
        )[0]
    )
    ok(
        abm.ingest(
            "intent",
            [
                csv_file(
                    "intent.csv",
                    ["week", "domain", "topic", "score", "account_id"],
                    [["2025-03-03", "acme.com", "crm", "70", "A2"]],
                )
            ],
        )[0]
    )
    ok(abm.ingest("opportunities", [csv_file("opps.csv", ["opportunity_id", "account_id"],
                                             [["o1", "A2"]])])[0])  # fmt: skip
    return abm


def test_duplicates_by_domain_and_similar_name(loaded):
    pairs = {(p.account_id, p.other_account_id): p for p in loaded.duplicates()}
    assert pairs[("A1", "A2")].reason == "same domain"
    assert pairs[("A1", "A2")].score == 100.0
    globex = pairs[("G1", "G2")]
    assert globex.reason == "similar name" and globex.score >= 93
    assert ("H1", "H2") not in pairs  # same name, different registrable domains
    assert len(pairs) == 2


def test_merge_moves_everything_to_the_survivor(loaded, csv_file):
    loaded.merge("A2", "A1")
    acc = by_key(loaded, "accounts", "account_id")
    assert "A2" not in acc
    assert acc["A1"]["employees"] == 1200  # the survivor's empty fields are filled
    assert acc["A1"]["industry"] == "Software"
    assert acc["A1"]["name"] == "Acme Corp"  # the survivor's own values win
    for table, key, ident in (("contacts", "contact_id", "c1"), ("touches", "touch_id", "t1"),
                              ("opportunities", "opportunity_id", "o1")):  # fmt: skip
        assert by_key(loaded, table, key)[ident]["account_id"] == "A1", table
    assert {r["account_id"] for r in rows_of(loaded, "intent")} == {"A1"}
    assert by_key(loaded, "touches", "touch_id")["t2"]["account_id"] == "H1"
    attrs = {(r["entity_id"], r["name"]): r for r in rows_of(loaded, "attributes")
             if r["entity"] == "account"}  # fmt: skip
    assert attrs[("A1", "Tier__c")]["value"] == "gold"  # survivor wins on conflict
    assert attrs[("A1", "Region__c")]["value"] == "EMEA"  # the merged account's extra is kept
    assert attrs[("A1", "Region__c")]["attribute_id"] == "account|A1|Region__c"
    assert not any(entity == "A2" for entity, _ in attrs)
    (merge,) = rows_of(loaded, "account_merges")
    assert (merge["from_account_id"], merge["into_account_id"]) == ("A2", "A1")

    # a later load still carrying the old ID lands on the survivor
    ok(loaded.ingest("contacts", [csv_file("contacts2.csv", ["contact_id", "account_id", "email"],
                                           [["c3", "A2", "cy@acme.com"]])])[0])  # fmt: skip
    c3 = by_key(loaded, "contacts", "contact_id")["c3"]
    assert (c3["account_id"], c3["match_method"]) == ("A1", "id")
    ok(loaded.ingest("opportunities", [csv_file("opps2.csv", ["opportunity_id", "account_id"],
                                                [["o2", "A2"]])])[0])  # fmt: skip
    assert by_key(loaded, "opportunities", "opportunity_id")["o2"]["account_id"] == "A1"
    # and re-linking keeps it there
    loaded.relink()
    assert by_key(loaded, "contacts", "contact_id")["c1"]["account_id"] == "A1"


def test_merge_refuses_unknown_or_same_accounts(loaded):
    with pytest.raises(AbmError, match="no account ZZ"):
        loaded.merge("ZZ", "A1")
    with pytest.raises(AbmError, match="same account"):
        loaded.merge("A1", "A1")
    assert loaded.warehouse.count("account_merges") == 0
    assert loaded.warehouse.count("accounts") == 6


def test_status_match_rates_per_source(abm, csv_file):
    ok(abm.ingest("accounts", [csv_file("accounts.csv", *ACCOUNTS)], preset="salesforce")[0])
    ok(abm.ingest("touches", [csv_file("web_visits_202503.csv", ["ts", "url", "email"],
                                       [["2025-03-01", "/a", "x@acme.com"],
                                        ["2025-03-01", "/b", "y@gmail.com"],
                                        ["2025-03-01", "/c", "z@hooli.xyz"],
                                        ["2025-03-01", "/d", "w@nowhere.org"]])])[0])  # fmt: skip
    ok(abm.ingest("touches", [csv_file("email_events.csv", ["ts", "kind", "account_id"],
                                       [["2025-03-01", "email_open", "G1"]])])[0])  # fmt: skip
    st = abm.status()
    assert st.tables["accounts"] == 6 and st.tables["touches"] == 5
    assert st.loads == 3 and st.rejected_loads == 0
    rates = {(r.table, r.source): r for r in st.match_rates}
    web = rates[("touches", "web_visits")]
    assert (web.rows, web.matched) == (4, 2)
    assert web.rate == pytest.approx(0.5)
    assert web.by_method == {"domain": 2, "unmatched": 2}
    email = rates[("touches", "email_events")]
    assert (email.rows, email.matched, email.rate) == (1, 1, 1.0)
    assert email.by_method == {"id": 1}
