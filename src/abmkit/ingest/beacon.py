"""The beacon: website events in, touches out, with nothing lost and nothing counted twice.

An event arrives (`POST /v1/events`) and is **queued** in the application store before the
server answers 202: from then on it survives a crash. The server's **worker** (a thread of the
server process) takes queued events in small batches, in arrival order; `abmkit.decide.realtime`
turns each batch into touches (`write_touches`: one load of the `touches` table, like a file),
re-scores the accounts they touch and runs the agent on them, and only then marks the events
processed. A crash anywhere in between leaves them unprocessed, and the next worker takes them
again: an event's touch has an ID made from the event's own (its site and ID), so writing it a
second time writes nothing, and the agent's actions have idempotency keys of their own. The same
event sent twice is queued once (its key is unique), and is recognized in the warehouse after
it has left the queue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from abmkit.resolve.visitors import Visitor
from abmkit.store.db import AppStore, utcnow
from abmkit.store.models import BeaconEvent
from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.loads import LoadRecord, record_load
from abmkit.warehouse.schemas import TOUCHES

log = logging.getLogger("abmkit.beacon")
KINDS = {"page_view": "web_visit", "form": "form_fill"}
"""Event type → the kind of touch it becomes (channel web)."""
SOURCE = "beacon"


# -- what a website sends ---------------------------------------------------------------------
class Event(BaseModel):
    """One page view or form submission, as the snippet (or a server) sends it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.:\-]{8,100}$",
                    description="Unique per event (the snippet: a random UUID per page view); "
                    "the same ID sent again is the same event.")  # fmt: skip
    type: Literal["page_view", "form"] = Field("page_view", description="page_view or form.")
    url: str = Field(max_length=2000, description="The page's full address.")
    referrer: str | None = Field(None, max_length=2000, description="The referring page.")
    ct: str | None = Field(
        None, max_length=1000, description="The known-contact token from an e-mail link."
    )
    domain: str | None = Field(
        None, max_length=255, description="The visitor's company domain, when the site knows it."
    )
    email: str | None = Field(None, max_length=320, description="A form's e-mail address.")
    session: str | None = Field(None, max_length=100, description="The site's session ID.")
    ip: str | None = Field(
        None, max_length=45, description="Server-to-server only: the visitor's IP (a "
        "browser's is read from the connection)."
    )  # fmt: skip
    ts: dt.datetime | None = Field(None, description="Server-to-server only: when it happened "
                                   "(a browser's events are timed on arrival).")  # fmt: skip

    @field_validator("url", "referrer")
    @classmethod
    def _web(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http(s) address")
        return value


class Events(BaseModel):
    """The body of `POST /v1/events`."""

    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(min_length=1, description="The events, oldest first.")


def event_key(site: str, event_id: str) -> str:
    """The queue's unique key of an event: its sender and its own ID."""
    return hashlib.sha256(f"{site}|{event_id}".encode()).hexdigest()


# -- the queue ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accepted:
    accepted: int
    duplicates: int


def accept(store: AppStore, site: str, events: Sequence[dict[str, Any]],
           received_at: dt.datetime) -> Accepted:  # fmt: skip
    """Queue `events` (dicts with at least `id`) from `site`, committed when this returns;
    an event already queued (or twice in `events`) is counted as a duplicate."""
    return accept_many(store, [(site, events)], received_at)[0]


def accept_many(store: AppStore, requests: Sequence[tuple[str, Sequence[dict[str, Any]]]],
                received_at: dt.datetime) -> list[Accepted]:  # fmt: skip
    """`accept` for several requests (site, events) in one transaction: one disk flush."""
    keyed = [{event_key(site, e["id"]): e for e in events} for site, events in requests]
    for attempt in (1, 2):
        try:
            with Session(store.engine) as session, session.begin():
                return _queued(session, requests, keyed, received_at)
        except IntegrityError:  # the same event queued by another process: look again
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _queued(session: Session, requests: Sequence[tuple[str, Sequence[dict[str, Any]]]],
            keyed: list[dict[str, dict[str, Any]]], at: dt.datetime) -> list[Accepted]:  # fmt: skip
    everything = [k for rows in keyed for k in rows]
    taken: set[str] = set()
    for start in range(0, len(everything), 500):
        chunk = everything[start : start + 500]
        taken |= set(session.scalars(select(BeaconEvent.key).where(BeaconEvent.key.in_(chunk))))
    out = []
    for (site, events), rows in zip(requests, keyed, strict=True):
        fresh = [k for k in rows if k not in taken]
        taken.update(fresh)
        session.add_all(BeaconEvent(key=k, site=site, received_at=at, event=rows[k])
                        for k in fresh)  # fmt: skip
        out.append(Accepted(len(fresh), len(events) - len(fresh)))
    return out


class Intake:
    """Group commit for the server: the events of requests that arrive while a commit runs are
    committed together by the next one, so one disk flush serves many requests; each request
    is answered only once its own events are committed."""

    def __init__(self, store: AppStore) -> None:  # noqa: D107
        self.store = store
        self._waiting: list[tuple[str, Sequence[dict[str, Any]], asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def submit(self, site: str, events: Sequence[dict[str, Any]]) -> Accepted:
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._waiting.append((site, events, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._commit_all())
        return await future

    async def _commit_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await asyncio.to_thread(
                    accept_many, self.store, [(s, e) for s, e, _ in batch], utcnow()
                )
            except Exception as exc:  # each request answers with the error
                for *_, future in batch:
                    future.set_exception(exc)
                continue
            for (*_, future), result in zip(batch, results, strict=True):
                future.set_result(result)


def pending(store: AppStore, limit: int) -> list[BeaconEvent]:
    """The oldest unprocessed events, at most `limit`."""
    q = (select(BeaconEvent).where(BeaconEvent.processed_at.is_(None))
         .order_by(BeaconEvent.id).limit(limit))  # fmt: skip
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.scalars(q))


def mark_processed(store: AppStore, outcomes: dict[int, tuple[str, str | None]],
                   at: dt.datetime) -> None:  # fmt: skip
    """Record each event's outcome (id → (outcome, account_id)), in one transaction."""
    with Session(store.engine) as session, session.begin():
        for event_id, (outcome, account) in outcomes.items():
            session.execute(update(BeaconEvent).where(BeaconEvent.id == event_id).values(
                processed_at=at, outcome=outcome, account_id=account))  # fmt: skip


def purge(store: AppStore, before: dt.datetime) -> int:
    """Delete events processed before `before`; returns how many."""
    q = delete(BeaconEvent).where(BeaconEvent.processed_at < before)
    with Session(store.engine) as session, session.begin():
        return int(session.execute(q).rowcount or 0)  # type: ignore[attr-defined]


# -- touches -----------------------------------------------------------------------------------
def touch_id(key: str) -> str:
    return "b_" + key[:32]


def touch_row(e: BeaconEvent, visitor: Visitor) -> dict[str, Any]:
    """The touch an event becomes, linked to the visitor's account (or to none)."""
    data = e.event
    at = dt.datetime.fromisoformat(data["ts"]) if data.get("ts") else e.received_at
    if at.tzinfo is not None:  # the warehouse keeps UTC without a zone
        at = at.astimezone(dt.UTC)
    campaign = parse_qs(urlsplit(data["url"]).query).get("utm_campaign", [None])[0]
    return {"touch_id": touch_id(e.key), "ts": at.replace(tzinfo=None),
            "account_id": visitor.account_id, "contact_id": visitor.contact_id,
            "email": (data.get("email") or "").strip().lower() or None,
            "domain": data.get("domain"), "ip": data.get("ip"), "channel": "web",
            "kind": KINDS[data.get("type", "page_view")], "campaign_id": campaign,
            "cost": None, "url": data["url"], "referrer": data.get("referrer"),
            "session_id": data.get("session"), "source": SOURCE, "match_method": visitor.method,
            "match_score": 100.0 if visitor.method else None}  # fmt: skip


@dataclass
class Written:
    """What `write_touches` did: the new load (None when nothing was new), how many touches
    it inserted, and the loads holding each of the batch's touches (an earlier attempt's
    included)."""

    load_id: str | None = None
    inserted: int = 0
    loads: set[str] = field(default_factory=set)


def write_touches(wh: Warehouse, rows: list[dict[str, Any]], now: dt.datetime) -> Written:
    """Append the touches of `rows` not stored yet, as one load, in one transaction. Stored
    ones are found by ID among the beacon's touches of the batch's time span (the engine skips
    the rest of the table by its time stamps)."""
    if not rows:
        return Written()
    ids = [r["touch_id"] for r in rows]
    t = wh.table("touches")
    first, last = min(r["ts"] for r in rows), max(r["ts"] for r in rows)
    stored = t.filter((t.ts >= first) & (t.ts <= last) & (t.source == SOURCE)
                      & t.touch_id.isin(ids)).select("touch_id", "load_id")  # fmt: skip
    found = {r["touch_id"]: r["load_id"] for r in wh.arrow(stored).to_pylist()}
    fresh = [r for r in rows if r["touch_id"] not in found]
    written = Written(loads=set(found.values()))
    if fresh:
        written.load_id = "beacon_" + uuid.uuid4().hex[:20]
        written.inserted = len(fresh)
        written.loads.add(written.load_id)
        _insert(wh, fresh, written.load_id, now)
    return written


def _insert(wh: Warehouse, rows: list[dict[str, Any]], load_id: str, now: dt.datetime) -> None:
    schema = TOUCHES.schema.to_pyarrow()
    table = pa.Table.from_pylist([r | {"load_id": load_id, "loaded_at": now} for r in rows],
                                 schema=schema)  # fmt: skip
    record = LoadRecord(load_id, "touches", SOURCE, "", SOURCE, now, rows_read=len(rows),
                        inserted=len(rows),
                        unmatched=sum(1 for r in rows if r["account_id"] is None))  # fmt: skip
    with wh.temporary(), wh.transaction():
        wh.insert("touches", wh.stage(table, prefix="beacon"))
        record_load(wh, record)


# -- the worker --------------------------------------------------------------------------------
Process = Callable[[list[BeaconEvent]], dict[int, tuple[str, str | None]]]
"""Processes a batch of events and returns each one's outcome (id → (outcome, account_id))."""


class Worker:
    """A thread of the server that processes the queue: `wake()` when events arrive, `stop()`
    on the way out (the batch in hand is finished first). A batch that fails is tried again
    event by event; an event that fails alone is marked `failed` (and logged) so that it does
    not hold up the ones behind it."""

    def __init__(self, store: AppStore, process: Process, *, batch: int, idle_s: float,
                 tick: Callable[[], None] = lambda: None):  # fmt: skip  # noqa: D107
        self.store, self.process, self.batch, self.idle_s, self.tick = (
            store, process, batch, idle_s, tick)  # fmt: skip
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="abm-beacon", daemon=True)
        self.processed = 0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            rows = pending(self.store, self.batch)
            if rows:
                self._handle(rows)
                continue
            self._guarded(self.tick)
            self._wake.wait(self.idle_s)

    def _handle(self, rows: list[BeaconEvent]) -> None:
        try:
            outcomes = self.process(rows)
        except Exception:
            log.exception("a batch of %d beacon events failed; trying them one by one", len(rows))
            outcomes = self._one_by_one(rows)
        if outcomes:
            mark_processed(self.store, outcomes, utcnow())
            self.processed += len(outcomes)
        else:  # every event failed: the warehouse, not the events; wait and try again
            self._stop.wait(self.idle_s)

    def _one_by_one(self, rows: list[BeaconEvent]) -> dict[int, tuple[str, str | None]]:
        """Each event alone; those that fail while others pass are marked `failed`. When all
        fail, nothing is marked (they stay queued)."""
        outcomes: dict[int, tuple[str, str | None]] = {}
        failed = []
        for row in rows:
            try:
                outcomes |= self.process([row])
            except Exception:
                log.exception("beacon event %s failed", row.id)
                failed.append(row.id)
        if not outcomes:
            return {}
        return outcomes | {n: ("failed", None) for n in failed}

    def _guarded(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            log.exception("the beacon worker's upkeep failed")
            self._stop.wait(self.idle_s)
