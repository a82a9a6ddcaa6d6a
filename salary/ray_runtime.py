"""The runtime env every Ray job of ours is submitted with (no Ray import: DAG files use it)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

# Code and config ship as the job's working_dir; data, caches and tests do not.
WORKING_DIR_EXCLUDES = (".git", ".local", ".venv", "build", "tests", "bench", "**/__pycache__")


# What a model's behaviour depends on: the package, the job entry points and the settings.
CODE_GLOBS = ("salary/**/*.py", "jobs/*.py", "config/*.toml")


def code_version(repo: Path) -> str:
    """A content hash of the code and config a job runs (recorded in each model's manifest)."""
    digest = hashlib.sha256()
    for path in sorted({p for pattern in CODE_GLOBS for p in repo.glob(pattern)}):
        digest.update(path.relative_to(repo).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"sha256:{digest.hexdigest()[:16]}"


def job_runtime_env(repo: Path) -> dict[str, Any]:
    return {"working_dir": str(repo), "excludes": list(WORKING_DIR_EXCLUDES),
            "env_vars": {"SALARY_CODE_VERSION": code_version(repo)}}


def run_and_wait(address: str, entrypoint: str, repo: Path, poll_seconds: float = 0.5) -> tuple[float, dict[str, Any]]:
    """Submit one of our jobs through the Jobs API, wait for it, and return (wall seconds from
    submission to the end, the job's JOB_SUMMARY). For benchmarks that time a job without
    Airflow (the DAGs use RayJobOperator). Raises with the log's tail if the job fails."""
    import time

    from ray.job_submission import JobStatus, JobSubmissionClient

    from salary.runtime import parse_summaries

    client = JobSubmissionClient(address)
    start = time.perf_counter()
    job = client.submit_job(entrypoint=entrypoint, runtime_env=job_runtime_env(repo))
    while not client.get_job_status(job).is_terminal():
        time.sleep(poll_seconds)
    wall = time.perf_counter() - start
    logs = client.get_job_logs(job)
    if client.get_job_status(job) != JobStatus.SUCCEEDED:
        raise RuntimeError(logs[-3000:])
    return wall, parse_summaries(logs)[-1]
