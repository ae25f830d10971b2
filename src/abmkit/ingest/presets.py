"""Built-in mappings for the exports users bring most: Salesforce, HubSpot, Bombora Company Surge.

Salesforce and HubSpot presets accept both the API/internal field names and the labels their UI
exports use. Bombora Company Surge files have no header; the two shapes in circulation are told
apart by their number of columns.
"""

from __future__ import annotations

from abmkit.errors import ConfigError
from abmkit.ingest.mapping import Mapping, mapping_from_dict

SALESFORCE: dict[str, dict[str, str]] = {
    "accounts": {
        "Id": "account_id", "Account ID": "account_id", "Name": "name", "Account Name": "name",
        "Website": "domain", "Industry": "industry", "NumberOfEmployees": "employees",
        "Employees": "employees", "AnnualRevenue": "revenue", "Annual Revenue": "revenue",
        "BillingCountry": "country", "Billing Country": "country", "BillingState": "region",
        "Billing State/Province": "region", "BillingCity": "city", "Billing City": "city",
        "ParentId": "parent_account_id", "Parent Account ID": "parent_account_id",
        "Parent Account": "parent_name", "OwnerId": "owner", "Account Owner": "owner",
        "Type": "account_type", "Account Type": "account_type",
    },
    "contacts": {
        "Id": "contact_id", "Contact ID": "contact_id", "AccountId": "account_id",
        "Account ID": "account_id", "Account Name": "account_name", "FirstName": "first_name",
        "First Name": "first_name", "LastName": "last_name", "Last Name": "last_name",
        "Name": "name", "Full Name": "name", "Email": "email", "Title": "title",
        "Department": "department", "HasOptedOutOfEmail": "email_opt_out",
        "Email Opt Out": "email_opt_out", "DoNotCall": "do_not_call", "Do Not Call": "do_not_call",
        "MailingCountry": "country", "Mailing Country": "country",
    },
    "opportunities": {
        "Id": "opportunity_id", "Opportunity ID": "opportunity_id", "AccountId": "account_id",
        "Account ID": "account_id", "Account Name": "account_name", "Name": "name",
        "Opportunity Name": "name", "StageName": "stage", "Stage": "stage", "Amount": "amount",
        "CreatedDate": "created_at", "Created Date": "created_at", "CloseDate": "closed_at",
        "Close Date": "closed_at", "IsClosed": "is_closed", "Closed": "is_closed",
        "IsWon": "is_won", "Won": "is_won", "OwnerId": "owner", "Opportunity Owner": "owner",
    },
    "campaigns": {
        "Id": "campaign_id", "Campaign ID": "campaign_id", "Name": "name",
        "Campaign Name": "name", "Type": "campaign_type", "Status": "status",
        "StartDate": "start_date", "Start Date": "start_date", "EndDate": "end_date",
        "End Date": "end_date", "BudgetedCost": "budgeted_cost", "Budgeted Cost": "budgeted_cost",
        "ActualCost": "actual_cost", "Actual Cost": "actual_cost",
    },
}  # fmt: skip

HUBSPOT: dict[str, dict[str, str]] = {
    "accounts": {
        "hs_object_id": "account_id", "Record ID": "account_id", "Company ID": "account_id",
        "name": "name", "Company name": "name", "domain": "domain",
        "Company Domain Name": "domain", "website": "domain", "Website URL": "domain",
        "industry": "industry", "numberofemployees": "employees",
        "Number of Employees": "employees", "annualrevenue": "revenue",
        "Annual Revenue": "revenue", "country": "country", "Country/Region": "country",
        "state": "region", "State/Region": "region", "city": "city",
        "hs_parent_company_id": "parent_account_id", "Parent Company": "parent_name",
        "hubspot_owner_id": "owner", "Company owner": "owner", "type": "account_type",
        "Type": "account_type",
    },
    "contacts": {
        "hs_object_id": "contact_id", "Record ID": "contact_id", "Contact ID": "contact_id",
        "email": "email", "Email": "email", "firstname": "first_name",
        "First Name": "first_name", "lastname": "last_name", "Last Name": "last_name",
        "jobtitle": "title", "Job Title": "title", "company": "account_name",
        "Company Name": "account_name", "associatedcompanyid": "account_id",
        "Associated Company ID": "account_id", "Primary Associated Company ID": "account_id",
        "country": "country", "Country/Region": "country", "hs_email_optout": "email_opt_out",
        "Unsubscribed from all email": "email_opt_out",
    },
    "opportunities": {
        "hs_object_id": "opportunity_id", "Record ID": "opportunity_id",
        "Deal ID": "opportunity_id", "dealname": "name", "Deal Name": "name",
        "dealstage": "stage", "Deal Stage": "stage", "amount": "amount", "Amount": "amount",
        "createdate": "created_at", "Create Date": "created_at", "closedate": "closed_at",
        "Close Date": "closed_at", "hs_is_closed_won": "is_won", "Is Closed Won": "is_won",
        "hs_is_closed": "is_closed", "Is closed": "is_closed", "hubspot_owner_id": "owner",
        "Deal owner": "owner", "associatedcompanyid": "account_id",
        "Associated Company ID": "account_id", "Associated Company": "account_name",
    },
    "campaigns": {
        "hs_object_id": "campaign_id", "Record ID": "campaign_id", "name": "name",
        "Campaign name": "name", "hs_start_date": "start_date", "Start date": "start_date",
        "hs_end_date": "end_date", "End date": "end_date", "hs_budget_items_sum_amount":
        "budgeted_cost", "Budget total": "budgeted_cost",
    },
}  # fmt: skip

BOMBORA_ADAT = [
    "Company Name", "Domain", "Size", "Industry", "Category", "Topic", "Composite Score",
    "Bucket Code", "Metro Area", "Metro Composite Score", "Metro Bucket Code",
    "Domain Origin Country",
]  # fmt: skip
BOMBORA_MASTER_SURGE = [
    "Company Name", "Domain", "Size", "Industry", "Category", "Topic", "Composite Score",
    "Metro Scores", "Domain Origin Country",
]  # fmt: skip
_BOMBORA_COLUMNS = {
    "Company Name": "company_name", "Domain": "domain", "Category": "category",
    "Topic": "topic", "Composite Score": "score",
}  # fmt: skip


# Without a preset, headers named like a canonical column map to it; these common names too.
AUTO: dict[str, dict[str, str]] = {
    "accounts": {"company": "name", "company_name": "name", "website": "domain",
                 "sector": "industry", "employee_count": "employees"},
    "contacts": {"job_title": "title", "company": "account_name", "company_name": "account_name"},
    "touches": {"timestamp": "ts", "time": "ts", "occurred_at": "ts", "event_time": "ts",
                "visitor_ip": "ip", "ip_address": "ip", "page_url": "url", "activity": "kind",
                "activity_type": "kind", "company_domain": "domain"},
    "intent": {"company_domain": "domain", "composite_score": "score", "date": "week"},
    "opportunities": {"deal_stage": "stage", "company": "account_name"},
    "ip_ranges": {"start": "start_ip", "end": "end_ip", "company_domain": "domain"},
}  # fmt: skip


def auto(table: str) -> Mapping:
    """The mapping used when no preset or mapping file is given."""
    return Mapping(table=table, columns=AUTO.get(table, {}))


def bombora(column_count: int) -> Mapping:
    """The Company Surge shape with `column_count` columns (12: all topics, 9: master surge)."""
    names = {12: BOMBORA_ADAT, 9: BOMBORA_MASTER_SURGE}.get(column_count)
    if names is None:
        raise ConfigError(
            f"not a Bombora Company Surge file: {column_count} columns (expected 12 or 9)"
        )
    return Mapping(
        table="intent",
        header=False,
        names=names,
        columns=_BOMBORA_COLUMNS,
        constants={"source": "bombora"},
        keep_unmapped=False,
        week_from_filename=True,
        skip_empty=["topic"],  # domains listed without topic data: no signal, not an error
    )


def _from_table(fields: dict[str, dict[str, str]], name: str, table: str) -> Mapping:
    if table not in fields:
        raise ConfigError(f"preset {name!r} has no mapping for {table}; it knows {sorted(fields)}")
    return Mapping(table=table, columns=fields[table], constants={"source": name})


BUILTIN = ("salesforce", "hubspot", "bombora")


def preset(name: str, table: str, *, column_count: int, configured: dict[str, dict]) -> Mapping:
    """The mapping called `name` for `table`: built-in, or defined under `ingest.mappings`."""
    if name in configured:
        mapping = mapping_from_dict(configured[name], f"ingest.mappings.{name}")
        return resolve_extends(mapping, table, column_count=column_count, configured=configured)
    if name == "salesforce":
        return _from_table(SALESFORCE, name, table)
    if name == "hubspot":
        return _from_table(HUBSPOT, name, table)
    if name == "bombora":
        if table != "intent":
            raise ConfigError("the bombora preset loads intent files: abm ingest intent FILE")
        return bombora(column_count)
    known = sorted(set(BUILTIN) | set(configured))
    raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(known)}")


def resolve_extends(
    mapping: Mapping, table: str, *, column_count: int, configured: dict[str, dict]
) -> Mapping:
    """Apply `extends: PRESET` by laying the mapping over that preset."""
    if not mapping.extends:
        return mapping
    base = preset(mapping.extends, table, column_count=column_count, configured=configured)
    return mapping.merged_over(base)
