"""Features, the stable train/test split, estimators and metrics for the salary model. Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

MODEL_COLUMNS = ("id", "age", "is_active", "signup_date", "salary")
FEATURES = ("age", "is_active", "tenure_years")


def features(df: pd.DataFrame, as_of: dt.date, names: Sequence[str] = FEATURES) -> np.ndarray:
    """Feature matrix: age, is_active (0/1) and tenure in years before ``as_of``. Filled a column
    at a time: at 30M rows each column's temporaries (240 MB apiece) live only while it is built."""
    columns: dict[str, Callable[[], Any]] = {
        "age": lambda: df["age"].to_numpy(np.float64),
        "is_active": lambda: df["is_active"].to_numpy(np.float64),
        "tenure_years": lambda: (pd.Timestamp(as_of) - pd.to_datetime(df["signup_date"])).dt.days.to_numpy(
            np.float64) / 365.25,
    }
    out = np.empty((len(df), len(names)))
    for i, name in enumerate(names):
        out[:, i] = columns[name]()
    return out


def id_hash(ids: np.ndarray) -> np.ndarray:
    """splitmix64 of each id: the same on every run and every machine."""
    z = ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def id_bucket(ids: np.ndarray) -> np.ndarray:
    """A stable bucket 0..99 per id (its hash's low digits)."""
    return (id_hash(ids) % np.uint64(100)).astype(np.int64)


def id_sample(ids: np.ndarray, fraction: float) -> np.ndarray:
    """A stable sample of about ``fraction`` of the ids (their hash's top 53 bits as a number in
    [0, 1) below it): the same ids on every run, and as many of each bucket, so the test,
    validation and fit parts keep their shares."""
    if fraction >= 1:
        return np.ones(len(ids), dtype=bool)
    return (id_hash(ids) >> np.uint64(11)).astype(np.float64) * 2.0**-53 < fraction


@dataclass(frozen=True)
class Split:
    """Row masks: test (held out), validation (scores trials), fit (trains trials)."""

    test: np.ndarray
    validation: np.ndarray
    fit: np.ndarray

    @property
    def train(self) -> np.ndarray:
        """Everything that is not test: what the best configuration is refit on."""
        return ~self.test


def split(ids: np.ndarray, test_percent: int, validation_percent: int) -> Split:
    bucket = id_bucket(ids)
    test = bucket < test_percent
    validation = (bucket >= test_percent) & (bucket < test_percent + validation_percent)
    return Split(test=test, validation=validation, fit=~test & ~validation)


def build_pipeline(model: str, params: Mapping[str, Any], threads: int | None = None) -> Pipeline:
    """The report's StandardScaler followed by the estimator, in one scikit-learn Pipeline."""
    if model == "random_forest":
        depth: Any = params.get("max_depth")
        estimator: Any = RandomForestRegressor(
            n_estimators=int(params["n_estimators"]),
            max_depth=None if depth in (None, "none") else int(depth),
            min_samples_split=int(params["min_samples_split"]),
            n_jobs=threads,
            random_state=0,
        )
    elif model == "hist_gradient_boosting":
        estimator = HistGradientBoostingRegressor(
            learning_rate=float(params["learning_rate"]),
            max_leaf_nodes=int(params["max_leaf_nodes"]),
            min_samples_leaf=int(params["min_samples_leaf"]),
            max_iter=int(params["max_iter"]),
            l2_regularization=float(params["l2_regularization"]),
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=10,
            random_state=0,
        )
    else:
        raise ValueError(f"unknown model family {model!r}")
    return Pipeline([("scaler", StandardScaler()), ("model", estimator)])


def sample_weights(recency: np.ndarray, share: float) -> np.ndarray | None:
    """Per-row weights from each row's ``recency``: 0 for a generated row; for a row of a
    labelled drop, 0.5 ** (its age / the half-life), in (0, 1]. None (every row weighs the same)
    when all rows or none are labelled.

    The labelled rows (the world as it is now) together get ``share`` of the total weight, each
    in proportion to its recency, and the freshest at least as much as a generated row. With n
    generated and m fresh labelled rows, each weighs share/(1-share) * n/m: 300k rows after 30M
    generated ones weigh 400 each at share 0.8, so where the two overlap (an age band whose pay
    changed) the fit follows the labelled rows, and elsewhere the generated rows still teach
    what the drops do not cover. The half-life keeps last month's drops from outvoting today's.
    """
    recency = np.asarray(recency, np.float64)
    labelled = recency > 0
    n = int((~labelled).sum())
    if n == 0 or n == len(recency):
        return None
    scale = max(1.0, share / (1 - share) * n / float(recency[labelled].sum()))
    weights = np.ones(len(recency))
    weights[labelled] = recency[labelled] * scale
    return weights


def mse(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray | None = None) -> float:
    return float(np.average((y_true - y_pred) ** 2, weights=weights))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, floor_mse: float,
                       train_mean: float, weights: np.ndarray | None = None) -> dict[str, float]:
    """MSE, RMSE, MAE, R², the MSE over the noise floor, and a mean predictor's MSE; weighted
    by ``weights`` when given (the same weights the model was fitted with)."""
    error = mse(y_true, y_pred, weights)
    baseline = mse(y_true, np.full(len(y_true), train_mean), weights)
    return {
        "mse": error,
        "rmse": float(np.sqrt(error)),
        "mae": float(mean_absolute_error(y_true, y_pred, sample_weight=weights)),
        "r2": float(r2_score(y_true, y_pred, sample_weight=weights)),
        "floor_mse": floor_mse,
        "mse_over_floor": error / floor_mse,
        "mean_baseline_mse": baseline,
        "mean_baseline_over_floor": baseline / floor_mse,
        "rows": int(len(y_true)),
    }


def asha_rungs(min_rows: int, reduction_factor: int, max_rows: int) -> list[int]:
    """Training-row budgets of successive halving: min_rows * rf^k up to max_rows."""
    rungs = [min_rows]
    while rungs[-1] * reduction_factor <= max_rows:
        rungs.append(rungs[-1] * reduction_factor)
    return rungs
