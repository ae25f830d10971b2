"""What one person or machine may see and review: the account list, an account with its
committee map, actions and timeline, and the agent's actions — all limited to one CRM owner's
accounts when `owner` is given (a sales user, an API key created for an owner).

An account or action outside the owner's is answered as if it did not exist (`NotFoundError`),
so its existence is not revealed. The REST API and the web UI call these; they join the two
stores (accounts and scores in the warehouse, actions in the application store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from abmkit.decide import inbox
from abmkit.errors import NotFoundError
from abmkit.score.committee import committee_map
from abmkit.score.views import (
    AccountView,
    account_events,
    account_owner,
    count_accounts,
    find_account,
    list_accounts,
    newest_first,
    owned_accounts,
)
from abmkit.store.models import Action

if TYPE_CHECKING:
    from abmkit.app import Abm

OPEN = ("pending_approval", "queued", "sending")
"""Statuses of actions that have not left yet: what the agent recommends for an account."""
RECENT = 20
"""How many of an account's other actions its page lists."""


# -- accounts -------------------------------------------------------------------------------------
def accounts(abm: Abm, *, owner: str | None = None, limit: int = 50, offset: int = 0,
             sort: str = "priority", **filters: Any) -> tuple[list[dict], int]:  # fmt: skip
    """A page of scored accounts (best first, or by `sort`) and how many pass the filters
    (tier, stage, cluster, sales_ready, search) in all."""
    filters["owner"] = owner
    rows = list_accounts(abm.warehouse, sort=sort, limit=limit, offset=offset, **filters)
    return rows.to_pylist(), count_accounts(abm.warehouse, **filters)


def visible_account(abm: Abm, key: str, owner: str | None) -> str:
    """The account ID of `key` (ID, domain or URL) when `owner` may see it."""
    account_id = find_account(abm.warehouse, key)
    if owner is not None and account_owner(abm.warehouse, account_id) != owner:
        raise NotFoundError(f"no account with ID or domain {key!r}")
    return account_id


@dataclass
class AccountPage:
    """Everything `abm account` shows, the committee map with its gaps, and the account's
    actions: those not sent yet (recommended, waiting or queued) and the latest others."""

    view: AccountView
    committee: list[dict]
    open_actions: list[Action] = field(default_factory=list)
    recent_actions: list[Action] = field(default_factory=list)

    @property
    def gaps(self) -> list[str]:
        return [p["reason"] for p in self.committee if p["status"] != "engaged"]

    @property
    def coverage(self) -> float:
        return round(sum(p["points"] for p in self.committee), 1)


def account_page(abm: Abm, key: str, owner: str | None = None) -> AccountPage:
    account_id = visible_account(abm, key, owner)
    view = abm.account(account_id)
    committee = committee_map(view.reasons, abm.settings.committee.required_personas)
    actions, _ = inbox.page(abm.app_store, status="all", account=account_id, limit=200)
    page = AccountPage(view, committee, [a for a in actions if a.status in OPEN])
    page.recent_actions = [a for a in actions if a.status not in OPEN][:RECENT]
    return page


def timeline(abm: Abm, key: str, owner: str | None = None,
             limit: int = 50) -> tuple[str, list[dict]]:  # fmt: skip
    """The account's ID and its newest `limit` events, newest first: touches, stage and tier
    changes, opportunities, and the agent's actions ({at, kind, summary, detail})."""
    account_id = visible_account(abm, key, owner)
    events = account_events(abm.warehouse, account_id, limit)
    actions, _ = inbox.page(abm.app_store, status="all", account=account_id, limit=limit)
    events += [action_event(a) for a in actions]
    return account_id, newest_first(events)[:limit]


def action_event(a: Action) -> dict:
    who = f" to {a.contact_id}" if a.contact_id else ""
    return {"at": a.created_at, "kind": "action",
            "summary": f"{a.play} step {a.step}: {a.channel}{who}, {a.status}",
            "detail": {"id": a.id, "status": a.status, "play": a.play, "channel": a.channel,
                       "cost": a.cost, "not_before": a.not_before,
                       "reviewed_by": a.reviewed_by}}  # fmt: skip


# -- actions ------------------------------------------------------------------------------------
def actions(abm: Abm, *, owner: str | None = None, status: str | None = "pending_approval",
            play: str | None = None, account: str | None = None, limit: int = 50,
            offset: int = 0) -> tuple[list[Action], int]:  # fmt: skip
    """A page of the agent's actions, newest first, and how many match in all."""
    mine = owned_accounts(abm.warehouse, owner) if owner is not None else None
    return inbox.page(abm.app_store, status=status, play=play, account=account, accounts=mine,
                      limit=limit, offset=offset)  # fmt: skip


def action(abm: Abm, action_id: str, owner: str | None = None) -> Action:
    """One action (by ID or its first characters) when `owner` may see its account."""
    found = inbox.get(abm.app_store, action_id)
    if owner is not None and account_owner(abm.warehouse, found.account_id) != owner:
        raise NotFoundError(f"no action {action_id!r}")
    return found


def approve(abm: Abm, action_id: str, note: str = "", owner: str | None = None) -> Action:
    """Approve a waiting action (every guardrail checked again; `GuardrailError` names the
    rule that refuses it)."""
    found = action(abm, action_id, owner)
    return inbox.approve(abm.app_store, abm.settings, found.id, note=note)


def reject(abm: Abm, action_id: str, note: str = "", owner: str | None = None) -> Action:
    found = action(abm, action_id, owner)
    return inbox.reject(abm.app_store, found.id, note=note)


def edit(abm: Abm, action_id: str, changes: dict[str, Any], note: str = "",
         owner: str | None = None) -> Action:  # fmt: skip
    """Change the editable fields of a waiting action's payload (`inbox.EDITABLE`)."""
    found = action(abm, action_id, owner)
    return inbox.edit(abm.app_store, found.id, changes, note=note)
