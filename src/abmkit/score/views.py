"""Read the stored scores: a filtered list of accounts, and everything about one account."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from abmkit.config.settings import Settings
from abmkit.errors import AbmError, NotFoundError
from abmkit.resolve.domains import account_domain
from abmkit.score.incremental import ScopedWarehouse, naive
from abmkit.score.refresh import latest_data_time
from abmkit.score.signals import contacts_with_personas, engagement
from abmkit.warehouse.engine import Warehouse

LIST_COLUMNS = ["account_id", "name", "domain", "tier", "cluster", "priority", "fit",
                "fit_bucket", "intent", "engagement", "buying_stage", "journey_stage",
                "sales_ready", "top_topics", "cluster_label"]  # fmt: skip
SORTS = {"priority": ibis.desc("priority"), "fit": ibis.desc("fit"), "intent": ibis.desc("intent"),
         "engagement": ibis.desc("engagement"), "name": ibis.asc("name")}  # fmt: skip


def scored_accounts(wh: Warehouse) -> ir.Table:
    acc = wh.table("accounts").select("account_id", "name", "domain", "industry", "employees",
                                      "revenue", "country", "region", "owner")  # fmt: skip
    return wh.table("account_scores").join(acc, "account_id")


def list_accounts(wh: Warehouse, *, tier: int | None = None, stage: str | None = None,
                  sales_ready: bool | None = None, search: str | None = None,
                  cluster: int | None = None, owner: str | None = None,
                  sort: str = "priority", limit: int | None = 50,
                  offset: int = 0) -> pa.Table:  # fmt: skip
    """Scored accounts, best first, filtered by tier, cluster, buying or journey stage, owner,
    or a search; `offset` skips that many (a page)."""
    t = filtered_accounts(wh, tier=tier, stage=stage, sales_ready=sales_ready, search=search,
                          cluster=cluster, owner=owner)  # fmt: skip
    if sort not in SORTS:
        raise AbmError(f"cannot sort by {sort!r}; choose one of {', '.join(SORTS)}")
    t = t.order_by([SORTS[sort], "account_id"]).select(*LIST_COLUMNS)
    return (t.limit(limit, offset=offset) if limit else t[offset:]).to_pyarrow()


def count_accounts(wh: Warehouse, **filters: object) -> int:
    """How many scored accounts pass the filters of `list_accounts` (for paging)."""
    return int(wh.scalar(filtered_accounts(wh, **filters).count()))  # type: ignore[arg-type]


def filtered_accounts(wh: Warehouse, *, tier: int | None = None, stage: str | None = None,
                      sales_ready: bool | None = None, search: str | None = None,
                      cluster: int | None = None,
                      owner: str | None = None) -> ir.Table:  # fmt: skip
    t = scored_accounts(wh)
    if tier is not None:
        t = t.filter(t.tier == tier)
    if cluster is not None:
        t = t.filter(t.cluster == cluster)
    if stage:
        s = stage.lower()
        t = t.filter((t.buying_stage.lower() == s) | (t.journey_stage.lower() == s))
    if sales_ready is not None:
        t = t.filter(t.sales_ready == sales_ready)
    if owner is not None:
        t = t.filter(t.owner == owner)
    if search:
        q = search.lower()
        t = t.filter(t.name.lower().contains(q) | t.domain.lower().contains(q))
    return t


@dataclass
class AccountView:
    """Everything `abm account` shows about one account."""

    account: dict
    scores: dict
    reasons: list[dict]
    history: list[dict]
    tier_changes: list[dict]
    committee: list[dict]
    personas: list[dict]
    topics: list[dict]
    touches: list[dict]
    opportunities: list[dict]


def find_account(wh: Warehouse, key: str) -> str:
    """An account ID from an ID, a domain or a URL."""
    acc = wh.table("accounts")
    domain = account_domain(key) or key.lower()
    hits = acc.filter((acc.account_id == key) | (acc.domain == domain)).select("account_id")
    ids = hits.to_pyarrow()["account_id"].to_pylist()
    if not ids:
        raise NotFoundError(f"no account with ID or domain {key!r}")
    return str(sorted(ids)[0])


def account_view(wh: Warehouse, settings: Settings, key: str, *,
                 touches: int = 15) -> AccountView:  # fmt: skip
    with wh.temporary():  # its one-account copies go once read
        return _account_view(wh, settings, key, touches)


def _account_view(wh: Warehouse, settings: Settings, key: str, touches: int) -> AccountView:
    account_id = find_account(wh, key)

    def rows(t: ir.Table, order=None, limit: int | None = None) -> list[dict]:
        t = t.order_by(order) if order is not None else t
        return (t.limit(limit) if limit else t).to_pyarrow().to_pylist()

    acc = rows(wh.table("accounts").filter(ibis._.account_id == account_id))[0]
    scores = rows(wh.table("account_scores").filter(ibis._.account_id == account_id))
    reasons = wh.table("score_reasons").filter(ibis._.account_id == account_id)
    history = wh.table("score_history").filter(ibis._.account_id == account_id)
    changes = wh.table("tier_changes").filter(ibis._.account_id == account_id)
    # Its engagement per person and persona, scored like `abm score` does, over its rows only.
    view = ScopedWarehouse(wh, wh.stage(pa.table({"account_id": [account_id]}), prefix="one"))
    as_of = scores[0]["as_of"] if scores else latest_data_time(wh)
    contacts = contacts_with_personas(view, settings).filter(ibis._.account_id == account_id)
    per_contact = (
        engagement(view, settings, naive(as_of), tiers=wh.table("account_scores"))[1]
        if as_of is not None
        else None
    )
    if per_contact is not None:
        minutes = per_contact.select(_cid="contact_id", minutes=per_contact.minutes.round(1))
        contacts = contacts.left_join(minutes, contacts.contact_id == minutes._cid).drop("_cid")
    else:
        contacts = contacts.mutate(minutes=ibis.null(float))
    intent = wh.table("intent").filter(ibis._.account_id == account_id)
    topics = intent.group_by("topic").agg(best=intent.score.max(), last_week=intent.week.max(),
                                          weeks=intent.count())  # fmt: skip
    t = wh.table("touches").filter(ibis._.account_id == account_id)
    opps = wh.table("opportunities").filter(ibis._.account_id == account_id)
    return AccountView(
        account=acc,
        scores=scores[0] if scores else {},
        reasons=rows(reasons, ["score", ibis.desc("points"), "factor"]),
        history=rows(history, ibis.desc("recorded_at"), 20),
        tier_changes=rows(changes, ibis.desc("recorded_at"), 10),
        committee=rows(
            contacts.select(
                "name", "title", "persona", "seniority", "department", "email", "minutes"
            ),
            ["persona", "name"],
        ),  # fmt: skip
        personas=_by_persona(contacts, per_contact),
        topics=rows(topics, [ibis.desc("last_week"), ibis.desc("best")], 10),
        touches=rows(t.select("ts", "kind", "channel", "email", "url"), ibis.desc("ts"), touches),
        opportunities=rows(
            opps.select("name", "stage", "amount", "created_at", "closed_at"),
            ibis.desc("created_at"),
        ),  # fmt: skip
    )


def _by_persona(contacts: ir.Table, per_contact: ir.Table | None) -> list[dict]:
    """Per persona: contacts known, engaged in the engagement window, and their minutes; the
    activity of no known person as "(anonymous)"."""
    known = contacts.group_by("persona").agg(
        known=contacts.count(),
        engaged=contacts.count(where=contacts.minutes > 0),
        minutes=contacts.minutes.sum().fill_null(0.0).round(1),
    )
    rows = known.order_by([ibis.desc("minutes"), "persona"]).to_pyarrow().to_pylist()
    if per_contact is not None:
        anon = per_contact.filter(per_contact.contact_id.isnull()).minutes.sum().execute()
        if anon:
            rows.append({"persona": "(anonymous)", "known": 0, "engaged": 0,
                         "minutes": round(float(anon), 1)})  # fmt: skip
    return rows


# -- an account's timeline ---------------------------------------------------------------------
def account_owner(wh: Warehouse, account_id: str) -> str | None:
    """The CRM owner of an account (None when it has none)."""
    acc = wh.table("accounts")
    rows = acc.filter(acc.account_id == account_id).select("owner").to_pyarrow().to_pylist()
    return rows[0]["owner"] if rows else None


def account_events(wh: Warehouse, account_id: str, limit: int = 50) -> list[dict]:
    """The newest `limit` things that happened to an account in the warehouse, newest first:
    touches, stage changes, tier changes, opportunities opened and closed. Each is
    {at, kind, summary, detail}."""
    with wh.temporary():
        found = (_touch_events(wh, account_id, limit) + _stage_events(wh, account_id, limit)
                 + _tier_events(wh, account_id, limit)
                 + _opportunity_events(wh, account_id, limit))  # fmt: skip
    return newest_first(found)[:limit]


def newest_first(events: list[dict]) -> list[dict]:
    """Events of any source in one order: newest first, dates read as their midnight."""
    for e in events:
        if not isinstance(e["at"], dt.datetime):
            e["at"] = dt.datetime.combine(e["at"], dt.time())
    return sorted(events, key=lambda e: e["at"], reverse=True)


def _rows(t: ir.Table, order: str, limit: int) -> list[dict]:
    return t.order_by(ibis.desc(order)).limit(limit).to_pyarrow().to_pylist()


def _event(at: object, kind: str, summary: str, detail: dict) -> dict:
    return {"at": at, "kind": kind, "summary": summary, "detail": detail}


def _touch_events(wh: Warehouse, account_id: str, limit: int) -> list[dict]:
    t = wh.table("touches")
    t = t.filter(t.account_id == account_id).select("ts", "kind", "channel", "email", "url",
                                                    "campaign_id", "cost")  # fmt: skip
    events = []
    for r in _rows(t, "ts", limit):
        who = f" by {r['email']}" if r["email"] else ""
        events.append(_event(r.pop("ts"), "touch", f"{r['kind']} ({r['channel']}){who}", r))
    return events


STAGE_FIELDS = (("buying_stage", "buying stage"), ("journey_stage", "journey stage"),
                ("fit_bucket", "fit"), ("tier", "tier"))  # fmt: skip


def _stage_events(wh: Warehouse, account_id: str, limit: int) -> list[dict]:
    """A stage entry per recorded snapshot, saying what moved since the one before it."""
    h = wh.table("score_history")
    rows = _rows(h.filter(h.account_id == account_id).drop("account_id"), "as_of", limit + 1)
    events = []
    for row, before in zip(rows[:limit], [*rows[1:], None], strict=False):
        if before is None:
            summary = "first recorded: " + "; ".join(f"{label} {row[k]}"
                                                     for k, label in STAGE_FIELDS)  # fmt: skip
        else:
            summary = "; ".join(f"{label} {before[k]} → {row[k]}" for k, label in STAGE_FIELDS
                                if before[k] != row[k]) or "priority moved"  # fmt: skip
        events.append(_event(row.pop("as_of"), "stage", summary, row))
    return events


def _tier_events(wh: Warehouse, account_id: str, limit: int) -> list[dict]:
    t = wh.table("tier_changes")
    rows = _rows(t.filter(t.account_id == account_id).drop("account_id"), "as_of", limit)
    return [_event(r.pop("as_of"), "tier", f"{_tier(r['from_tier'])} → {_tier(r['to_tier'])}: "
                   f"{r['reason']}", r) for r in rows]  # fmt: skip


def _tier(tier: int | None) -> str:
    return f"Tier {tier}" if tier is not None else "no tier"


def _opportunity_events(wh: Warehouse, account_id: str, limit: int) -> list[dict]:
    """One entry when an opportunity opened and one when it closed (won or lost)."""
    o = wh.table("opportunities")
    o = o.filter(o.account_id == account_id).select("opportunity_id", "name", "stage", "amount",
                                                    "created_at", "closed_at", "is_closed",
                                                    "is_won")  # fmt: skip
    events = []
    for r in _rows(o, "created_at", limit):
        amount = f"${r['amount']:,.0f}" if r["amount"] is not None else "no amount"
        events.append(_event(r["created_at"], "opportunity",
                             f"opportunity {r['name']} opened ({amount})", r))  # fmt: skip
        if r["closed_at"] is not None and r["is_closed"]:
            won = "won" if r["is_won"] else "lost"
            events.append(_event(r["closed_at"], "opportunity",
                                 f"opportunity {r['name']} {won} ({amount})", r))  # fmt: skip
    return events


def owned_accounts(wh: Warehouse, owner: str) -> list[str]:
    """The IDs of the accounts whose CRM owner is `owner` (what a sales user may see)."""
    acc = wh.table("accounts")
    ids = acc.filter(acc.owner == owner).select("account_id").to_pyarrow()
    return sorted(str(i) for i in ids["account_id"].to_pylist())
