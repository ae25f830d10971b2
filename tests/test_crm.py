"""CRM write-back: the exact Bulk API 2.0 CSV for Salesforce and batch-update bodies for
HubSpot, every value's formatting, record ids (with Salesforce's published 18-character ids as
known vectors), the field and property definitions against each CRM's naming and type rules,
and the docs page listing every field a user must create."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from abmkit.act.crm import (
    FIELDS,
    HUBSPOT_BATCH_LIMIT,
    SALESFORCE_HEADER,
    CrmWriteSettings,
    hubspot_batch_update,
    hubspot_company_id,
    hubspot_properties,
    hubspot_property_problems,
    salesforce_account_id,
    salesforce_bulk_csv,
    salesforce_field_files,
    salesforce_field_xml,
    salesforce_fields,
    salesforce_name_problem,
    score_values,
    split_by_crm_id,
)
from abmkit.config.scoring import BUYING_STAGES, JOURNEY_STAGES
from abmkit.errors import InputError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "connectors.md"
CEST = dt.timezone(dt.timedelta(hours=2))
ACME = {"account_id": "001xx000003Gaf9AAC", "domain": "acme.com", "name": "Acme", "fit": 82,
        "intent": 71.456, "engagement": 40, "priority": 64.125, "tier": 1,
        "buying_stage": "decision", "journey_stage": "MQA", "sales_ready": True,
        "top_topics": "CRM, Data warehouse", "reasons": 'Fit 82: "SaaS, 200-1k"\n2 topics surging',
        "as_of": dt.datetime(2025, 3, 3, 11, 30, tzinfo=CEST)}  # fmt: skip
BETA = {"account_id": "001xx000003GanD", "domain": "beta.io", "tier": None, "fit": 12,
        "intent": float("nan"), "engagement": 0.0, "priority": -0.001, "buying_stage": "Target",
        "journey_stage": "unqualified", "sales_ready": False, "top_topics": "",
        "as_of": dt.date(2025, 3, 3)}  # fmt: skip


def hubspot(row: dict, record: str) -> dict:
    return {**row, "account_id": record}


# -- Salesforce --------------------------------------------------------------------------------
def test_salesforce_bulk_csv_is_the_exact_update_file():
    expected = (
        "Id,ABM_Tier__c,ABM_Priority__c,ABM_Fit_Score__c,ABM_Intent_Score__c,"
        "ABM_Engagement_Score__c,ABM_Buying_Stage__c,ABM_Journey_Stage__c,ABM_Sales_Ready__c,"
        "ABM_Top_Topics__c,ABM_Reasons__c,ABM_Scored_At__c\n"
        '001xx000003Gaf9AAC,1,64.13,82,71.46,40.00,Decision,MQA,true,"CRM, Data warehouse",'
        '"Fit 82: ""SaaS, 200-1k""\n2 topics surging",2025-03-03T09:30:00.000Z\n'
        "001xx000003GanD,#N/A,0.00,12,#N/A,0.00,Target,Unqualified,false,#N/A,#N/A,"
        "2025-03-03T00:00:00.000Z\n"
    )
    assert salesforce_bulk_csv([ACME, BETA]) == expected
    parsed = list(csv.reader(io.StringIO(expected, newline="")))
    assert parsed[0] == list(SALESFORCE_HEADER) and parsed[1][10].count("\n") == 1


def test_salesforce_clears_with_na_and_a_checkbox_falls_back_to_false():
    line = salesforce_bulk_csv([{"account_id": "001xx000003GanD"}]).splitlines()[1]
    cells = line.split(",")
    assert cells[0] == "001xx000003GanD"
    checkbox = SALESFORCE_HEADER.index("ABM_Sales_Ready__c")
    assert cells[checkbox] == "false"  # a checkbox cannot be null
    assert [c for i, c in enumerate(cells[1:], 1) if i != checkbox] == ["#N/A"] * 10
    assert "" not in cells  # an empty cell would keep the old value, never what we mean


def test_salesforce_file_is_utf8_with_lf_line_ends():
    text = salesforce_bulk_csv([{**ACME, "top_topics": "Zürich, Ωmega"}])
    assert "\r" not in text and text.count("\n") == 3  # 2 lines, and 1 inside a value
    assert text.encode("utf-8").startswith(b"Id,")  # no byte-order mark
    assert "Zürich, Ωmega" in text


@pytest.mark.parametrize(
    "raw, expected",
    [(64.125, "64.13"), (64.124, "64.12"), ("71.5", "71.50"), (-0.001, "0.00"),
     (Decimal("1e3"), "1000.00"), (12345678901234.5, "12345678901234.50"),
     (float("nan"), "#N/A"), (None, "#N/A"), ("", "#N/A")],
)  # fmt: skip
def test_numbers_are_rounded_half_up_to_the_scale_without_exponent(raw, expected):
    line = salesforce_bulk_csv([{"account_id": "001xx000003GanD", "priority": raw}])
    assert line.splitlines()[1].split(",")[2] == expected


@pytest.mark.parametrize(
    "as_of, expected",
    [(dt.datetime(2025, 3, 3, 9, 30, 5, 123456), "2025-03-03T09:30:05.123Z"),  # naive = UTC
     (dt.datetime(2025, 1, 1, 0, 30, tzinfo=CEST), "2024-12-31T22:30:00.000Z"),
     (dt.date(2025, 3, 3), "2025-03-03T00:00:00.000Z"),
     ("2025-03-03T09:30:00Z", "2025-03-03T09:30:00.000Z"),
     ("2025-03-03 09:30:00-05:00", "2025-03-03T14:30:00.000Z")],
)  # fmt: skip
def test_date_times_are_iso_8601_in_utc_with_z(as_of, expected):
    line = salesforce_bulk_csv([{"account_id": "001xx000003GanD", "as_of": as_of}])
    assert line.splitlines()[1].split(",")[-1] == expected


def test_flags_stages_and_texts_are_normalized():
    row = {"sales_ready": "no", "buying_stage": " PURCHASE ", "journey_stage": "mqa",
           "tier": 2.0, "top_topics": "a\nb   c", "reasons": ["x", None, " y "]}  # fmt: skip
    (values,) = score_values([row])
    assert values["sales_ready"] is False and values["tier"] == 2
    assert values["buying_stage"] == "Purchase" and values["journey_stage"] == "MQA"
    assert values["top_topics"] == "a b c"  # one line
    assert values["reasons"] == "x; y"
    (long,) = score_values([{"top_topics": "t" * 300}])
    assert long["top_topics"] == "t" * 254 + "…" and len(long["top_topics"]) == 255


def test_bad_rows_raise_one_error_naming_every_cell():
    rows = [{**ACME, "account_id": "acme.com", "tier": 4, "buying_stage": "Buying"},
            {**ACME, "priority": "high", "sales_ready": "maybe", "as_of": "yesterday"},
            ACME]  # fmt: skip
    with pytest.raises(InputError) as caught:
        salesforce_bulk_csv(rows)
    where = {(p.row, p.column) for p in caught.value.problems}
    assert where == {(1, "account_id"), (1, "tier"), (1, "buying_stage"), (2, "priority"),
                     (2, "sales_ready"), (2, "as_of"), (3, "account_id")}  # fmt: skip
    assert "same record as row 2" in str(caught.value)
    assert all(p.file == "account scores" for p in caught.value.problems)
    with pytest.raises(InputError, match="does not fit in 3 digits"):
        salesforce_bulk_csv([{"account_id": "001xx000003GanD", "fit": 1000}])


def test_salesforce_account_ids_use_the_published_checksum():
    # the 18-character ids printed in Salesforce's own batch-update example
    assert salesforce_account_id("001xx000003Gaf9AAC") == "001xx000003Gaf9AAC"
    assert salesforce_account_id(" 001xx000003GanDAAS ") == "001xx000003GanDAAS"
    assert salesforce_account_id("001xx000003GanD") == "001xx000003GanD"  # 15 characters
    assert salesforce_account_id("001xx000003GanDAAA") is None  # wrong checksum
    assert salesforce_account_id("001xx000003gandaas") is None  # case lost, e.g. by a sheet
    assert salesforce_account_id("003xx000003GanDAAS") is None  # a Contact, not an Account
    assert salesforce_account_id("acme.com") is None and salesforce_account_id(None) is None


def test_rows_split_by_whether_the_crm_can_take_them():
    rows = [ACME, {"account_id": "acme.com"}, {"account_id": "512"}, {}]
    assert split_by_crm_id(rows, "salesforce") == ([ACME], rows[1:])
    assert split_by_crm_id(rows, "hubspot") == ([rows[2]], [ACME, rows[1], rows[3]])
    assert hubspot_company_id(512) == "512" and hubspot_company_id("0512") is None


def test_custom_field_names_follow_salesforce_rules():
    assert [salesforce_name_problem(f.salesforce) for f in FIELDS] == [None] * len(FIELDS)
    assert salesforce_name_problem("A" * 40 + "__c") is None
    bad = {"ABM_Tier": "does not end with __c", "1ABM__c": "start with a letter",
           "ABM-Tier__c": "start with a letter", "ABM__Tier__c": "two underscores",
           "ABM_Tier___c": "ends with one", "A" * 41 + "__c": "41 characters"}  # fmt: skip
    for name, why in bad.items():
        assert why in (salesforce_name_problem(name) or ""), name


def test_salesforce_field_definitions():
    fields = {f["api_name"]: f for f in salesforce_fields()}
    assert list(fields) == list(SALESFORCE_HEADER[1:])
    types = {name: f["type"] for name, f in fields.items()}
    assert set(types.values()) == {"Number", "Picklist", "Checkbox", "Text", "LongTextArea",
                                   "DateTime"}  # fmt: skip
    for f in fields.values():
        if f["type"] == "Number":
            assert 0 <= f["scale"] <= f["precision"] <= 18
        if f["type"] == "Text":
            assert f["length"] <= 255
    assert fields["ABM_Buying_Stage__c"]["values"] == BUYING_STAGES
    assert fields["ABM_Journey_Stage__c"]["values"] == JOURNEY_STAGES


def test_salesforce_field_metadata_files():
    files = salesforce_field_files()
    assert set(files) == {f"objects/Account/fields/{f.salesforce}.field-meta.xml" for f in FIELDS}
    ns = "{http://soap.sforce.com/2006/04/metadata}"
    for f in FIELDS:
        root = ET.fromstring(salesforce_field_xml(f))
        tags = [child.tag.removeprefix(ns) for child in root]
        assert root.tag == f"{ns}CustomField" and tags[0] == "fullName"
        assert tags[1:] == sorted(tags[1:])  # alphabetical, as Salesforce writes them
        assert root.findtext(f"{ns}fullName") == f.salesforce
    checkbox = ET.fromstring(salesforce_field_xml(FIELDS[7]))
    assert checkbox.findtext(f"{ns}defaultValue") == "false"  # required for a checkbox
    stage = ET.fromstring(salesforce_field_xml(FIELDS[5]))
    values = stage.findall(f"{ns}valueSet/{ns}valueSetDefinition/{ns}value/{ns}fullName")
    assert [v.text for v in values] == BUYING_STAGES
    assert stage.findtext(f"{ns}valueSet/{ns}restricted") == "true"


# -- HubSpot -----------------------------------------------------------------------------------
def test_hubspot_batch_update_is_the_exact_body():
    bodies = hubspot_batch_update([hubspot(ACME, "512"), hubspot(BETA, "513")])
    common = {"abm_priority": "64.13", "abm_fit_score": "82", "abm_intent_score": "71.46",
              "abm_engagement_score": "40.00", "abm_buying_stage": "decision",
              "abm_journey_stage": "mqa", "abm_sales_ready": "true",
              "abm_top_topics": "CRM, Data warehouse",
              "abm_reasons": 'Fit 82: "SaaS, 200-1k"\n2 topics surging',
              "abm_scored_at": "2025-03-03T09:30:00.000Z"}  # fmt: skip
    beta = {"abm_priority": "0.00", "abm_fit_score": "12", "abm_intent_score": "",
            "abm_engagement_score": "0.00", "abm_buying_stage": "target",
            "abm_journey_stage": "unqualified", "abm_sales_ready": "false", "abm_top_topics": "",
            "abm_reasons": "", "abm_scored_at": "2025-03-03T00:00:00.000Z"}  # fmt: skip
    assert bodies == [{"inputs": [
        {"id": "512", "properties": {**common, "hs_is_target_account": "true",
                                     "hs_ideal_customer_profile": "tier_1"}},
        {"id": "513", "properties": {**beta, "hs_is_target_account": "false",
                                     "hs_ideal_customer_profile": ""}},
    ]}]  # fmt: skip
    custom = hubspot_batch_update([hubspot(ACME, "512")], native=False)
    assert custom[0]["inputs"][0]["properties"] == {"abm_tier": "1", **common}


def test_hubspot_values_are_strings_and_empty_clears():
    (body,) = hubspot_batch_update([{"account_id": "7", "tier": 3}])
    props = body["inputs"][0]["properties"]
    assert all(isinstance(v, str) for v in props.values())
    assert props["hs_ideal_customer_profile"] == "tier_3"
    assert {k for k, v in props.items() if v == ""} == {
        f.hubspot for f in FIELDS if f.key != "tier"
    }


def test_hubspot_bodies_split_at_the_batch_limit():
    rows = [{"account_id": str(1000 + i), "tier": 1 + i % 3} for i in range(250)]
    bodies = hubspot_batch_update(rows)
    assert [len(b["inputs"]) for b in bodies] == [100, 100, 50]
    assert [i["id"] for b in bodies for i in b["inputs"]] == [r["account_id"] for r in rows]
    assert [len(b["inputs"]) for b in hubspot_batch_update(rows[:100])] == [HUBSPOT_BATCH_LIMIT]
    assert [len(b["inputs"]) for b in hubspot_batch_update(rows[:7], batch_size=3)] == [3, 3, 1]
    assert hubspot_batch_update([]) == []
    for size in (0, 101):
        with pytest.raises(ValueError, match="batch_size"):
            hubspot_batch_update(rows, batch_size=size)


def test_hubspot_needs_the_record_id_not_the_domain():
    with pytest.raises(InputError, match="'acme.com' is not a HubSpot record id"):
        hubspot_batch_update([{"account_id": "acme.com", "domain": "acme.com"}])


@pytest.mark.parametrize("native", [True, False])
def test_hubspot_property_definitions_are_valid(native):
    specs = hubspot_properties(native=native)
    assert [hubspot_property_problems(s) for s in specs] == [[]] * len(specs)
    names = [s["name"] for s in specs]
    assert ("abm_tier" in names) is not native
    written = hubspot_batch_update([{"account_id": "1"}], native=native)[0]["inputs"][0]
    assert set(written["properties"]) - {"hs_is_target_account", "hs_ideal_customer_profile"} == (
        set(names)
    )
    stage = next(s for s in specs if s["name"] == "abm_buying_stage")
    assert [o["value"] for o in stage["options"]] == [s.lower() for s in BUYING_STAGES]


def test_the_property_check_catches_what_hubspot_refuses():
    good = {"name": "abm_x", "label": "X", "groupName": "companyinformation"}
    assert hubspot_property_problems({**good, "type": "number", "fieldType": "text"}) == [
        "fieldType 'text' is not valid for type 'number'"
    ]
    assert hubspot_property_problems({**good, "type": "bool", "fieldType": "booleancheckbox"})
    assert hubspot_property_problems({**good, "name": "ABM X", "type": "string",
                                      "fieldType": "text"})  # fmt: skip
    assert not hubspot_property_problems({**good, "type": "datetime", "fieldType": "date"})


# -- settings and docs ---------------------------------------------------------------------------
def test_settings_are_documented_and_bounded():
    settings = CrmWriteSettings()
    assert settings.hubspot_native is True and settings.hubspot_batch_size == 100
    assert all(f.description for f in CrmWriteSettings.model_fields.values())
    with pytest.raises(ValidationError):
        CrmWriteSettings(hubspot_batch_size=101)


def test_docs_list_every_field_a_user_must_create():
    text = DOCS.read_text(encoding="utf-8")
    assert re.search(r"^## Salesforce", text, re.MULTILINE)
    assert re.search(r"^## HubSpot", text, re.MULTILINE)
    for f in FIELDS:
        assert f"`{f.salesforce}`" in text, f.salesforce
        assert f"`{f.hubspot}`" in text, f.hubspot


# -- properties --------------------------------------------------------------------------------
@given(st.floats(min_value=-1e13, max_value=1e13, allow_nan=False))
def test_any_priority_is_plain_decimal_text_within_half_a_cent(value):
    cell = salesforce_bulk_csv([{"account_id": "001xx000003GanD", "priority": value}])
    text = cell.splitlines()[1].split(",")[2]
    assert re.fullmatch(r"-?\d+\.\d{2}", text) and not text.startswith("-0.00")
    assert abs(Decimal(text) - Decimal(str(value))) <= Decimal("0.005")


def test_docs_examples_are_what_the_functions_write():
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", DOCS.read_text(encoding="utf-8"), re.M | re.S)
    shown_csv = next(body for _, body in blocks if body.startswith("Id,ABM_Tier__c"))
    acme = {**ACME, "reasons": ["Fit 82: SaaS", "2 topics surging"]}
    assert shown_csv == salesforce_bulk_csv([acme, BETA])
    shown_json = json.loads(next(body for kind, body in blocks if kind == "json"))
    written = hubspot_batch_update([hubspot(acme, "512")])[0]["inputs"][0]
    (example,) = shown_json["inputs"]
    assert example["id"] == written["id"]
    assert example["properties"].items() <= written["properties"].items()
