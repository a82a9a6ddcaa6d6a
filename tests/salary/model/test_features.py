from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from salary.model.features import asha_rungs, build_pipeline, features, id_bucket, id_sample, regression_metrics, split


def test_id_bucket_is_stable_and_uniform():
    ids = np.arange(1_000_000)
    buckets = id_bucket(ids)
    assert buckets.min() == 0 and buckets.max() == 99
    assert np.bincount(buckets, minlength=100).min() > 9_500
    # SplitMix64's published first output for state 0 is 0xE220A8397B1DCDAF: id 0 hashes to it.
    # A change here would move ids between train and test and break model comparisons.
    assert id_bucket(np.array([0]))[0] == 0xE220A8397B1DCDAF % 100
    assert (id_bucket(ids[:1000]) == id_bucket(ids[:1000].copy())).all()


def test_id_sample_keeps_its_fraction_of_every_bucket_and_the_same_ids():
    ids = np.arange(1_000_000)
    kept = id_sample(ids, 0.1)
    assert kept.mean() == pytest.approx(0.1, abs=0.002)
    # Independent of the bucket: the test, validation and fit parts keep their shares.
    per_bucket = np.bincount(id_bucket(ids[kept]), minlength=100) / np.bincount(id_bucket(ids), minlength=100)
    assert per_bucket.min() > 0.085 and per_bucket.max() < 0.115
    assert (id_sample(ids[::-1], 0.1) == kept[::-1]).all()  # a row's fate is its id's, not its place
    assert (id_sample(ids, 0.2) >= kept).all() and id_sample(ids, 1).all()


def test_split_fractions_and_disjointness():
    parts = split(np.arange(200_000), test_percent=20, validation_percent=5)
    assert parts.test.mean() == pytest.approx(0.20, abs=0.005)
    assert parts.validation.mean() == pytest.approx(0.05, abs=0.003)
    assert not (parts.test & parts.validation).any() and not (parts.test & parts.fit).any()
    assert (parts.test | parts.validation | parts.fit).all()
    assert (parts.train == (parts.validation | parts.fit)).all()


def test_features():
    df = pd.DataFrame({"age": [30, 40], "is_active": [True, False],
                       "signup_date": [dt.date(2025, 1, 1), dt.date(2016, 1, 1)]})
    X = features(df, dt.date(2026, 1, 1))
    assert X.tolist() == [[30.0, 1.0, 365 / 365.25], [40.0, 0.0, 3653 / 365.25]]
    assert features(df, dt.date(2026, 1, 1), ("age",)).tolist() == [[30.0], [40.0]]
    assert features(df, dt.date(2026, 1, 1), ("tenure_years", "age")).tolist() == \
        [[365 / 365.25, 30.0], [3653 / 365.25, 40.0]]


def test_asha_rungs():
    assert asha_rungs(50_000, 4, 3_200_000) == [50_000, 200_000, 800_000, 3_200_000]
    assert asha_rungs(10, 3, 100) == [10, 30, 90]


def test_regression_metrics():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    m = regression_metrics(y, y + 1.0, floor_mse=0.5, train_mean=2.5)
    assert m["mse"] == 1.0 and m["rmse"] == 1.0 and m["mae"] == 1.0 and m["mse_over_floor"] == 2.0
    assert m["mean_baseline_mse"] == 1.25 and m["r2"] == pytest.approx(0.2)


def test_pipelines_keep_the_reports_scaler():
    rf = build_pipeline("random_forest", {"n_estimators": 5, "max_depth": "none", "min_samples_split": 2})
    assert [name for name, _ in rf.steps] == ["scaler", "model"] and rf.named_steps["model"].max_depth is None
    with pytest.raises(ValueError, match="unknown model family"):
        build_pipeline("xgb", {})


def test_labelled_rows_get_their_share_of_the_weight_and_never_less_than_one():
    from salary.model.features import sample_weights

    labelled = np.array([0.0] * 90 + [1.0] * 10)
    w = sample_weights(labelled, 0.8)
    assert w[:90].tolist() == [1.0] * 90 and w[90:] == pytest.approx([36.0] * 10)  # 0.8/0.2 * 90/10
    assert w[90:].sum() / w.sum() == pytest.approx(0.8)
    many = np.array([0.0] * 10 + [1.0] * 90)
    assert sample_weights(many, 0.5)[10:].tolist() == [1.0] * 90  # plenty of labelled rows: no down-weighting
    assert sample_weights(np.zeros(5), 0.8) is None and sample_weights(np.ones(5), 0.8) is None


def test_older_labelled_rows_weigh_less_by_their_recency():
    from salary.model.features import sample_weights

    w = sample_weights(np.array([0.0] * 90 + [1.0] * 5 + [0.25] * 5), 0.8)
    assert w[90] == pytest.approx(4 * w[99]) and w[90:].sum() / w.sum() == pytest.approx(0.8)


def test_weighted_metrics_weigh_each_row():
    y = np.array([0.0, 0.0, 10.0])
    m = regression_metrics(y, np.array([0.0, 0.0, 0.0]), floor_mse=1.0, train_mean=0.0, weights=np.array([1, 1, 2.0]))
    assert m["mse"] == pytest.approx(200 / 4) and m["mae"] == pytest.approx(20 / 4) and m["rows"] == 3
    assert regression_metrics(y, y * 0, 1.0, 0.0)["mse"] == pytest.approx(100 / 3)
