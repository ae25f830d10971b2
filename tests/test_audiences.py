"""Audience files in each platform's own format: exact headers, encoding, normalization and
hashing (with digests published by the platforms as known vectors)."""

from __future__ import annotations

import csv
import hashlib
import io

from hypothesis import given
from hypothesis import strategies as st

from abmkit.act.audiences import (
    GOOGLE_HEADER,
    LINKEDIN_COMPANY_HEADER,
    LINKEDIN_CONTACT_HEADER,
    META_SCHEMA,
    e164,
    google_customer_match,
    linkedin_companies,
    linkedin_contacts,
    meta_custom_audience,
    normalize_email,
    sha256_hex,
)

ANN = {"email": "  Ann.Lee@Example.COM ", "first_name": "Ann Marie", "last_name": "O'Lee",
       "title": "VP, Finance & Ops", "account_name": "Acme, Inc.", "country": "US",
       "phone": "(415) 555-2671", "zip": "94016-1234", "city": "San Francisco",
       "region": "CA"}  # fmt: skip


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_published_sha256_vectors():
    # digests printed in the platforms' own docs for these normalized values
    assert sha256_hex("janedoe@gmail.com") == (
        "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"
    )
    assert sha256_hex("adsapi") == (
        "49e0be2aeccfb51a8dee4c945c8a70a9ac500cf6f5cb08112575f74db9b1470d")  # fmt: skip
    assert sha256_hex("") == ""  # a missing value is sent empty, not as the hash of nothing


def test_linkedin_lists_have_the_template_headers_and_plain_values():
    companies = linkedin_companies([{"name": "Acme, Inc.", "domain": "acme.com",
                                     "industry": "Software", "country": "US"}])  # fmt: skip
    assert companies.startswith(",".join(LINKEDIN_COMPANY_HEADER) + "\r\n")
    assert rows(companies)[1] == ["Acme, Inc.", "https://acme.com", "acme.com", "", "",
                                  "Software", "", "", "US", ""]  # fmt: skip
    contacts = linkedin_contacts([ANN])
    assert rows(contacts)[0] == list(LINKEDIN_CONTACT_HEADER)
    assert rows(contacts)[1] == ["ann.lee@example.com", "Ann Marie", "O'Lee",
                                 "VP, Finance & Ops", "Acme, Inc.", "US", ""]  # fmt: skip
    assert contacts.encode("utf-8").startswith(b"email,")  # UTF-8, no byte-order mark


def test_google_customer_match_hashes_what_google_asks_and_keeps_country_and_zip_plain():
    text = google_customer_match([ANN])
    header, line = rows(text)
    assert header == list(GOOGLE_HEADER) == ["Email", "Phone", "First Name", "Last Name",
                                             "Country", "Zip"]  # fmt: skip
    assert line == [hashlib.sha256(b"ann.lee@example.com").hexdigest(),
                    hashlib.sha256(b"+14155552671").hexdigest(),
                    hashlib.sha256(b"annmarie").hexdigest(),
                    hashlib.sha256(b"o'lee").hexdigest(), "us", "94016-1234"]  # fmt: skip
    plain = rows(google_customer_match([ANN], hashed=False))[1]
    assert plain == ["ann.lee@example.com", "+14155552671", "annmarie", "o'lee", "us",
                     "94016-1234"]  # fmt: skip


def test_meta_payload_normalizes_every_key_then_hashes_it():
    payload = meta_custom_audience([ANN, {"email": "not an address", "country": "Germany"}])
    assert payload["schema"] == list(META_SCHEMA)
    expected = ["ann.lee@example.com", "14155552671", "annmarie", "olee", "94016",
                "sanfrancisco", "ca", "us"]  # fmt: skip
    assert payload["data"][0] == [hashlib.sha256(v.encode()).hexdigest() for v in expected]
    # nothing usable: every key left empty (a full country name is not guessed at)
    assert payload["data"][1] == [""] * len(META_SCHEMA)


def test_phone_numbers_become_e164():
    assert e164("(415) 555-2671", "us") == "+14155552671"
    assert e164("+44 20 7946 0958") == "+442079460958"
    assert e164("020 7946 0958", "GB") == "+442079460958"
    assert e164("12", "us") == "" and e164("call me", "us") == "" and e164("", "us") == ""


@given(st.emails())
def test_email_normalization_is_idempotent_and_ignores_case_and_spaces(email):
    once = normalize_email(f"  {email.upper()} ")
    assert once and once == normalize_email(once)
    assert once == once.strip().lower()
    assert sha256_hex(once) == hashlib.sha256(once.encode()).hexdigest()
