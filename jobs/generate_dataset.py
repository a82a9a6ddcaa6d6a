"""Spark job: the synthetic raw dataset -> <lake>/datasets/parquet_chunks/generated/
(salary.data.generate; skipped when an identical one is there)."""

from __future__ import annotations

from salary.data.generate import write_dataset
from salary.lake.hadoop_store import HadoopStore
from salary.runtime.job import job_parser, run_job, start_job
from salary.runtime.spark import finish_spark_job, get_session

JOB = "generate_dataset"


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="distinct people to generate")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--keep-existing", choices=["yes", "no"], default="no",
                        help="keep a generated dataset already there, whatever its rows and seed")
    job = start_job(parser, argv)
    with job.stages.stage("session"):
        spark = get_session(JOB)
    ctx = job.context(HadoopStore(spark, job.lake.root))
    result = write_dataset(spark, ctx, job.args.rows, job.args.seed, keep_existing=job.args.keep_existing == "yes")
    manifest = result["manifest"]
    finish_spark_job(spark, ctx, JOB, {"skipped": result["skipped"], "rows": manifest["rows"],
                                       "rows_out": manifest["raw_rows"], "digest": manifest["digest"],
                                       "output": job.lake.generated_chunk})
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(run_job(main))
