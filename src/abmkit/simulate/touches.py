"""Marketing and sales touches of one week, drawn with the shared response model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .response import sample_chain
from .states import EVALUATING, RESEARCHING
from .world import World

CHANNELS = ["linkedin", "google", "meta", "display", "email", "events", "direct_mail", "sales"]
KINDS = [
    "ad_impression",
    "ad_click",
    "email_sent",
    "email_open",
    "email_click",
    "email_reply",
    "meeting",
    "call",
    "event",
    "direct_mail",
    "form_fill",
]
AD_RATE = {"linkedin": 3.0, "display": 3.0, "meta": 1.0, "google": 1.0}
"""Ad impression rows per targeted account per week (x2 for enterprise), before touch_scale."""
CPM = {"linkedin": 35.0, "display": 4.0, "meta": 12.0, "google": 0.0}
GOOGLE_CPC = 6.5
EVENT_COST, DIRECT_MAIL_COST = 150.0, 60.0
NURTURE_SENDS, SEQUENCE_SENDS, CALLS = 0.5, 1.0, 0.5
"""Weekly sends per nurtured contact, sequence e-mails and calls per worked committee member."""
DAY = 86_400


@dataclass
class Touches:
    """Column arrays of touches (ts in epoch seconds, -1 = no contact, NaN = no cost)."""

    ts: list[np.ndarray] = field(default_factory=list)
    account: list[np.ndarray] = field(default_factory=list)
    contact: list[np.ndarray] = field(default_factory=list)
    channel: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    cost: list[np.ndarray] = field(default_factory=list)

    def add(self, ts, account, contact, channel, kind, cost=np.nan) -> None:
        n = len(ts)
        self.ts.append(np.asarray(ts, np.int64))
        self.account.append(np.asarray(account, np.int64))
        self.contact.append(np.broadcast_to(np.asarray(contact, np.int64), (n,)))
        self.channel.append(np.broadcast_to(np.asarray(channel, np.int8), (n,)))
        self.kind.append(np.full(n, KINDS.index(kind), np.int8))
        self.cost.append(np.broadcast_to(np.asarray(cost, np.float64), (n,)))

    def columns(self) -> dict[str, np.ndarray]:
        """Concatenated columns, sorted by timestamp (stable)."""
        cols = {k: np.concatenate(v) if v else np.empty(0) for k, v in vars(self).items()}
        order = np.argsort(cols["ts"], kind="stable")
        return {k: v[order] for k, v in cols.items()}


@dataclass
class Fatigue:
    """Exposures in the previous week per account (ads) and per contact (e-mail, sales)."""

    ads: dict[str, np.ndarray]
    email: np.ndarray
    sales: np.ndarray

    @classmethod
    def empty(cls, world: World) -> Fatigue:
        n, m = len(world.accounts), len(world.contacts)
        return cls(
            {c: np.zeros(n, np.int64) for c in AD_RATE},
            np.zeros(m, np.int64),
            np.zeros(m, np.int64),
        )


def random_times(rng: np.random.Generator, n: int, start_s: int, days: int) -> np.ndarray:
    """Timestamps within [start, start + days), weighted to business hours (UTC)."""
    day = rng.integers(0, days, n)
    hour = np.clip(rng.normal(15, 3.5, n), 0, 23.99)
    return start_s + day * DAY + (hour * 3600).astype(np.int64)


def ranked_exposures(owner: np.ndarray, ts: np.ndarray, previous: np.ndarray):
    """Sort exposures by (owner, time); prior exposures = last week's + earlier this week."""
    order = np.lexsort((ts, owner))
    owner, ts = owner[order], ts[order]
    first = np.searchsorted(owner, owner, side="left")
    prior = previous[owner] + np.arange(len(owner)) - first
    return owner, ts, prior


def week_touches(
    world: World, week: int, start_s: int, days: int, fatigue: Fatigue, rng: np.random.Generator
) -> tuple[Touches, np.ndarray]:
    """All marketing/sales touches of one week; also returns ad clicks (account, ts, channel)."""
    out = Touches()
    state = world.week_state(week)
    clicks = _ads(world, state, start_s, days, fatigue, rng, out)
    _emails(world, state, start_s, days, fatigue, rng, out)
    _calls(world, state, start_s, days, fatigue, rng, out)
    _events_and_mail(world, week, state, start_s, days, rng, out)
    return out, clicks


def _ads(world, state, start_s, days, fatigue, rng, out) -> np.ndarray:
    accounts = world.accounts
    targeted = np.flatnonzero(accounts["is_targeted"].to_numpy())
    boost = np.where(accounts["segment"].to_numpy()[targeted] == 2, 2.0, 1.0)
    clicks = []
    for name, rate in AD_RATE.items():
        count = rng.poisson(rate * world.cfg.touch_scale * boost)
        owner = np.repeat(targeted, count)
        ts = random_times(rng, len(owner), start_s, days)
        owner, ts, prior = ranked_exposures(owner, ts, fatigue.ads[name])
        fatigue.ads[name] = np.bincount(owner, minlength=len(accounts))
        code = CHANNELS.index(name)
        channel = np.full(len(owner), name, dtype=object)
        hit = sample_chain("ad_impression", channel, state[owner], prior, rng)
        out.add(ts, owner, -1, code, "ad_impression", CPM[name] / 1000 if CPM[name] else np.nan)
        click = hit["ad_click"]
        click_ts = ts[click] + rng.integers(1, 30, click.sum())
        out.add(
            click_ts, owner[click], -1, code, "ad_click", GOOGLE_CPC if name == "google" else np.nan
        )
        form = hit["form_fill"]
        lead = world.random_contact(owner[form], rng, committee_only=True)
        out.add(ts[form] + 120, owner[form], lead, code, "form_fill")
        clicks.append(np.stack([owner[click], click_ts, np.full(click.sum(), code)], axis=1))
    return np.concatenate(clicks)


def _send(world, kind, code, contact, ts, prior, state, rng, out, cost=np.nan) -> None:
    """Write exposures and their sampled responses (opens, clicks, replies, meetings)."""
    account = world.contacts["account_index"].to_numpy()[contact]
    out.add(ts, account, contact, code, kind, cost)
    channel = np.full(len(contact), CHANNELS[code], dtype=object)
    hit = sample_chain(kind, channel, state[account], prior, rng)
    delay = ts + rng.exponential(6 * 3600, len(ts)).astype(np.int64)
    for outcome, lag in (
        ("email_open", 0),
        ("email_click", 90),
        ("email_reply", 3600),
        ("meeting", 2 * DAY),
    ):
        if outcome in hit:
            mask = hit[outcome]
            out.add(delay[mask] + lag, account[mask], contact[mask], code, outcome)


def _emails(world, state, start_s, days, fatigue, rng, out) -> None:
    contacts = world.contacts
    nurtured = np.flatnonzero(contacts["in_nurture"].to_numpy())
    count = rng.poisson(NURTURE_SENDS * world.cfg.touch_scale, len(nurtured))
    owner = np.repeat(nurtured, count)
    owner, ts, prior = ranked_exposures(
        owner, random_times(rng, len(owner), start_s, days), fatigue.email
    )
    fatigue.email = np.bincount(owner, minlength=len(contacts))
    _send(world, "email_sent", CHANNELS.index("email"), owner, ts, prior, state, rng, out)
    worked = _worked_contacts(world, state, rng, contacts["HasOptedOutOfEmail"].to_numpy())
    count = rng.poisson(SEQUENCE_SENDS * world.cfg.touch_scale, len(worked))
    owner = np.repeat(worked, count)
    owner, ts, prior = ranked_exposures(
        owner, random_times(rng, len(owner), start_s, days), fatigue.sales
    )
    _send(world, "email_sent", CHANNELS.index("sales"), owner, ts, prior, state, rng, out)
    fatigue.sales = np.bincount(owner, minlength=len(contacts))


def _worked_contacts(world, state, rng, excluded) -> np.ndarray:
    """Committee members of accounts sales works this week (mostly evaluating or buying)."""
    accounts = world.accounts
    worked = ((state >= EVALUATING) & (rng.random(len(state)) < 0.5)) | (
        accounts["is_targeted"].to_numpy() & (rng.random(len(state)) < 0.01)
    )
    contacts = world.contacts
    mask = worked[contacts["account_index"].to_numpy()] & contacts["is_committee"].to_numpy()
    return np.flatnonzero(mask & ~excluded)


def _calls(world, state, start_s, days, fatigue, rng, out) -> None:
    worked = _worked_contacts(world, state, rng, world.contacts["DoNotCall"].to_numpy())
    owner = np.repeat(worked, rng.poisson(CALLS * world.cfg.touch_scale, len(worked)))
    ts = random_times(rng, len(owner), start_s, days)
    prior = fatigue.sales[owner]
    _send(world, "call", CHANNELS.index("sales"), owner, ts, prior, state, rng, out)


def _events_and_mail(world, week, state, start_s, days, rng, out) -> None:
    accounts, contacts = world.accounts, world.contacts
    account_of = contacts["account_index"].to_numpy()
    if week % 4 == 1:
        lift = 1 + state[account_of]
        p = 0.01 * lift * world.cfg.touch_scale * accounts["is_targeted"].to_numpy()[account_of]
        who = np.flatnonzero(rng.random(len(contacts)) < p)
        ts = random_times(rng, len(who), start_s, days)
        _send(
            world,
            "event",
            CHANNELS.index("events"),
            who,
            ts,
            np.zeros(len(who), np.int64),
            state,
            rng,
            out,
            EVENT_COST,
        )
    eligible = (
        accounts["is_targeted"].to_numpy()
        & (accounts["segment"].to_numpy() == 2)
        & (state >= RESEARCHING)
    )
    chosen = np.flatnonzero(eligible & (rng.random(len(state)) < 0.05 * world.cfg.touch_scale))
    who = world.contact_start[chosen]
    ts = random_times(rng, len(who), start_s, days)
    _send(
        world,
        "direct_mail",
        CHANNELS.index("direct_mail"),
        who,
        ts,
        np.zeros(len(who), np.int64),
        state,
        rng,
        out,
        DIRECT_MAIL_COST,
    )
