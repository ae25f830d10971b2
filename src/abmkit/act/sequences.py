"""Sequence imports: a CSV that adds prospects to an outreach tool's sequence (or cadence), each
with the personalized first line abmkit wrote and the reason it chose them.

* **neutral** (the default): `email,first_name,last_name,title,company,company_domain,
  first_line,reason`. Outreach tools map the columns of an imported CSV to their own fields in
  their import step; `first_line` and `reason` go to two custom prospect fields made for them,
  which the sequence's templates then use as variables.
* **hubspot**: the headers are HubSpot's internal contact property names
  (`email,firstname,lastname,jobtitle,company,abm_first_line,abm_reason`), which HubSpot's
  importer matches to properties by itself; create the two custom properties first
  (`HUBSPOT_SEQUENCE_PROPERTIES`), import, then enroll the imported contacts in the sequence.

Other vendors' exact import headers could not be verified, so they get no preset: map the
neutral columns in their import step.

Rows are contacts as abmkit stores them (`email`, `first_name`, `last_name`, `title`,
`account_name`, `domain`, `email_opt_out`), plus `first_line` and `reason`. E-mails are trimmed
and lower-cased; a contact without a valid address, or one who opted out of e-mail, is an error
(nothing is written); a repeated address keeps its first row. Files are UTF-8 without a
byte-order mark, comma-separated, with CRLF line ends, and a value holding a comma, a quote or
a line break is quoted with its quotes doubled (RFC 4180).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from abmkit.act.audiences import Row, normalize_email, text
from abmkit.config.base import Section
from abmkit.errors import GuardrailError, InputError, Problem

Preset = Literal["neutral", "hubspot"]
SOURCE = "sequence contacts"  # how input problems name the rows handed in
# (column header, prospect field) per preset, in file order
PRESETS: dict[str, tuple[tuple[str, str], ...]] = {
    "neutral": (("email", "email"), ("first_name", "first_name"), ("last_name", "last_name"),
                ("title", "title"), ("company", "company"), ("company_domain", "domain"),
                ("first_line", "first_line"), ("reason", "reason")),
    "hubspot": (("email", "email"), ("firstname", "first_name"), ("lastname", "last_name"),
                ("jobtitle", "title"), ("company", "company"), ("abm_first_line", "first_line"),
                ("abm_reason", "reason")),
}  # fmt: skip
SEQUENCE_HEADER = tuple(header for header, _ in PRESETS["neutral"])
HUBSPOT_SEQUENCE_HEADER = tuple(header for header, _ in PRESETS["hubspot"])
HUBSPOT_SEQUENCE_PROPERTIES = [
    {"name": "abm_first_line", "label": "ABM First Line", "groupName": "contactinformation",
     "type": "string", "fieldType": "textarea",
     "description": "The personalized opening line abmkit wrote for this contact."},
    {"name": "abm_reason", "label": "ABM Reason", "groupName": "contactinformation",
     "type": "string", "fieldType": "textarea",
     "description": "Why abmkit added this contact to the sequence."},
]  # fmt: skip
"""The custom contact properties of the hubspot preset: bodies of
`POST /crm/v3/properties/contacts`."""


class SequenceSettings(Section):
    """How sequence imports are written (hangs at `channels.sequence`)."""

    preset: Preset = Field(
        "neutral",
        description="Column headers of sequence import files: neutral (map the columns in the "
        "outreach tool's import step) or hubspot (HubSpot contact property names).",
    )


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) if value is not None else False


def _prospect(row: Row) -> dict[str, str]:
    """The prospect fields of one contact (email normalized; empty where the row has none)."""
    return {
        "email": normalize_email(text(row, "email")),
        "first_name": text(row, "first_name"),
        "last_name": text(row, "last_name"),
        "title": text(row, "title"),
        "company": text(row, "account_name") or text(row, "company"),
        "domain": text(row, "domain").lower(),
        "first_line": text(row, "first_line"),
        "reason": text(row, "reason"),
    }


def prospects(contacts: Iterable[Row]) -> list[dict[str, str]]:
    """The prospects of `contacts`, checked: InputError names every row without a valid
    e-mail, GuardrailError every row that opted out of e-mail; a repeated address keeps its
    first row."""
    problems: list[Problem] = []
    opted_out: list[int] = []
    kept: dict[str, dict[str, str]] = {}
    for i, row in enumerate(contacts, start=1):
        prospect = _prospect(row)
        if not prospect["email"]:
            problems.append(Problem(SOURCE, i, "email", f"no valid e-mail: {row.get('email')!r}"))
        elif _flag(row.get("email_opt_out")):
            opted_out.append(i)
        else:
            kept.setdefault(prospect["email"], prospect)
    if problems:
        raise InputError(problems)
    if opted_out:
        rows = ", ".join(map(str, opted_out))
        raise GuardrailError(f"{SOURCE}: rows {rows} opted out of e-mail; leave them out")
    return list(kept.values())


def sequence_csv(contacts: Iterable[Row], preset: Preset = "neutral") -> str:
    """A sequence import file of `contacts` with the headers of `preset`."""
    columns = PRESETS[preset]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header for header, _ in columns])
    for prospect in prospects(contacts):
        writer.writerow([prospect[field] for _, field in columns])
    return out.getvalue()
