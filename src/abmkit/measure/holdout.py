"""Randomized holdouts: a stable share of the target accounts that the plays leave alone, so
lift is measured against accounts that were never treated (`abmkit.measure.lift`).

An account's group in a scope is a pure function of (salt, scope, account ID): the first 8
bytes of sha256("salt|scope|account_id") read as a number in [0, 1); below
`measure.holdout.share` it is held out. The scopes are `tier:1`, `tier:2`, `tier:3` when
`measure.holdout.by` is "tier" (held out of every play while in that tier) and `play:<name>`
for each enabled play when it is "play" (held out of that play only; a play covers the
accounts of the tiers in its audience).

Groups are **recorded** in the application store (`holdout_assignments`) the first time an
account is seen in a scope, and never changed afterwards: a later change of the share or the
salt would otherwise move accounts between groups and mix treated and untreated histories.
When the settings no longer match a scope's record, `assign` refuses, names the setting and
both values, and says how to start the scope afresh (`reset`, which is audited).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from abmkit.config.settings import HoldoutSettings
from abmkit.errors import AbmError, ConfigError
from abmkit.store.models import HoldoutAssignment

if TYPE_CHECKING:
    from abmkit.app import Abm

HOLDOUT, TREATED = "holdout", "treated"
TIERS = (1, 2, 3)


def tier_scope(tier: int) -> str:
    return f"tier:{tier}"


def play_scope(play: str) -> str:
    return f"play:{play}"


def scopes_of(play: str, tier: int) -> tuple[str, str]:
    """The scopes that may hold an account out of `play` while it is in `tier`."""
    return tier_scope(tier), play_scope(play)


def draw(salt: str, scope: str, account_id: str) -> float:
    """A uniform number in [0, 1), the same on every machine and in every process."""
    digest = hashlib.sha256(f"{salt}|{scope}|{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def group_of(salt: str, scope: str, account_id: str, share: float) -> str:
    return HOLDOUT if draw(salt, scope, account_id) < share else TREATED


@dataclass(frozen=True)
class Assignment:
    scope: str
    account_id: str
    group: str
    share: float
    salt: str
    assigned_at: dt.datetime


@dataclass(frozen=True)
class ScopeSummary:
    """What is recorded for one scope: group sizes, the settings used, when."""

    scope: str
    treated: int
    holdout: int
    share: float
    salt: str
    first_assigned: dt.datetime
    last_assigned: dt.datetime


# -- which accounts each scope covers now --------------------------------------------------------
def target_scopes(abm: Abm) -> dict[str, list[str]]:
    """Each scope of the settings' kind with the target accounts it covers now (tiers 1–3 of
    `account_scores`; a play scope covers the tiers of the play's audience)."""
    scores = abm.warehouse.table("account_scores")
    rows = abm.warehouse.arrow(
        scores.filter(scores.tier.isin(TIERS)).select("account_id", "tier")
    ).to_pylist()
    by_tier: dict[int, list[str]] = {t: [] for t in TIERS}
    for r in rows:
        by_tier[int(r["tier"])].append(r["account_id"])
    if abm.settings.measure.holdout.by == "tier":
        return {tier_scope(t): sorted(ids) for t, ids in by_tier.items()}
    plays = sorted((p for p, _ in abm.plays().values() if p.enabled), key=lambda p: p.name)
    return {play_scope(p.name): sorted(a for t in p.audience.tiers for a in by_tier[t])
            for p in plays}  # fmt: skip


# -- recording --------------------------------------------------------------------------------
def plan(abm: Abm, now: dt.datetime) -> list[Assignment]:
    """The assignments `assign` would record at `now`: every current target account not yet
    recorded in its scope (nothing is written; a dry run uses this)."""
    h = abm.settings.measure.holdout
    targets = target_scopes(abm)
    recorded = _recorded(abm)
    check_settings(h, {s: recorded[s] for s in targets if s in recorded})
    if h.share == 0:
        return []
    with Session(abm.app_store.engine) as session:
        q = select(HoldoutAssignment.scope, HoldoutAssignment.account_id)
        known = {(scope, account) for scope, account in session.execute(q)}
    return [Assignment(scope, a, group_of(h.salt, scope, a, h.share), h.share, h.salt, now)
            for scope, ids in targets.items() for a in ids if (scope, a) not in known]  # fmt: skip


def assign(abm: Abm, now: dt.datetime) -> list[Assignment]:
    """Record the group of every current target account not recorded yet (never changing a
    recorded one) and return the new assignments. Raises a `ConfigError` when the settings'
    share or salt differ from what a scope was recorded with."""
    for attempt in (1, 2):
        rows = plan(abm, now)
        if not rows:
            return []
        try:
            with Session(abm.app_store.engine) as session, session.begin():
                session.execute(insert(HoldoutAssignment), [asdict(r) for r in rows])
            break
        except IntegrityError:  # another pass recorded some of them first: plan again
            if attempt == 2:
                raise
    held = sum(r.group == HOLDOUT for r in rows)
    scopes = sorted({r.scope for r in rows})
    abm.app_store.record("holdout.assign", ", ".join(scopes), "ok", accounts=len(rows),
                         held_out=held, share=rows[0].share, salt=rows[0].salt)  # fmt: skip
    return rows


def check_settings(h: HoldoutSettings, recorded: dict[str, tuple[float, str]]) -> None:
    """Refuse when a recorded scope was drawn with another share or salt than the settings'."""
    for scope, (share, salt) in sorted(recorded.items()):
        if share != h.share:
            raise _changed("share", f"{share:g}", f"{h.share:g}", scope, recorded)
        if salt != h.salt:
            raise _changed("salt", repr(salt), repr(h.salt), scope, recorded)


def _changed(name: str, was: str, now: str, scope: str,
             recorded: dict[str, tuple[float, str]]) -> ConfigError:  # fmt: skip
    others = [s for s in sorted(recorded) if s != scope]
    also = f" (and {len(others)} other scope(s): {', '.join(others)})" if others else ""
    return ConfigError(
        f"measure.holdout.{name} is {now} but scope {scope}{also} was assigned with {was}; "
        f"recorded groups are never reassigned silently. Set measure.holdout.{name} back to "
        f"{was}, or start the scope afresh with `abm holdout reset {scope} --yes` (its lift so "
        "far is lost)."
    )


def _recorded(abm: Abm) -> dict[str, tuple[float, str]]:
    """The share and salt each recorded scope was drawn with."""
    q = select(HoldoutAssignment.scope, HoldoutAssignment.share, HoldoutAssignment.salt).group_by(
        HoldoutAssignment.scope, HoldoutAssignment.share, HoldoutAssignment.salt
    )
    with Session(abm.app_store.engine) as session:
        return {scope: (share, salt) for scope, share, salt in session.execute(q)}


# -- reading ----------------------------------------------------------------------------------
def held_out(abm: Abm, planned: Iterable[Assignment] = ()) -> set[tuple[str, str]]:
    """(scope, account_id) of every recorded holdout, and of the `planned` ones (a dry run's
    groups, drawn and not recorded). Every recorded scope counts, whatever `by` says now: an
    account stays untouched until a person resets its scope."""
    q = select(HoldoutAssignment.scope, HoldoutAssignment.account_id).where(
        HoldoutAssignment.group == HOLDOUT
    )
    with Session(abm.app_store.engine) as session:
        found = {(scope, account) for scope, account in session.execute(q)}
    return found | {(a.scope, a.account_id) for a in planned if a.group == HOLDOUT}


def assignments(abm: Abm, scope: str | None = None) -> pd.DataFrame:
    """The recorded assignments: scope, account_id, group, assigned_at (one scope or all)."""
    q = select(HoldoutAssignment.scope, HoldoutAssignment.account_id, HoldoutAssignment.group,
               HoldoutAssignment.assigned_at)  # fmt: skip
    if scope:
        q = q.where(HoldoutAssignment.scope == scope)
    with Session(abm.app_store.engine) as session:
        rows = session.execute(q.order_by(HoldoutAssignment.scope,
                                          HoldoutAssignment.account_id)).all()  # fmt: skip
    columns = ["scope", "account_id", "group", "assigned_at"]
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def listing(abm: Abm, scope: str | None = None) -> list[ScopeSummary]:
    """Per recorded scope: accounts per group, the share and salt, the first and last time."""
    a = HoldoutAssignment
    held = func.sum(case((a.group == HOLDOUT, 1), else_=0))
    q = select(a.scope, func.count(), held, func.min(a.share), func.min(a.salt),
               func.min(a.assigned_at), func.max(a.assigned_at)).group_by(a.scope)  # fmt: skip
    if scope:
        q = q.where(a.scope == scope)
    with Session(abm.app_store.engine) as session:
        rows = session.execute(q.order_by(a.scope)).all()
    return [ScopeSummary(s, n - int(h or 0), int(h or 0), share, salt, first, last)
            for s, n, h, share, salt, first, last in rows]  # fmt: skip


def reset(abm: Abm, scope: str) -> int:
    """Delete a scope's assignments (the next `assign` draws them afresh with the settings of
    the day) and audit it; returns how many were deleted."""
    found = listing(abm, scope)
    if not found:
        known = ", ".join(s.scope for s in listing(abm)) or "none"
        raise AbmError(f"no holdout assignments in scope {scope!r}; recorded scopes: {known}")
    s = found[0]
    with Session(abm.app_store.engine) as session, session.begin():
        session.execute(delete(HoldoutAssignment).where(HoldoutAssignment.scope == scope))
    abm.app_store.record("holdout.reset", scope, "ok", treated=s.treated, held_out=s.holdout,
                         share=s.share, salt=s.salt,
                         first_assigned=s.first_assigned.isoformat())  # fmt: skip
    return s.treated + s.holdout
