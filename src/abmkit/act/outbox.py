"""The transactional outbox in the application store: each operation is one short transaction
that changes the state of actions and appends one audit event per action it changed.

A claim hands an action to one executor: `queued → sending`, `attempts + 1`, and a lease until
which no other executor takes it. Claiming is optimistic and portable: the candidates are read,
then each is updated only where its status and attempt count are still those read, and only the
rows the update changed are the claimer's; on PostgreSQL the read also locks the candidates
(`FOR UPDATE SKIP LOCKED`, which SQLite ignores: it has one writer at a time anyway), so two
executors pass each other by instead of waiting. An action still `sending` after its lease ran
out was left by an executor that died; the next claim takes it over.

The attempt count is also the claim's fencing token: every later change (sent, retry, dead,
hold, renew) applies only while the action is `sending` with the count its claim gave it, so an
executor that lost its lease can no longer change an action another one has taken over.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from abmkit.config.settings import ExecutorSettings
from abmkit.store.models import Action, AuditEvent

AUDIENCE_CHANNELS = ("linkedin_audience", "google_audience", "meta_audience")
CLAIM_ROUNDS = 5  # reads of candidates in one claim when other executors keep taking them first


@dataclass(frozen=True)
class Claim:
    """One action handed to one executor until `lease_until`."""

    id: str
    key: str
    channel: str
    payload: dict[str, Any]
    attempts: int  # this attempt's number (1 for the first), and the claim's fencing token
    lease_until: dt.datetime
    resumed_from: dt.datetime | None  # the expired lease of a dead executor, when taken over
    not_before: dt.datetime | None = None  # when it was planned to leave (the ledger's time)


def claimable(now: dt.datetime) -> ColumnElement[bool]:
    """Queued and due, or left `sending` by an executor whose lease ran out."""
    free = or_(Action.lease_until.is_(None), Action.lease_until <= now)
    queued = and_(Action.status == "queued", Action.not_before <= now, free)
    return or_(queued, and_(Action.status == "sending", Action.lease_until <= now))


def _audience_name() -> ColumnElement[str]:
    return Action.payload["audience"].as_string()


def claim(engine: Engine, now: dt.datetime, *, lease_s: float, batch: int,
          worker: str) -> list[Claim]:  # fmt: skip
    """Claim up to `batch` due actions of every channel but the ad audiences, oldest first."""
    scope = Action.channel.not_in(AUDIENCE_CHANNELS)
    return _claim(engine, scope, now, lease_s=lease_s, limit=batch, worker=worker)


def due_audiences(engine: Engine, now: dt.datetime) -> list[tuple[str, str | None]]:
    """The (channel, audience) pairs with claimable actions (audience None: a payload without)."""
    query = (select(Action.channel, _audience_name()).distinct()
             .where(claimable(now), Action.channel.in_(AUDIENCE_CHANNELS)))  # fmt: skip
    with engine.connect() as connection:
        return [(row[0], row[1]) for row in connection.execute(query)]


def _audience_scope(channel: str, audience: str | None) -> ColumnElement[bool]:
    name = _audience_name()
    return and_(Action.channel == channel, name.is_(None) if audience is None else name == audience)


def claim_audience(engine: Engine, now: dt.datetime, channel: str, audience: str | None, *,
                   lease_s: float, worker: str) -> list[Claim]:  # fmt: skip
    """Claim every due action of one audience: its file is written for all of them at once."""
    scope = _audience_scope(channel, audience)
    return _claim(engine, scope, now, lease_s=lease_s, limit=None, worker=worker)


def waiting_payloads(engine: Engine, now: dt.datetime, channel: str,
                     audience: str) -> list[dict[str, Any]]:  # fmt: skip
    """The payloads of an audience's due actions, read without claiming them."""
    query = (select(Action.payload).where(claimable(now), _audience_scope(channel, audience))
             .order_by(Action.not_before, Action.id))  # fmt: skip
    with engine.connect() as connection:
        return [row[0] or {} for row in connection.execute(query)]


def wait(engine: Engine, now: dt.datetime, channel: str, audience: str, reason: str, *,
         worker: str) -> int:  # fmt: skip
    """Leave an audience's due actions queued, saying why in `last_error`; how many wait. Only
    an action whose reason changes (or one a dead executor left `sending`) is written, so a pass
    that finds the audience as small as the last one writes nothing."""
    with engine.begin() as connection:
        rows = connection.execute(_candidates(_audience_scope(channel, audience), now, None)).all()
        for row in rows:
            if row.status == "queued" and row.last_error == reason:
                continue
            unchanged = and_(Action.id == row.id, Action.status == row.status,
                             Action.attempts == row.attempts)  # fmt: skip
            values = {"status": "queued", "lease_until": None, "last_error": reason}
            if connection.execute(update(Action).where(unchanged).values(values)).rowcount:
                _audit(connection, now, worker, row.id, "held", {"reason": reason})
    return len(rows)


def _claim(engine: Engine, scope: ColumnElement[bool], now: dt.datetime, *, lease_s: float,
           limit: int | None, worker: str) -> list[Claim]:  # fmt: skip
    """Read candidates and take those no other executor took meanwhile; when some were lost to
    another, read again (a few rounds), so that losing a race does not end a pass early."""
    lease = now + dt.timedelta(seconds=lease_s)
    claims: list[Claim] = []
    with engine.begin() as connection:
        for _ in range(CLAIM_ROUNDS):
            want = None if limit is None else limit - len(claims)
            rows = connection.execute(_candidates(scope, now, want)).all()
            taken = [c for row in rows if (c := _take(connection, row, lease, now, worker))]
            claims += taken
            if len(taken) == len(rows) or want == len(taken):
                break
    return claims


def _candidates(scope: ColumnElement[bool], now: dt.datetime, limit: int | None) -> Select:
    return (select(Action.id, Action.key, Action.channel, Action.payload, Action.status,
                   Action.attempts, Action.lease_until, Action.last_error, Action.not_before)
            .where(claimable(now), scope).order_by(Action.not_before, Action.id).limit(limit)
            .with_for_update(skip_locked=True))  # fmt: skip


def _take(connection: Connection, row: Any, lease: dt.datetime, now: dt.datetime,
          worker: str) -> Claim | None:  # fmt: skip
    """Claim one candidate unless another executor changed it since it was read."""
    changed = connection.execute(
        update(Action)
        .where(Action.id == row.id, Action.status == row.status, Action.attempts == row.attempts)
        .values(status="sending", attempts=row.attempts + 1, lease_until=lease)
    )
    if changed.rowcount != 1:
        return None
    resumed = row.lease_until if row.status == "sending" else None
    detail = {"attempt": row.attempts + 1, "lease_until": lease.isoformat()}
    if resumed is not None:
        detail["taken_over_lease"] = resumed.isoformat()
    _audit(connection, now, worker, row.id, "claimed", detail)
    return Claim(id=row.id, key=row.key, channel=row.channel, payload=row.payload or {},
                 attempts=row.attempts + 1, lease_until=lease, resumed_from=resumed,
                 not_before=row.not_before)  # fmt: skip


def _audit(connection: Connection, now: dt.datetime, worker: str, action_id: str, outcome: str,
           detail: dict[str, Any]) -> None:  # fmt: skip
    connection.execute(insert(AuditEvent).values(
        at=now, actor=worker, action="outbox", target=f"action {action_id}", outcome=outcome,
        detail=detail))  # fmt: skip


def _owned(claim: Claim) -> ColumnElement[bool]:
    """The action is still this claim's: `sending`, with the attempt count the claim gave it."""
    return and_(Action.id == claim.id, Action.status == "sending",
                Action.attempts == claim.attempts)  # fmt: skip


def _transition(engine: Engine, claims: Iterable[Claim], values: dict[str, Any], outcome: str,
                now: dt.datetime, worker: str, detail: dict[str, Any]) -> int:  # fmt: skip
    """Apply `values` to the actions these claims still hold, in one transaction, each with its
    audit event; how many they held (an executor whose lease ran out holds none)."""
    held = 0
    with engine.begin() as connection:
        for c in claims:
            if connection.execute(update(Action).where(_owned(c)).values(values)).rowcount:
                held += 1
                _audit(connection, now, worker, c.id, outcome, {"attempt": c.attempts, **detail})
    return held


def renew(engine: Engine, claim: Claim, now: dt.datetime, *, lease_s: float) -> bool:
    """Extend the lease before a send, so that it covers one send, not a whole batch; False
    when the claim was lost (then the action must not be sent). Not a state change: no audit."""
    lease = now + dt.timedelta(seconds=lease_s)
    with engine.begin() as connection:
        renewed = connection.execute(update(Action).where(_owned(claim)).values(lease_until=lease))
        return renewed.rowcount == 1


def mark_sent(engine: Engine, claims: Sequence[Claim], receipt: dict[str, Any],
              now: dt.datetime, *, worker: str, status: str = "sent") -> int:  # fmt: skip
    """The actions left (status `sent`) or their payload was written (`dry_run`), together."""
    values = {"status": status, "sent_at": now, "receipt": receipt, "lease_until": None,
              "last_error": None}  # fmt: skip
    return _transition(engine, claims, values, status, now, worker, {"receipt": receipt})


def retry(engine: Engine, claim: Claim, error: str, not_before: dt.datetime, now: dt.datetime,
          *, worker: str) -> bool:  # fmt: skip
    """Back to the queue after a failed attempt, due again at `not_before`."""
    values = {"status": "queued", "not_before": not_before, "lease_until": None,
              "last_error": error[:2000]}  # fmt: skip
    detail = {"error": error[:500], "not_before": not_before.isoformat()}
    return _transition(engine, [claim], values, "retry", now, worker, detail) == 1


def dead(engine: Engine, claim: Claim, reason: str, now: dt.datetime, *, worker: str) -> bool:
    """Given up: the dead-letter state, with the reason."""
    values = {"status": "dead", "lease_until": None, "last_error": reason[:2000]}
    detail = {"reason": reason[:500]}
    return _transition(engine, [claim], values, "dead", now, worker, detail) == 1


def hold(engine: Engine, claims: Sequence[Claim], reason: str, until: dt.datetime | None,
         now: dt.datetime, *, worker: str) -> int:  # fmt: skip
    """Back to the queue without counting an attempt (a guardrail said "not yet"), due again at
    `until` (None: as due as it was)."""
    values: dict[str, Any] = {"status": "queued", "lease_until": None, "last_error": reason[:2000],
                              "attempts": Action.attempts - 1}  # fmt: skip
    if until is not None:
        values["not_before"] = until
    detail = {"reason": reason[:500], "until": until.isoformat() if until else None}
    return _transition(engine, claims, values, "held", now, worker, detail)


def sent_payloads(engine: Engine, channel: str, audience: str) -> list[dict[str, Any]]:
    """The payloads of an audience's actions already sent, in the order they were."""
    query = (select(Action.payload)
             .where(Action.status == "sent", Action.channel == channel,
                    _audience_name() == audience)
             .order_by(Action.sent_at, Action.id))  # fmt: skip
    with engine.connect() as connection:
        return [row[0] or {} for row in connection.execute(query)]


def backoff_s(attempts: int, settings: ExecutorSettings, rng: random.Random) -> float:
    """Seconds before the next attempt after `attempts` failed ones: backoff_s doubled per
    attempt, at most backoff_max_s, then a random half to all of it (so that executors which
    failed together do not all come back at the same second)."""
    ceiling = min(settings.backoff_max_s, settings.backoff_s * 2.0 ** max(attempts - 1, 0))
    return ceiling * (0.5 + rng.random() / 2)
