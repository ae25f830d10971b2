"""Parent/subsidiary roll-up, on both engines."""

from __future__ import annotations

from abmkit.resolve.hierarchy import roll_up, ultimate_parents
from conftest import ok

HEADER = ["Id", "Name", "Website", "ParentId", "Parent Account"]
ROWS = [
    ["001G", "Globex Group", "globex.com", "", ""],
    ["001E", "Globex Europe", "globex.eu", "001G", ""],
    ["001D", "Globex Deutschland", "globex.de", "001E", ""],
    ["001S", "Solo Inc", "solo.com", "", ""],
    ["001N", "Named Child", "child.com", "", "Solo Inc"],  # parent known only by name
    ["001X", "Loop X", "loopx.com", "001Y", ""],  # a cycle in the CRM data
    ["001Y", "Loop Y", "loopy.com", "001X", ""],
]


def _load(abm, csv_file):
    path = csv_file("hierarchy.csv", HEADER, ROWS)
    ok(abm.ingest("accounts", [path], preset="salesforce")[0])


def test_ultimate_parents_walk_the_chain(abm, csv_file):
    _load(abm, csv_file)
    tops = {
        r["account_id"]: (r["ultimate_parent_id"], r["depth"])
        for r in ultimate_parents(abm.warehouse).to_pyarrow().to_pylist()
    }
    assert tops["001G"] == ("001G", 0)
    assert tops["001E"] == ("001G", 1)
    assert tops["001D"] == ("001G", 2)
    assert tops["001S"] == ("001S", 0)
    assert tops["001N"] == ("001S", 1)  # linked by the parent's name at ingest
    # a cycle ends after the depth limit on one of its members instead of running forever
    assert tops["001X"][0] in {"001X", "001Y"} and tops["001X"][1] == 10


def test_roll_up_adds_the_group_to_any_table(abm, csv_file):
    _load(abm, csv_file)
    opps = csv_file(
        "opps.csv",
        ["Id", "AccountId", "StageName", "Amount"],
        [["006A", "001D", "Closed Won", "100"], ["006B", "001E", "Prospecting", "50"],
         ["006C", "001S", "Closed Won", "70"], ["006D", "", "Prospecting", "5"]],
    )  # fmt: skip
    ok(abm.ingest("opportunities", [opps], preset="salesforce")[0])
    grouped = roll_up(abm.warehouse, "opportunities")
    totals = grouped.group_by("group_id").agg(amount=grouped.amount.sum()).to_pyarrow()
    by_group = {r["group_id"]: r["amount"] for r in totals.to_pylist()}
    assert by_group == {"001G": 150.0, "001S": 70.0, None: 5.0}
