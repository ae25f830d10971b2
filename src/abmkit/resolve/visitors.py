"""Website visitors → accounts, from memory: what the beacon, personalization and routing ask
for every request, answered without a warehouse query.

The evidence, strongest first: a **known-contact token** (set in a first-party cookie when a
person clicks the link in one of our e-mails: signed, so a visitor cannot claim to be someone
else), a **business e-mail** a form gave (its registrable domain), a **domain** the website
passes (its own reverse-IP provider, a form field), and the visitor's **IP address** within a
range of the warehouse's `ip_ranges` (the narrowest range wins, as at ingest). The lookups are
built from the warehouse when the server starts and rebuilt when accounts or ranges change; each
account's facts (tier, cluster, stage, industry, owner) are reloaded for the accounts a refresh
re-scored.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import heapq
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import ibis
import ibis.expr.types as ir

from abmkit.config.workspace import secret
from abmkit.resolve.domains import account_domain, email_domain, ip_to_int
from abmkit.store.db import AppStore
from abmkit.warehouse.engine import Warehouse

TOKEN_VERSION = "v1"
TOKEN_PARAM = "abm_ct"
"""The query parameter of an e-mail link that carries the token (the snippet reads it)."""
KEY_STATE = "visitor_token_key"
"""Where the signing key is kept when ABM_SECRET_VISITOR_KEY does not give one."""


# -- known-contact tokens ----------------------------------------------------------------------
@dataclass(frozen=True)
class KnownContact:
    """Who a known-contact token names: the person, their account and persona when the e-mail
    left, and when it was signed."""

    contact_id: str
    account_id: str
    persona: str | None
    issued: dt.datetime


def signing_key(store: AppStore) -> bytes:
    """The key tokens are signed with: `ABM_SECRET_VISITOR_KEY`, else one made at random the
    first time and kept in the application store (so tokens outlive a restart)."""
    given = secret("visitor_key")
    if given:
        return given.encode()
    kept = store.state(KEY_STATE).get("key")
    if not kept:
        kept = secrets.token_hex(32)
        store.save_state(KEY_STATE, {"key": kept})
    return bytes.fromhex(kept)


def sign_contact(key: bytes, contact: KnownContact) -> str:
    """`v1.<payload>.<mac>`: the contact, account, persona and time, HMAC-SHA256 signed."""
    payload = {"c": contact.contact_id, "a": contact.account_id, "p": contact.persona,
               "t": int(contact.issued.replace(tzinfo=dt.UTC).timestamp())}  # fmt: skip
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{TOKEN_VERSION}.{body}.{_mac(key, body)}"


def read_contact(key: bytes, token: str, now: dt.datetime, max_days: float) -> KnownContact | None:
    """The contact a token names, or None when it is malformed, forged or older than
    `max_days`."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        return None
    if not hmac.compare_digest(parts[2], _mac(key, parts[1])):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        issued = dt.datetime.fromtimestamp(int(data["t"]), dt.UTC).replace(tzinfo=None)
        contact = KnownContact(str(data["c"]), str(data["a"]), data.get("p"), issued)
    except (ValueError, KeyError, TypeError):
        return None
    return contact if now - issued <= dt.timedelta(days=max_days) else None


def contact_link(url: str, key: bytes, contact: KnownContact) -> str:
    """`url` with the contact's token added as `abm_ct` (the snippet keeps it in a cookie)."""
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), (TOKEN_PARAM, sign_contact(key, contact))])
    return urlunsplit(parts._replace(query=query))


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, f"{TOKEN_VERSION}.{body}".encode(), hashlib.sha256).digest()
    return _b64(digest[:18])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# -- IP ranges ---------------------------------------------------------------------------------
class IpRanges:
    """IPv4 ranges owned by accounts, cut into disjoint segments, each with the account of the
    narrowest range covering it (ties: the smaller account ID), looked up by bisection."""

    def __init__(self, ranges: Iterable[tuple[int, int, str]]):
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.accounts: list[str] = []
        self._cut(sorted(r for r in ranges if r[0] <= r[1]))

    def _cut(self, ranges: list[tuple[int, int, str]]) -> None:
        points = sorted({p for start, end, _ in ranges for p in (start, end + 1)})
        active: list[tuple[int, str, int]] = []  # (width, account, end) of the open ranges
        i = 0
        for n, point in enumerate(points[:-1]):
            while i < len(ranges) and ranges[i][0] <= point:
                start, end, account = ranges[i]
                heapq.heappush(active, (end - start, account, end))
                i += 1
            while active and active[0][2] < point:
                heapq.heappop(active)
            if active:
                self._add(point, points[n + 1] - 1, active[0][1])

    def _add(self, start: int, end: int, account: str) -> None:
        if self.accounts and self.accounts[-1] == account and self.ends[-1] == start - 1:
            self.ends[-1] = end  # the same account right after: one segment
            return
        self.starts.append(start)
        self.ends.append(end)
        self.accounts.append(account)

    def account_of(self, ip: str | None) -> str | None:
        number = ip_to_int(ip)
        if number is None:
            return None
        at = bisect.bisect_right(self.starts, number) - 1
        return self.accounts[at] if at >= 0 and number <= self.ends[at] else None

    def __len__(self) -> int:
        return len(self.starts)


# -- accounts as the real-time path sees them ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class AccountCard:
    """What personalization and routing read about an account, kept in memory."""

    account_id: str
    name: str = ""
    domain: str = ""
    industry: str = ""
    owner: str = ""
    tier: int | None = None
    cluster: int | None = None
    cluster_label: str = ""
    buying_stage: str = ""
    journey_stage: str = ""
    top_topics: str = ""


CARD_COLUMNS = ("account_id", "name", "domain", "industry", "owner")
SCORE_COLUMNS = ("tier", "cluster", "cluster_label", "buying_stage", "journey_stage",
                 "top_topics")  # fmt: skip


def card_rows(wh: Warehouse, ids: ir.Table | None = None) -> ir.Table:
    """Accounts with their current scores (all of them, or those in `ids`)."""
    accounts = wh.table("accounts").select(*CARD_COLUMNS)
    if ids is not None:
        accounts = accounts.semi_join(ids, "account_id")
    scores = wh.table("account_scores").select("account_id", *SCORE_COLUMNS)
    return accounts.left_join(scores, "account_id").drop("account_id_right")


def cards_of(wh: Warehouse, rows: ir.Table) -> dict[str, AccountCard]:
    return {r["account_id"]: _card(r) for r in wh.arrow(rows).to_pylist()}


def _card(r: dict) -> AccountCard:
    return AccountCard(
        account_id=r["account_id"], name=r["name"] or "", domain=r["domain"] or "",
        industry=r["industry"] or "", owner=r["owner"] or "", tier=r["tier"],
        cluster=r["cluster"], cluster_label=r["cluster_label"] or "",
        buying_stage=r["buying_stage"] or "", journey_stage=r["journey_stage"] or "",
        top_topics=r["top_topics"] or "",
    )  # fmt: skip


# -- resolving a visitor ---------------------------------------------------------------------
@dataclass(frozen=True)
class Visitor:
    """A visitor as resolved: the account (None: unknown), how it was found, and the person
    when a known-contact token named them."""

    account_id: str | None = None
    method: str | None = None  # contact, email, domain or ip
    contact_id: str | None = None
    persona: str | None = None


@dataclass
class Visitors:
    """The lookups: registrable domain → account, IP ranges, merged account → surviving one,
    and every account's card."""

    domains: dict[str, str] = field(default_factory=dict)
    ranges: IpRanges = field(default_factory=lambda: IpRanges([]))
    aliases: dict[str, str] = field(default_factory=dict)
    cards: dict[str, AccountCard] = field(default_factory=dict)

    def resolve(self, *, contact: KnownContact | None = None, email: str | None = None,
                domain: str | None = None, ip: str | None = None) -> Visitor:  # fmt: skip
        """The strongest evidence that names a known account."""
        if contact is not None:
            account = self.aliases.get(contact.account_id, contact.account_id)
            if account in self.cards:
                return Visitor(account, "contact", contact.contact_id, contact.persona)
        for method, key in (("email", _business(email)), ("domain", account_domain(domain))):
            found = self.domains.get(key) if key else None
            if found is not None:
                return Visitor(found, method)
        found = self.ranges.account_of(ip)
        return Visitor(found, "ip") if found is not None else Visitor()

    def card(self, account_id: str | None) -> AccountCard | None:
        return self.cards.get(account_id) if account_id else None

    def update(self, cards: dict[str, AccountCard]) -> None:
        """Replace some accounts' cards (after a refresh re-scored them); a reader sees each
        card either before or after, never half-written."""
        self.cards.update(cards)


def _business(email: str | None) -> str | None:
    return account_domain(email_domain(email)) if email else None


def load_visitors(wh: Warehouse) -> Visitors:
    """Every lookup, built from the warehouse."""
    accounts = wh.table("accounts")
    ranked = accounts.filter(accounts.domain.notnull()).mutate(
        _n=ibis.row_number().over(
            group_by="domain", order_by=[accounts.parent_account_id.notnull(), "account_id"]
        )
    )
    first = ranked.filter(ranked._n == 0).select("domain", "account_id")  # fmt: skip
    domains = {r["domain"]: r["account_id"] for r in wh.arrow(first).to_pylist()}
    r = wh.table("ip_ranges")
    r = r.filter(r.account_id.notnull() & r.start_num.notnull() & r.end_num.notnull())
    rows = wh.arrow(r.select("start_num", "end_num", "account_id")).to_pylist()
    merges = wh.table("account_merges").select("from_account_id", "into_account_id")
    aliases = {m["from_account_id"]: m["into_account_id"] for m in wh.arrow(merges).to_pylist()}
    ranges = IpRanges((x["start_num"], x["end_num"], x["account_id"]) for x in rows)
    return Visitors(domains, ranges, aliases, cards_of(wh, card_rows(wh)))
