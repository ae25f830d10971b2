"""Clusters of similar Tier 2 accounts, each with a label a marketer can read.

Tier 2 is run one-to-few: one play per group of similar accounts. The accounts are described by
industry, size band, region, technologies and surging intent topics (one-hot), and grouped with
k-means (scikit-learn; `tiers.tier2_clusters` groups, fewer when there are fewer than five
accounts per group). Each cluster is labelled by the traits its members share, e.g.
"Technology · 1k–5k employees · Snowflake" (its industry, size band, up to two technologies,
else a topic its members research), and numbered by size. largest first.
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
        return "unknown"
    for limit, band in ((200, "<200"), (1000, "200–1k"), (5000, "1k–5k")):
        if employees < limit:
            return f"{band} employees"
    return "5k+ employees"


def _traits(frame: pd.DataFrame) -> pd.DataFrame:
    """One-hot traits per account, named `kind:value`: industry, size band, country (weight ½),
    technologies, surging intent topics (weight ½: intent comes and goes, a company stays)."""

    def one_hot(values: pd.Series, kind: str, weight: float = 1.0) -> pd.DataFrame:
        return pd.get_dummies(values, prefix=kind, prefix_sep=":").astype(float) * weight

    def many_hot(values: pd.Series, sep: str, kind: str, weight: float = 1.0) -> pd.DataFrame:
        hot = values.fillna("").str.get_dummies(sep=sep)
        hot.columns = [c.strip() for c in hot.columns]
        hot = hot.loc[:, [c != "" for c in hot.columns]]
        hot = hot.T.groupby(level=0).max().T  # the same name after stripping: one trait
        return hot.add_prefix(f"{kind}:").astype(float) * weight

    topics = frame["top_topics"].fillna("").str.replace(r" \(\d+\)", "", regex=True)
    parts = [one_hot(frame["industry"].fillna("unknown"), "industry"),
             one_hot(frame["employees"].map(size_band), "size"),
             one_hot(frame["country"].fillna("unknown"), "country", 0.5),
             many_hot(frame["technologies"], ";", "tech"),
             many_hot(topics, ",", "intent", 0.5)]  # fmt: skip
    return pd.concat(parts, axis=1).reindex(frame.index).fillna(0.0)


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
    """What at least half the members share: their industry, size band, up to two
    technologies, else a topic they research, else their country."""
    share = (members > 0).mean()
    common = [t for t in share.sort_values(ascending=False, kind="stable").index
              if share[t] >= SHARED and not t.endswith(":unknown")]  # fmt: skip

    def of(kind: str, most: int = 1) -> list[str]:
        return [t.split(":", 1)[1] for t in common if t.startswith(f"{kind}:")][:most]

    picked = of("industry") + of("size") + of("tech", 2)
    if len(picked) < 3:
        picked += [f"researching {t}" for t in of("intent")]
    if len(picked) < 2:
        picked += of("country")
    return " · ".join(picked) if picked else "mixed"
