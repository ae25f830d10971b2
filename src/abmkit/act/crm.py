"""CRM write-back: each account's ABM scores on its own CRM record, in each CRM's own format.

abmkit owns a small set of fields on the account record, one table (`FIELDS`): tier, priority,
fit, intent and engagement scores, buying and journey stage, sales-ready, the top intent topics,
a short reasons summary, and the moment the scores describe. Every write sends all of them, so
the CRM shows the current state: a value abmkit does not have clears the field.

* **Salesforce** has no standard ABM fields on Account: they are custom fields (`ABM_*__c`),
  created once from `salesforce_fields()` or the metadata files of `salesforce_field_files()`.
  `salesforce_bulk_csv` writes the CSV of a Bulk API 2.0 `update` job on Account: UTF-8, comma
  delimiter, LF line ends (the job's default `lineEnding`), a header of API names led by `Id`;
  booleans `true`/`false`, date-times `yyyy-MM-ddTHH:mm:ss.SSSZ` in UTC, numbers with a period
  and no exponent, and `#N/A` to set a field to null (an empty cell would keep the old value).
* **HubSpot** companies have two native ABM properties: `hs_is_target_account` (a bool) and
  `hs_ideal_customer_profile` (`tier_1`, `tier_2`, `tier_3`). With `native=True` (the default)
  the tier goes there and the rest to custom `abm_*` properties created from
  `hubspot_properties()`. `hubspot_batch_update` gives the bodies of
  `POST /crm/v3/objects/companies/batch/update`, at most 100 inputs each; every value is a
  string, and an empty string clears a property.

Both CRMs are written by their own record id: the `account_id` of accounts that came from that
CRM. HubSpot's `domain` is not a unique-value property, so it cannot key an upsert;
`split_by_crm_id` separates the accounts a CRM can take from the others.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal
from xml.sax.saxutils import escape

from pydantic import Field

from abmkit.config.base import Section
from abmkit.config.scoring import BUYING_STAGES, JOURNEY_STAGES
from abmkit.errors import InputError, Problem

Row = Mapping[str, object]
Kind = Literal["number", "text", "longtext", "picklist", "checkbox", "datetime"]
Crm = Literal["salesforce", "hubspot"]
SOURCE = "account scores"  # how input problems name the rows handed in


class CrmWriteSettings(Section):
    """How scores are written back to the CRM (hangs at `channels.crm`)."""

    hubspot_native: bool = Field(
        True,
        description="Write the tier to HubSpot's own Target Account and Ideal Customer Profile "
        "Tier company properties; false: to the custom abm_tier property instead.",
    )
    hubspot_batch_size: int = Field(
        100, ge=1, le=100, description="Companies per HubSpot batch update request (at most 100)."
    )


@dataclass(frozen=True)
class ScoreField:
    """One ABM value on the account record, and its name and shape in each CRM."""

    key: str  # the key of the input row
    label: str
    kind: Kind
    help: str
    salesforce: str  # custom field API name on Account
    hubspot: str  # company property internal name
    digits: int = 0  # number: total digits (Salesforce precision)
    decimals: int = 0  # number: digits after the point (Salesforce scale)
    length: int = 0  # text: most characters
    options: tuple[str, ...] = ()  # picklist values


FIELDS = (
    ScoreField("tier", "ABM Tier", "number", "Tier 1 (strategic, 1:1), 2 (1:few) or 3 (1:many); "
               "empty: not a target account.", "ABM_Tier__c", "abm_tier", digits=1),
    ScoreField("priority", "ABM Priority", "number", "Priority: the blend of fit, intent and "
               "engagement (0-100) or, with a propensity model, the expected value in currency.",
               "ABM_Priority__c", "abm_priority", digits=16, decimals=2),
    ScoreField("fit", "ABM Fit Score", "number", "Fit with the ideal customer profile, 0-100.",
               "ABM_Fit_Score__c", "abm_fit_score", digits=3),
    ScoreField("intent", "ABM Intent Score", "number", "Third- and first-party intent, 0-100.",
               "ABM_Intent_Score__c", "abm_intent_score", digits=5, decimals=2),
    ScoreField("engagement", "ABM Engagement Score", "number", "Engagement across contacts and "
               "channels, time-decayed, 0-100.", "ABM_Engagement_Score__c",
               "abm_engagement_score", digits=5, decimals=2),
    ScoreField("buying_stage", "ABM Buying Stage", "picklist", "Where the account is in its "
               "buying process.", "ABM_Buying_Stage__c", "abm_buying_stage",
               options=tuple(BUYING_STAGES)),
    ScoreField("journey_stage", "ABM Journey Stage", "picklist", "Where the account is in its "
               "journey with us.", "ABM_Journey_Stage__c", "abm_journey_stage",
               options=tuple(JOURNEY_STAGES)),
    ScoreField("sales_ready", "ABM Sales Ready", "checkbox", "Fit Strong or Moderate and buying "
               "stage Decision or Purchase.", "ABM_Sales_Ready__c", "abm_sales_ready"),
    ScoreField("top_topics", "ABM Top Topics", "text", "The intent topics surging, strongest "
               "first.", "ABM_Top_Topics__c", "abm_top_topics", length=255),
    ScoreField("reasons", "ABM Reasons", "longtext", "Why the account scores as it does.",
               "ABM_Reasons__c", "abm_reasons", length=32768),
    ScoreField("as_of", "ABM Scored At", "datetime", "The moment the scores describe (UTC).",
               "ABM_Scored_At__c", "abm_scored_at"),
)  # fmt: skip

SALESFORCE_HEADER = ("Id", *(f.salesforce for f in FIELDS))
SALESFORCE_NULL = "#N/A"
# fmt: off
SALESFORCE_TYPES = {"number": "Number", "text": "Text", "longtext": "LongTextArea",
                    "picklist": "Picklist", "checkbox": "Checkbox", "datetime": "DateTime"}
# fmt: on
HUBSPOT_BATCH_LIMIT = 100
HUBSPOT_GROUP = "companyinformation"
HUBSPOT_TARGET = "hs_is_target_account"
HUBSPOT_ICP_TIER = "hs_ideal_customer_profile"
HUBSPOT_TIERS = {1: "tier_1", 2: "tier_2", 3: "tier_3"}
# (type, fieldType) of each kind; HubSpot's valid pairs are in HUBSPOT_FIELD_TYPES
# fmt: off
HUBSPOT_TYPES = {"number": ("number", "number"), "text": ("string", "text"),
                 "longtext": ("string", "textarea"), "picklist": ("enumeration", "select"),
                 "checkbox": ("bool", "booleancheckbox"), "datetime": ("datetime", "date")}
# fmt: on
HUBSPOT_FIELD_TYPES = {
    "bool": {"booleancheckbox", "calculation_equation"},
    "enumeration": {"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"},
    "date": {"date"},
    "datetime": {"date"},
    "string": {"file", "text", "textarea", "calculation_equation", "html", "phonenumber"},
    "number": {"number", "calculation_equation"},
}
_SF_ID = re.compile(r"001[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?")
_SF_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


# -- values ----------------------------------------------------------------------------------
def _missing(value: object) -> bool:
    """None, a blank text, NaN, or pandas' NA/NaT (told by type name: pandas is not needed)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value)
    )


def _number(field: ScoreField, value: object) -> int | Decimal | None:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not number.is_finite():
        return None
    number = number.quantize(Decimal(1).scaleb(-field.decimals), ROUND_HALF_UP) + 0  # no -0
    if abs(number) >= 10 ** (field.digits - field.decimals):
        raise ValueError(f"{value} does not fit in {field.digits} digits")
    return int(number) if field.decimals == 0 else number


def _text(field: ScoreField, value: object) -> str:
    if isinstance(value, list | tuple):
        value = "; ".join(str(v).strip() for v in value if not _missing(v))
    text = str(value).strip()
    if field.kind == "text":  # one line
        text = " ".join(text.split())
    return text if len(text) <= field.length else text[: field.length - 1] + "…"


def _choice(field: ScoreField, value: object) -> str:
    wanted = str(value).strip().lower()
    for option in field.options:
        if option.lower() == wanted:
            return option
    raise ValueError(f"{value!r} is not one of {', '.join(field.options)}")


def _flag(value: object) -> bool:
    if isinstance(value, str):
        word = value.strip().lower()
        if word not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"expected true or false, got {value!r}")
        return word in ("true", "1", "yes")
    return bool(value)


def _moment(value: object) -> dt.datetime:
    """A moment in UTC: a naive date-time is read as UTC, a date as its midnight UTC."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected an ISO 8601 date-time, got {value!r}") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if not isinstance(value, dt.datetime):
        raise ValueError(f"expected a date-time, got {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


_PARSERS: dict[str, Callable[[ScoreField, object], object]] = {
    "number": _number, "text": _text, "longtext": _text, "picklist": _choice,
    "checkbox": lambda f, v: _flag(v), "datetime": lambda f, v: _moment(v),
}  # fmt: skip


def _value(field: ScoreField, value: object) -> object:
    """One checked, normalized value (None: the row has none); ValueError says what is wrong."""
    if _missing(value):
        return None
    checked = _PARSERS[field.kind](field, value)
    if field.key == "tier" and checked not in (None, 1, 2, 3):
        raise ValueError(f"a tier is 1, 2 or 3, not {value}")
    return checked


def _row_values(row: Row, number: int, problems: list[Problem]) -> dict[str, object]:
    values: dict[str, object] = {}
    for field in FIELDS:
        try:
            values[field.key] = _value(field, row.get(field.key))
        except ValueError as e:
            problems.append(Problem(SOURCE, number, field.key, str(e)))
    return values


def score_values(rows: Iterable[Row]) -> list[dict[str, object]]:
    """Each row's ABM values, checked and normalized: whole numbers as int, others as Decimal
    rounded to the field's decimals, stages in their canonical spelling, date-times in UTC,
    texts cut to fit; None where the row has none. Raises InputError naming every bad cell."""
    problems: list[Problem] = []
    values = [_row_values(row, i, problems) for i, row in enumerate(rows, start=1)]
    if problems:
        raise InputError(problems)
    return values


def _plain(value: object) -> str:
    """A normalized value as CRM text (not None)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# -- record ids ------------------------------------------------------------------------------
def _sf_checksum(base: str) -> str:
    """The 3 characters that make a 15-character Salesforce id case-insensitive."""

    def letter(chunk: str) -> str:
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        return _SF_ID_SUFFIX[bits]

    return "".join(letter(base[i : i + 5]) for i in (0, 5, 10))


def salesforce_account_id(value: object) -> str | None:
    """`value` as a Salesforce Account id (15 or 18 characters, prefix 001, a valid 18-character
    checksum), or None when it cannot be one."""
    text = "" if value is None else str(value).strip()
    if not _SF_ID.fullmatch(text):
        return None
    if len(text) == 18 and text[15:].upper() != _sf_checksum(text[:15]):
        return None
    return text


def hubspot_company_id(value: object) -> str | None:
    """`value` as a HubSpot record id (digits), or None when it cannot be one."""
    text = "" if value is None else str(value).strip()
    return text if re.fullmatch(r"[1-9][0-9]*", text) else None


_ID_OF = {"salesforce": salesforce_account_id, "hubspot": hubspot_company_id}
_ID_NAME = {"salesforce": "a Salesforce Account id", "hubspot": "a HubSpot record id"}


def split_by_crm_id(rows: Iterable[Row], crm: Crm) -> tuple[list[Row], list[Row]]:
    """(rows whose `account_id` is a record id of `crm`, the other rows)."""
    known: list[Row] = []
    unknown: list[Row] = []
    for row in rows:
        (known if _ID_OF[crm](row.get("account_id")) else unknown).append(row)
    return known, unknown


def _checked(rows: Iterable[Row], crm: Crm) -> list[tuple[str, dict[str, object]]]:
    """(record id, values) per row; InputError names every bad id, repeated id and value."""
    problems: list[Problem] = []
    out: list[tuple[str, dict[str, object]]] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows, start=1):
        record = _ID_OF[crm](row.get("account_id"))
        if record is None:
            why = f"{row.get('account_id')!r} is not {_ID_NAME[crm]}"
            problems.append(Problem(SOURCE, i, "account_id", why))
        elif record in seen:
            problems.append(Problem(SOURCE, i, "account_id", f"same record as row {seen[record]}"))
        seen.setdefault(record or "", i)
        out.append((record or "", _row_values(row, i, problems)))
    if problems:
        raise InputError(problems)
    return out


# -- Salesforce ------------------------------------------------------------------------------
def salesforce_name_problem(api_name: str) -> str | None:
    """Why `api_name` cannot be a custom field API name, or None when it can: letters, digits
    and underscores, starting with a letter, no two underscores in a row nor one at the end,
    at most 40 characters, then the `__c` suffix."""
    if not api_name.endswith("__c"):
        return "does not end with __c"
    name = api_name[:-3]
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        return "must start with a letter and hold only letters, digits and underscores"
    if "__" in name or name.endswith("_"):
        return "has two underscores in a row or ends with one"
    return f"is {len(name)} characters before __c (at most 40)" if len(name) > 40 else None


def _sf_cell(field: ScoreField, value: object) -> str:
    if value is None:  # a checkbox cannot be null
        return "false" if field.kind == "checkbox" else SALESFORCE_NULL
    return _plain(value)


def salesforce_bulk_csv(rows: Iterable[Row]) -> str:
    """The CSV of a Bulk API 2.0 `update` job on Account (create the job with object Account,
    operation update, the default comma delimiter and LF line ending)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SALESFORCE_HEADER)
    for record, values in _checked(rows, "salesforce"):
        writer.writerow([record, *(_sf_cell(f, values[f.key]) for f in FIELDS)])
    return out.getvalue()


def salesforce_fields() -> list[dict[str, object]]:
    """The custom fields to create on Account, as a user would fill the setup form."""

    def one(f: ScoreField) -> dict[str, object]:
        spec: dict[str, object] = {
            "api_name": f.salesforce,
            "label": f.label,
            "type": SALESFORCE_TYPES[f.kind],
            "description": f.help,
        }
        if f.kind == "number":
            spec.update(precision=f.digits, scale=f.decimals)
        elif f.kind in ("text", "longtext"):
            spec["length"] = f.length
        elif f.kind == "picklist":
            spec["values"] = list(f.options)
        return spec

    return [one(f) for f in FIELDS]


def _sf_elements(f: ScoreField) -> dict[str, str]:
    """The elements of a CustomField but its fullName, each with its (escaped) content."""
    elements = {"description": escape(f.help), "label": escape(f.label),
                "type": SALESFORCE_TYPES[f.kind]}  # fmt: skip
    if f.kind == "checkbox":
        elements["defaultValue"] = "false"
    elif f.kind == "number":
        elements.update(precision=str(f.digits), scale=str(f.decimals))
    elif f.kind in ("text", "longtext"):
        elements["length"] = str(f.length)
    if f.kind == "longtext":
        elements["visibleLines"] = "3"
    if f.kind == "picklist":
        values = "".join(f"""
        <value>
            <fullName>{escape(o)}</fullName>
            <default>false</default>
            <label>{escape(o)}</label>
        </value>""" for o in f.options)  # fmt: skip
        elements["valueSet"] = f"""
    <restricted>true</restricted>
    <valueSetDefinition>
        <sorted>false</sorted>{values}
    </valueSetDefinition>
"""
    return elements


def salesforce_field_xml(field: ScoreField) -> str:
    """The metadata (source format) of one custom field: the file
    `objects/Account/fields/<API name>.field-meta.xml` of a project deployed with the Metadata
    API. Elements in alphabetical order, as Salesforce writes them."""
    elements = _sf_elements(field)
    body = [f"<fullName>{field.salesforce}</fullName>"]
    body += [f"<{name}>{elements[name]}</{name}>" for name in sorted(elements)]
    lines = "".join(f"    {line}\n" for line in "\n".join(body).splitlines())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">\n'
        f"{lines}</CustomField>\n"
    )


def salesforce_field_files() -> dict[str, str]:
    """Every custom field's metadata file, by its path in a source-format project."""
    return {
        f"objects/Account/fields/{f.salesforce}.field-meta.xml": salesforce_field_xml(f)
        for f in FIELDS
    }


# -- HubSpot ---------------------------------------------------------------------------------
def _hs_fields(native: bool) -> list[ScoreField]:
    return [f for f in FIELDS if not (native and f.key == "tier")]


def _hs_cell(field: ScoreField, value: object) -> str:
    if value is None:
        return ""  # clears the property
    return str(value).lower() if field.kind == "picklist" else _plain(value)


def hubspot_company_properties(values: Mapping[str, object], native: bool = True) -> dict[str, str]:
    """The company property values of one account's normalized values (see `score_values`)."""
    props = {f.hubspot: _hs_cell(f, values[f.key]) for f in _hs_fields(native)}
    if native:
        tier = values["tier"]
        props[HUBSPOT_TARGET] = "true" if tier else "false"
        props[HUBSPOT_ICP_TIER] = HUBSPOT_TIERS[tier] if isinstance(tier, int) else ""
    return props


def _chunks(items: list[dict[str, object]], size: int) -> Iterator[list[dict[str, object]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def hubspot_batch_update(
    rows: Iterable[Row], *, native: bool = True, batch_size: int = HUBSPOT_BATCH_LIMIT
) -> list[dict[str, object]]:
    """The JSON bodies of `POST /crm/v3/objects/companies/batch/update`, one per request:
    `{"inputs": [{"id": ..., "properties": {...}}]}` with at most `batch_size` inputs (HubSpot
    takes 100)."""
    if not 1 <= batch_size <= HUBSPOT_BATCH_LIMIT:
        raise ValueError(f"batch_size must be 1 to {HUBSPOT_BATCH_LIMIT}, not {batch_size}")
    inputs: list[dict[str, object]] = [
        {"id": record, "properties": hubspot_company_properties(values, native)}
        for record, values in _checked(rows, "hubspot")
    ]
    return [{"inputs": chunk} for chunk in _chunks(inputs, batch_size)]


def _hs_definition(f: ScoreField, group: str, order: int) -> dict[str, object]:
    kind, field_type = HUBSPOT_TYPES[f.kind]
    spec: dict[str, object] = {
        "name": f.hubspot,
        "label": f.label,
        "description": f.help,
        "groupName": group,
        "type": kind,
        "fieldType": field_type,
        "displayOrder": order,
    }
    if f.kind == "picklist":
        spec["options"] = [
            {"label": o, "value": o.lower(), "displayOrder": i, "hidden": False}
            for i, o in enumerate(f.options)
        ]
    elif f.kind == "checkbox":
        spec["options"] = [
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
        ]
    return spec


def hubspot_properties(
    *, native: bool = True, group: str = HUBSPOT_GROUP
) -> list[dict[str, object]]:
    """The custom company properties to create, each the body of
    `POST /crm/v3/properties/companies` (the native ones exist in every account)."""
    return [_hs_definition(f, group, i) for i, f in enumerate(_hs_fields(native))]


def hubspot_property_problems(spec: Mapping[str, object]) -> list[str]:
    """What is wrong with a property definition: a `type`/`fieldType` pair HubSpot does not
    accept, a name outside abmkit's conservative rule (lower-case letters, digits and
    underscores, from a letter, at most 100 characters), an option list that is missing or
    repeats a value."""
    problems = []
    name, kind, field_type = str(spec.get("name")), spec.get("type"), spec.get("fieldType")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,99}", name):
        problems.append(f"name {name!r} is not lower-case letters, digits and underscores")
    if field_type not in HUBSPOT_FIELD_TYPES.get(str(kind), set()):
        problems.append(f"fieldType {field_type!r} is not valid for type {kind!r}")
    if not spec.get("label") or not spec.get("groupName"):
        problems.append("label and groupName are required")
    options = spec.get("options")
    values = [o.get("value") for o in options] if isinstance(options, list) else []
    if kind in ("enumeration", "bool") and (not values or len(set(values)) != len(values)):
        problems.append("options are missing or repeat a value")
    return problems
