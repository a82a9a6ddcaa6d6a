"""Synthetic salary dataset with a known ground truth, as Spark column expressions.

Every random draw is a hash of (seed, stream, id), so a row's values depend only on its id
and the seed: the dataset is the same whatever the partitioning, executor count or retry.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from salary.config import DatasetSpec, GroundTruth, Settings
from salary.lake import MANIFEST, join
from salary.runtime.job import JobContext
from salary.schema import RAW_COLUMNS

__all__ = ["RAW_COLUMNS", "NULLABLE_COLUMNS", "clean_rows", "generate", "make_dirty", "uniform", "write_dataset"]

# Columns that may be nulled by the dirty-data injection (never the id).
NULLABLE_COLUMNS = ("name", "age", "salary", "signup_date", "is_active")

_MANTISSA = (1 << 53) - 1
log = logging.getLogger(__name__)

# One stream per independent draw.
S_AGE, S_SIGNUP, S_ACTIVE, S_NOISE_1, S_NOISE_2, S_NAME = 1, 2, 3, 4, 5, 6
S_DUPLICATE, S_NULL, S_NULL_COLUMN, S_PAD = 7, 8, 9, 10


def uniform(seed: int, stream: int, id_col: str = "id") -> Column:
    """A uniform double in [0, 1) that depends only on (seed, stream, id)."""
    bits = F.xxhash64(F.lit(seed), F.lit(stream), F.col(id_col)).bitwiseAND(F.lit(_MANTISSA))
    return bits.cast("double") / float(1 << 53)


def standard_normal(seed: int) -> Column:
    """A standard normal draw per id (Box-Muller over two independent uniforms)."""
    u1 = F.lit(1.0) - uniform(seed, S_NOISE_1)  # in (0, 1], so log() is finite
    u2 = uniform(seed, S_NOISE_2)
    return F.sqrt(F.lit(-2.0) * F.log(u1)) * F.cos(F.lit(2.0 * math.pi) * u2)


def expected_salary(age: Column, is_active: Column, tenure_years: Column, t: GroundTruth) -> Column:
    """The noise-free salary (GroundTruth.expected_salary) over Spark columns."""
    return t.expected_salary(age.cast("double"), is_active.cast("double"), tenure_years, F.sqrt)


def clean_rows(spark: SparkSession, rows: int, seed: int, spec: DatasetSpec) -> DataFrame:
    """The ``rows`` distinct people with ids 0..rows-1, before any dirty-data injection."""
    t = spec.truth
    partitions = max(1, math.ceil(rows / spec.rows_per_file))
    ages = t.age_max - t.age_min + 1
    names = F.array(*[F.lit(n) for n in spec.names])
    offset_days = F.floor(uniform(seed, S_SIGNUP) * spec.signup_days).cast("int")
    df = (
        spark.range(0, rows, 1, partitions)
        .withColumn("age", (F.lit(t.age_min) + F.floor(uniform(seed, S_AGE) * ages)).cast("int"))
        .withColumn("is_active", uniform(seed, S_ACTIVE) < F.lit(t.active_probability))
        .withColumn("_offset_days", offset_days)
        .withColumn("_tenure", F.col("_offset_days").cast("double") / F.lit(365.25))
    )
    salary = expected_salary(F.col("age"), F.col("is_active"), F.col("_tenure"), t)
    name_index = F.floor(uniform(seed, S_NAME) * len(spec.names)).cast("int")
    signup = F.date_sub(F.lit(spec.as_of), F.col("_offset_days"))
    return df.select(
        F.col("id"),
        F.get(names, name_index).alias("name"),
        F.col("age"),
        F.round(salary + F.lit(t.noise_sigma) * standard_normal(seed), 2).alias("salary"),
        # The report stored signup_date as a timestamp at midnight; the ETL turns it into a DATE.
        F.to_timestamp(signup).alias("signup_date"),
        F.col("is_active"),
    )


def make_dirty(df: DataFrame, seed: int, spec: DatasetSpec) -> DataFrame:
    """Inject the configured dirty data: padded names, nulls and exact duplicate rows.

    Adds ``_is_duplicate`` (the second copy of a duplicated row) and ``_has_null`` flags so a
    writer can count what was injected in the same pass; drop them before writing.
    """
    d = spec.dirty
    padded = uniform(seed, S_PAD) < F.lit(d.padded_name_fraction)
    df = df.withColumn(
        "name", F.when(padded, F.concat(F.lit("  "), F.col("name"), F.lit(" "))).otherwise(F.col("name"))
    )
    has_null = uniform(seed, S_NULL) < F.lit(d.null_fraction)
    null_pick = F.floor(uniform(seed, S_NULL_COLUMN) * len(NULLABLE_COLUMNS)).cast("int")
    for i, column in enumerate(NULLABLE_COLUMNS):
        df = df.withColumn(column, F.when(has_null & (null_pick == i), F.lit(None)).otherwise(F.col(column)))
    copies = F.when(uniform(seed, S_DUPLICATE) < F.lit(d.duplicate_fraction), 1).otherwise(0)
    return (
        df.withColumn("_has_null", has_null)
        .withColumn("_copy", F.explode(F.sequence(F.lit(0), copies)))
        .withColumn("_is_duplicate", F.col("_copy") > 0)
        .drop("_copy")
    )


def generate(spark: SparkSession, rows: int, seed: int, spec: DatasetSpec) -> DataFrame:
    """The raw dataset as written to the lake, with the two bookkeeping flags."""
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    return make_dirty(clean_rows(spark, rows, seed, spec), seed, spec)


def build_manifest(settings: Settings, rows: int, seed: int, counts: dict[str, int], run_id: str) -> dict[str, Any]:
    """The generated chunk's manifest: what was generated, how dirty, and the noise floor."""
    spec = settings.dataset
    return {
        "dataset": "generated",
        "digest": spec.digest(rows, seed),
        "rows": rows,
        "seed": seed,
        "generator_version": spec.generator_version,
        "as_of": spec.as_of.isoformat(),
        "raw_rows": counts["raw_rows"],
        "duplicate_rows": counts["duplicate_rows"],
        "rows_with_null": counts["rows_with_null"],
        "noise_sigma": spec.truth.noise_sigma,
        "noise_floor_mse": spec.truth.noise_floor_mse,
        "ground_truth": spec.truth.__dict__,
        "dirty": spec.dirty.__dict__,
        "created_by_run": run_id,
    }


def write_dataset(spark: SparkSession, ctx: JobContext[Any], rows: int, seed: int,
                  keep_existing: bool = False) -> dict[str, Any]:
    """Generate and publish the chunk unless an identical one exists (with ``keep_existing``:
    unless any complete one exists); return the summary."""
    store, lake, settings, run_id, stages = ctx.lake.store, ctx.lake.paths, ctx.settings, ctx.run_id, ctx.stages
    target = lake.generated_chunk
    digest = settings.dataset.digest(rows, seed)
    with stages.stage("check_existing"):
        existing = store.read_json(join(target, MANIFEST))
    if existing and existing.get("digest") == digest:
        log.info("dataset %s already complete at %s; nothing to do", digest, target)
        return {"skipped": True, "manifest": existing}
    if existing and keep_existing:
        log.info("keeping the dataset at %s (%d rows, seed %d) as asked", target, existing["rows"], existing["seed"])
        return {"skipped": True, "manifest": existing}

    staging = lake.staging("generate_dataset", run_id)
    store.delete(staging)  # what an earlier attempt of this run left
    observed = Observation("generated")
    df = generate(spark, rows, seed, settings.dataset).observe(
        observed,
        F.count(F.lit(1)).alias("raw_rows"),
        F.sum(F.col("_is_duplicate").cast("long")).alias("duplicate_rows"),
        F.sum((F.col("_has_null") & ~F.col("_is_duplicate")).cast("long")).alias("rows_with_null"),
    )
    with stages.stage("generate_write"):
        df.drop("_is_duplicate", "_has_null").write.mode("overwrite").parquet(staging)
    counts = {k: int(v or 0) for k, v in observed.get.items()}
    manifest = build_manifest(settings, rows, seed, counts, run_id)
    manifest["files"] = [n for n in store.names(staging) if n.endswith(".parquet")]
    with stages.stage("publish"):
        store.write_json(join(staging, MANIFEST), manifest)
        store.republish(staging, target)  # the one folder ever replaced (see Store.republish)
    log.info("published %d raw rows (%d distinct) to %s", counts["raw_rows"], rows, target)
    return {"skipped": False, "manifest": manifest}
