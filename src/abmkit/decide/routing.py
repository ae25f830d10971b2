"""Routing a chat or form hand-off: to the account's owner (or the fallback from the settings),
with the tier, the time within which someone should answer (an SLA per tier), and a first line
for the rep drawn from what the account did lately (key pages, surging topics, buying stage),
with the reason in words.

The first line never says that a visit was seen: it offers what the pages point to (pricing, a
demo, a comparison) or the topic the account researches. The reason, for the rep's eyes only,
says what it rests on.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import ibis

from abmkit.config.realtime import RoutingSettings
from abmkit.config.settings import Settings
from abmkit.decide.observe import key_pages
from abmkit.resolve.visitors import AccountCard, Visitor
from abmkit.warehouse.engine import Warehouse

OFFERS = {"/pricing": "pricing", "/demo": "a demo", "/compare": "how we compare",
          "/customers": "what similar teams did", "/docs": "the technical details",
          "/product": "how the product fits"}  # fmt: skip
"""What a rep can offer someone who looked at a page under each path."""


@dataclass
class PageVisits:
    path: str
    views: int
    last: dt.datetime


@dataclass
class Route:
    """Where a hand-off goes and what the rep should know."""

    owner: str
    fallback: bool
    tier: int | None
    sla_hours: float
    respond_by: dt.datetime
    first_line: str
    reason: str
    account_id: str | None = None
    account_name: str | None = None
    matched_by: str | None = None
    buying_stage: str | None = None
    key_pages: list[PageVisits] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


def recent_key_pages(wh: Warehouse, settings: Settings, account_id: str,
                     since: dt.datetime) -> list[PageVisits]:  # fmt: skip
    """The account's visits to key pages since `since`, most viewed first."""
    pages = key_pages(settings)
    if not pages:
        return []
    t = wh.table("touches")
    t = t.filter((t.account_id == account_id) & (t.ts >= since) & t.url.notnull())
    t = t.mutate(path=t.url.re_extract(r"^[a-z]+://[^/]+(/[^?#]*)", 1))
    t = t.filter(ibis.or_(*[t.path.startswith(p) for p in pages]))
    g = t.group_by("path").aggregate(views=t.count(), last=t.ts.max())
    rows = wh.arrow(g.order_by([ibis.desc("views"), "path"]).limit(5)).to_pylist()
    return [PageVisits(r["path"], int(r["views"]), r["last"]) for r in rows]


def topics_of(card: AccountCard, limit: int = 3) -> list[str]:
    """The account's top intent topics, without their scores."""
    names = [re.sub(r"\s*\(\d+\)", "", t).strip() for t in card.top_topics.split(",")]
    return [n for n in names if n][:limit]


def route(card: AccountCard | None, visitor: Visitor, pages: list[PageVisits],
          settings: Settings, now: dt.datetime) -> Route:  # fmt: skip
    """The hand-off of a visitor whose account is `card` (None: unknown)."""
    r = settings.routing
    hours = sla(card, r)
    due = now + dt.timedelta(hours=hours)
    product = settings.content.product
    if card is None:
        return Route(r.fallback_owner, True, None, hours, due,
                     f"Thanks for getting in touch: what would you like to know about {product}?",
                     "unknown visitor: no account matched", matched_by=None)  # fmt: skip
    topics = topics_of(card)
    owner = card.owner or r.fallback_owner
    return Route(owner, not card.owner, card.tier, hours, due, first_line(card, pages, topics,
                 product), reason(card, pages, topics, r, bool(card.owner)),
                 account_id=card.account_id, account_name=card.name or card.domain,
                 matched_by=visitor.method, buying_stage=card.buying_stage or None,
                 key_pages=pages, topics=topics)  # fmt: skip


def sla(card: AccountCard | None, r: RoutingSettings) -> float:
    if card is None or card.tier is None:
        return r.untiered_sla_hours
    return r.sla_hours.get(card.tier, r.untiered_sla_hours)


def first_line(card: AccountCard, pages: list[PageVisits], topics: list[str],
               product: str) -> str:  # fmt: skip
    """What the rep might open with: an offer that fits the pages and the stage."""
    name = card.name or card.domain
    offers = list(dict.fromkeys(o for p in pages for prefix, o in OFFERS.items()
                                if p.path.startswith(prefix)))  # fmt: skip
    if offers:
        return f"Happy to take you through {_joined(offers[:2])} for {name}: what matters most?"
    if topics:
        return f"Thanks for reaching out: is {topics[0]} what brings {name} to {product}?"
    if card.buying_stage in ("Decision", "Purchase"):
        return f"Happy to help {name} decide: shall we set up a short call this week?"
    return f"Thanks for getting in touch: what would you like to know about {product}?"


def reason(card: AccountCard, pages: list[PageVisits], topics: list[str],
           r: RoutingSettings, owned: bool) -> str:  # fmt: skip
    """Why this owner, this SLA and this first line, in one sentence."""
    parts = [f"Tier {card.tier}" if card.tier else "not in a tier"]
    if card.buying_stage:
        parts.append(f"{card.buying_stage} stage")
    if pages:
        seen = ", ".join(f"{p.path} ×{p.views}" for p in pages)
        parts.append(f"key pages in the last {r.lookback_days} days: {seen}")
    if topics:
        parts.append(f"researching {_joined(topics)}")
    who = "the account's owner" if owned else f"no owner on the account: {r.fallback_owner}"
    return "; ".join(parts) + f"; routed to {who}"


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def hand_off(wh: Warehouse, settings: Settings, card: AccountCard | None, visitor: Visitor,
             now: dt.datetime) -> Route:  # fmt: skip
    """The route of a visitor: their account's recent key pages read from the warehouse (call
    holding its gate), the rest from the card in memory."""
    since = now - dt.timedelta(days=settings.routing.lookback_days)
    pages = recent_key_pages(wh, settings, card.account_id, since) if card else []
    return route(card, visitor, pages, settings, now)
