"""Spark job: write the synthetic raw dataset to <lake>/datasets/parquet_chunks/generated/.

Idempotent: when the chunk's manifest already has this (rows, seed, generator spec) digest,
nothing is written. Otherwise the rows go to a staging folder, the manifest is written last,
and the folder replaces the published chunk in one rename.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import Observation, SparkSession
from pyspark.sql import functions as F

from salary.config import Settings
from salary.generate import generate
from salary.hadoopfs import HadoopFS
from salary.lake import MANIFEST, Lake, join
from salary.runtime import Stages, job_parser, run_job, start_job
from salary.spark import finish_job, get_session

JOB = "generate_dataset"
log = logging.getLogger(JOB)


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


def write_dataset(spark: SparkSession, fs: HadoopFS, lake: Lake, settings: Settings,
                  rows: int, seed: int, run_id: str, stages: Stages) -> dict[str, Any]:
    """Generate and publish the chunk unless an identical one exists; return the summary."""
    target = lake.generated_chunk
    digest = settings.dataset.digest(rows, seed)
    with stages.stage("check_existing"):
        existing = fs.read_json(join(target, MANIFEST))
    if existing and existing.get("digest") == digest:
        log.info("dataset %s already complete at %s; nothing to do", digest, target)
        return {"skipped": True, "manifest": existing}

    staging = lake.staging(JOB, run_id)
    fs.delete(staging)  # what an earlier attempt of this run left
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
    manifest["files"] = [n for n in fs.list_names(staging) if n.endswith(".parquet")]
    with stages.stage("publish"):
        fs.write_json(join(staging, MANIFEST), manifest)
        fs.replace_dir(staging, target)
    log.info("published %d raw rows (%d distinct) to %s", counts["raw_rows"], rows, target)
    return {"skipped": False, "manifest": manifest}


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="distinct people to generate")
    parser.add_argument("--seed", type=int, required=True)
    job = start_job(parser, argv)
    args, settings, lake, stages = job.args, job.settings, job.lake, job.stages
    with stages.stage("session"):
        spark = get_session(JOB)
    result = write_dataset(spark, HadoopFS(spark, lake.root), lake, settings,
                           args.rows, args.seed, args.run_id, stages)
    finish_job(spark, join(lake.report(JOB, args.run_id), "summary.json"), {
        "job": JOB,
        "run_id": args.run_id,
        "skipped": result["skipped"],
        "rows": result["manifest"]["rows"],
        "rows_out": result["manifest"]["raw_rows"],
        "digest": result["manifest"]["digest"],
        "output": lake.generated_chunk,
    }, stages)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(run_job(main))
