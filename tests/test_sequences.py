"""Sequence imports: the exact neutral and HubSpot files, RFC 4180 quoting of commas, quotes and
line breaks, UTF-8 without a byte-order mark, and the contacts that must never be written."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abmkit.act.crm import hubspot_property_problems
from abmkit.act.sequences import (
    HUBSPOT_SEQUENCE_HEADER,
    HUBSPOT_SEQUENCE_PROPERTIES,
    SEQUENCE_HEADER,
    SequenceSettings,
    prospects,
    sequence_csv,
)
from abmkit.errors import GuardrailError, InputError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "connectors.md"
JOSE = {"email": " José.Müller@Example.COM ", "first_name": "José", "last_name": "Müller",
        "title": "VP, Finance & Ops", "account_name": "Acme, Inc.", "domain": "ACME.com",
        "first_line": 'Saw Acme\'s "Q3 data" push.\nCongrats on the launch!',
        "reason": "Tier 1, Decision stage: 2 topics surging"}  # fmt: skip
ANN = {"email": "ann@beta.io", "first_name": "Ann", "last_name": "Lee", "company": "Beta"}


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_neutral_file_is_exact():
    expected = (
        "email,first_name,last_name,title,company,company_domain,first_line,reason\r\n"
        'josé.müller@example.com,José,Müller,"VP, Finance & Ops","Acme, Inc.",acme.com,'
        '"Saw Acme\'s ""Q3 data"" push.\nCongrats on the launch!",'
        '"Tier 1, Decision stage: 2 topics surging"\r\n'
        "ann@beta.io,Ann,Lee,,Beta,,,\r\n"
    )
    assert sequence_csv([JOSE, ANN]) == expected
    assert rows(expected)[0] == list(SEQUENCE_HEADER)
    assert rows(expected)[1][6] == 'Saw Acme\'s "Q3 data" push.\nCongrats on the launch!'


def test_hubspot_preset_uses_contact_property_names():
    text = sequence_csv([JOSE], preset="hubspot")
    header, line = rows(text)
    assert header == list(HUBSPOT_SEQUENCE_HEADER) == [
        "email", "firstname", "lastname", "jobtitle", "company", "abm_first_line", "abm_reason",
    ]  # fmt: skip
    assert line == ["josé.müller@example.com", "José", "Müller", "VP, Finance & Ops",
                    "Acme, Inc.", JOSE["first_line"], JOSE["reason"]]  # fmt: skip


def test_files_are_utf8_without_bom_with_crlf():
    data = sequence_csv([JOSE]).encode("utf-8")
    assert data.startswith(b"email,") and not data.startswith(b"\xef\xbb\xbf")
    assert "Müller".encode() in data
    lines = data.split(b"\r\n")
    assert len(lines) == 3 and lines[-1] == b""  # header, one record, final CRLF
    assert b"push.\nCongrats" in data  # a line break inside a value stays, quoted


def test_contacts_without_a_valid_email_are_refused_with_their_rows():
    with pytest.raises(InputError) as caught:
        sequence_csv([ANN, {"email": "not an address"}, {"first_name": "Bo"}])
    assert [(p.row, p.column) for p in caught.value.problems] == [(2, "email"), (3, "email")]
    assert "sequence contacts, row 2, column 'email'" in str(caught.value)


def test_opted_out_contacts_are_never_written():
    with pytest.raises(GuardrailError, match="rows 2 opted out"):
        sequence_csv([ANN, {**JOSE, "email_opt_out": True}])
    assert sequence_csv([{**ANN, "email_opt_out": "false"}]).count("\r\n") == 2


def test_a_repeated_address_keeps_its_first_row():
    found = prospects([ANN, {**ANN, "email": "ANN@beta.io", "first_line": "later"}])
    assert len(found) == 1 and found[0]["first_line"] == ""


def test_hubspot_contact_properties_are_valid_definitions():
    assert [hubspot_property_problems(p) for p in HUBSPOT_SEQUENCE_PROPERTIES] == [[], []]
    names = {p["name"] for p in HUBSPOT_SEQUENCE_PROPERTIES}
    assert names == set(HUBSPOT_SEQUENCE_HEADER) - {"email", "firstname", "lastname",
                                                     "jobtitle", "company"}  # fmt: skip


def test_settings_and_docs():
    assert SequenceSettings().preset == "neutral"
    assert all(f.description for f in SequenceSettings.model_fields.values())
    text = DOCS.read_text(encoding="utf-8")
    assert "## Sequence imports" in text
    assert ",".join(SEQUENCE_HEADER) in text and ",".join(HUBSPOT_SEQUENCE_HEADER) in text


@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=60))
def test_any_first_line_survives_the_round_trip(line):
    text = sequence_csv([{**ANN, "first_line": line}])
    assert rows(text)[1][6] == line.strip()
