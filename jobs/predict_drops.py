"""Ray job: batch prediction of new drops with the champion model (salary.drops.predict); the
DAG's publish task makes the staged results visible."""

from __future__ import annotations

import json
import logging

import ray

from salary.drops.predict import predict_drops
from salary.lake import join
from salary.lake.fsspec_store import FsspecStore
from salary.runtime.job import finish_job, job_parser, run_job, start_job

JOB = "predict_drops"


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--drops", default="[]", help="JSON list of complete drop names (the sensor's XCom)")
    job = start_job(parser, argv)
    args, lake, stages = job.args, job.lake, job.stages
    with stages.stage("connect"):
        ray.init(logging_level=logging.WARNING)
    store = FsspecStore()
    result = predict_drops(store, lake, job.settings, args.run_id, json.loads(args.drops or "[]") or [], stages)
    finish_job(store, join(lake.report(JOB, args.run_id), "summary.json"), JOB, args.run_id, result, stages)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_job(main))
