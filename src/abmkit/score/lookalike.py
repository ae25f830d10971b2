"""Lookalike: how much each account looks like the closed-won customers, with its top reasons.

A second fit score, learned instead of written down: a logistic regression (scikit-learn, L2,
balanced class weights, standardized features) tells the **customers** (accounts with a
closed-won opportunity) from every other account, on firmographics only: industry and country
(one column per value; values of fewer than MIN_CATEGORY accounts share an `other` column, a
missing value is its own `unknown`), log employees and log revenue (a missing one is filled with
the median and flagged by a column of its own), and the `icp.lookalike_technologies` most common
technologies (yes/no each, plus "technologies unknown"). ICP exclusions play no part here.

**The score** (`lookalike`, 0–100) is a percentile rank among all accounts, the vendors' "fit
grade" convention: 90 means the account looks more like the customers than 90% of accounts do.
Each account is ranked by a model that never saw its own label (out-of-fold predictions of a
stratified 5-fold cross-validation), so a customer does not score high for having been trained
on; the same predictions give the cross-validated AUC (0.5 = chance, 1 = perfect), reported with
the scores and warned about below WEAK_AUC.

**The reasons** come from the model fitted on every account: a factor's contribution is
Σ coefficient × standardized value over its columns, i.e. how far the factor moves the
account's log-odds from those of the average account. `points` puts it on a 0–100 scale: 100
points is the distance between the 5th and the 95th percentile account, so "+12" means the
factor alone moves the account 12% of the way from a bottom-5% to a top-5% account. Each
account gets its TOP_REASONS factors by absolute points, largest first.

`icp.min_customers_for_lookalike` customers are needed to train at all (Demandbase asks for 50,
advises 100+; RollWorks 200): with fewer, nothing is scored and the note says why. Fixed folds
and samples make every run give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from abmkit.config.settings import Settings
from abmkit.score.fit import REASON_COLUMNS, compact_number
from abmkit.warehouse.engine import Warehouse

FOLDS = 5
TOP_REASONS = 3
MIN_CATEGORY = 5
"""Accounts an industry or country needs for a column of its own; rarer ones share `other`."""
MAX_CATEGORIES = 30
MAX_OTHERS = 20_000
"""Most non-customers one model is trained on (a fixed random sample when there are more)."""
WEAK_AUC = 0.6
"""Below this cross-validated AUC the note warns that the score barely tells customers apart."""


@dataclass(frozen=True)
class Lookalike:
    """Scores (account_id, lookalike 0–100) and reasons (REASON_COLUMNS, score='lookalike'),
    or None when not trained; the customers it learned from, why it was not trained or is weak
    (`note`), and its cross-validated AUC."""

    scores: pa.Table | None
    reasons: pa.Table | None
    customers: int
    note: str | None = None
    auc: float | None = None


@dataclass(frozen=True)
class Category:
    """Industry or country: the distinct values and each account's value (index), the buckets
    that get a column and each account's bucket."""

    labels: np.ndarray
    codes: np.ndarray
    names: np.ndarray
    bucket: np.ndarray


@dataclass(frozen=True)
class Design:
    """The feature matrix (accounts × columns), each factor's columns, the technologies and
    which accounts use them (accounts × technologies), the industries and countries."""

    x: np.ndarray
    groups: dict[str, list[int]]
    technologies: list[str]
    uses: np.ndarray
    categories: dict[str, Category]


def customers(wh: Warehouse) -> ir.Table:
    """(account_id) of every account with at least one closed-won opportunity."""
    o = wh.table("opportunities")
    won = o.is_won.fill_null(False) & o.is_closed.fill_null(False) & o.account_id.notnull()
    return o.filter(won).select("account_id").distinct()


def lookalike_scores(wh: Warehouse, settings: Settings) -> Lookalike:
    """Train the lookalike model on the customers vs every other account and score them all."""
    return train_lookalike(lookalike_accounts(wh), settings)


def train_lookalike(frame: pa.Table, settings: Settings) -> Lookalike:
    """`lookalike_scores` on the rows `lookalike_accounts` read: no warehouse, so a refresh can
    train it in a thread of its own while the engine computes the other scores."""
    y = frame["customer"].to_numpy()
    n_customers, need = int(y.sum()), settings.icp.min_customers_for_lookalike
    if n_customers < need:
        return Lookalike(None, None, n_customers, f"lookalike not trained: {n_customers} "
                         f"closed-won customers, {need} needed "
                         "(icp.min_customers_for_lookalike)")  # fmt: skip
    if len(y) - n_customers < 2:
        return Lookalike(None, None, n_customers, "lookalike not trained: every account is a "
                         "customer, so there is nothing to tell them apart from")  # fmt: skip
    design = _design(frame, settings.icp.lookalike_technologies)
    with threadpool_limits(1):  # small matrices: one BLAS thread beats several sharing cores
        held_out = _held_out(design.x, y)
        model = _fit(design.x, y, np.arange(len(y)), np.random.default_rng(FOLDS))
        reasons = _reasons(frame, y, design, model)
    auc = round(float(roc_auc_score(y, held_out)), 3)
    scores = pa.table({"account_id": frame["account_id"],
                       "lookalike": pa.array(_percentile(held_out), pa.float64())})  # fmt: skip
    note = None
    if auc < WEAK_AUC:
        note = (f"lookalike trained on {n_customers} customers but barely tells them apart from "
                f"other accounts (cross-validated AUC {auc:.2f}; 0.5 is chance)")  # fmt: skip
    return Lookalike(scores, reasons, n_customers, note, auc)


# -- model --------------------------------------------------------------------------------------
def _held_out(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each account's log-odds from a model trained on the other folds (never on itself)."""
    folds = StratifiedKFold(min(FOLDS, int(y.sum()), int((~y).sum())), shuffle=True,
                            random_state=0)  # fmt: skip
    out = np.empty(len(y))
    for i, (train, test) in enumerate(folds.split(x, y)):
        out[test] = _fit(x, y, train, np.random.default_rng(i)).decision_function(x[test])
    return out


def _fit(x: np.ndarray, y: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> Pipeline:
    """A model trained on every customer among `rows` and at most MAX_OTHERS other accounts (a
    fixed random sample: plenty for some fifty coefficients, and a large market stays fast; the
    balanced class weights make up for the sampling)."""
    others = rows[~y[rows]]
    if len(others) > MAX_OTHERS:
        rows = np.sort(np.concatenate([rows[y[rows]], rng.choice(others, MAX_OTHERS, False)]))
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=1000)
    )
    return model.fit(x[rows], y[rows])


def _percentile(values: np.ndarray) -> np.ndarray:
    """0 for the lowest, 100 for the highest; ties share the average rank."""
    if len(values) < 2:
        return np.full(len(values), 50.0)
    return np.round(100 * (rankdata(values) - 1) / (len(values) - 1), 1)


# -- features -----------------------------------------------------------------------------------
def lookalike_accounts(wh: Warehouse) -> pa.Table:
    """One row per account, ordered by account_id: firmographics, whether it is a customer, and
    its technologies as ';A;b;' (NULL when unknown)."""
    return lookalike_frame(*[wh.arrow(t) for t in lookalike_reads(wh)])


def lookalike_reads(wh: Warehouse) -> tuple[ir.Table, ir.Table]:
    """What `lookalike_accounts` reads: one row per account, and each distinct technologies
    value (far fewer than accounts: each normalized once); `lookalike_frame` puts them
    together."""
    t = wh.table("accounts")
    frame = t.select(
        "account_id", "industry", "country", employees=t.employees.cast(dt.float64),
        revenue=t.revenue.cast(dt.float64), techs="technologies",
        customer=t.account_id.isin(customers(wh).account_id).fill_null(False),
    ).order_by("account_id")  # fmt: skip
    return frame, _tech_lists(t)


def lookalike_frame(frame: pa.Table, lists: pa.Table) -> pa.Table:
    """The rows of `lookalike_reads`, each account with its technologies as ';A;b;'."""
    which = pc.index_in(frame["techs"], value_set=lists["technologies"].combine_chunks())
    techs = lists["techs"].take(which)
    return frame.set_column(frame.schema.get_field_index("techs"), "techs", techs).combine_chunks()


def _tech_lists(t: ir.Table) -> ir.Table:
    """(technologies, techs): each distinct value, and it as ';A;b;' (NULL when none)."""
    lists = t.select("technologies").distinct()
    raw = lists.technologies.re_replace(r"\s*[;,|]\s*", ";").strip()
    return lists.mutate(techs=(";" + raw + ";").nullif(";;"))


def _design(frame: pa.Table, n_techs: int) -> Design:
    columns: list[np.ndarray] = []
    groups: dict[str, list[int]] = {}

    def add(group: str, *cols: np.ndarray) -> None:
        groups.setdefault(group, []).extend(range(len(columns), len(columns) + len(cols)))
        columns.extend(cols)

    categories = {group: _category(frame[group]) for group in ("industry", "country")}
    for group, category in categories.items():
        add(group, *[(category.bucket == b).astype(float) for b in range(len(category.names))])
    for group in ("employees", "revenue"):
        add(group, *_log_size(frame[group]))
    names, has = _technologies(frame["techs"], n_techs)
    if names:
        add("technologies", *has.T.astype(float), _unknown_techs(frame).astype(float))
    return Design(np.column_stack(columns), groups, names, has, categories)


def _category(column: pa.ChunkedArray) -> Category:
    labels, codes = _labels(column)
    return Category(labels, codes, *_buckets(labels, codes))


def _labels(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct values, each account's index into them); NULL or blank → 'unknown'."""
    text = pc.utf8_trim_whitespace(column.cast(pa.string()).fill_null(""))
    encoded = pc.if_else(pc.equal(text, ""), "unknown", text).combine_chunks()
    encoded = encoded.dictionary_encode()
    return np.array(encoded.dictionary.to_pylist(), object), encoded.indices.to_numpy()


def _buckets(labels: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bucket names, each account's bucket): its own value when at least MIN_CATEGORY accounts
    share it (the MAX_CATEGORIES most common), else 'other'."""
    counts = np.bincount(codes, minlength=len(labels))
    order = sorted(range(len(labels)), key=lambda i: (-counts[i], labels[i]))
    kept = [i for i in order if counts[i] >= MIN_CATEGORY][:MAX_CATEGORIES]
    lookup = np.full(len(labels), len(kept))
    lookup[kept] = np.arange(len(kept))
    bucket = lookup[codes]
    other = ["other"] if (bucket == len(kept)).any() else []
    return np.array([labels[i] for i in kept] + other, object), bucket


def _log_size(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(log10 of the value, the median where unknown; 1 where unknown, else 0)."""
    x = _floats(column)
    known = np.isfinite(x) & (x > 0)
    logs = np.log10(np.where(known, x, 1.0))
    fill = float(np.median(logs[known])) if known.any() else 0.0
    return np.where(known, logs, fill), (~known).astype(float)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)


def _technologies(techs: pa.ChunkedArray, n: int) -> tuple[list[str], np.ndarray]:
    """(names, accounts × names yes/no) of the n most common technologies, each named as most
    often spelled (case aside: the alphabetically first spelling)."""
    lists = pc.split_pattern(techs.combine_chunks(), ";")
    tokens, owner = pc.list_flatten(lists), pc.list_parent_indices(lists)
    named = pc.not_equal(tokens, "")
    tokens, owner = tokens.filter(named), owner.filter(named)
    if n == 0 or len(tokens) == 0:
        return [], np.zeros((len(techs), 0), bool)
    counted = pa.table({"key": pc.utf8_lower(tokens), "name": tokens})
    top = counted.group_by("key").aggregate([("name", "count"), ("name", "min")])
    top = top.sort_by([("name_count", "descending"), ("key", "ascending")]).slice(0, n)
    which = pc.index_in(counted["key"], value_set=top["key"].combine_chunks())
    found = which.is_valid()
    has = np.zeros((len(techs), top.num_rows), bool)
    has[owner.filter(found).to_numpy(), which.filter(found).to_numpy()] = True
    return top["name_min"].to_pylist(), has


def _unknown_techs(frame: pa.Table) -> np.ndarray:
    return frame["techs"].is_null().to_numpy(zero_copy_only=False)


# -- reasons ------------------------------------------------------------------------------------
def _reasons(frame: pa.Table, y: np.ndarray, design: Design, model: Pipeline) -> pa.Table:
    """The TOP_REASONS factors of each account by absolute points, largest first."""
    scaler = model[0]  # its transform, without the input checks: (x - mean) / scale
    contrib = design.x - scaler.mean_
    contrib /= scaler.scale_
    contrib *= model[-1].coef_[0]
    spread = float(np.subtract(*np.percentile(contrib.sum(axis=1), [95, 5]))) or 1.0
    factors = list(design.groups)
    points = np.column_stack([contrib[:, design.groups[f]].sum(axis=1) for f in factors])
    points = np.round(points * 100 / spread, 1)
    k = min(TOP_REASONS, len(factors))
    order = np.argsort(-np.abs(points), axis=1, kind="stable")[:, :k]
    rows, cols = np.repeat(np.arange(len(y)), k), order.ravel()
    labels, details = [], []
    for i, factor in enumerate(factors):
        chosen = np.flatnonzero(cols == i)
        label, detail = _WORDS[factor](frame, y, rows[chosen], design, contrib,
                                       points[rows[chosen], i])  # fmt: skip
        labels.append((chosen, label))
        details.append((chosen, detail))
    picked = points[rows, cols]
    reason = pc.binary_join_element_wise(_gather(len(rows), labels),
                                         _gather(len(rows), [(slice(None), _signed(picked))]),
                                         _gather(len(rows), details), "")  # fmt: skip
    return pa.table({
        "account_id": frame["account_id"].take(pa.array(rows)),
        "score": pa.repeat(pa.scalar("lookalike", pa.string()), len(rows)),
        "factor": pa.array(factors, pa.string()).take(pa.array(cols)),
        "points": pa.array(picked, pa.float64()),
        "reason": reason,
    }).select(REASON_COLUMNS)  # fmt: skip


@dataclass(frozen=True)
class Texts:
    """Strings for some rows, each distinct one made once: the texts, and each row's index."""

    texts: list[str]
    index: np.ndarray


Words = tuple[Texts, Texts]
"""For the chosen accounts: what the factor is for it, and the comparison in brackets."""


def _gather(n: int, parts: Sequence[tuple[np.ndarray | slice, Texts]]) -> pa.Array:
    """n strings, placed from each part's (rows, texts)."""
    texts: list[str] = []
    index = np.zeros(n, np.int64)
    for rows, part in parts:
        index[rows] = part.index + len(texts)
        texts.extend(part.texts)
    return pa.array(texts, pa.string()).take(pa.array(index))


def _signed(points: np.ndarray) -> Texts:
    """': +12', ': −3' (formatted once per distinct value)."""
    values, inverse = np.unique(points, return_inverse=True)
    return Texts([f": {v:+.0f}".replace("-", "−") for v in values], inverse)


def _shares(customers: np.ndarray, everyone: np.ndarray, y: np.ndarray) -> list[str]:
    """Per column, from how many customers and how many accounts in all have it: how common it
    is among customers and among other accounts."""
    n_customers = int(y.sum())
    others = (everyone - customers) / (len(y) - n_customers)
    return [f"{_pct(c)} of customers, {_pct(o)} of other accounts"
            for c, o in zip(customers / n_customers, others, strict=True)]  # fmt: skip


def _pct(share: float) -> str:
    return "<1%" if 0 < share < 0.005 else f"{100 * share:.0f}%"


def _category_words(group: str, plural: str) -> Callable[..., Words]:
    def words(frame: pa.Table, y: np.ndarray, at: np.ndarray, design: Design, *_: object) -> Words:
        category = design.categories[group]
        n = len(category.names)
        shares = _shares(np.bincount(category.bucket[y], minlength=n),
                         np.bincount(category.bucket, minlength=n), y)  # fmt: skip
        detail = [f" ({s})" for s in shares]
        if category.names[-1] == "other":
            detail[-1] = f" (rarer {plural}: {shares[-1]})"
        said = [f"{group} {v}" for v in category.labels]
        return Texts(said, category.codes[at]), Texts(detail, category.bucket[at])

    return words


def _size_words(
    group: str, shown: Callable[[float], str], key: Callable[[np.ndarray], np.ndarray] | None = None
) -> Callable[..., Words]:
    """`key` (if any) maps values to fewer ones shown alike, so each is formatted once."""

    def words(frame: pa.Table, y: np.ndarray, at: np.ndarray, *_: object) -> Words:
        x = _floats(frame[group])
        known = np.isfinite(x) & (x > 0)
        chosen = np.where(known, x, np.nan)[at]
        values, inverse = np.unique(key(chosen) if key else chosen, return_inverse=True)
        said = [f"{group} unknown" if np.isnan(v) else f"{group} {shown(v)}" for v in values]
        mid = [shown(float(np.median(x[known & side]))) if (known & side).any() else "unknown"
               for side in (y, ~y)]  # fmt: skip
        detail = f" (median customer {mid[0]}, other accounts {mid[1]})"
        return Texts(said, inverse), Texts([detail], np.zeros(len(at), np.int64))

    return words


_POWERS = np.array([float(f"1e{e}") for e in range(16)])


def _two_digits(values: np.ndarray) -> np.ndarray:
    """float(f"{v:.2g}") of each value (NaN stays NaN), in numpy where that is exact: from 10 to
    1e15 and not within 1e-9 of a tie; the other values go through Python."""
    easy = (values >= 10) & (values < 1e15)
    v = np.where(easy, values, 10.0)
    e = np.clip(np.floor(np.log10(v)), 1, 14).astype(np.int64)  # then made exact:
    e = np.where(v < _POWERS[e], e - 1, e)
    e = np.where(v >= _POWERS[e + 1], e + 1, e)
    q = v / _POWERS[e - 1]  # in [10, 100], rounded once
    easy &= np.abs(q - np.floor(q) - 0.5) > 1e-9
    out = np.where(np.isnan(values), np.nan, np.rint(q) * _POWERS[e - 1])  # exact: ≤ 100 × 10^13
    rest = np.flatnonzero(~easy & ~np.isnan(values))
    out[rest] = [float(f"{v:.2g}") for v in values[rest]]
    return out


def _tech_words(frame: pa.Table, y: np.ndarray, at: np.ndarray, design: Design,
                contrib: np.ndarray, points: np.ndarray) -> Words:  # fmt: skip
    """Name the (up to) two technologies that move the account most in its factor's direction,
    and how common the first is among customers and other accounts."""
    cols, has = design.groups["technologies"][:-1], design.uses  # consecutive columns
    toward = contrib[:, cols[0] : cols[-1] + 1][at] * np.where(points < 0, -1.0, 1.0)[:, None]
    top = _largest_two(toward)
    phrase = top * 2 + has[at[:, None], top]  # per technology: "no" (even), "uses" (odd)
    code = phrase[:, 0] * 2 * len(cols) + (phrase[:, 1] if top.shape[1] > 1 else 0)
    unknown = _unknown_techs(frame)[at]
    codes, inverse = np.unique(np.where(unknown, -1, code), return_inverse=True)
    said = [_tech_phrases(c, len(cols), top.shape[1], design.technologies) for c in codes]
    counts = _shares(has[y].sum(axis=0), has.sum(axis=0), y)
    shares = [f" ({n}: {s})" for n, s in zip(design.technologies, counts, strict=True)]
    return (Texts(said, inverse),
            Texts([*shares, ""], np.where(unknown, len(cols), top[:, 0])))  # fmt: skip


def _tech_phrases(code: int, n: int, k: int, names: list[str]) -> str:
    """'technologies: uses A, no B' from the code _tech_words made (-1: unknown)."""
    if code < 0:
        return "technologies unknown"
    phrases = [code // (2 * n), code % (2 * n)][:k]
    return "technologies: " + ", ".join(
        f"{'uses' if p % 2 else 'no'} {names[p // 2]}" for p in phrases
    )


def _largest_two(v: np.ndarray) -> np.ndarray:
    """np.argsort(-v, axis=1, kind="stable")[:, :2] (ties: the first column) without sorting
    whole rows; overwrites `v`."""
    if not np.isfinite(v).all():
        return np.argsort(-v, axis=1, kind="stable")[:, :2]
    first = np.argmax(v, axis=1)
    if v.shape[1] < 2:
        return first[:, None]
    v[np.arange(len(v)), first] = -np.inf
    return np.column_stack([first, np.argmax(v, axis=1)])


_WORDS: dict[str, Callable[..., Words]] = {
    "industry": _category_words("industry", "industries"),
    "country": _category_words("country", "countries"),
    "employees": _size_words("employees", lambda v: f"{v:,.0f}"),
    "revenue": _size_words(
        "revenue", lambda v: f"${compact_number(float(f'{v:.2g}'))}", _two_digits
    ),
    "technologies": _tech_words,
}
