"""Clusters of similar Tier 2 accounts, each with a label a marketer can read.

Tier 2 is run one-to-few: one play per group of similar accounts. The accounts are described by
industry, size band, region, technologies and surging intent topics (one-hot), and grouped with
k-means (scikit-learn; `tiers.tier2_clusters` groups, fewer when there are fewer than five
accounts per group). Each cluster is labelled by the traits its members share, e.g.
"Technology · 1k–5k employees · Snowflake", and numbered by size, largest first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.cluster import KMeans

from abmkit.config.settings import Settings

MIN_PER_CLUSTER = 5
SHARED = 0.5  # a trait names a cluster when at least half its members have it


def size_band(employees: float | None) -> str:
    if employees is None or pd.isna(employees):
        return "size unknown"
    for limit, band in ((200, "<200"), (1000, "200–1k"), (5000, "1k–5k")):
        if employees < limit:
            return f"{band} employees"
    return "5k+ employees"


def _traits(frame: pd.DataFrame) -> pd.DataFrame:
    """One-hot traits per account: industry, size band, country, technologies, topics."""
    parts = [
        pd.get_dummies(frame["industry"].fillna("industry unknown"), prefix="", prefix_sep=""),
        pd.get_dummies(frame["employees"].map(size_band), prefix="", prefix_sep=""),
        pd.get_dummies(frame["country"].fillna("country unknown"), prefix="", prefix_sep="")
        * 0.5,
        frame["technologies"].fillna("").str.get_dummies(sep=";"),
        frame["top_topics"].fillna("").str.replace(r" \(\d+\)", "", regex=True)
        .str.get_dummies(sep=", ").add_prefix("intent: ") * 0.5,
    ]  # fmt: skip
    traits = pd.concat(parts, axis=1).astype(float)
    return traits.loc[:, ~traits.columns.duplicated()]


def cluster_accounts(frame: pd.DataFrame, settings: Settings) -> pa.Table:
    """(account_id, cluster, cluster_label) for the accounts of `frame` (account_id, industry,
    employees, country, technologies, top_topics)."""
    n = len(frame)
    k = max(1, min(settings.tiers.tier2_clusters, n // MIN_PER_CLUSTER))
    empty = pa.table({"account_id": pa.array([], pa.string()), "cluster": pa.array([], pa.int64()),
                      "cluster_label": pa.array([], pa.string())})  # fmt: skip
    if n == 0:
        return empty
    frame = frame.sort_values("account_id").reset_index(drop=True)
    traits = _traits(frame)
    k = min(k, len(traits.drop_duplicates()))  # never more groups than distinct accounts
    if k == 1:
        groups = np.zeros(n, dtype=int)
    else:
        groups = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(traits.to_numpy())
    sizes = pd.Series(groups).value_counts()
    labels = {g: _label(traits[groups == g]) for g in sizes.index}
    order = sorted(sizes.index, key=lambda g: (-sizes[g], labels[g]))
    number = {g: i + 1 for i, g in enumerate(order)}
    return pa.table({
        "account_id": pa.array(frame["account_id"].tolist(), pa.string()),
        "cluster": pa.array([number[g] for g in groups], pa.int64()),
        "cluster_label": pa.array([labels[g] for g in groups], pa.string()),
    })  # fmt: skip


def _label(members: pd.DataFrame) -> str:
    """The traits most members share, most common first: up to an industry, a size band and
    two technologies or topics."""
    share = (members > 0).mean().sort_values(ascending=False)
    common = [t for t, s in share.items() if s >= SHARED and "unknown" not in t]
    bands = [t for t in common if t.endswith("employees") or t == "size unknown"]
    others = [t for t in common if t not in bands]
    picked = others[:1] + bands[:1] + others[1:3]
    return " · ".join(picked) if picked else f"mixed ({share.index[0]} most common)"
