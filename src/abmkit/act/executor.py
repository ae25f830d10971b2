"""The executor: it sends the outbox, one claimed action at a time, and records how each ended.

A pass (`run_once`) claims the due actions in batches (`outbox.claim`), checks each again
against the guardrails that depend on the moment (quiet hours in the recipient's time zone for
e-mails, messages and sequences; the smallest audience a platform serves), sends it through its
channel's connector (`delivery.py`) with exactly the payload the agent wrote and a person may
have approved, and commits the result:

* sent (or dry_run, when the connector is not live): the receipt is kept;
* a failure that may pass (network, HTTP 408/429/5xx, SMTP not 5xx): queued again after an
  exponential backoff with jitter (`executor.backoff_s`, doubled per attempt, at most
  `executor.backoff_max_s`), until `executor.max_attempts` attempts, then dead;
* a refusal for good (another 4xx, a refused recipient, a malformed payload): dead at once;
* a guardrail saying "not yet": held, back in the queue without counting an attempt.

Ad audiences are pushed a whole audience at a time: while an audience (its members already sent
and its due queued actions) is smaller than `guardrails.min_audience_size_by_channel`, its
actions stay queued and no file is written; once it is large enough, the file is rewritten with
every member and the actions are marked sent together.

Crash safety. The outbox row is the truth, and every receiver gets the action's idempotency key
(the `Idempotency-Key` header of webhooks, the e-mail's `Message-ID`, the `action_id` column of
files). A claimed action is `sending` under a lease; if the executor dies, the lease runs out and
the next pass takes the action over. So, by where a crash falls:

* after the claim, or with the connector ready but before it handed anything over (a webhook's
  connection open, its request not yet written; an e-mail about to be handed to `email.send`):
  nothing left, the action is taken over after its lease and leaves once;
* from the moment the message is handed over until the commit, and above all after the remote
  acknowledged but before the commit: the action may reach the receiver twice. No
  protocol can close this window between another system's acknowledgement and our own commit;
  the receiver recognizes the repeat by its idempotency key (webhook `Idempotency-Key`, e-mail
  `Message-ID`). File connectors close it themselves: a row is not added twice (its action id
  is looked up first) and an audience file is rewritten with the same members;
* after the commit: nothing is repeated.

Everywhere but that one window, an action leaves exactly once. The points are named in
`faults.py`; the tests kill the executor at each of them. A lease must outlast one send: it is
renewed before each, and a send is bounded by its connector's timeouts (seconds, where the
lease is minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import socket
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from abmkit.act import faults, files, outbox
from abmkit.act.delivery import Connectors, Delivered, Undeliverable
from abmkit.act.outbox import Claim
from abmkit.config.settings import Settings
from abmkit.config.workspace import CONFIG_NAME, open_workspace
from abmkit.decide import inbox
from abmkit.decide.guardrails import MESSAGES, quiet_until, timezones_of
from abmkit.errors import AbmError, ConfigError
from abmkit.store import AppStore, open_app_store
from abmkit.store.db import utcnow

log = logging.getLogger(__name__)

QUIET_CHANNELS = MESSAGES
"""Messages to people outside (alerts and tasks go to our own team, who need them at once)."""
POLL_S = 5.0


@dataclass
class ExecutorReport:
    """How the actions of one or more passes ended."""

    sent: int = 0
    dry_run: int = 0
    retried: int = 0
    dead: int = 0
    held: int = 0
    blocked: int = 0

    def add(self, other: ExecutorReport) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def __str__(self) -> str:
        counts = asdict(self).items()
        return ", ".join(f"{name.replace('_', '-')} {value}" for name, value in counts)


class Executor:
    """Sends the outbox of one workspace. Several may run at once, on one machine or several
    sharing the application store: a claim hands each action to one of them."""

    def __init__(self, settings: Settings, app_store: AppStore, workspace_path: Path, *,
                 clock: Callable[[], dt.datetime] = utcnow,
                 rng: random.Random | None = None):  # fmt: skip
        self.settings = settings
        self.engine = app_store.engine
        self.connectors = Connectors(settings, Path(workspace_path) / "outbox")
        self.clock = clock
        self.rng = rng or random.Random()
        self.worker = f"executor {socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def _now(self, now: dt.datetime | None) -> dt.datetime:
        return self.clock() if now is None else now

    def run_once(self, now: dt.datetime | None = None) -> ExecutorReport:
        """Send everything due (at `now`, default the clock's time) and report how it ended."""
        report = ExecutorReport()
        config = self.settings.executor
        while True:
            claims = outbox.claim(self.engine, self._now(now), lease_s=config.lease_s,
                                  batch=config.batch, worker=self.worker)  # fmt: skip
            for claim in claims:
                self._deliver(claim, now, report)
            if len(claims) < config.batch:
                break
        for channel, audience in outbox.due_audiences(self.engine, self._now(now)):
            self._push_audience(channel, audience, now, report)
        return report

    def run_forever(self, poll_s: float = POLL_S,
                    stop: threading.Event | None = None) -> ExecutorReport:  # fmt: skip
        """Pass after pass, `poll_s` apart, until `stop` is set; the totals."""
        total, stop = ExecutorReport(), stop or threading.Event()
        while not stop.is_set():
            try:
                total.add(self.run_once())
            except Exception:  # the store or the disk may be away for a while: try again later
                log.exception("executor pass failed; the next starts in %s s", poll_s)
            stop.wait(poll_s)
        return total

    # -- one action -----------------------------------------------------------------------------
    def _deliver(self, claim: Claim, now: dt.datetime | None, report: ExecutorReport) -> None:
        faults.reached("claimed")
        if self._stopped(claim, now, report):
            return
        try:
            delivered = self.connectors.deliver(claim, self._now(now))
        except Undeliverable as exc:
            self._dead(claim, str(exc), now, report)
        except Exception as exc:  # the receiver, the network, or a fault of ours: try again
            if not isinstance(exc, AbmError):
                log.warning("action %s failed unexpectedly", claim.id, exc_info=True)
            self._failed(claim, f"{type(exc).__name__}: {exc}", now, report)
        else:
            faults.reached("acknowledged")
            self._sent([claim], delivered, now, report)
            faults.reached("committed")

    def _stopped(self, claim: Claim, now: dt.datetime | None, report: ExecutorReport) -> bool:
        """Whether the action must not be sent now: attempts used up (by crashes), quiet hours,
        or its claim lost to another executor."""
        limit = self.settings.executor.max_attempts
        if claim.attempts > limit:
            self._dead(claim, f"gave up: {limit} attempts ended without a result", now, report)
            return True
        try:
            quiet = self._quiet(claim, self._now(now))
        except Undeliverable as exc:
            self._dead(claim, str(exc), now, report)
            return True
        if quiet is not None:
            self._move(claim, quiet[0], quiet[1], now, report)
            return True
        if self._late(claim, now, report):
            return True
        lease_s = self.settings.executor.lease_s
        if not outbox.renew(self.engine, claim, self._now(now), lease_s=lease_s):
            log.warning("action %s: its lease ran out and another executor took it", claim.id)
            return True
        return False

    def _late(self, claim: Claim, now: dt.datetime | None, report: ExecutorReport) -> bool:
        """An action leaving well after its planned time (the executor was away, an audience
        waited) is checked against every guardrail again at the time it really leaves: held
        when they move it later, blocked when one no longer holds. True: not to be sent now."""
        at = self._now(now)
        planned = claim.not_before
        tolerance = dt.timedelta(seconds=self.settings.executor.recheck_after_s)
        if planned is None or (at - planned <= tolerance and at.date() == planned.date()):
            return False
        status, when, found = inbox.reschedule(self.engine, claim.id, at, self.settings)
        if status == "blocked":
            report.blocked += 1
            return True
        if when > at:
            self._hold([claim], "; ".join(v["reason"] for v in found if v["outcome"] != "pass"),
                       when, now, report)  # fmt: skip
            return True
        return False

    def _move(self, claim: Claim, until: dt.datetime, reason: str, now: dt.datetime | None,
              report: ExecutorReport) -> None:  # fmt: skip
        """Hold an action until later, its guardrails checked again at that time (it is
        blocked when one no longer holds there)."""
        status, when, _ = inbox.reschedule(self.engine, claim.id, until, self.settings)
        if status == "blocked":
            report.blocked += 1
            return
        self._hold([claim], reason, when, now, report)

    def _quiet(self, claim: Claim, now: dt.datetime) -> tuple[dt.datetime, str] | None:
        """When the quiet time the recipient is in ends, and why; None when not quiet."""
        if claim.channel not in QUIET_CHANNELS:
            return None
        rules = self.settings.guardrails
        zones = recipient_zones(claim.payload, rules.default_timezone)
        until = quiet_until(now, zones, rules.quiet_hours, rules.quiet_weekends)
        if until is None:
            return None
        weekends = " and weekends" if rules.quiet_weekends else ""
        where = " and ".join(zone.key for zone in zones)
        return until, f"quiet hours ({rules.quiet_hours}{weekends}, {where}) until {until} UTC"

    # -- outcomes -------------------------------------------------------------------------------
    def _sent(self, claims: list[Claim], delivered: Delivered, now: dt.datetime | None,
              report: ExecutorReport) -> None:  # fmt: skip
        done = outbox.mark_sent(self.engine, claims, delivered.receipt, self._now(now),
                                worker=self.worker, status=delivered.status)  # fmt: skip
        if delivered.status == "dry_run":
            report.dry_run += done
        else:
            report.sent += done

    def _failed(self, claim: Claim, error: str, now: dt.datetime | None,
                report: ExecutorReport) -> None:  # fmt: skip
        config = self.settings.executor
        if claim.attempts >= config.max_attempts:
            reason = f"{error} (attempt {claim.attempts} of {config.max_attempts}: giving up)"
            self._dead(claim, reason, now, report)
            return
        at = self._now(now)
        delay = dt.timedelta(seconds=outbox.backoff_s(claim.attempts, config, self.rng))
        status, when, _ = inbox.reschedule(self.engine, claim.id, at + delay, self.settings)
        if status == "blocked":  # no longer fits the guardrails at the time of the retry
            report.blocked += 1
            return
        report.retried += outbox.retry(self.engine, claim, error, when, at,
                                       worker=self.worker)  # fmt: skip

    def _dead(self, claim: Claim, reason: str, now: dt.datetime | None,
              report: ExecutorReport) -> None:  # fmt: skip
        report.dead += outbox.dead(self.engine, claim, reason, self._now(now), worker=self.worker)

    def _hold(self, claims: list[Claim], reason: str, until: dt.datetime | None,
              now: dt.datetime | None, report: ExecutorReport) -> None:  # fmt: skip
        report.held += outbox.hold(self.engine, claims, reason, until, self._now(now),
                                   worker=self.worker)  # fmt: skip

    # -- ad audiences ---------------------------------------------------------------------------
    def _push_audience(self, channel: str, audience: str | None, now: dt.datetime | None,
                       report: ExecutorReport) -> None:  # fmt: skip
        """Write one audience's file with every member, or leave its actions queued while it is
        too small for the platform."""
        at = self._now(now)
        if audience is not None and files.is_safe_name(audience):
            short = self._shortfall(channel, audience, at)
            if short is not None:
                report.held += outbox.wait(self.engine, at, channel, audience, short,
                                           worker=self.worker)  # fmt: skip
                return
        claims = outbox.claim_audience(self.engine, at, channel, audience,
                                       lease_s=self.settings.executor.lease_s,
                                       worker=self.worker)  # fmt: skip
        for _ in claims:
            faults.reached("claimed")
        if audience is None or not files.is_safe_name(audience):
            for claim in claims:
                reason = f"the {channel} payload names no audience a file can have: {audience!r}"
                self._dead(claim, reason, now, report)
            return
        path = files.audience_file(self.connectors.outbox, channel, audience)
        with files.locked(path):
            self._write_audience(path, channel, audience, claims, now, report)

    def _shortfall(self, channel: str, audience: str, now: dt.datetime) -> str | None:
        """Why the audience must wait, read without claiming; None when it may be pushed (or
        one of its actions is malformed: claimed, it is refused at once)."""
        sent = outbox.sent_payloads(self.engine, channel, audience)
        waiting = outbox.waiting_payloads(self.engine, now, channel, audience)
        if not waiting:
            return None
        kind = (sent or waiting)[0].get("kind")
        if any(audience_problem(channel, kind, payload) for payload in waiting):
            return None
        return self._too_small(channel, audience, files.distinct_members([*sent, *waiting]))

    def _too_small(self, channel: str, audience: str, members: list[dict]) -> str | None:
        rules = self.settings.guardrails
        needed = rules.min_audience_size_by_channel.get(channel, rules.min_audience_size)
        if len(members) >= needed:
            return None
        return f"audience {audience} has {len(members)} of the {needed} members {channel} needs"

    def _write_audience(self, path: Path, channel: str, audience: str, claims: list[Claim],
                        now: dt.datetime | None, report: ExecutorReport) -> None:  # fmt: skip
        sent = outbox.sent_payloads(self.engine, channel, audience)
        kind = (sent[0] if sent else claims[0].payload).get("kind") if claims else None
        claims = [
            c
            for c in claims
            if self._fits(c, channel, kind, now, report) and not self._late(c, now, report)
        ]
        if not claims:
            return
        members = files.distinct_members([*sent, *(c.payload for c in claims)])
        short = self._too_small(channel, audience, members)
        if short is not None:  # the audience lost members since it was counted
            self._hold(claims, short, None, now, report)
            return
        files.write_atomically(path, files.audience_text(channel, str(kind), members).encode())
        faults.reached("acknowledged")
        receipt = {"file": str(path.relative_to(self.connectors.outbox.parent)),
                   "members": len(members)}  # fmt: skip
        self._sent(claims, Delivered("sent", receipt), now, report)
        faults.reached("committed")

    def _fits(self, claim: Claim, channel: str, kind: object, now: dt.datetime | None,
              report: ExecutorReport) -> bool:  # fmt: skip
        """Whether the action can join the audience's file; dead when it cannot."""
        problem = audience_problem(channel, kind, claim.payload)
        if problem is not None:
            self._dead(claim, problem, now, report)
        return problem is None


def audience_problem(channel: str, kind: object, payload: dict) -> str | None:
    """Why an action cannot join an audience of `kind` on `channel`; None when it can."""
    takes = files.AUDIENCE_KINDS[channel]
    if payload.get("kind") not in takes:
        return f"a {channel} takes {' or '.join(takes)}, not {payload.get('kind')!r}"
    if payload.get("kind") != kind:
        return f"the audience holds {kind}, not {payload.get('kind')}"
    rows = payload.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return f"the {channel} payload has no list of rows"
    return None


# -- quiet hours --------------------------------------------------------------------------------
def recipient_zones(payload: dict, default: str) -> list[ZoneInfo]:
    """The recipient's time zone (`timezone` in the payload), else those of their country
    (`timezone_country`, as the agent judged it), else `default`."""
    name = payload.get("timezone")
    if not name:
        return timezones_of(payload.get("timezone_country"), default)
    try:
        return [ZoneInfo(name)]
    except (ZoneInfoNotFoundError, ValueError):
        raise Undeliverable(f"unknown time zone {name!r}") from None


# -- entry points -------------------------------------------------------------------------------
def execute(workspace_path: Path, settings: Settings, app_store: AppStore, *, once: bool,
            poll_s: float = POLL_S) -> ExecutorReport:  # fmt: skip
    """Send the workspace's outbox: one pass (`once`), or pass after pass until interrupted."""
    executor = Executor(settings, app_store, workspace_path)
    return executor.run_once() if once else executor.run_forever(poll_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m abmkit.act.executor",
                                     description="Send the outbox of a workspace.")  # fmt: skip
    parser.add_argument("--workspace", type=Path, required=True, help="The workspace folder.")
    parser.add_argument("--once", action="store_true", help="One pass, then exit.")
    parser.add_argument("--poll", type=float, default=POLL_S, help="Seconds between passes.")
    args = parser.parse_args(argv)
    try:
        faults.armed()  # a misspelt crash point fails here, not silently later
        workspace = open_workspace(args.workspace)
        if not workspace.config_file.exists():
            raise ConfigError(f"{args.workspace}: not a workspace (no {CONFIG_NAME}; abm init)")
        store = open_app_store(workspace.app_store_url)
        try:
            report = execute(workspace.path, workspace.settings, store, once=args.once,
                             poll_s=args.poll)  # fmt: skip
        finally:
            store.close()
    except AbmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
