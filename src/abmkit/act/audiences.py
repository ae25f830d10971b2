"""Audience files in each platform's own upload format.

* **LinkedIn Matched Audiences**: a company list and a contact list, plain text, with the exact
  headers of LinkedIn's templates.
* **Google Ads Customer Match**: `Email,Phone,First Name,Last Name,Country,Zip`; with `hashed`,
  e-mail, phone and names are normalized then SHA-256 hashed (lower-case hex), while country and
  zip stay in plain text, as Google asks: e-mails and names lower-cased with every space
  removed, phones in E.164 (`+` and the country code).
* **Meta custom audiences**: the payload of the Marketing API, `{"schema": [...], "data":
  [[...]]}`, every key normalized then hashed: e-mail trimmed and lower-cased; phone digits
  with the country code and no `+` or leading zeros; names lower-cased without punctuation or
  spaces; city letters only; state and country as lower-case 2-letter codes (a full name is
  left out rather than guessed); US zips as their first five digits. An empty value stays
  empty (not the hash of an empty string).

Rows are plain mappings (an account or a contact as `abm` stores them: `name`, `domain`,
`email`, `first_name`, …); what a row lacks is left blank. Files are UTF-8 without a byte-order
mark, comma-separated, with CRLF line ends (RFC 4180).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping

import phonenumbers

LINKEDIN_COMPANY_HEADER = ("companyname", "companywebsite", "companyemaildomain",
                           "linkedincompanypageurl", "stocksymbol", "industry", "city", "state",
                           "companycountry", "zipcode")  # fmt: skip
LINKEDIN_CONTACT_HEADER = ("email", "firstname", "lastname", "jobtitle", "employeecompany",
                           "country", "googleaid")  # fmt: skip
GOOGLE_HEADER = ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")
META_SCHEMA = ("EMAIL", "PHONE", "FN", "LN", "ZIP", "CT", "ST", "COUNTRY")

Row = Mapping[str, object]


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes, as lower-case hex; empty stays empty."""
    return hashlib.sha256(value.encode()).hexdigest() if value else ""


def text(row: Row, key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def normalize_email(value: str) -> str:
    """Trimmed and lower-cased; empty when it is not an address."""
    email = value.strip().lower()
    return email if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) else ""


def e164(value: str, country: str = "") -> str:
    """A phone number as `+<country code><number>`; a number without its country code is read
    as one of `country` (ISO 3166 alpha-2); empty when it cannot be a valid number."""
    if not value.strip():
        return ""
    try:
        number = phonenumbers.parse(value, country.upper() or None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def two_letters(value: str) -> str:
    """A 2-letter code (ISO 3166 country, US state), lower-cased; a full name is not guessed at:
    it gives an empty value."""
    code = value.strip().lower()
    return code if len(code) == 2 and code.isalpha() else ""


def _letters(value: str) -> str:
    """Lower-cased, accents kept (UTF-8), with punctuation, digits and spaces removed."""
    folded = unicodedata.normalize("NFC", value.strip().lower())
    return "".join(ch for ch in folded if ch.isalpha())


def _csv(header: tuple[str, ...], rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _website(domain: str) -> str:
    return f"https://{domain}" if domain and "://" not in domain else domain


def linkedin_companies(accounts: Iterable[Row]) -> str:
    """A LinkedIn Matched Audiences company list."""
    return _csv(LINKEDIN_COMPANY_HEADER, (
        [text(a, "name"), _website(text(a, "domain")), text(a, "domain"),
         text(a, "linkedin_url"), text(a, "ticker"), text(a, "industry"), text(a, "city"),
         text(a, "region"), text(a, "country"), text(a, "zip")]
        for a in accounts))  # fmt: skip


def linkedin_contacts(contacts: Iterable[Row]) -> str:
    """A LinkedIn Matched Audiences contact list (`employeecompany`: the account's name)."""
    return _csv(LINKEDIN_CONTACT_HEADER, (
        [normalize_email(text(c, "email")), text(c, "first_name"), text(c, "last_name"),
         text(c, "title"), text(c, "account_name"), text(c, "country"), text(c, "google_aid")]
        for c in contacts))  # fmt: skip


def google_customer_match(contacts: Iterable[Row], *, hashed: bool = True) -> str:
    """A Google Ads Customer Match file; with `hashed` (the default) e-mail, phone and names
    are normalized and SHA-256 hashed, country and zip stay plain."""
    protect = sha256_hex if hashed else (lambda v: v)

    def line(c: Row) -> list[str]:
        country = two_letters(text(c, "country"))
        email = normalize_email(text(c, "email"))
        phone = e164(text(c, "phone"), country)
        names = ["".join(text(c, k).lower().split()) for k in ("first_name", "last_name")]
        return [protect(email), protect(phone), *(protect(n) for n in names), country,
                text(c, "zip")]  # fmt: skip

    return _csv(GOOGLE_HEADER, (line(c) for c in contacts))


def meta_custom_audience(contacts: Iterable[Row]) -> dict:
    """The Marketing API payload of a customer-list custom audience: every key normalized and
    hashed."""

    def line(c: Row) -> list[str]:
        country = two_letters(text(c, "country"))
        phone = e164(text(c, "phone"), country).removeprefix("+")
        zipcode = re.sub(r"[\s-]", "", text(c, "zip").lower())
        if country == "us":
            zipcode = zipcode[:5]
        values = [normalize_email(text(c, "email")), phone, _letters(text(c, "first_name")),
                  _letters(text(c, "last_name")), zipcode, _letters(text(c, "city")),
                  two_letters(text(c, "region")), country]  # fmt: skip
        return [sha256_hex(v) for v in values]

    return {"schema": list(META_SCHEMA), "data": [line(c) for c in contacts]}
