from __future__ import annotations

import pickle

import numpy as np
import pytest

from salary.model.features import build_pipeline
from salary.model.table import TabulatedModel, split_thresholds, tabulate

PARAMS = {"learning_rate": 0.2, "max_leaf_nodes": 15, "min_samples_leaf": 20, "max_iter": 60,
          "l2_regularization": 0.01}


def salary_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows shaped like the model's features (integer ages, 0/1 activity, tenure in whole days
    over 365.25) and a salary that depends on all three."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 81, n).astype(np.float64)
    active = (rng.random(n) < 0.6).astype(np.float64)
    tenure = rng.integers(0, 3653, n) / 365.25
    y = 30_000 + 2_200 * (age - 18) - 30 * (age - 18) ** 2 + 12_000 * active + 4_000 * np.sqrt(tenure) \
        + 800 * active * tenure + rng.normal(0, 5_000, n)
    return np.c_[age, active, tenure], y


@pytest.fixture(scope="module")
def fitted():
    X, y = salary_rows(20_000, seed=1)
    return build_pipeline("hist_gradient_boosting", PARAMS).fit(X, y)


def test_tabulated_predictions_are_the_pipelines_to_the_bit(fitted):
    model = tabulate(fitted)
    assert isinstance(model, TabulatedModel) and 2 < model.cells < 100_000
    X, _ = salary_rows(50_000, seed=2)
    assert np.array_equal(model.predict(X), fitted.predict(X))


def test_rows_exactly_on_a_threshold_and_outside_the_training_range(fitted):
    # A row on a split threshold goes left in every tree (x <= threshold): the table's cells must
    # agree there, where a binary search on the wrong side would not.
    model = tabulate(fitted)
    scaler = fitted[0]
    X, _ = salary_rows(5_000, seed=3)
    on_threshold = X.copy()
    for j, thresholds in enumerate(split_thresholds(fitted[-1])):
        # The raw value whose scaled value is the threshold, where the float arithmetic allows it.
        raw = thresholds * scaler.scale_[j] + scaler.mean_[j]
        on_threshold[:, j] = np.resize(raw, len(X))
    extremes = np.array([[-1e9, -5.0, -1e9], [1e9, 5.0, 1e9], [0.0, 0.5, 1e300]])
    for rows in (on_threshold, extremes):
        assert np.array_equal(model.predict(rows), fitted.predict(rows))
    for model_ in (model, fitted):  # infinity: the scaler refuses it, tabulated or not
        with pytest.raises(ValueError, match="infinity"):
            model_.predict(np.array([[np.inf, 1.0, 1.0]]))
    # Thresholds themselves, in the scaled space the trees compare in, hit exactly.
    scaled_on = np.c_[tuple(np.resize(t, 500) for t in split_thresholds(fitted[-1]))]
    assert np.array_equal(model.table[model.cells_of(scaled_on)], fitted[-1].predict(scaled_on))


def test_missing_values_are_predicted_by_the_pipeline(fitted):
    X, _ = salary_rows(1_000, seed=4)
    X[::7, 2] = np.nan
    X[3, 0] = np.nan
    assert np.array_equal(tabulate(fitted).predict(X), fitted.predict(X))


def test_other_models_and_too_many_cells_are_left_as_they_are(fitted):
    X, y = salary_rows(2_000, seed=5)
    forest = build_pipeline("random_forest", {"n_estimators": 3, "max_depth": 4, "min_samples_split": 2}).fit(X, y)
    assert tabulate(forest) is forest
    assert tabulate(fitted, max_cells=10) is fitted
    model = tabulate(fitted)
    assert tabulate(model) is model


def test_a_tabulated_model_survives_pickling(fitted):
    # Arrays and the pipeline only: it can be kept or shipped (Ray, joblib) like the pipeline.
    model = pickle.loads(pickle.dumps(tabulate(fitted)))
    X, _ = salary_rows(3_000, seed=6)
    assert np.array_equal(model.predict(X), fitted.predict(X))
