"""The prediction baseline: the champion's bare predict() over the rows of several drops at once."""

from __future__ import annotations

import numpy as np

from bench.prediction import bare_predict
from devtools.synthetic import write_drop
from salary.lake import Lake, join
from salary.model.features import build_pipeline
from salary.model.registry import promote, publish_version
from tests.helpers import lake_io


def test_bare_predict_reads_every_drop_folder_given_and_times_only_predict_apart(tmp_path, settings):
    models = Lake(f"file://{tmp_path}/models", settings.lake)
    X = np.arange(40, dtype=float).reshape(-1, 1)
    model = build_pipeline("random_forest", {"n_estimators": 3, "max_depth": 3, "min_samples_split": 2}).fit(X, X[:, 0])
    publish_version(lake_io(models), "v1", model, {"features": ["age"], "as_of": "2026-01-01"},
                    {"test": {"mse": 1.0, "mse_over_floor": 1.0}, "champion_on_test_split": None})
    assert promote(lake_io(models), "v1", 0.001)["promoted"] is True
    producer = Lake(f"file://{tmp_path}/producer", settings.lake)
    write_drop(producer, "a", 300, 2, False, seed=1)
    write_drop(producer, "b", 200, 1, False, seed=2)
    timed = bare_predict(models, [join(producer.incoming, "a"), join(producer.incoming, "b")])
    assert timed["rows"] == 500  # both drops, their Parquet files only (not _SUCCESS)
    assert {"load_model", "read_and_features", "predict"} <= set(timed) and timed["predict"] > 0
    assert timed["table_predict"] is None and timed["table_same"]  # a forest has no table: nothing to add


def test_bare_predict_times_the_models_table_too_and_checks_it_predicts_the_same(tmp_path, settings):
    models = Lake(f"file://{tmp_path}/models", settings.lake)
    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(18, 81, 2_000), rng.random(2_000) < 0.6, rng.random(2_000) * 10]
    params = {"learning_rate": 0.3, "max_leaf_nodes": 15, "min_samples_leaf": 20, "max_iter": 20,
              "l2_regularization": 0.0}
    model = build_pipeline("hist_gradient_boosting", params).fit(X, X[:, 0] * 100)
    publish_version(lake_io(models), "v1", model, {"features": ["age", "is_active", "tenure_years"],
                                                   "as_of": "2026-01-01"},
                    {"test": {"mse": 1.0, "mse_over_floor": 1.0}, "champion_on_test_split": None})
    assert promote(lake_io(models), "v1", 0.001)["promoted"] is True
    write_drop(models, "a", 3_000, 2, False, seed=1)
    timed = bare_predict(models, [join(models.incoming, "a")])
    assert timed["rows"] == 3_000 and timed["table_predict"] > 0 and timed["table_same"] is True
