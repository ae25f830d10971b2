"""Guardrails: every limit people set, checked for each candidate action before it may leave.

A breach is impossible by construction: the agent decides one action at a time against a
`Ledger` of everything already committed (queued, waiting for approval, being sent, sent), and
the ledger takes the action's spend and touch the moment it is committed, in the same
transaction as the insert (`abmkit.decide.agent`). Windows are exact:

- a **day** is a UTC calendar day of the action's scheduled time (`not_before`);
- a **week** is any 7 consecutive days: an action fits only if every 7-day window that contains
  its time stays within the limit, so a cap of 3 per week never allows 4 in any 7 days.

Each rule gives one `Verdict`: pass, block (never sent, with the reason), approval (waits for a
person), defer (not before a later time: quiet hours) or hold (the executor keeps it until an
audience is large enough). The verdicts of every candidate are stored with it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from abmkit.config.settings import GuardrailSettings

Outcome = Literal["pass", "block", "approval", "defer", "hold"]
WEEK = dt.timedelta(days=7)
EPOCH = dt.datetime(1970, 1, 1)
DAY_US = 86_400_000_000
WEEK_US = 7 * DAY_US
MESSAGES = ("email", "sequence")
"""Channels that reach a person in their inbox: quiet hours, consent and opt-outs apply."""
PERSONAL = (*MESSAGES, "direct_mail")
"""Channels that reach one person: the per-person frequency caps count them."""
AUDIENCES = ("linkedin_audience", "google_audience", "meta_audience")
COMMITTED = ("pending_approval", "queued", "sending", "sent", "dry_run")
"""Statuses whose spend and touches count against the limits (a rejected, blocked or dead
action frees what it held)."""
EU = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
      "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}  # fmt: skip
EEA = EU | {"IS", "LI", "NO"}
UK = {"GB", "UK"}
COUNTRY_NAMES = {
    "united states": "US", "usa": "US", "united kingdom": "GB", "great britain": "GB",
    "england": "GB", "germany": "DE", "france": "FR", "canada": "CA", "australia": "AU",
    "india": "IN", "netherlands": "NL", "spain": "ES", "italy": "IT", "sweden": "SE",
    "ireland": "IE", "japan": "JP", "brazil": "BR", "singapore": "SG", "switzerland": "CH",
    "mexico": "MX", "poland": "PL", "belgium": "BE", "denmark": "DK", "norway": "NO",
    "finland": "FI", "austria": "AT", "portugal": "PT", "israel": "IL",
}  # fmt: skip
TIMEZONES = {
    "US": ("America/New_York", "America/Los_Angeles"), "CA": ("America/Toronto",
    "America/Vancouver"), "MX": ("America/Mexico_City",), "BR": ("America/Sao_Paulo",),
    "GB": ("Europe/London",), "IE": ("Europe/Dublin",), "DE": ("Europe/Berlin",),
    "FR": ("Europe/Paris",), "NL": ("Europe/Amsterdam",), "ES": ("Europe/Madrid",),
    "IT": ("Europe/Rome",), "SE": ("Europe/Stockholm",), "CH": ("Europe/Zurich",),
    "PL": ("Europe/Warsaw",), "BE": ("Europe/Brussels",), "DK": ("Europe/Copenhagen",),
    "NO": ("Europe/Oslo",), "FI": ("Europe/Helsinki",), "AT": ("Europe/Vienna",),
    "PT": ("Europe/Lisbon",), "IL": ("Asia/Jerusalem",), "IN": ("Asia/Kolkata",),
    "JP": ("Asia/Tokyo",), "SG": ("Asia/Singapore",),
    "AU": ("Australia/Sydney", "Australia/Perth"),
}  # fmt: skip
"""The zones a country's people may be in, east to west: without a person's own zone, a
message leaves only when it is outside quiet hours in all of them (in the US with 20:00–08:00:
from 08:00 in Los Angeles to 20:00 in New York)."""


def country_code(value: str | None) -> str:
    """An ISO 3166 alpha-2 code from a code or a common English name ('' when unknown)."""
    text = (value or "").strip()
    if len(text) == 2:
        return text.upper()
    return COUNTRY_NAMES.get(text.lower(), "")


def timezones_of(country: str | None, default: str) -> list[ZoneInfo]:
    names = TIMEZONES.get(country_code(country), (default,))
    try:
        return [ZoneInfo(name) for name in names]
    except ZoneInfoNotFoundError:
        return [ZoneInfo("UTC")]


def _zones(c: Candidate, g: GuardrailSettings) -> list[ZoneInfo]:
    if c.timezone:
        try:
            return [ZoneInfo(c.timezone)]
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezones_of(c.country, g.default_timezone)


def region_of(country: str | None) -> str:
    code = country_code(country)
    return "EU" if code in EEA else "UK" if code in UK else code


@dataclass(frozen=True)
class Candidate:
    """One action the agent would take, with what the guardrails need to judge it."""

    play: str
    step: int
    channel: str
    account_id: str
    at: dt.datetime
    """When it would leave (UTC, naive): the trigger's time plus the step's delay."""
    cost: float = 0.0
    tier: int | None = None
    contact_id: str | None = None
    email: str = ""
    domain: str = ""
    country: str = ""
    opted_out: bool = False
    consent: bool | None = None
    audience: str = ""
    play_requires_first_approval: bool = True
    timezone: str = ""
    """The person's own time zone when known (else their country's zones)."""


@dataclass(frozen=True)
class Verdict:
    rule: str
    outcome: Outcome
    reason: str
    until: dt.datetime | None = None

    def as_dict(self) -> dict:
        out = {"rule": self.rule, "outcome": self.outcome, "reason": self.reason}
        if self.until is not None:
            out["until"] = self.until.isoformat()
        return out


class _Series:
    """Times (sorted, as microseconds) and amounts of committed actions under one key, with
    running totals so any window's sum is two look-ups."""

    def __init__(self) -> None:
        self.times = np.empty(0, dtype=np.int64)
        self.amounts = np.empty(0, dtype=np.float64)
        self._totals: np.ndarray | None = None

    @classmethod
    def of(cls, entries: list[tuple[int, float]]) -> _Series:
        """From (time in microseconds, amount) pairs in the order they were committed: one
        sort instead of an insertion each (equal times keep that order, as `add` does)."""
        series = cls()
        ordered = sorted(range(len(entries)), key=lambda i: entries[i][0])
        series.times = np.array([entries[i][0] for i in ordered], dtype=np.int64)
        series.amounts = np.array([entries[i][1] for i in ordered], dtype=np.float64)
        return series

    def add(self, at: dt.datetime, amount: float) -> None:
        t = _micros(at)
        i = int(np.searchsorted(self.times, t, side="right"))
        self.times = np.insert(self.times, i, t)
        self.amounts = np.insert(self.amounts, i, amount)
        self._totals = None

    def remove(self, at: dt.datetime, amount: float) -> None:
        t = _micros(at)
        lo = int(np.searchsorted(self.times, t, side="left"))
        hi = int(np.searchsorted(self.times, t, side="right"))
        for i in range(lo, hi):
            if self.amounts[i] == amount:
                self.times = np.delete(self.times, i)
                self.amounts = np.delete(self.amounts, i)
                self._totals = None
                return
        raise KeyError(f"nothing committed at {at} for {amount}")

    def _sum(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Totals of [lo, hi) for arrays of start and end times."""
        if self._totals is None:
            self._totals = np.concatenate([[0.0], np.cumsum(self.amounts)])
        a = np.searchsorted(self.times, lo, side="left")
        b = np.searchsorted(self.times, hi, side="left")
        return self._totals[b] - self._totals[a]

    def day(self, at: dt.datetime) -> float:
        start = _micros(dt.datetime.combine(at.date(), dt.time()))
        return float(self._sum(np.array([start]), np.array([start + DAY_US]))[0])

    def around(self, at: dt.datetime) -> float:
        """The total within 7 days either side of `at`: no 7-day window that contains `at`
        holds more (a quick bound before the exact worst window)."""
        t = _micros(at)
        return float(self._sum(np.array([t - WEEK_US + 1]), np.array([t + WEEK_US]))[0])

    def worst_week(self, at: dt.datetime) -> float:
        """The largest total of any 7-day window [u, u + 7d) that contains `at`. The largest
        window can always start at a committed time or at `at` itself (slide its start right
        until it meets one), so only those starts in (at − 7d, at] are tried."""
        t = _micros(at)
        lo = int(np.searchsorted(self.times, t - WEEK_US, side="right"))
        hi = int(np.searchsorted(self.times, t, side="right"))
        starts = np.append(self.times[lo:hi], t)
        return float(self._sum(starts, starts + WEEK_US).max())


def _micros(at: dt.datetime) -> int:
    return int((at - EPOCH) // dt.timedelta(microseconds=1))


class Ledger:
    """What committed actions already spend and touch, by day and by any 7 days."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, ...], _Series] = defaultdict(_Series)
        self._runs: set[str] = set()

    @classmethod
    def of(cls, actions: Iterable[tuple[Candidate, bool]]) -> Ledger:
        """From committed actions and whether each is cleared to leave."""
        ledger = cls()
        entries: dict[tuple[str, ...], list[tuple[int, float]]] = defaultdict(list)
        for action, approved in actions:
            at = _micros(action.at)
            for key, amount in ledger._entries(action):
                entries[key].append((at, amount))
            if approved:
                ledger._runs.add(action.play)
        for key, found in entries.items():
            ledger._series[key] = _Series.of(found)
        return ledger

    def add(self, c: Candidate, *, approved: bool = True) -> None:
        """Take the action's spend and touches (it has been committed); `approved`: it is
        cleared to leave (queued or beyond), so its play has run."""
        for key, amount in self._entries(c):
            self._series[key].add(c.at, amount)
        if approved:
            self._runs.add(c.play)

    def remove(self, c: Candidate) -> None:
        """Give back what a committed action held (it was rejected, or it is being moved)."""
        for key, amount in self._entries(c):
            self._series[key].remove(c.at, amount)

    @staticmethod
    def _entries(c: Candidate) -> list[tuple[tuple[str, ...], float]]:
        spend = [("spend",), ("spend", "channel", c.channel), ("spend", "play", c.play),
                 ("spend", "account", c.account_id)]  # fmt: skip
        touches = [("touch", "account", c.account_id),
                   ("touch", "account", c.account_id, c.channel)]  # fmt: skip
        if c.contact_id and c.channel in PERSONAL:
            touches += [("touch", "contact", c.contact_id),
                        ("touch", "contact", c.contact_id, c.channel)]  # fmt: skip
        return [(key, c.cost) for key in spend] + [(key, 1.0) for key in touches]

    def mark_run(self, play: str) -> None:
        self._runs.add(play)

    def has_run(self, play: str) -> bool:
        return play in self._runs

    def day(self, *key: str, at: dt.datetime) -> float:
        found = self._series.get(key)
        return found.day(at) if found else 0.0

    def week(
        self, *key: str, at: dt.datetime, adding: float = 0.0, limit: float | None = None
    ) -> float:
        """The largest total of any 7 days that contain `at`. With `limit`: when even the
        total of the 7 days either side plus `adding` stays within it, that bound is returned
        instead (the exact worst window is then within the limit too, and costs more)."""
        found = self._series.get(key)
        if not found:
            return 0.0
        if limit is not None:
            bound = found.around(at)
            if bound + adding <= limit + 1e-9:
                return bound
        return found.worst_week(at)


def check(c: Candidate, ledger: Ledger, g: GuardrailSettings, *,
          enabled: Iterable[str] = ()) -> list[Verdict]:  # fmt: skip
    """Every rule's verdict on `c`; budgets and caps are judged at the time it would leave
    (after a quiet-hours deferral, when there is one)."""
    verdicts = [_enabled(c, set(enabled)), *_contact_rules(c, g)]
    quiet = _quiet_hours(c, g)
    verdicts.append(quiet)
    if quiet.until is not None:
        c = replace(c, at=quiet.until)
    verdicts += _budgets(c, ledger, g)
    verdicts += _caps(c, ledger, g)
    verdicts += _approvals(c, ledger, g)
    if c.channel in AUDIENCES:
        need = g.min_audience_size_by_channel.get(c.channel, g.min_audience_size)
        verdicts.append(Verdict("min_audience", "hold", f"the audience is pushed to the "
                                f"platform only once it has {need} members"))  # fmt: skip
    return verdicts


def move(
    c: Candidate,
    at: dt.datetime,
    ledger: Ledger,
    g: GuardrailSettings,
    *,
    approved: bool,
    enabled: Iterable[str] = (),
    held: bool = True,
) -> tuple[list[Verdict], Candidate | None]:
    """Re-check a committed action whose time changes (approved later than planned, held by
    quiet hours): its old reservation is given back and every rule judged again at the new
    time. Returns the verdicts and the action as now committed, or None when a rule blocks it
    there (it then holds nothing). Approval verdicts no longer stop it when `approved`."""
    if held:  # the ledger holds its old reservation (else the caller left it out)
        ledger.remove(c)
    moved = replace(c, at=at)
    verdicts = [v for v in check(moved, ledger, g, enabled=enabled)
                if not (approved and v.outcome == "approval")]  # fmt: skip
    status, until = settle(verdicts)
    if status == "blocked":
        return verdicts, None
    if until is not None:  # check() judged the limits at the end of quiet hours already
        moved = replace(moved, at=until)
    ledger.add(moved, approved=approved)
    return verdicts, moved


def settle(verdicts: list[Verdict]) -> tuple[str, dt.datetime | None]:
    """The status an action gets from its verdicts (blocked, pending_approval or queued) and
    the time it may leave at the earliest (None: as planned)."""
    if any(v.outcome == "block" for v in verdicts):
        return "blocked", None
    until = max((v.until for v in verdicts if v.until is not None), default=None)
    if any(v.outcome == "approval" for v in verdicts):
        return "pending_approval", until
    return "queued", until


def _enabled(c: Candidate, enabled: set[str]) -> Verdict:
    if enabled and c.channel not in enabled:
        return Verdict("channel_enabled", "block", f"channel {c.channel} is not enabled")
    return Verdict("channel_enabled", "pass", f"channel {c.channel} is enabled")


def do_not_contact(g: GuardrailSettings, email: str = "", domain: str = "",
                   account_id: str = "") -> str | None:  # fmt: skip
    """The entry of `guardrails.do_not_contact` (an address, an @domain or an account ID) that
    covers this person or account, or None."""
    listed = {x.strip().lower() for x in g.do_not_contact}
    email = email.lower()
    keys = (email, f"@{email.rpartition('@')[2]}" if email else "",
            f"@{domain.lower()}" if domain else "", account_id.lower())  # fmt: skip
    return next((x for x in keys if x and x in listed), None)


def needs_consent(country: str | None, g: GuardrailSettings) -> bool:
    """Whether opt-in rules (`require_consent_regions`) apply where the person is."""
    return region_of(country) in {r.upper() for r in g.require_consent_regions}


def _contact_rules(c: Candidate, g: GuardrailSettings) -> list[Verdict]:
    out: list[Verdict] = []
    hit = do_not_contact(g, c.email, c.domain, c.account_id)
    out.append(
        Verdict("do_not_contact", "block", f"{hit} is on the do-not-contact list")
        if hit
        else Verdict("do_not_contact", "pass", "not on the do-not-contact list")
    )
    blocked = {country_code(x) or x.upper() for x in g.blocked_countries}
    code = country_code(c.country)
    out.append(
        Verdict("region", "block", f"country {code} is blocked")
        if code and code in blocked
        else Verdict("region", "pass", f"country {code or 'unknown'} is not blocked")
    )
    if c.channel not in MESSAGES:
        return out
    if not c.email:
        out.append(Verdict("email_address", "block", "no e-mail address"))
    if c.opted_out:
        out.append(Verdict("unsubscribe", "block", f"{c.email} has opted out of e-mail"))
    else:
        out.append(Verdict("unsubscribe", "pass", "has not opted out"))
    region = region_of(c.country)
    if needs_consent(c.country, g) and c.consent is not True:
        out.append(Verdict("consent", "block", f"{region} needs recorded consent "
                           f"({g.consent_attribute}) and there is none"))  # fmt: skip
    else:
        out.append(Verdict("consent", "pass", "consent recorded" if c.consent else
                           f"region {region or 'unknown'} does not require opt-in"))  # fmt: skip
    return out


def quiet_until(at: dt.datetime, zones: list[ZoneInfo], quiet: str,
                weekends: bool) -> dt.datetime | None:  # fmt: skip
    """The first moment at or after `at` (UTC, naive) outside quiet hours (and weekends) in
    every one of `zones`, or None when `at` is already outside them."""
    moved = at
    for _ in range(8):
        later = [u for zone in zones if (u := _quiet_until(moved, zone, quiet, weekends))]
        if not later:
            break
        moved = max(later)
    return None if moved == at else moved


def _quiet_until(at: dt.datetime, zone: ZoneInfo, quiet: str, weekends: bool) -> dt.datetime | None:
    start_s, end_s = quiet.split("-")
    start, end = dt.time.fromisoformat(start_s), dt.time.fromisoformat(end_s)
    local = moved = at.replace(tzinfo=dt.UTC).astimezone(zone)
    for _ in range(8):  # at most: the evening, then Saturday and Sunday mornings
        if not _quiet(moved, start, end, weekends):
            break
        ends = dt.datetime.combine(moved.date(), end, tzinfo=zone)
        moved = ends if ends > moved else ends + dt.timedelta(days=1)
    if moved == local:
        return None
    return moved.astimezone(dt.UTC).replace(tzinfo=None)


def _quiet(local: dt.datetime, start: dt.time, end: dt.time, weekends: bool) -> bool:
    t = local.time()
    inside = (t >= start or t < end) if start > end else (start <= t < end)
    return inside or (weekends and local.weekday() >= 5)


def _quiet_hours(c: Candidate, g: GuardrailSettings) -> Verdict:
    if c.channel not in MESSAGES:
        return Verdict("quiet_hours", "pass", f"{c.channel} does not reach an inbox")
    zones = _zones(c, g)
    where = " and ".join(z.key for z in zones)
    until = quiet_until(c.at, zones, g.quiet_hours, g.quiet_weekends)
    if until is None:
        return Verdict("quiet_hours", "pass", f"outside quiet hours in {where}")
    return Verdict("quiet_hours", "defer", f"quiet hours {g.quiet_hours} in {where}: "
                   f"waits until {until:%Y-%m-%d %H:%M} UTC", until)  # fmt: skip


def _budget(rule: str, spent: float, cost: float, limit: float, what: str) -> Verdict:
    if cost > 0 and spent + cost > limit + 1e-9:
        return Verdict(rule, "block", f"{what}: ${spent:,.2f} committed + ${cost:,.2f} would "
                       f"pass the ${limit:,.2f} limit")  # fmt: skip
    return Verdict(rule, "pass", f"{what}: ${spent + cost:,.2f} of ${limit:,.2f}")


def _budgets(c: Candidate, ledger: Ledger, g: GuardrailSettings) -> list[Verdict]:
    at = c.at
    out = [_budget("budget_day", ledger.day("spend", at=at), c.cost, g.daily_budget, "day"),
           _budget("budget_week", ledger.week("spend", at=at, adding=c.cost,
                                              limit=g.weekly_budget), c.cost, g.weekly_budget,
                   "any 7 days (at most)"),
           _budget("budget_account_week", ledger.week("spend", "account", c.account_id, at=at),
                   c.cost, g.account_weekly_budget,
                   f"account {c.account_id}, any 7 days")]  # fmt: skip
    limits = [("budget_channel_day", g.channel_daily_budget, "channel", c.channel, "day"),
              ("budget_channel_week", g.channel_weekly_budget, "channel", c.channel, "week"),
              ("budget_play_day", g.play_daily_budget, "play", c.play, "day"),
              ("budget_play_week", g.play_weekly_budget, "play", c.play, "week")]  # fmt: skip
    for rule, table, scope, name, span in limits:
        if name in table:
            spent = (ledger.day("spend", scope, name, at=at) if span == "day" else
                     ledger.week("spend", scope, name, at=at, adding=c.cost,
                                 limit=table[name]))  # fmt: skip
            what = f"{scope} {name}, " + ("day" if span == "day" else "any 7 days")
            out.append(_budget(rule, spent, c.cost, table[name], what))
    return out


def _cap(rule: str, count: float, limit: int, what: str) -> Verdict:
    if count + 1 > limit:
        return Verdict(rule, "block", f"{what}: {count:.0f} in 7 days already, the cap is {limit}")
    return Verdict(rule, "pass", f"{what}: {count + 1:.0f} of {limit} in any 7 days")


def _caps(c: Candidate, ledger: Ledger, g: GuardrailSettings) -> list[Verdict]:
    at = c.at
    out = [_cap("cap_account", ledger.week("touch", "account", c.account_id, at=at),
                g.max_touches_per_account_week, f"account {c.account_id}")]  # fmt: skip
    limit = g.max_touches_per_account_channel_week.get(c.channel)
    if limit is not None:
        out.append(_cap("cap_account_channel",
                        ledger.week("touch", "account", c.account_id, c.channel, at=at), limit,
                        f"account {c.account_id} on {c.channel}"))  # fmt: skip
    if c.contact_id and c.channel in PERSONAL:
        out.append(_cap("cap_contact", ledger.week("touch", "contact", c.contact_id, at=at),
                        g.max_touches_per_contact_week, f"person {c.contact_id}"))  # fmt: skip
        limit = g.max_touches_per_contact_channel_week.get(c.channel)
        if limit is not None:
            out.append(_cap("cap_contact_channel",
                            ledger.week("touch", "contact", c.contact_id, c.channel, at=at),
                            limit, f"person {c.contact_id} on {c.channel}"))  # fmt: skip
    return out


def _approvals(c: Candidate, ledger: Ledger, g: GuardrailSettings) -> list[Verdict]:
    out = []
    if g.approval_for_tier1 and c.tier == 1:
        out.append(Verdict("approval_tier1", "approval", "Tier 1 account: a person approves"))
    if c.cost > g.approval_above_spend:
        out.append(Verdict("approval_spend", "approval", f"${c.cost:,.2f} is above the "
                           f"${g.approval_above_spend:,.2f} that needs approval"))  # fmt: skip
    if g.approval_first_run and c.play_requires_first_approval and not ledger.has_run(c.play):
        out.append(Verdict("approval_first_run", "approval",
                           f"first run of play {c.play}: a person approves"))  # fmt: skip
    if not out:
        out.append(Verdict("approval", "pass", "no approval needed"))
    return out
