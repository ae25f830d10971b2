"""Contacts of each company and the hidden buying committee they belong to."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import catalog as cat
from .config import MarketConfig, rng_for
from .ids import salesforce_ids

# Committee size range per segment (SMB, Mid-Market, Enterprise); enterprise 6-10 is Gartner's.
COMMITTEE_SIZE = {0: (2, 4), 1: (3, 5), 2: (6, 10)}
TITLE_DEPARTMENT = {
    "CFO": "Finance",
    "SVP, Finance": "Finance",
    "Chief Marketing Officer": "Marketing",
    "CIO": "IT",
    "Chief Data Officer": "Data",
    "COO": "Operations",
    "Senior Data Engineer": "Data",
    "Director of Data Engineering": "Data",
    "Analytics Engineering Lead": "Data",
    "Data Analyst": "Data",
    "Sales Operations Analyst": "Sales",
    "VP, Revenue Operations": "Sales",
}


def committee_sizes(segment: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Buying-committee size per account, uniform within its segment's band."""
    low = np.array([COMMITTEE_SIZE[s][0] for s in range(3)])[segment]
    high = np.array([COMMITTEE_SIZE[s][1] for s in range(3)])[segment]
    return rng.integers(low, high + 1)


def build_contacts(cfg: MarketConfig, accounts: pd.DataFrame) -> pd.DataFrame:
    """One row per person: export columns plus hidden role, committee flag and nurture flag."""
    rng = rng_for(cfg, "contacts")
    committee = committee_sizes(accounts["segment"].to_numpy(), rng)
    accounts["committee_size"] = committee
    size = np.log10(accounts["NumberOfEmployees"].to_numpy())
    extra = np.minimum(rng.poisson(0.8 * size), 25)
    per_account = committee + extra
    account = np.repeat(np.arange(len(accounts)), per_account)
    starts = np.concatenate([[0], np.cumsum(per_account)[:-1]])
    position = np.arange(len(account)) - np.repeat(starts, per_account)
    frame = pd.DataFrame({"Id": salesforce_ids("003", len(account)), "account_index": account})
    frame["AccountId"] = accounts["Id"].to_numpy()[account]
    frame["is_committee"] = position < committee[account]
    roles = np.array(cat.COMMITTEE_ROLES, dtype=object)
    frame["role"] = np.where(frame["is_committee"], roles[np.minimum(position, 9)], "other")
    _add_titles(frame, rng)
    _add_names_and_emails(frame, accounts, rng)
    _add_consent(frame, accounts, rng, cfg)
    return frame


def _add_titles(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    role_names = list(cat.ROLE_TITLES)
    width = max(len(v[1]) for v in cat.ROLE_TITLES.values())
    titles = np.array(
        [[v[1][i % len(v[1])] for i in range(width)] for v in cat.ROLE_TITLES.values()],
        dtype=object,
    )
    role = pd.Series(frame["role"]).map({r: i for i, r in enumerate(role_names)}).to_numpy()
    pick = rng.integers(0, width, len(frame))
    other = role == role_names.index("other")
    pick = np.where(other, pick % len(cat.OTHER_DEPARTMENTS), pick)
    frame["Title"] = titles[role, pick]
    department = np.array([v[0] for v in cat.ROLE_TITLES.values()], dtype=object)[role]
    department = np.where(other, np.array(cat.OTHER_DEPARTMENTS, dtype=object)[pick], department)
    override = pd.Series(frame["Title"]).map(TITLE_DEPARTMENT).to_numpy()
    frame["Department"] = np.where(pd.isna(override), department, override)


def _add_names_and_emails(
    frame: pd.DataFrame, accounts: pd.DataFrame, rng: np.random.Generator
) -> None:
    n = len(frame)
    first = np.array(cat.FIRST_NAMES, dtype=object)[rng.integers(0, len(cat.FIRST_NAMES), n)]
    last = np.array(cat.LAST_NAMES, dtype=object)[rng.integers(0, len(cat.LAST_NAMES), n)]
    frame["FirstName"] = first
    frame["LastName"] = np.where(last == "OBrien", "O'Brien", last)
    f = pd.Series(first).str.lower()
    la = pd.Series(last).str.lower()
    pattern = rng.integers(0, 5, len(accounts))[frame["account_index"].to_numpy()]
    local = np.select(
        [pattern == 0, pattern == 1, pattern == 2, pattern == 3],
        [f + "." + la, f.str[0] + la, f, f + la.str[0]],
        f + "_" + la,
    )
    domain = accounts["domain"].to_numpy()[frame["account_index"].to_numpy()]
    free = rng.random(n) < 0.03
    free_domain = np.array(cat.FREE_MAIL, dtype=object)[rng.integers(0, len(cat.FREE_MAIL), n)]
    local = np.where(free, f + "." + la + pd.Series(rng.integers(1, 99, n)).astype(str), local)
    email = pd.Series(local + "@" + np.where(free, free_domain, domain))
    dup = email.groupby(email).cumcount().to_numpy()
    bump = pd.Series(dup + 1).astype(str)
    email = np.where(
        dup > 0, pd.Series(local) + bump + "@" + np.where(free, free_domain, domain), email
    )
    frame["Email"] = email


def _add_consent(
    frame: pd.DataFrame, accounts: pd.DataFrame, rng: np.random.Generator, cfg: MarketConfig
) -> None:
    n = len(frame)
    frame["HasOptedOutOfEmail"] = rng.random(n) < 0.04
    frame["DoNotCall"] = rng.random(n) < 0.06
    country = accounts["BillingCountry"].to_numpy()[frame["account_index"].to_numpy()]
    frame["MailingCountry"] = np.where(rng.random(n) < 0.95, country, "")
    targeted = accounts["is_targeted"].to_numpy()[frame["account_index"].to_numpy()]
    frame["in_nurture"] = (
        targeted & ~frame["HasOptedOutOfEmail"].to_numpy() & (rng.random(n) < cfg.nurture_share)
    )
