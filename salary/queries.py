"""The report's two queries over the curated dataset (report section IV-B and IV-C)."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

PERSON = ("id", "name", "age", "salary")


def top_earners(curated: DataFrame, n: int) -> DataFrame:
    """The ``n`` highest salaries; ties broken by id ascending so the list is deterministic.

    ``orderBy(...).limit(n)`` plans as a per-partition top-k (TakeOrderedAndProject), not a
    full sort of the dataset.
    """
    return curated.select(*PERSON).orderBy(F.desc("salary"), F.asc("id")).limit(n)


def age_band(age: Column, starts: Sequence[int], age_max: int) -> Column:
    """Label such as ``25-34`` for the band holding ``age``; bands start at ``starts``."""
    ends = [s - 1 for s in starts[1:]] + [age_max]
    label = F.lit(None).cast("string")
    for start, end in zip(starts, ends, strict=True):  # the last when() applied is checked first
        label = F.when(age >= start, F.lit(f"{start}-{end}")).otherwise(label)
    return label


def salary_by_age_band(curated: DataFrame, starts: Sequence[int], age_max: int) -> DataFrame:
    """Salary summary per age band, bands in age order."""
    return (
        curated.select(age_band(F.col("age"), starts, age_max).alias("age_band"), "age", "salary")
        .groupBy("age_band")
        .agg(
            F.min("age").alias("_order"),
            F.count(F.lit(1)).alias("people"),
            F.round(F.avg("salary"), 2).alias("mean_salary"),
            F.round(F.stddev_samp("salary"), 2).alias("stddev_salary"),
            F.min("salary").alias("min_salary"),
            F.max("salary").alias("max_salary"),
        )
        .orderBy("_order")
        .drop("_order")
    )


def active(curated: DataFrame) -> DataFrame:
    return curated.filter(F.col("is_active"))


def youngest(curated: DataFrame, k: int) -> DataFrame:
    """The ``k`` youngest active people, ties by id ascending."""
    return active(curated).select(*PERSON).orderBy(F.asc("age"), F.asc("id")).limit(k)


def oldest(curated: DataFrame, k: int) -> DataFrame:
    """The ``k`` oldest active people, ties by id ascending."""
    return active(curated).select(*PERSON).orderBy(F.desc("age"), F.asc("id")).limit(k)


def age_histogram(curated: DataFrame) -> DataFrame:
    """Number of active people at each age, ages ascending."""
    return active(curated).groupBy("age").agg(F.count(F.lit(1)).alias("people")).orderBy("age")
