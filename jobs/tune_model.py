"""Ray job: tune, refit and evaluate the salary model on this run's curated data; publish
<lake>/models/salary/<run>/ (salary.model.train). Promotion is a separate task."""

from __future__ import annotations

import logging

import pyarrow as pa
import ray

from salary.lake.fsspec_store import FsspecStore
from salary.model.train import tune_and_publish
from salary.runtime.job import finish_job, job_parser, run_job, start_job

JOB = "tune_model"


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", help="search preset in config/search_spaces.toml")
    parser.add_argument("--curated-run", default=None, help="train on another run's curated version")
    job = start_job(parser, argv)
    # Arrow's jemalloc pool, which hands freed pages back within a second: the default (mimalloc)
    # kept a freed table's pages through the search and the refit (3.3 GB resident after a
    # 30M-row load, where the data is 1.3 GB), and malloc's pool peaked at 4.1 GB loading a
    # 300M-row version's sample (jemalloc: 3.1 GB).
    pa.set_memory_pool(pa.jemalloc_memory_pool())
    with job.stages.stage("connect"):
        ray.init(logging_level=logging.WARNING)  # inside a Ray job: the cluster that runs it
    ctx = job.context(FsspecStore())
    result = tune_and_publish(ctx, job.args.preset, job.args.curated_run)
    finish_job(ctx, JOB, {**result, "cluster_cpus": ray.cluster_resources().get("CPU")})
    return 0


if __name__ == "__main__":
    raise SystemExit(run_job(main))
