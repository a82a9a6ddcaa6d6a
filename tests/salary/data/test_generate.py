from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.testing import assertDataFrameEqual

from salary.data.generate import NULLABLE_COLUMNS, RAW_COLUMNS, clean_rows, generate

ROWS = 200_000
SEED = 7


@pytest.fixture(scope="module")
def clean_pdf(spark, settings) -> pd.DataFrame:
    return clean_rows(spark, ROWS, SEED, settings.dataset).toPandas()


@pytest.fixture(scope="module")
def dirty_pdf(spark, settings) -> pd.DataFrame:
    return generate(spark, ROWS, SEED, settings.dataset).toPandas()


def test_schema_and_ranges(spark, settings, clean_pdf):
    df = clean_rows(spark, 10, SEED, settings.dataset)
    assert tuple(df.columns) == RAW_COLUMNS
    assert dict(df.dtypes) == {"id": "bigint", "name": "string", "age": "int", "salary": "double",
                               "signup_date": "timestamp", "is_active": "boolean"}
    t = settings.dataset.truth
    assert clean_pdf["id"].is_unique and clean_pdf["id"].min() == 0 and clean_pdf["id"].max() == ROWS - 1
    assert clean_pdf["age"].between(t.age_min, t.age_max).all()
    # Every age appears: the bounds are reachable, not just respected.
    assert set(clean_pdf["age"]) == set(range(t.age_min, t.age_max + 1))
    as_of = pd.Timestamp(settings.dataset.as_of)
    earliest = pd.Timestamp(settings.dataset.as_of.replace(year=settings.dataset.as_of.year - t.signup_years))
    assert clean_pdf["signup_date"].max() <= as_of
    assert clean_pdf["signup_date"].min() >= earliest
    assert (clean_pdf["signup_date"].dt.normalize() == clean_pdf["signup_date"]).all()
    assert set(clean_pdf["name"]) == set(settings.dataset.names)
    assert clean_pdf["is_active"].mean() == pytest.approx(t.active_probability, abs=0.01)


def test_same_seed_same_rows_whatever_the_partitioning(spark, settings):
    spec = settings.dataset
    one_file = clean_rows(spark, 5000, SEED, dataclasses.replace(spec, rows_per_file=10_000))
    many_files = clean_rows(spark, 5000, SEED, dataclasses.replace(spec, rows_per_file=700))
    assert many_files.rdd.getNumPartitions() == 8
    assertDataFrameEqual(one_file, many_files)


def test_other_seed_other_rows(spark, settings):
    a = clean_rows(spark, 1000, 1, settings.dataset).select("salary").collect()
    b = clean_rows(spark, 1000, 2, settings.dataset).select("salary").collect()
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 990


def _basis(pdf: pd.DataFrame, as_of: dt.date, age_min: int) -> np.ndarray:
    years = (pdf["age"] - age_min).to_numpy(float)
    active = pdf["is_active"].to_numpy(float)
    tenure = (pd.Timestamp(as_of) - pdf["signup_date"]).dt.days.to_numpy(float) / 365.25
    return np.column_stack([np.ones_like(years), years, years**2, active, np.sqrt(tenure), active * tenure])


def test_fitted_effects_match_the_configured_function(clean_pdf, settings):
    """Least squares on the documented basis recovers each configured coefficient, and what
    is left is Gaussian noise of the configured sigma."""
    t = settings.dataset.truth
    X = _basis(clean_pdf, settings.dataset.as_of, t.age_min)
    y = clean_pdf["salary"].to_numpy()
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    expected = [t.base, t.age_linear, t.age_quadratic, t.active_bonus, t.tenure_sqrt, t.active_tenure]
    # Standard errors at 200k rows are ~0.5-2% of these effects; 5% leaves room, a wrong sign or term does not.
    for name, got, want in zip(["base", "age", "age^2", "active", "sqrt(tenure)", "active*tenure"],
                               coef, expected, strict=True):
        assert got == pytest.approx(want, rel=0.05), name
    residual = y - X @ coef
    assert residual.std() == pytest.approx(t.noise_sigma, rel=0.01)
    assert abs(pd.Series(residual).skew()) < 0.05 and abs(pd.Series(residual).kurt()) < 0.1


def test_age_only_and_linear_models_cannot_reach_the_floor(clean_pdf, settings):
    t = settings.dataset.truth
    y = clean_pdf["salary"].to_numpy()
    floor = t.noise_floor_mse
    # Best possible model of age alone: the mean salary at each age.
    by_age = clean_pdf.groupby("age")["salary"].transform("mean").to_numpy()
    assert np.mean((y - by_age) ** 2) > 2.0 * floor
    # Best linear model of the three features.
    tenure = (pd.Timestamp(settings.dataset.as_of) - clean_pdf["signup_date"]).dt.days.to_numpy(float)
    X = np.column_stack([np.ones(len(y)), clean_pdf["age"], clean_pdf["is_active"].astype(float), tenure])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    assert np.mean((y - X @ coef) ** 2) > 2.0 * floor
    # Whereas the true function is at the floor.
    exact = _basis(clean_pdf, settings.dataset.as_of, t.age_min) @ np.array(
        [t.base, t.age_linear, t.age_quadratic, t.active_bonus, t.tenure_sqrt, t.active_tenure])
    assert np.mean((y - exact) ** 2) == pytest.approx(floor, rel=0.02)


def test_dirty_fractions_as_configured(dirty_pdf, settings):
    d = settings.dataset.dirty
    firsts = dirty_pdf[~dirty_pdf["_is_duplicate"]]
    assert len(firsts) == ROWS and firsts["id"].is_unique
    dups = dirty_pdf[dirty_pdf["_is_duplicate"]]
    assert len(dups) / ROWS == pytest.approx(d.duplicate_fraction, rel=0.1)
    # A duplicate is an exact copy of its first row.
    merged = dups.merge(firsts, on="id", suffixes=("", "_first"))
    for column in RAW_COLUMNS[1:]:
        first = merged[f"{column}_first"]
        same = (merged[column] == first) | (merged[column].isna() & first.isna())
        assert same.all(), column
    nulls = firsts[list(NULLABLE_COLUMNS)].isna().sum(axis=1)
    assert (nulls <= 1).all()
    assert (nulls == 1).mean() == pytest.approx(d.null_fraction, rel=0.15)
    assert ((nulls == 1) == firsts["_has_null"]).all()
    assert firsts["id"].notna().all()
    padded = firsts["name"].dropna().str.startswith(" ")
    assert padded.mean() == pytest.approx(d.padded_name_fraction, rel=0.1)


def test_rows_must_be_positive(spark, settings):
    with pytest.raises(ValueError, match="rows must be positive"):
        generate(spark, 0, SEED, settings.dataset)


def test_null_columns_spread_over_every_nullable_column(dirty_pdf):
    firsts = dirty_pdf[~dirty_pdf["_is_duplicate"]]
    assert set(firsts[list(NULLABLE_COLUMNS)].isna().sum().loc[lambda s: s > 0].index) == set(NULLABLE_COLUMNS)


def test_spark_expression_uniform_is_uniform(spark):
    from salary.data.generate import uniform

    u = spark.range(100_000).select(uniform(3, 1).alias("u")).toPandas()["u"]
    assert u.between(0, 1, inclusive="left").all()
    assert u.mean() == pytest.approx(0.5, abs=0.005)
    assert np.histogram(u, bins=10, range=(0, 1))[0].min() > 9500


def test_a_dataset_there_is_kept_when_identical_or_when_asked(spark, settings, tmp_path):
    from salary.data.generate import write_dataset
    from salary.lake import Lake, LakeIO
    from salary.lake.hadoop_store import HadoopStore
    from salary.runtime.job import JobContext, Stages

    lake = Lake(f"file://{tmp_path}", settings.lake)
    ctx = JobContext(LakeIO(lake, HadoopStore(spark, lake.root)), settings, "r", Stages())

    def write(rows, seed, **kwargs):
        return write_dataset(spark, ctx, rows, seed, **kwargs)

    assert write(1000, 1)["skipped"] is False
    assert write(1000, 1)["skipped"] is True
    kept = write(2000, 2, keep_existing=True)  # a retrain on a model-health event
    assert kept["skipped"] is True and kept["manifest"]["rows"] == 1000
    assert write(2000, 2)["manifest"]["rows"] == 2000
