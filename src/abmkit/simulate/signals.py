"""Signals the hidden states emit: first-party web visits and Bombora-style weekly surges."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import catalog as cat
from .touches import CHANNELS, DAY
from .world import World

RESIDENTIAL = (100 << 24, 127 << 24)
"""Range of residential/noise visitor IPs (company blocks start at 20.0.0.0)."""
VISIT_LIFT = np.array([1.0, 3.0, 6.0, 8.0])
"""Web sessions multiplier by hidden state (dormant, researching, evaluating, buying)."""
SESSIONS_PER_WEEK = 0.12
NOISE_SHARE = 0.2
KNOWN_VISITOR_SHARE = 0.15
PAGES = {
    "home": ["/"],
    "product": ["/product", "/product/integrations", "/customers"],
    "blog": [
        "/blog/what-is-abm",
        "/blog/intent-data-guide",
        "/blog/buying-committees",
        "/blog/attribution-models",
        "/blog/lookalike-audiences",
    ],
    "docs": ["/docs/getting-started", "/docs/api", "/docs/connectors", "/docs/security"],
    "careers": ["/careers"],
    "pricing": ["/pricing"],
    "demo": ["/demo"],
    "compare": ["/compare/6sense", "/compare/demandbase", "/compare/terminus"],
}
# Page-category weights by hidden state; in-market accounts hit pricing/demo/compare more.
PAGE_WEIGHTS = np.array(
    [
        [0.22, 0.12, 0.35, 0.12, 0.09, 0.05, 0.02, 0.03],
        [0.15, 0.18, 0.27, 0.10, 0.03, 0.12, 0.05, 0.10],
        [0.10, 0.17, 0.15, 0.13, 0.02, 0.20, 0.10, 0.13],
        [0.08, 0.14, 0.08, 0.15, 0.01, 0.24, 0.18, 0.12],
    ]
)
REFERRERS = np.array(
    [
        "",
        "https://www.google.com/",
        "https://www.linkedin.com/",
        "https://www.bing.com/",
        "https://www.g2.com/",
        "https://news.ycombinator.com/",
    ],
    dtype=object,
)
AD_REFERRER = {
    "linkedin": "https://www.linkedin.com/",
    "google": "https://www.google.com/",
    "meta": "https://www.facebook.com/",
    "display": "https://ads.example-dsp.com/",
}


def page_urls(seller_domain: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat URL list, first index and size of each category, plus one landing page per ad."""
    base = f"https://www.{seller_domain}"
    urls = [base + p for pages in PAGES.values() for p in pages]
    sizes = np.array([len(p) for p in PAGES.values()])
    urls += [f"{base}/demo?utm_source={c}&utm_medium=paid" for c in CHANNELS[:4]]
    return np.array(urls, dtype=object), np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes


def week_visits(
    world: World,
    week: int,
    start_s: int,
    days: int,
    clicks: np.ndarray,
    rng: np.random.Generator,
    state: np.ndarray | None = None,
    share: float = 1.0,
) -> dict[str, np.ndarray]:
    """Page views of one week, spread over `days` days from start_s: organic sessions, ad-click
    sessions, residential noise. `state`: the hidden states to draw from (default: the history's
    for that week; the rehearsal passes its own); `share`: the part of a week's sessions to draw
    (the rehearsal draws one day at a time: 1/7)."""
    accounts = world.accounts
    state = world.week_state(week) if state is None else state
    size = 1 + np.log10(accounts["NumberOfEmployees"].to_numpy()) / 2
    rate = SESSIONS_PER_WEEK * size * VISIT_LIFT[state] + 0.3 * accounts["was_customer"].to_numpy()
    rate = rate * share
    organic = np.repeat(np.arange(len(accounts)), rng.poisson(rate * world.cfg.touch_scale))
    noise = rng.poisson(NOISE_SHARE / (1 - NOISE_SHARE) * (len(organic) + len(clicks)))
    account = np.concatenate([organic, clicks[:, 0], np.full(noise, -1)])
    n_ad = len(clicks)
    start = np.concatenate(
        [
            random_session_starts(rng, len(organic), start_s, days),
            clicks[:, 1],
            random_session_starts(rng, noise, start_s, days),
        ]
    )
    ad_channel = np.concatenate([np.full(len(organic), -1), clicks[:, 2], np.full(noise, -1)])
    referrer = REFERRERS[
        rng.choice(len(REFERRERS), len(account), p=[0.4, 0.3, 0.12, 0.08, 0.06, 0.04])
    ]
    ad_ref = np.array([AD_REFERRER[c] for c in CHANNELS[:4]], dtype=object)
    referrer[len(organic) : len(organic) + n_ad] = ad_ref[clicks[:, 2]] if n_ad else []
    return _expand_pages(world, rng, account, start, ad_channel, referrer, state)


def random_session_starts(rng: np.random.Generator, n: int, start_s: int, days: int):
    """Session start times in the week (any hour, peaking mid-afternoon UTC)."""
    hour = np.clip(rng.normal(15, 4, n), 0, 23.99)
    return start_s + rng.integers(0, days, n) * DAY + (hour * 3600).astype(np.int64)


def _expand_pages(world, rng, account, start, ad_channel, referrer, state):
    known = (account >= 0) & (rng.random(len(account)) < KNOWN_VISITOR_SHARE)
    contact = np.full(len(account), -1, np.int64)
    contact[known] = world.random_contact(account[known], rng)
    session_state = np.where(account >= 0, state[np.maximum(account, 0)], 0)
    pages = 1 + rng.poisson(1.2 + 0.3 * session_state)
    session = np.repeat(np.arange(len(account)), pages)
    first = np.concatenate([[0], np.cumsum(pages)[:-1]])
    step = np.arange(len(session)) - np.repeat(first, pages)
    gaps = rng.integers(20, 240, len(session)) * (step > 0)
    ts = np.repeat(start, pages) + _cumsum_by_session(gaps, first, pages)
    urls, cat_first, cat_size = page_urls(world.cfg.seller_domain)
    page_cat = _choose_rows(PAGE_WEIGHTS[session_state[session]], rng)
    url = cat_first[page_cat] + (rng.random(len(session)) * cat_size[page_cat]).astype(np.int64)
    landing = (step == 0) & (ad_channel[session] >= 0)
    url[landing] = len(urls) - 4 + ad_channel[session][landing]
    url_text = urls[url]
    ref = np.where(step == 0, referrer[session], np.roll(url_text, 1))
    acct = account[session]
    return {
        "ts": ts,
        "ip": _visitor_ips(world, rng, acct),
        "contact": contact[session],
        "url": url_text,
        "referrer": ref,
        "session": rng.integers(1 << 40, 1 << 52, len(account))[session],
    }


def _cumsum_by_session(values: np.ndarray, first: np.ndarray, pages: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    before = np.repeat(total[first] - values[first], pages)
    return total - before


def _choose_rows(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise categorical draw from a (n, k) matrix of probabilities."""
    cumulative = np.cumsum(weights, axis=1)
    draw = rng.random(len(weights))[:, None] * cumulative[:, -1:]
    return np.minimum((draw > cumulative).sum(axis=1), weights.shape[1] - 1)


def _visitor_ips(world: World, rng: np.random.Generator, account: np.ndarray) -> np.ndarray:
    size = np.where(account >= 0, world.accounts["ip_size"].to_numpy()[np.maximum(account, 0)], 0)
    base = world.accounts["ip_start"].to_numpy()[np.maximum(account, 0)]
    office = base + (rng.random(len(account)) * size).astype(np.int64)
    home = rng.integers(*RESIDENTIAL, len(account))
    remote = rng.random(len(account)) < 0.1
    return np.where((size > 0) & ~remote, office, home)


def week_intent(
    world: World, week: int, rng: np.random.Generator, state: np.ndarray | None = None
) -> pd.DataFrame:
    """Bombora Master Surge rows of one week (account index, topic index, composite score);
    `state` as in week_visits."""
    n = len(world.accounts)
    state = world.week_state(week) if state is None else state
    topics = [t for ts in cat.TOPIC_CATEGORIES.values() for t in ts]
    relevant = np.array([topics.index(t) for t in cat.RELEVANT_TOPICS])
    covered = np.flatnonzero(rng.random(n) < world.cfg.intent_coverage)
    noise_acct = np.repeat(covered, rng.poisson(1.0, len(covered)))
    noise_topic = rng.integers(0, len(topics), len(noise_acct))
    noise_score = rng.normal(47, 8, len(noise_acct))
    active = np.flatnonzero(state > 0)
    hot_acct = np.repeat(active, 1 + rng.poisson(1.0 + state[active]))
    hot_topic = relevant[rng.integers(0, len(relevant), len(hot_acct))]
    hot_score = rng.normal(58 + 6 * state[hot_acct], 7)
    frame = pd.DataFrame(
        {
            "account": np.concatenate([noise_acct, hot_acct]),
            "topic": np.concatenate([noise_topic, hot_topic]),
            "score": np.clip(np.round(np.concatenate([noise_score, hot_score])), 0, 100).astype(
                int
            ),
        }
    )
    frame = frame.sort_values("score", ascending=False, kind="stable")
    frame = frame.drop_duplicates(["account", "topic"]).sort_values(["account", "topic"])
    return frame[frame["score"] >= 40].reset_index(drop=True)
