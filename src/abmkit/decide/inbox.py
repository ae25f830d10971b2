"""The actions the agent decided, in the application store: commit them with their reservations,
read the ledger back, and the approval inbox (approve, reject, edit) a person works through.

Committing is one transaction per pass, and so is every review: the guardrails are checked again
inside it, against the ledger as committed by every other pass and review (on PostgreSQL the
transaction first takes a lock on the `agent_state` row `ledger`, so two writers queue up; SQLite
allows one writer at a time anyway). Nothing leaves from here: the executor sends what is
`queued` (abmkit.act.executor).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from abmkit.config.settings import AgentSettings, Settings
from abmkit.decide.agent import Proposal, judge
from abmkit.decide.guardrails import COMMITTED, Candidate, Ledger, move
from abmkit.errors import AbmError, GuardrailError, NotFoundError
from abmkit.store.db import AppStore, _actor, utcnow
from abmkit.store.models import Action, AgentState

LEDGER_LOCK = "ledger"
WINDOW = dt.timedelta(days=8)
"""How far around a moment the ledger reads committed actions (a week and a day's margin)."""
EDITABLE = {"email": ("subject", "text", "to_name"), "sequence": ("row",),
            "task": ("row",), "owner_alert": ("body",), "slack": ("body",),
            "webhook": ("body",), "direct_mail": ("row",),
            "linkedin_audience": ("rows",), "google_audience": ("rows",),
            "meta_audience": ("rows",), "crm_update": ("row",)}  # fmt: skip
"""What a reviewer may change in each channel's payload (recipients and costs are not
editable: they were checked by the guardrails)."""


def candidate_of(a: Action) -> Candidate:
    """The guardrails' view of a stored action, at the time it is due."""
    c = (a.decision or {}).get("candidate", {})
    payload = a.payload or {}
    return Candidate(play=a.play, step=a.step, channel=a.channel, account_id=a.account_id,
                     at=a.not_before, cost=a.cost, tier=a.tier, contact_id=a.contact_id,
                     email=c.get("email") or payload.get("to")
                     or (payload.get("row") or {}).get("email", ""),
                     domain=c.get("domain", ""), timezone=payload.get("timezone", ""),
                     country=c.get("country") or payload.get("timezone_country", ""),
                     opted_out=bool(c.get("opted_out")),
                     consent=c.get("consent"), audience=c.get("audience", ""),
                     play_requires_first_approval=c.get("first_approval", True))  # fmt: skip


def lock(session: Session) -> None:
    """Serialize ledger writers (a row lock on PostgreSQL; a write on SQLite)."""
    row = session.get(AgentState, LEDGER_LOCK, with_for_update=True)
    if row is None:
        session.add(AgentState(name=LEDGER_LOCK, value={}, updated_at=utcnow()))
    else:
        row.updated_at = utcnow()
    session.flush()


def ledger(session: Session, around: dt.datetime, *, exclude: str | None = None) -> Ledger:
    """Committed actions near `around` (spend and touches), and the plays that have run."""
    q = select(Action).where(Action.status.in_(COMMITTED),
                             Action.not_before > around - WINDOW,
                             Action.not_before < around + WINDOW)  # fmt: skip
    rows = [a for a in session.scalars(q) if a.id != exclude]
    book = Ledger.of((candidate_of(a), a.status != "pending_approval") for a in rows)
    ran = select(Action.play).where(Action.status.in_(("queued", "sending", "sent", "dry_run")))
    for play in set(session.scalars(ran.distinct())):
        book.mark_run(play)
    return book


def seen(session: Session, keys: Iterable[str]) -> set[str]:
    keys = list(keys)
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        q = select(Action.key).where(Action.key.in_(keys[start : start + 500]))
        found |= set(session.scalars(q))
    return found


def to_row(p: Proposal, run_id: str, now: dt.datetime) -> Action:
    c = p.candidate
    decision = p.decision() | {"candidate": {
        "email": c.email, "domain": c.domain, "country": c.country, "opted_out": c.opted_out,
        "consent": c.consent, "audience": c.audience,
        "first_approval": c.play_requires_first_approval}}  # fmt: skip
    return Action(id="act_" + p.key[:20], key=p.key, created_at=now, run_id=run_id,
                  play=c.play, step=c.step, account_id=c.account_id, contact_id=c.contact_id,
                  channel=c.channel, tier=c.tier, cost=c.cost, payload=p.payload,
                  decision=decision, status=p.status, not_before=p.not_before or c.at,
                  attempts=0)  # fmt: skip


def get(store: AppStore, action_id: str) -> Action:
    with Session(store.engine, expire_on_commit=False) as session:
        return _find(session, action_id)


def listing(store: AppStore, *, status: str | None = "pending_approval", play: str | None = None,
            account: str | None = None, limit: int = 50) -> list[Action]:  # fmt: skip
    q = _matching(status, play, account).order_by(Action.created_at.desc(), Action.id)
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.scalars(q.limit(limit)))


def page(store: AppStore, *, status: str | None = "pending_approval", play: str | None = None,
         account: str | None = None, accounts: Collection[str] | None = None, limit: int = 50,
         offset: int = 0) -> tuple[list[Action], int]:  # fmt: skip
    """One page of actions, newest first, and how many there are in all; with `accounts`
    (a sales owner's), only theirs. Long lists of accounts are asked 500 at a time (a bounded
    IN list per query), the newest `offset + limit` of each part merged."""
    q = _matching(status, play, account)
    parts = per_accounts(q, accounts)
    newest = (Action.created_at.desc(), Action.id)
    with Session(store.engine, expire_on_commit=False) as session:
        total = sum(session.scalar(select(func.count()).select_from(p.subquery())) or 0
                    for p in parts)  # fmt: skip
        found = [a for p in parts
                 for a in session.scalars(p.order_by(*newest).limit(offset + limit))]  # fmt: skip
    found.sort(key=lambda a: (-a.created_at.timestamp(), a.id))
    return found[offset : offset + limit], total


def _matching(status: str | None, play: str | None, account: str | None) -> Select:
    q = select(Action)
    if status and status != "all":
        q = q.where(Action.status == status)
    if play:
        q = q.where(Action.play == play)
    if account:
        q = q.where(Action.account_id == account)
    return q


def per_accounts(q: Select, accounts: Collection[str] | None, size: int = 500) -> list[Select]:
    """`q` as it is, or limited to `accounts` in parts of `size` (a bounded IN list each)."""
    if accounts is None:
        return [q]
    ids = sorted(accounts)
    return [q.where(Action.account_id.in_(ids[i : i + size])) for i in range(0, len(ids), size)]


def approve(store: AppStore, settings: Settings, action_id: str, *, note: str = "",
            now: dt.datetime | None = None) -> Action:  # fmt: skip
    """Approve a waiting action: every guardrail is checked again at the time it will now
    leave (now, if its planned time has passed); a rule that no longer holds refuses the
    approval and says which."""
    now = now or utcnow()
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        lock(session)
        a = _waiting(session, action_id)
        at = max(now, a.not_before)
        book = ledger(session, at, exclude=a.id)
        verdicts, moved = move(candidate_of(a), at, book, settings.guardrails, approved=True,
                               enabled=settings.channels.enabled, held=False)  # fmt: skip
        if moved is None:
            broken = "; ".join(f"{v.rule}: {v.reason}" for v in verdicts
                               if v.outcome == "block")  # fmt: skip
            raise GuardrailError(f"{a.id} cannot be approved now: {broken}")
        a.status, a.not_before = "queued", moved.at
        _reviewed(a, note, now, [v.as_dict() for v in verdicts])
    store.record("action.approve", a.id, "ok", play=a.play, account=a.account_id)
    return a


def reschedule(engine: Engine, action_id: str, at: dt.datetime,
               settings: Settings) -> tuple[str, dt.datetime, list[dict]]:  # fmt: skip
    """Every guardrail checked again for an action that leaves at `at` rather than when it was
    planned (the executor was away, an audience waited to be large enough): its reservation
    moves to `at` (or later, when quiet hours say so), or, when a rule no longer holds there,
    it is blocked and holds nothing. Returns the status, the time and the verdicts."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        lock(session)
        a = session.get(Action, action_id)
        if a is None:
            raise NotFoundError(f"no action {action_id!r}")
        book = ledger(session, at, exclude=a.id)
        verdicts, moved = move(candidate_of(a), at, book, settings.guardrails, approved=True,
                               enabled=settings.channels.enabled, held=False)  # fmt: skip
        found = [v.as_dict() for v in verdicts if v.outcome != "pass"]
        decision = dict(a.decision or {})
        decision["recheck"] = [*decision.get("recheck", []),
                               {"at": at.isoformat(), "verdicts": found}]  # fmt: skip
        a.decision = decision
        if moved is None:
            a.status, a.lease_until = "blocked", None
            a.last_error = "; ".join(v["reason"] for v in found if v["outcome"] == "block")
            return a.status, at, found
        a.not_before = moved.at
        return a.status, moved.at, found


def reject(store: AppStore, action_id: str, *, note: str = "",
           now: dt.datetime | None = None) -> Action:  # fmt: skip
    """Reject a waiting action: it never leaves, and what it held is free again."""
    now = now or utcnow()
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        lock(session)
        a = _waiting(session, action_id)
        a.status = "rejected"
        _reviewed(a, note, now, [])
    store.record("action.reject", a.id, "ok", play=a.play, note=note)
    return a


def edit(store: AppStore, action_id: str, changes: dict[str, Any], *, note: str = "",
         now: dt.datetime | None = None) -> Action:  # fmt: skip
    """Change what a waiting action will send (the e-mail's subject or text, an audience's
    rows…); it still waits for approval, and the change is recorded."""
    now = now or utcnow()
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        a = _waiting(session, action_id)
        allowed = EDITABLE.get(a.channel, ())
        unknown = [k for k in changes if k not in allowed]
        if unknown:
            raise AbmError(f"{a.id} ({a.channel}): cannot edit {', '.join(unknown)}; "
                           f"editable: {', '.join(allowed) or 'nothing'}")  # fmt: skip
        if a.channel.endswith("_audience") and "rows" in changes:
            _only_fewer(a, changes["rows"])
        before = {k: (a.payload or {}).get(k) for k in changes}
        a.payload = dict(a.payload or {}) | changes
        a.reviewed_by, a.reviewed_at = _actor(), now
        a.review_note = note or "edited"
        decision = dict(a.decision or {})
        decision["edits"] = [
            *decision.get("edits", []),
            {"at": now.isoformat(), "by": a.reviewed_by, "before": before},
        ]
        a.decision = decision
    store.record("action.edit", a.id, "ok", fields=sorted(changes))
    return a


def _only_fewer(a: Action, rows: list) -> None:
    """An audience may lose rows in review, never gain ones the guardrails did not see."""
    before = [dict(r) for r in (a.payload or {}).get("rows", [])]
    extra = [r for r in rows if dict(r) not in before]
    if extra:
        raise AbmError(f"{a.id}: an edit may remove audience rows, not add them ({len(extra)} new)")


def _find(session: Session, action_id: str) -> Action:
    """An action by its ID or the first characters of it."""
    a = session.get(Action, action_id)
    if a is None:
        a = session.scalars(select(Action).where(Action.id.startswith(action_id))).first()
    if a is None:
        raise NotFoundError(f"no action {action_id!r}; `abm actions list` shows them")
    return a


def _waiting(session: Session, action_id: str) -> Action:
    a = _find(session, action_id)
    if a.status != "pending_approval":
        raise AbmError(f"{a.id} is {a.status}, not waiting for approval")
    return a


def _reviewed(a: Action, note: str, now: dt.datetime, verdicts: list[dict]) -> None:
    a.reviewed_by, a.reviewed_at, a.review_note = _actor(), now, note or None
    if verdicts:
        decision = dict(a.decision or {})
        decision["recheck"] = [
            *decision.get("recheck", []),
            {
                "at": now.isoformat(),
                "on": "approval",
                "verdicts": [v for v in verdicts if v["outcome"] != "pass"],
            },
        ]
        a.decision = decision


def commit(store: AppStore, proposals: list[Proposal], run_id: str, now: dt.datetime,
           settings: Settings, agent: AgentSettings | None = None) -> list[Action]:  # fmt: skip
    """Store a pass's decisions in one transaction. The caller decided them against a ledger
    read before; here the allowed ones are judged once more, with the same agent settings,
    against the ledger as committed now (another pass or a review may have taken budget
    meanwhile), so no limit is ever passed. One blocked before stays blocked (it has no
    payload)."""
    agent = agent or settings.agent
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        lock(session)
        done = seen(session, (p.key for p in proposals))
        fresh = [p for p in proposals if p.key not in done]
        book = ledger(session, now)
        for p in fresh:
            if p.status != "blocked":
                judge(p, book, agent, settings.guardrails, settings.channels.enabled)
        rows = [to_row(p, run_id, now) for p in fresh]
        session.add_all(rows)
    return rows
