"""Spark job: raw chunks -> <lake>/datasets/curated/<run>/ (salary.data.curate), with per-stage
metrics in <lake>/reports/etl_benchmark/<run>/metrics.json."""

from __future__ import annotations

from salary.data.curate import JOB, run_etl
from salary.lake.hadoop_store import HadoopStore
from salary.runtime.job import job_parser, run_job, start_job
from salary.runtime.spark import finish_spark_job, get_session


def main(argv: list[str] | None = None) -> int:
    job = start_job(job_parser(__doc__.splitlines()[0]), argv)
    with job.stages.stage("session"):
        spark = get_session(JOB)
    ctx = job.context(HadoopStore(spark, job.lake.root))
    finish_spark_job(spark, ctx, JOB, run_etl(spark, ctx), report="metrics.json")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(run_job(main))
