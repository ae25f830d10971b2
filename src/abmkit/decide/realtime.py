"""The real-time path: a website event becomes a touch, a fresh score and, when a play's
trigger fires, a queued action — in about a second, in the server process.

`Realtime` holds what the public endpoints answer from memory (visitors → accounts, each
account's card, the personalization rules) and processes the beacon's batches: resolve each
event's visitor → append the touches as one load → re-score the accounts they touch
(`Abm.score(incremental=True)`) → run the agent over those accounts only (`react`) → refresh the
cards of every account the refresh re-wrote. Its upkeep (between batches) re-reads the changed
personalization, routing and beacon settings of `abmkit.yaml`, reloads every lookup after a
refresh made elsewhere in the process, and deletes events processed long ago.

`react` is the agent's pass (`abmkit.decide.loop`) scoped to a few accounts: it reads only their
scores, people and holdout groups, the key-page visits of the loads it is given, and marks only
those loads seen; what every account shares (learned rates, value per dollar, goals, plays) is
read at most once a minute.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from typing import Any

import pyarrow as pa
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from abmkit.act import faults
from abmkit.app import Abm
from abmkit.config.workspace import open_workspace
from abmkit.content.personalize import Personalizer
from abmkit.decide import goals, observe
from abmkit.decide.agent import Account
from abmkit.decide.loop import (
    SEEN_LOADS,
    Observed,
    PassReport,
    act_on,
    learned_settings,
    mark_seen,
)  # fmt: skip
from abmkit.ingest import beacon
from abmkit.measure import holdout
from abmkit.resolve.visitors import (
    Visitor,
    Visitors,
    card_rows,
    cards_of,
    load_visitors,
    read_contact,
    signing_key,
)  # fmt: skip
from abmkit.score.incremental import last_run, settings_fingerprint, unseen_loads
from abmkit.score.refresh import refresh
from abmkit.store.db import utcnow
from abmkit.store.models import BeaconEvent, HoldoutAssignment

log = logging.getLogger("abmkit.realtime")
LIVE_SECTIONS = ("beacon", "personalization", "routing")
"""Settings the server applies when `abmkit.yaml` changes, without a restart."""
SHARED_S = 60.0
"""Seconds what every account shares (learned rates, value per dollar, goals, plays) is kept."""
PURGE_S = 3600.0


# -- the agent over a few accounts ---------------------------------------------------------------
class Shared:
    """What a scoped pass reads that does not depend on its accounts, kept a minute."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[float, Any]] = {}

    def get(self, name: str, build: Callable[[], Any]) -> Any:
        at, value = self._kept.get(name, (0.0, None))
        if time.monotonic() - at > SHARED_S:
            value = build()
            self._kept[name] = (time.monotonic(), value)
        return value

    def clear(self) -> None:
        self._kept.clear()


def react(abm: Abm, account_ids: set[str], loads: set[str], since: dt.datetime,
          now: dt.datetime, shared: Shared | None = None) -> PassReport | None:  # fmt: skip
    """One pass of the agent over `account_ids`, for the signals in the rows of `loads` not read
    yet at or after `since` (None when there are none). Its statements read small tables of
    fixed names, so they are compiled once per process."""
    shared = shared or Shared()
    read = set(abm.app_store.state(SEEN_LOADS).get("loads", []))
    new = sorted(loads - read)
    if not new or not account_ids:
        return None
    report = PassReport(run_id="rt_" + uuid.uuid4().hex[:12], now=now, dry_run=False)
    wh, settings = abm.warehouse, abm.settings
    with wh.temporary():
        ids = wh.stage(pa.table({"account_id": sorted(account_ids)}), prefix="realtime")
        in_loads = wh.stage(pa.table({"load_id": new}), prefix="realtime_loads")
        signals = observe.signals_of(wh, settings, in_loads, ids, since)
        accounts = observe.accounts(wh, ids, shared.get("deals", lambda: observe.deal_sizes(wh)))
        accounts = _boosted(abm, accounts, ids, now, shared, report)
        people = observe.people_of(wh, settings, ids)
    held = held_out_of(abm, accounts, now)
    agent_settings = shared.get("agent", lambda: learned_settings(abm, report, now))
    plays = shared.get("plays", lambda: [p for p, _ in abm.plays().values()])
    act_on(abm, report, Observed(signals, accounts, people, held), plays, agent_settings)
    mark_seen(abm, new)
    if report.signals:
        abm.app_store.record("agent.realtime", report.run_id, "ok", accounts=len(account_ids),
                             signals=report.signals, matches=report.matches,
                             held_out=report.held_out, **report.by_status)  # fmt: skip
    return report


def _boosted(abm: Abm, accounts: dict[str, Account], ids: Any, now: dt.datetime,
             shared: Shared, report: PassReport) -> dict[str, Account]:  # fmt: skip
    """The accounts with the boost of the goals behind pace they belong to."""
    configured = abm.settings.goals
    if not configured:
        return accounts
    report.goals = shared.get("goals", lambda: goals.progress(abm.warehouse, configured, now))
    out = dict(accounts)
    for n, (goal, p) in enumerate(zip(configured, report.goals, strict=True)):
        if not p.behind:
            continue
        where = f"goals.{n}.segment"
        members = goals.segment_filter(goals.accounts_table(abm.warehouse), goal.segment, where)
        members = members.semi_join(ids, "account_id")
        for account_id in abm.warehouse.arrow(members.select("account_id")).column(0).to_pylist():
            a = out[account_id]
            out[account_id] = replace(a, goal_boost=max(a.goal_boost, p.share_behind),
                                      goals=(*a.goals, goal.name))  # fmt: skip
    return out


def scopes_for(abm: Abm, tier: int) -> list[str]:
    """The holdout scopes an account of `tier` is drawn in, by the settings of the day."""
    if abm.settings.measure.holdout.by == "tier":
        return [holdout.tier_scope(tier)]
    return [holdout.play_scope(p.name) for p, _ in abm.plays().values()
            if p.enabled and tier in p.audience.tiers]  # fmt: skip


def held_out_of(abm: Abm, accounts: Mapping[str, Account],
                now: dt.datetime) -> set[tuple[str, str]]:  # fmt: skip
    """(scope, account_id) of these accounts' holdouts: their recorded groups, and a group drawn
    and recorded for each target account not yet assigned in its scope (as a full pass's
    `holdout.assign` would, with the same draw)."""
    h, a = abm.settings.measure.holdout, HoldoutAssignment
    q = select(a.scope, a.account_id, a.group, a.share, a.salt).where(
        a.account_id.in_(list(accounts)))  # fmt: skip
    with Session(abm.app_store.engine) as session:
        rows = list(session.execute(q))
    recorded = {(r.scope, r.account_id): r.group for r in rows}
    wanted = {(s, x.account_id) for x in accounts.values() if x.tier in holdout.TIERS
              for s in scopes_for(abm, x.tier)}  # fmt: skip
    holdout.check_settings(h, {r.scope: (r.share, r.salt) for r in rows
                               if r.scope in {s for s, _ in wanted}})  # fmt: skip
    new = [holdout.Assignment(s, x, holdout.group_of(h.salt, s, x, h.share), h.share, h.salt, now)
           for s, x in sorted(wanted - set(recorded))] if h.share > 0 else []  # fmt: skip
    if new:
        try:
            with Session(abm.app_store.engine) as session, session.begin():
                session.execute(insert(HoldoutAssignment), [asdict(r) for r in new])
        except IntegrityError:  # a full pass recorded them first, with the same draw
            pass
        recorded |= {(r.scope, r.account_id): r.group for r in new}
    return {key for key, group in recorded.items() if group == holdout.HOLDOUT}


class _WarmedUp(Exception):
    """Ends the warm-up's transaction: everything it wrote is rolled back."""


def warm_refresh(abm: Abm, account_id: str | None) -> None:
    """Build and compile the incremental refresh's statements now, over one made-up touch in a
    transaction that is then rolled back (nothing stays), so that the first visit after a start
    is re-scored as fast as the next ones. Skipped when the next refresh must be a full one
    (other scoring settings or model than the last refresh's): it would build nothing reused."""
    wh, model = abm.warehouse, abm.app_store.model()
    run = last_run(wh)
    version = model.version if model is not None else None
    if account_id is None or run is None or run["mode"] not in ("full", "incremental"):
        return
    if (run["settings_hash"], run["model_version"]) != (settings_fingerprint(abm.settings),
                                                        version):  # fmt: skip
        return
    event = BeaconEvent(id=0, key=uuid.uuid4().hex, site="warm-up", received_at=utcnow(),
                        event={"id": "warm-up", "url": "https://warm-up.invalid/"})  # fmt: skip
    touch = beacon.touch_row(event, Visitor(account_id, "domain"))
    try:
        with wh.transaction():
            beacon.write_touches(wh, [touch], utcnow())
            refresh(wh, abm.settings, None, model, incremental=True)
            raise _WarmedUp
    except _WarmedUp:
        pass


# -- the real-time path of a server ----------------------------------------------------------
class Realtime:
    """The in-memory lookups of the public endpoints and the processing of the beacon's
    batches, for one `Abm` whose warehouse `gate` serializes every use."""

    def __init__(self, abm: Abm, gate: threading.Lock) -> None:  # noqa: D107
        self.abm, self.gate = abm, gate
        self.shared = Shared()
        self.key = signing_key(abm.app_store)
        self.visitors = Visitors()
        self.personalizer = self._personalizer()
        self._baseline = {n: getattr(abm.settings, n) for n in LIVE_SECTIONS}
        self._mtime = self._config_mtime()
        self._checked = self._purged = 0.0
        self._run_id: str | None = None

    # -- lookups ---------------------------------------------------------------------------
    def load(self) -> None:
        """Build every lookup from the warehouse (at start, and after a refresh made
        elsewhere in the process)."""
        with self.gate:
            visitors = load_visitors(self.abm.warehouse)
            run = last_run(self.abm.warehouse)
        visitors.resolve(domain="www.example.com")  # reads the public-suffix rules now
        self.visitors, self._run_id = visitors, run["run_id"] if run else None
        self.personalizer = self._personalizer()

    def resolve(self, *, token: str | None = None, email: str | None = None,
                domain: str | None = None, ip: str | None = None) -> Visitor:  # fmt: skip
        contact = None
        if token:
            days = self.abm.settings.beacon.known_contact_days
            contact = read_contact(self.key, token, utcnow(), days)
        return self.visitors.resolve(contact=contact, email=email, domain=domain, ip=ip)

    def _personalizer(self) -> Personalizer:
        s = self.abm.settings
        chooser = Personalizer(s.personalization, s.content, self.abm.workspace.path)
        chooser.warm()
        return chooser

    # -- the beacon's batches ------------------------------------------------------------------
    def recover(self) -> None:
        """Re-score what a batch loaded before a crash cut it short (its events are processed
        again, but their touches are already stored)."""
        with self.gate:
            wh = self.abm.warehouse
            with wh.temporary():
                waiting = int(wh.scalar(unseen_loads(wh).count()))
            if waiting:
                self._refresh_cards(self._rescore())
            else:
                warm_refresh(self.abm, next(iter(self.visitors.cards), None))

    def process(self, rows: list[BeaconEvent]) -> dict[int, tuple[str, str | None]]:
        """Touches → score → agent → cards for one batch; each event's outcome."""
        settings, now = self.abm.settings, utcnow()
        outcomes: dict[int, tuple[str, str | None]] = {}
        touches = []
        for row in rows:
            visitor = self._visitor(row.event)
            if visitor.account_id is None and not settings.beacon.store_unresolved:
                outcomes[row.id] = ("dropped", None)
                continue
            touches.append(beacon.touch_row(row, visitor))
            outcomes[row.id] = ("linked" if visitor.account_id else "unresolved",
                                visitor.account_id)  # fmt: skip
        accounts = {t["account_id"] for t in touches if t["account_id"]}
        since = min((t["ts"] for t in touches), default=now)
        with self.gate:
            written = beacon.write_touches(self.abm.warehouse, touches, now)
            faults.reached("beacon_written")
            scored = self._rescore() if written.inserted and accounts else None
            react(self.abm, accounts, written.loads, since, utcnow(), self.shared)
            if scored is not None:  # after the agent: the action first, then the lookups
                self._refresh_cards(scored)
        faults.reached("beacon_acted")
        return outcomes

    def _visitor(self, event: dict[str, Any]) -> Visitor:
        return self.resolve(token=event.get("ct"), email=event.get("email"),
                            domain=event.get("domain"), ip=event.get("ip"))  # fmt: skip

    def _rescore(self) -> dt.datetime:
        """An incremental refresh (call holding the gate); returns when it started."""
        started = utcnow().replace(microsecond=0)
        self.abm.score(incremental=True)
        run = last_run(self.abm.warehouse)
        self._run_id = run["run_id"] if run else None
        return started

    def _refresh_cards(self, since: dt.datetime) -> None:
        """The new cards of every account a refresh since `since` wrote (holding the gate)."""
        wh = self.abm.warehouse
        scores = wh.table("account_scores")
        changed = scores.filter(scores.scored_at >= since).select("account_id")
        cards = cards_of(wh, card_rows(wh, changed))
        self.visitors.update(cards)
        self.personalizer.forget(cards)

    # -- upkeep ----------------------------------------------------------------------------
    def tick(self) -> None:
        """Between batches: changed settings, a refresh made elsewhere, old events."""
        now = time.monotonic()
        if now - self._checked >= self.abm.settings.beacon.settings_check_s:
            self._checked = now
            self.check_settings()
            self.check_scores()
        if now - self._purged >= PURGE_S:
            self._purged = now
            keep = dt.timedelta(days=self.abm.settings.beacon.keep_days)
            beacon.purge(self.abm.app_store, utcnow() - keep)

    def check_scores(self) -> None:
        """Reload every lookup when the latest refresh is not the one this path knows."""
        with self.gate:
            run = last_run(self.abm.warehouse)
        if (run["run_id"] if run else None) != self._run_id:
            self.load()

    def check_settings(self) -> None:
        """Apply the live sections of `abmkit.yaml` when the file changed (a section the file
        left as it was keeps any value given at start, e.g. by --set)."""
        mtime = self._config_mtime()
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            fresh = open_workspace(self.abm.workspace.path).settings
        except Exception as exc:  # a half-saved or invalid file: keep what runs
            log.warning("abmkit.yaml changed but was not applied: %s", exc)
            return
        changed = {n: getattr(fresh, n) for n in LIVE_SECTIONS
                   if getattr(fresh, n) != self._baseline[n]}  # fmt: skip
        self._baseline = {n: getattr(fresh, n) for n in LIVE_SECTIONS}
        if changed:
            self.abm.settings = self.abm.settings.model_copy(update=changed)
            self.personalizer = self._personalizer()
            self.abm.app_store.record("settings.reload", "abmkit.yaml", "ok",
                                      sections=sorted(changed))  # fmt: skip

    def _config_mtime(self) -> float:
        path = self.abm.workspace.config_file
        return path.stat().st_mtime if path.exists() else 0.0
