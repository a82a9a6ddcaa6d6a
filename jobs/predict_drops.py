"""Ray job: batch prediction of new drops with the champion model (salary.drops.predict); the
DAG's publish task makes the staged results visible."""

from __future__ import annotations

import json
import logging

import ray

from salary.drops.predict import predict_drops
from salary.lake.fsspec_store import FsspecStore
from salary.runtime.job import finish_job, job_parser, run_job, start_job

JOB = "predict_drops"


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--drops", default="[]", help="JSON list of complete drop names (the sensor's XCom)")
    job = start_job(parser, argv)
    with job.stages.stage("connect"):
        ray.init(logging_level=logging.WARNING)  # inside a Ray job: the cluster that runs it
    ctx = job.context(FsspecStore())
    result = predict_drops(ctx, json.loads(job.args.drops or "[]") or [])
    finish_job(ctx, JOB, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_job(main))
