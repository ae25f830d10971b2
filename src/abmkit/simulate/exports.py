"""Turn the hidden world into the exact columns of each vendor export (see docs/simulator.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import catalog as cat
from .config import MarketConfig
from .ids import salesforce_ids
from .signals import page_urls
from .touches import CHANNELS, KINDS
from .writers import dates, ipv4, texts, timestamps, to_table

ACCOUNT_COLUMNS = [
    "Id",
    "Name",
    "Website",
    "Industry",
    "NumberOfEmployees",
    "AnnualRevenue",
    "BillingCity",
    "BillingState",
    "BillingCountry",
    "ParentId",
    "OwnerId",
    "Type",
    "Tech_Stack__c",
    "Funding_Stage__c",
]
CONTACT_COLUMNS = [
    "Id",
    "AccountId",
    "FirstName",
    "LastName",
    "Email",
    "Title",
    "Department",
    "HasOptedOutOfEmail",
    "DoNotCall",
    "MailingCountry",
]
OPPORTUNITY_COLUMNS = [
    "Id",
    "AccountId",
    "Name",
    "StageName",
    "Amount",
    "CreatedDate",
    "CloseDate",
    "IsClosed",
    "IsWon",
    "Type",
    "LeadSource",
    "OwnerId",
]
CAMPAIGN_COLUMNS = [
    "Id",
    "Name",
    "Type",
    "Status",
    "StartDate",
    "EndDate",
    "BudgetedCost",
    "ActualCost",
]
MARKETING_COLUMNS = [
    "timestamp",
    "email",
    "domain",
    "channel",
    "kind",
    "campaign_id",
    "cost",
    "url",
    "source",
]
WEB_COLUMNS = ["timestamp", "ip", "email", "url", "referrer", "session_id"]
SOURCES = [
    "linkedin_ads",
    "google_ads",
    "meta_ads",
    "dsp",
    "marketo",
    "webinar_platform",
    "sendoso",
    "salesloft",
]
CAMPAIGN_TYPES = {
    "linkedin": "Advertisement",
    "google": "Advertisement",
    "meta": "Advertisement",
    "display": "Banner Ads",
    "email": "Email",
    "events": "Webinar",
    "direct_mail": "Direct Mail",
}
CAMPAIGN_LABELS = {
    "linkedin": "LinkedIn ABM",
    "google": "Google Search",
    "meta": "Meta Retargeting",
    "display": "Display ABM",
    "email": "Nurture",
    "events": "Webinar",
    "direct_mail": "Direct Mail Tier 1",
}


def account_export(accounts: pd.DataFrame) -> pa.Table:
    """Salesforce Account export."""
    return to_table(accounts[ACCOUNT_COLUMNS])


def contact_export(contacts: pd.DataFrame) -> pa.Table:
    """Salesforce Contact export."""
    return to_table(contacts[CONTACT_COLUMNS])


def ip_range_export(accounts: pd.DataFrame) -> pa.Table:
    """Reverse-IP table: one block per company that has one."""
    has = accounts["ip_size"].to_numpy() > 0
    start = accounts["ip_start"].to_numpy()[has]
    end = start + accounts["ip_size"].to_numpy()[has] - 1
    return pa.table(
        {
            "start_ip": ipv4(start),
            "end_ip": ipv4(end),
            "domain": texts(accounts["domain"].to_numpy()[has]),
        }
    )


def opportunity_export(opps: pd.DataFrame) -> pa.Table:
    """Salesforce Opportunity export (as of the end of the simulation)."""
    frame = pd.DataFrame(
        {
            "Id": opps["Id"],
            "AccountId": opps["AccountId"],
            "Name": opps["Name"],
            "StageName": opps["StageName"],
            "Amount": opps["amount"].map("{:.2f}".format),
            "CreatedDate": dates(opps["created"].to_numpy()),
            "CloseDate": dates(opps["close"].to_numpy()),
            "IsClosed": opps["is_closed"],
            "IsWon": opps["is_closed"] & opps["won"],
            "Type": opps["Type"],
            "LeadSource": opps["LeadSource"],
            "OwnerId": opps["OwnerId"],
        }
    )
    return to_table(frame)


def campaign_export(
    cfg: MarketConfig, channels: list[str], costs: np.ndarray, rng: np.random.Generator
) -> pa.Table:
    """Salesforce Campaign export: one campaign per paid/marketing channel and month."""
    months = np.datetime64(cfg.start, "M") + np.arange(cfg.months)
    channel = np.repeat(np.array(channels, dtype=object), cfg.months)
    month = np.tile(months, len(channels))
    first = np.maximum(month.astype("datetime64[D]"), cfg.start_day)
    last = np.minimum((month + 1).astype("datetime64[D]"), cfg.end_day) - 1
    label = pd.Series(month.astype("datetime64[D]")).dt.strftime("%b %Y").to_numpy()
    frame = pd.DataFrame(
        {
            "Id": salesforce_ids("701", len(channel)),
            "Name": [f"{CAMPAIGN_LABELS[c]} - {m}" for c, m in zip(channel, label, strict=True)],
            "Type": [CAMPAIGN_TYPES[c] for c in channel],
            "Status": np.where(last < cfg.end_day - 1, "Completed", "In Progress"),
            "StartDate": dates(first),
            "EndDate": dates(last),
            "BudgetedCost": np.round(costs * rng.uniform(0.9, 1.3, len(costs)) + 500, -2),
            "ActualCost": np.round(costs, 2),
        }
    )
    for column in ("BudgetedCost", "ActualCost"):
        frame[column] = frame[column].map("{:.2f}".format)
    return to_table(frame)


def marketing_table(world, cols: dict[str, np.ndarray], first_month: np.datetime64):
    """Canonical touch rows of one week; also month key, campaign index and cost per row."""
    contacts, accounts = world.contacts, world.accounts
    month = cols["ts"].astype("datetime64[s]").astype("datetime64[M]")
    month_index = (month - first_month).astype(np.int64)
    channel, kind = cols["channel"].astype(np.int64), cols["kind"].astype(np.int64)
    campaign = np.where(channel < 7, channel * world.cfg.months + month_index, -1)
    campaign = np.where((month_index >= world.cfg.months), -1, campaign)
    campaign_ids = salesforce_ids("701", 7 * world.cfg.months)
    contact = cols["contact"]
    url = _touch_urls(world, channel, kind)
    cost = cols["cost"]
    table = pa.table(
        {
            "timestamp": timestamps(cols["ts"]),
            "email": texts(contacts["Email"].to_numpy()[np.maximum(contact, 0)], contact < 0),
            "domain": texts(accounts["domain"].to_numpy()[cols["account"]]),
            "channel": texts(np.array(CHANNELS, dtype=object)[channel]),
            "kind": texts(np.array(KINDS, dtype=object)[kind]),
            "campaign_id": texts(campaign_ids[np.maximum(campaign, 0)], campaign < 0),
            "cost": texts(
                pd.Series(np.round(cost, 4)).map("{:g}".format).to_numpy(), np.isnan(cost)
            ),
            "url": url,
            "source": texts(np.array(SOURCES, dtype=object)[channel]),
        }
    )
    return table, month, campaign, np.nan_to_num(cost)


def _touch_urls(world, channel: np.ndarray, kind: np.ndarray) -> pa.Array:
    urls, first, size = page_urls(world.cfg.seller_domain)
    landing = np.where(channel < 4, len(urls) - 4 + np.minimum(channel, 3), 0)
    blog = first[2] + (np.arange(len(kind)) % size[2])
    pick = np.select(
        [
            kind == KINDS.index("ad_click"),
            kind == KINDS.index("form_fill"),
            kind == KINDS.index("email_click"),
        ],
        [landing, first[6], blog],
        -1,
    )
    return texts(urls[np.maximum(pick, 0)], pick < 0)


def web_table(world, visits: dict[str, np.ndarray]):
    """Web analytics rows of one week (sorted by time) and their month keys."""
    order = np.argsort(visits["ts"], kind="stable")
    v = {k: a[order] for k, a in visits.items()}
    contact = v["contact"]
    table = pa.table(
        {
            "timestamp": timestamps(v["ts"]),
            "ip": ipv4(v["ip"]),
            "email": texts(world.contacts["Email"].to_numpy()[np.maximum(contact, 0)], contact < 0),
            "url": texts(v["url"]),
            "referrer": texts(v["referrer"]),
            "session_id": pc.utf8_lower(pc.cast(pa.array(v["session"]), pa.string())),
        }
    )
    return table, v["ts"].astype("datetime64[s]").astype("datetime64[M]")


def bombora_table(world, intent: pd.DataFrame, rng: np.random.Generator) -> pa.Table:
    """Header-less Master Surge shape: name, domain, size, industry, category, topic, score,
    metro[score]|..., country."""
    accounts = world.accounts
    a, n = intent["account"].to_numpy(), len(intent)
    topics = [(c, t) for c, ts in cat.TOPIC_CATEGORIES.items() for t in ts]
    category = np.array([c for c, _ in topics], dtype=object)[intent["topic"].to_numpy()]
    topic = np.array([t for _, t in topics], dtype=object)[intent["topic"].to_numpy()]
    score = intent["score"].to_numpy()
    employees = accounts["NumberOfEmployees"].to_numpy()[a]
    bands = np.array([b for _, b in cat.BOMBORA_SIZES], dtype=object)
    size = bands[np.searchsorted([u for u, _ in cat.BOMBORA_SIZES], employees, side="right")]
    metro_score = np.clip(score + rng.integers(-6, 7, n), 0, 100).astype(str).astype(object)
    metro = accounts["metro"].to_numpy()[a] + "[" + metro_score + "]"
    second = rng.random(n) < 0.2
    metro = np.where(second, metro + "|[" + metro_score + "]", metro)
    return pa.table(
        {
            "company": texts(accounts["Name"].to_numpy()[a], rng.random(n) > 0.15),
            "domain": texts(accounts["domain"].to_numpy()[a]),
            "size": texts(size, rng.random(n) > 0.2),
            "industry": texts(accounts["Industry"].to_numpy()[a], rng.random(n) > 0.2),
            "category": texts(category),
            "topic": texts(topic),
            "score": pa.array(score),
            "metros": texts(metro),
            "country": texts(accounts["BillingCountry"].to_numpy()[a]),
        }
    )
