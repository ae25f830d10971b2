"""Companies of the market: firmographics, technographics, names, domains and IP blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import catalog as cat
from .config import MarketConfig, rng_for
from .ids import salesforce_ids

IP_POOL_START = 20 << 24  # company blocks are allocated upward from 20.0.0.0


def build_accounts(cfg: MarketConfig) -> pd.DataFrame:
    """One row per company: export columns plus hidden ones (fit, propensity, segment)."""
    rng = rng_for(cfg, "accounts")
    n = cfg.accounts
    frame = pd.DataFrame({"Id": salesforce_ids("001", n)})
    _add_size_and_industry(frame, rng)
    _add_geography(frame, rng)
    _add_names_and_domains(frame, rng)
    _add_technographics(frame, rng)
    _add_hierarchy_and_owners(frame, rng, cfg)
    _add_hidden_fit(frame, rng, cfg)
    _add_ip_blocks(frame, rng)
    return frame


def segment_of(employees: np.ndarray) -> np.ndarray:
    """0 = SMB (<200), 1 = Mid-Market (200-999), 2 = Enterprise (>=1000 employees)."""
    return (employees >= cat.MID_MARKET_EMPLOYEES).astype(np.int8) + (
        employees >= cat.ENTERPRISE_EMPLOYEES
    ).astype(np.int8)


def _add_size_and_industry(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(frame)
    shares = np.array([row[1] for row in cat.INDUSTRIES])
    industry = rng.choice(len(cat.INDUSTRIES), size=n, p=shares / shares.sum())
    employees = np.clip(np.round(rng.lognormal(np.log(80), 1.7, n)), 2, 400_000).astype(np.int64)
    per_head = np.array([row[2] for row in cat.INDUSTRIES])[industry]
    revenue = employees * per_head * rng.lognormal(0.0, 0.4, n)
    frame["industry_code"] = industry.astype(np.int16)
    frame["Industry"] = np.array([row[0] for row in cat.INDUSTRIES], dtype=object)[industry]
    frame["NumberOfEmployees"] = employees
    frame["AnnualRevenue"] = (np.round(revenue / 1000) * 1000).astype(np.int64)
    frame["segment"] = segment_of(employees)


def _add_geography(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(frame)
    shares = np.array([row[1] for row in cat.COUNTRIES])
    country = rng.choice(len(cat.COUNTRIES), size=n, p=shares / shares.sum())
    cities = [(c, city) for c, row in enumerate(cat.COUNTRIES) for city in row[4]]
    first = np.cumsum([0] + [len(row[4]) for row in cat.COUNTRIES])
    sizes = np.diff(first)
    city = first[country] + (rng.random(n) * sizes[country]).astype(np.int64)
    frame["country_code"] = country.astype(np.int16)
    frame["BillingCity"] = np.array([c[1][0] for c in cities], dtype=object)[city]
    frame["BillingState"] = np.array([c[1][1] for c in cities], dtype=object)[city]
    frame["BillingCountry"] = np.array([r[0] for r in cat.COUNTRIES], dtype=object)[country]
    frame["metro"] = np.array([c[1][2] for c in cities], dtype=object)[city]


def _add_names_and_domains(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(frame)
    roots = np.array(cat.NAME_ROOTS, dtype=object)[rng.integers(0, len(cat.NAME_ROOTS), n)]
    tails = np.array(cat.NAME_TAILS, dtype=object)[rng.integers(0, len(cat.NAME_TAILS), n)]
    stem = pd.Series(roots + tails).str.capitalize()
    words = np.array([cat.INDUSTRY_WORDS[row[0]] for row in cat.INDUSTRIES], dtype=object)
    word = words[frame["industry_code"].to_numpy(), rng.integers(0, 5, n)]
    use_word = rng.random(n) < 0.55
    in_domain = use_word & (rng.random(n) < 0.5)
    label = stem.str.lower() + np.where(in_domain, pd.Series(word).str.lower(), "")
    tld = _top_level_domains(frame, rng)
    dup = pd.Series(label + "." + tld).groupby(label + "." + tld).cumcount().to_numpy()
    extra = np.where(dup > 0, np.array(cat.DEDUPE_WORDS, dtype=object)[(dup - 1) % 10], "")
    extra = extra + np.where(dup > 10, pd.Series(dup // 10).astype(str), "")
    label = label + pd.Series(extra).str.lower()
    label, clash = _make_unique(label, tld)
    domain = label + "." + tld
    legal = _legal_suffixes(frame, rng)
    name = stem + np.where(use_word, " " + word, "") + np.where(dup > 0, " " + extra, "")
    name = name + np.where(clash > 0, " " + pd.Series(clash + 1).astype(str), "")
    frame["Name"] = (name + " " + legal).to_numpy()
    frame["domain"] = domain.to_numpy()
    frame["Website"] = _websites(domain, rng)


def _make_unique(label: pd.Series, tld: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Append a number to labels whose domain is still taken; returns labels and the numbers."""
    clash = np.zeros(len(label), dtype=np.int64)
    for _ in range(10):
        domain = label + "." + tld
        dup = domain.groupby(domain).cumcount().to_numpy()
        if not dup.any():
            break
        clash = np.where(dup > 0, clash + dup + 1, clash)
        label = label + np.where(dup > 0, pd.Series(dup + 1).astype(str), "")
    return label, clash


def _top_level_domains(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    country_tld = np.array([row[3] for row in cat.COUNTRIES], dtype=object)
    tld = country_tld[frame["country_code"].to_numpy()]
    draw = rng.random(len(frame))
    tld = np.where((tld != "com") & (draw < 0.4), "com", tld)
    tech = frame["Industry"].to_numpy() == "Technology"
    tld = np.where(tech & (draw > 0.8), "io", tld)
    return np.where(~tech & (draw > 0.97), "co", tld)


def _legal_suffixes(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    options = [row[2] for row in cat.COUNTRIES]
    country = frame["country_code"].to_numpy()
    width = max(len(o) for o in options)
    table = np.array([[o[i % len(o)] for i in range(width)] for o in options], dtype=object)
    return table[country, rng.integers(0, width, len(frame))]


def _websites(domain: pd.Series, rng: np.random.Generator) -> np.ndarray:
    styles = np.array(["{}", "www.{}", "https://www.{}/", "http://{}", "https://{}", ""])
    pick = rng.choice(len(styles), size=len(domain), p=[0.35, 0.30, 0.20, 0.08, 0.04, 0.03])
    prefix = np.array(["", "www.", "https://www.", "http://", "https://", ""], dtype=object)
    suffix = np.array(["", "", "/", "", "", ""], dtype=object)
    site = prefix[pick] + domain.to_numpy() + suffix[pick]
    return np.where(pick == 5, "", site)


def _add_technographics(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(frame)
    size = np.log10(frame["NumberOfEmployees"].to_numpy())[:, None]
    base = np.array([t[1] for t in cat.TECHNOLOGIES])[None, :]
    boost = np.array([t[2] for t in cat.TECHNOLOGIES])[None, :]
    has = rng.random((n, len(cat.TECHNOLOGIES))) < np.clip(base + boost * (size - 2), 0.01, 0.95)
    bits = (has * (1 << np.arange(len(cat.TECHNOLOGIES)))).sum(axis=1)
    unique, inverse = np.unique(bits, return_inverse=True)
    names = [t[0] for t in cat.TECHNOLOGIES]
    text = np.array(
        [";".join(nm for i, nm in enumerate(names) if u >> i & 1) for u in unique], dtype=object
    )
    frame["Tech_Stack__c"] = text[inverse]
    affine = [names.index(t) for t in cat.SELLER_AFFINE_TECH]
    frame["tech_affinity"] = has[:, affine].mean(axis=1)
    stage = np.clip(np.round(size[:, 0] * 1.6 - 1.5 + rng.normal(0, 1.0, n)), 0, 7).astype(int)
    frame["Funding_Stage__c"] = np.array(cat.FUNDING_STAGES, dtype=object)[stage]


def _add_hierarchy_and_owners(
    frame: pd.DataFrame, rng: np.random.Generator, cfg: MarketConfig
) -> None:
    n = len(frame)
    big = np.flatnonzero(frame["segment"].to_numpy() == 2)
    parent = np.full(n, -1, dtype=np.int64)
    if len(big):
        child = (rng.random(n) < 0.035) & (frame["segment"].to_numpy() < 2)
        parent[child] = big[rng.integers(0, len(big), child.sum())]
    frame["parent_index"] = parent
    frame["ParentId"] = np.where(parent >= 0, frame["Id"].to_numpy()[np.maximum(parent, 0)], "")
    owners = salesforce_ids("005", cfg.sales_owners)
    frame["OwnerId"] = owners[rng.integers(0, cfg.sales_owners, n)]


def _add_hidden_fit(frame: pd.DataFrame, rng: np.random.Generator, cfg: MarketConfig) -> None:
    n = len(frame)
    industry_fit = np.array([row[3] for row in cat.INDUSTRIES])[frame["industry_code"].to_numpy()]
    size = np.clip((np.log10(frame["NumberOfEmployees"].to_numpy()) - 1) / 3, 0, 1)
    fit = 0.45 * industry_fit + 0.3 * frame["tech_affinity"].to_numpy() * 2 + 0.25 * size
    frame["fit"] = np.clip(fit, 0, 1)
    logit = 4 * (frame["fit"].to_numpy() - 0.45) + rng.normal(0, 0.7, n)
    frame["propensity"] = 1 / (1 + np.exp(-logit))
    frame["was_customer"] = rng.random(n) < cfg.customer_share * 2 * frame["fit"].to_numpy()
    weight = frame["fit"].to_numpy() + 0.2
    frame["is_targeted"] = rng.random(n) < cfg.targeted_share * weight / weight.mean()


def _add_ip_blocks(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    employees = frame["NumberOfEmployees"].to_numpy()
    size = np.where(employees >= 10_000, 4096, np.where(employees >= 1000, 1024, 256))
    has_block = rng.random(len(frame)) < 0.92
    size = np.where(has_block, size, 0)
    start = IP_POOL_START + np.concatenate([[0], np.cumsum(size)[:-1]])
    frame["ip_start"] = start.astype(np.int64)
    frame["ip_size"] = size.astype(np.int64)
