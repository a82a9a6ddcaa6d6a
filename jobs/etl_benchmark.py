"""Spark job: raw chunks -> <lake>/datasets/curated/<run>/ (salary.data.curate), with per-stage
metrics in <lake>/reports/etl_benchmark/<run>/metrics.json."""

from __future__ import annotations

from salary.data.curate import JOB, run_etl
from salary.lake import join
from salary.lake.hadoop_store import HadoopStore
from salary.runtime.job import job_parser, run_job, start_job
from salary.runtime.spark import finish_spark_job, get_session


def main(argv: list[str] | None = None) -> int:
    job = start_job(job_parser(__doc__.splitlines()[0]), argv)
    args, lake, stages = job.args, job.lake, job.stages
    with stages.stage("session"):
        spark = get_session(JOB)
    result = run_etl(spark, HadoopStore(spark, lake.root), lake, job.settings, args.run_id, stages)
    finish_spark_job(spark, join(lake.report(JOB, args.run_id), "metrics.json"), JOB, args.run_id, result, stages)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(run_job(main))
