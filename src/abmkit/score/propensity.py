"""Propensity: the probability that an account opens an opportunity within N days, back-tested.

Training data are **snapshots**: every `propensity.snapshot_every_days` a picture of every
account's features as of that day (`features.features_as_of`), labelled with whether it opened an
opportunity in the following `horizon_days`. Accounts with an opportunity already open at a
snapshot are left out of it (they cannot open a new one). The split is by time, never at random:
the latest snapshot whose outcome is fully known is the **test** snapshot; training uses only
snapshots whose outcome windows ended before it began, so no training label overlaps the test
window. The model (gradient boosting or logistic regression, from scikit-learn) is calibrated
(isotonic, cross-validated on the training snapshots), then scored on the test snapshot: AUC,
PR-AUC, lift in the top decile, expected calibration error, and the same by tier.

Each trained model is saved with its data window, settings, metrics and features in the model
registry (`model_versions` in the application store); the active one scores accounts in
`abm score`, and `abm model activate VERSION` rolls back in one command.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import ibis
import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from abmkit.config.settings import Settings
from abmkit.errors import AbmError
from abmkit.score.features import CATEGORICAL, FEATURES, NUMERIC, features_as_of, opened_within
from abmkit.score.incremental import naive
from abmkit.score.signals import Moment
from abmkit.score.tiers import combined_intent, priority_parts
from abmkit.store.db import AppStore
from abmkit.store.models import ModelVersion
from abmkit.warehouse.engine import Warehouse

HISTORY_DAYS = 90
"""Days of data before the first snapshot, so its features have history behind them."""


@dataclass
class TrainResult:
    model: ModelVersion
    rows_train: int
    rows_test: int


def data_span(wh: Warehouse) -> tuple[dt.datetime, dt.datetime] | None:
    """First and last moment with touches (the span the snapshots can cover)."""
    t = wh.table("touches")
    row = t.agg(lo=t.ts.min(), hi=t.ts.max()).to_pyarrow().to_pylist()[0]
    if row["lo"] is None:
        return None
    return naive(row["lo"]), naive(row["hi"])


def split_dates(wh: Warehouse, settings: Settings) -> tuple[list[dt.datetime], dt.datetime]:
    """(training snapshot dates, test snapshot date). The test snapshot is the latest whose
    horizon has passed; training snapshots end their horizon before it."""
    span = data_span(wh)
    horizon = dt.timedelta(days=settings.propensity.horizon_days)
    step = dt.timedelta(days=settings.propensity.snapshot_every_days)
    if span is None:
        raise AbmError("no touches loaded: nothing to learn propensity from")
    first = _midnight(span[0] + dt.timedelta(days=HISTORY_DAYS))
    test = _midnight(span[1] - horizon)
    train = []
    day = test - horizon
    while day >= first:
        train.append(day)
        day -= step
    if len(train) < 2:
        days = (span[1] - span[0]).days
        need = HISTORY_DAYS + 2 * settings.propensity.horizon_days
        raise AbmError(f"{days} days of touches are too few to train and back-test a "
                       f"{settings.propensity.horizon_days}-day propensity model (need about "
                       f"{need + settings.propensity.snapshot_every_days})")  # fmt: skip
    return sorted(train), test


def _midnight(moment: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(moment.date(), dt.time())


def snapshot(wh: Warehouse, settings: Settings, as_of: Moment,
             labelled: bool = True) -> pd.DataFrame:  # fmt: skip
    """Features of every account without an open opportunity as of `as_of` (and its label)."""
    t = features_as_of(wh, settings, as_of)
    if labelled:  # a training snapshot: a moment of the past, chosen in Python
        assert isinstance(as_of, dt.datetime)
        y = opened_within(wh, as_of, settings.propensity.horizon_days)
        t = t.left_join(y, "account_id").drop("account_id_right")
        t = t.mutate(label=t.label.fill_null(0))
    frame = t.filter(~t.open_now).drop("open_now").to_pandas()
    if labelled:
        frame["snapshot"] = as_of
    return frame


def _model(kind: str) -> Pipeline:
    if kind == "logistic":
        prep = ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=20), CATEGORICAL),
        ])  # fmt: skip
        return make_pipeline(prep, LogisticRegression(max_iter=2000, C=0.5))
    prep = ColumnTransformer(
        [
            ("num", "passthrough", NUMERIC),
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
                ),
                CATEGORICAL,
            ),
        ],  # fmt: skip
    )
    booster = HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40,
        l2_regularization=1.0, categorical_features=[len(NUMERIC), len(NUMERIC) + 1],
        random_state=0,
    )  # fmt: skip
    return make_pipeline(prep, booster)


def _xy(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    x = frame[FEATURES].copy()
    for c in CATEGORICAL:
        x[c] = x[c].fillna("unknown").astype(str)
    return x, frame["label"].to_numpy(dtype=int)


def evaluate(y: np.ndarray, p: np.ndarray, groups: pd.Series | None = None) -> dict:
    """AUC, PR-AUC, top-decile lift, expected calibration error (10 bins), counts; by group."""
    out = _metrics(y, p)
    if groups is not None:
        out["by_tier"] = {
            str(g): _metrics(y[(groups == g).to_numpy()], p[(groups == g).to_numpy()])
            for g in sorted(groups.dropna().unique())
        }
    return out


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    n, positives = len(y), int(y.sum())
    m: dict = {"accounts": n, "positives": positives,
               "base_rate": round(positives / n, 4) if n else None}  # fmt: skip
    if n == 0 or positives in (0, n):
        return m | {"auc": None, "pr_auc": None, "top_decile_lift": None, "ece": None}
    order = np.argsort(-p, kind="stable")
    top = order[: max(1, n // 10)]
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(abs(y[bins == b].mean() - p[bins == b].mean()) * (bins == b).sum() / n
              for b in range(10) if (bins == b).any())  # fmt: skip
    return m | {"auc": round(float(roc_auc_score(y, p)), 4),
                "pr_auc": round(float(average_precision_score(y, p)), 4),
                "top_decile_lift": round(float(y[top].mean() / y.mean()), 3),
                "ece": round(float(ece), 4)}  # fmt: skip


def tiers_at(frame: pd.DataFrame, settings: Settings) -> pd.Series:
    """Each account's tier as the tiering would have set it at the snapshot: the weighted
    priority of fit, intent and engagement then, filled up to each tier's capacity."""
    intent = combined_intent(frame["intent_3p"], frame["intent_1p"])
    eng = 100 * (1 - np.exp(-frame["engagement_minutes"] / settings.engagement.scale))
    priority = sum(priority_parts(frame["fit"], intent, eng, settings).values())
    eligible = frame["fit"] >= settings.tiers.tier3_min_fit
    rank = priority.where(eligible).rank(ascending=False, method="first")
    c1, c2 = settings.tiers.tier1_capacity, settings.tiers.tier2_capacity
    c3 = settings.tiers.tier3_capacity
    tier = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    tier[rank <= c1] = 1
    tier[(rank > c1) & (rank <= c1 + c2)] = 2
    tier[(rank > c1 + c2) & ((rank <= c1 + c2 + c3) if c3 is not None else rank.notna())] = 3
    return tier.astype("string").fillna("untiered")


def train(wh: Warehouse, settings: Settings, store: AppStore, models_dir: Path,
          *, activate: bool = True) -> TrainResult:  # fmt: skip
    """Train, back-test on the later window, register (and by default activate) a model."""
    cfg = settings.propensity
    train_dates, test_date = split_dates(wh, settings)
    train_frame = pd.concat([snapshot(wh, settings, d) for d in train_dates], ignore_index=True)
    test_frame = snapshot(wh, settings, test_date)
    positives = int(train_frame["label"].sum())
    if positives < cfg.min_positive_examples:
        raise AbmError(f"only {positives} opportunities opened in the training snapshots; "
                       "propensity.min_positive_examples is "
                       f"{cfg.min_positive_examples}")  # fmt: skip
    x, y = _xy(train_frame)
    model = CalibratedClassifierCV(_model(cfg.model), method="isotonic", cv=3)
    model.fit(x, y)
    xt, yt = _xy(test_frame)
    p = model.predict_proba(xt)[:, 1]
    metrics = evaluate(yt, p, tiers_at(test_frame, settings))
    metrics["train"] = {"accounts": len(train_frame), "positives": positives,
                        "snapshots": len(train_dates)}  # fmt: skip
    version = f"m{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:4]}"
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"{version}.joblib"
    joblib.dump(model, path)
    horizon = dt.timedelta(days=cfg.horizon_days)
    record = ModelVersion(
        version=version, created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        kind=cfg.model, horizon_days=cfg.horizon_days, train_from=train_dates[0],
        train_to=train_dates[-1] + horizon, test_from=test_date, test_to=test_date + horizon,
        settings=settings.propensity.model_dump() | {"features": FEATURES},
        metrics=metrics, features=FEATURES, artifact=str(path), active=False,
    )  # fmt: skip
    store.add_model(record)
    if activate:
        record = store.activate(version)
    return TrainResult(record, len(train_frame), len(test_frame))


def predict(wh: Warehouse, settings: Settings, record: ModelVersion,
            as_of: Moment) -> ibis.Table:  # fmt: skip
    """(account_id, propensity) as of `as_of` from a registered model; accounts with an open
    opportunity get NULL (they are already in the pipeline)."""
    if not Path(record.artifact).exists():
        raise AbmError(f"model {record.version}: its file {record.artifact} is missing")
    model = joblib.load(record.artifact)
    t = features_as_of(wh, settings, as_of)
    rows = t.filter(~t.open_now).drop("open_now")

    def scores() -> pa.Table:
        frame = wh.arrow(rows).to_pandas()
        p = np.array([], dtype=float)
        if not frame.empty:
            frame["label"] = 0
            x, _ = _xy(frame)
            p = model.predict_proba(x)[:, 1].round(4)
        return pa.table({"account_id": pa.array(frame["account_id"].tolist(), pa.string()),
                         "propensity": pa.array(p, pa.float64())})  # fmt: skip

    schema = ibis.schema({"account_id": "string", "propensity": "float64"})
    return wh.derived("propensity", schema, scores)


def expected_acv(wh: Warehouse) -> ibis.Table:
    """(account_id, expected_acv, acv_basis): the median won deal of accounts of the same size
    band; without won deals in the band, the median won deal overall (then of all deals)."""
    acc = wh.table("accounts").select("account_id", "employees")
    band = ibis.cases((acc.employees < 200, "<200"), (acc.employees < 1000, "200–1k"),
                      (acc.employees < 5000, "1k–5k"), (acc.employees >= 5000, "5k+"),
                      else_="unknown size")  # fmt: skip
    acc = acc.mutate(band=band)
    o = wh.table("opportunities").filter(ibis._.amount.notnull() & (ibis._.amount > 0))
    won = o.filter(o.is_won.fill_null(False)).join(acc, "account_id")
    by_band = won.group_by("band").agg(_m=won.amount.median(), _n=won.count())
    by_band = by_band.filter(by_band._n >= 5)
    overall = o.filter(o.is_won.fill_null(False)).amount.median().as_scalar()
    fallback = ibis.coalesce(overall, o.amount.median().as_scalar(), ibis.literal(1.0))
    t = acc.left_join(by_band, "band")
    basis = ibis.cases((t._m.notnull(), "median won deal, " + t.band + " employees"),
                       else_=ibis.literal("median won deal overall"))  # fmt: skip
    return t.select("account_id", expected_acv=ibis.coalesce(t._m, fallback), acv_basis=basis)
