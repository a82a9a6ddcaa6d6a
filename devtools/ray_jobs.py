"""Run one of our Ray jobs without Airflow and time it (benchmarks; the DAGs use RayPipelineJobOperator)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from salary.runtime.job import parse_summaries
from salary.runtime.ray import job_runtime_env
from salary.runtime.version import CODE_VERSION_ENV, code_version


def run_and_wait(address: str, entrypoint: str, repo: Path, poll_seconds: float = 0.5) -> tuple[float, dict[str, Any]]:
    """Submit a job through the Jobs API, wait for it, and return (wall seconds from submission
    to the end, the job's JOB_SUMMARY). Raises with the log's tail if the job fails."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(address)
    runtime_env = {**job_runtime_env(repo), "env_vars": {CODE_VERSION_ENV: code_version(repo)}}
    start = time.perf_counter()
    job = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)
    while not client.get_job_status(job).is_terminal():
        time.sleep(poll_seconds)
    wall = time.perf_counter() - start
    logs = client.get_job_logs(job)
    if client.get_job_status(job) != JobStatus.SUCCEEDED:
        raise RuntimeError(logs[-3000:])
    return wall, parse_summaries(logs)[-1]
