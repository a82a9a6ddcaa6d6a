from __future__ import annotations

import datetime as dt
import random

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from salary.data.etl import CURATED_SCHEMA
from salary.data.queries import (
    age_band_index,
    age_histogram,
    extreme_ages,
    extreme_candidates,
    oldest,
    salary_by_age_band,
    top_earners,
    youngest,
)

DAY = dt.date(2020, 1, 1)


def _people(spark, rows):
    return spark.createDataFrame([(i, n, a, s, DAY, act) for i, n, a, s, act in rows], CURATED_SCHEMA)


def test_top_earners_breaks_ties_by_id(spark):
    df = _people(spark, [(5, "e", 30, 100.0, True), (3, "c", 40, 100.0, False), (9, "i", 50, 90.0, True),
                         (1, "a", 20, 50.0, True), (2, "b", 60, 100.0, True)])
    got = top_earners(df, 4).collect()
    assert [r["id"] for r in got] == [2, 3, 5, 9]
    assert got[0].asDict() == {"id": 2, "name": "b", "age": 60, "salary": 100.0}


def test_top_earners_is_planned_as_a_top_k_not_a_full_sort(spark):
    df = _people(spark, [(1, "a", 20, 1.0, True)])
    plan = top_earners(df, 3)._jdf.queryExecution().executedPlan().toString()
    assert "TakeOrderedAndProject" in plan


def test_age_band_index(spark):
    df = spark.createDataFrame([(a,) for a in (17, 18, 24, 25, 74, 75, 80)], "age int")
    bands = [r["b"] for r in df.select(age_band_index(F.col("age"), [18, 25, 75]).alias("b")).collect()]
    assert bands == [None, 0, 0, 1, 1, 2, 2]


def test_salary_by_age_band(spark):
    df = _people(spark, [(1, "a", 20, 10.0, True), (2, "b", 22, 30.0, False), (3, "c", 70, 50.0, True)])
    got = salary_by_age_band(df, [18, 25], 80)
    expected = spark.createDataFrame(
        [("18-24", 2, 20.0, 14.14, 10.0, 30.0), ("25-80", 1, 50.0, None, 50.0, 50.0)],
        "age_band string, people bigint, mean_salary double, stddev_salary double, min_salary double, "
        "max_salary double",
    )
    assertDataFrameEqual(got, expected, checkRowOrder=True)


def test_youngest_and_oldest_are_active_only_with_id_ties(spark):
    rows = [(1, "a", 19, 1.0, False), (2, "b", 25, 1.0, True), (3, "c", 25, 1.0, True), (4, "d", 22, 1.0, True),
            (5, "e", 80, 1.0, False), (6, "f", 70, 1.0, True), (7, "g", 70, 1.0, True)]
    df = _people(spark, rows)
    assert [r["id"] for r in youngest(df, 2).collect()] == [4, 2]
    assert [r["id"] for r in oldest(df, 3).collect()] == [6, 7, 2]


def test_age_histogram_counts_active_people(spark):
    df = _people(spark, [(1, "a", 19, 1.0, False), (2, "b", 25, 1.0, True), (3, "c", 25, 1.0, True),
                         (4, "d", 30, 1.0, True)])
    assert [tuple(r) for r in age_histogram(df).collect()] == [(25, 2), (30, 1)]


def test_extreme_ages_are_the_kth_youngest_and_kth_oldest():
    histogram = [(30, 2), (18, 1), (50, 0), (40, 3), (60, 1)]
    assert extreme_ages(histogram, 1) == (18, 60)
    assert extreme_ages(histogram, 2) == (30, 40)  # 18, 30 | 60, 40
    assert extreme_ages(histogram, 4) == (40, 40)  # 18, 30, 30, 40 | 60, 40, 40, 40
    assert extreme_ages(histogram, 99) == (60, 18)  # fewer people than k: everyone
    assert extreme_ages([(None, 5), (25, 1)], 3) == (25, 25)
    assert extreme_ages([], 5) is None and extreme_ages([(20, 0)], 5) is None


def test_extremes_from_the_candidates_equal_the_extremes_of_everyone(spark):
    rng = random.Random(7)
    rows = [(i, f"n{i}", rng.randint(18, 30), 1.0, rng.random() < 0.6) for i in range(400)]
    df = _people(spark, rows)
    for k in (1, 5, 37, 500):
        histogram = [(r["age"], r["people"]) for r in age_histogram(df).collect()]
        candidates = extreme_candidates(df, k, histogram)
        assert candidates.count() < len(rows) or k == 500
        assert youngest(candidates, k).collect() == youngest(df, k).collect()
        assert oldest(candidates, k).collect() == oldest(df, k).collect()
    nobody = _people(spark, [(1, "a", 20, 1.0, False)])
    assert extreme_candidates(nobody, 3, []).collect() == []
