"""RayJobOperator for our jobs (``jobs/*.py`` run through the Ray Jobs API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from salary.errors import BAD_INPUT_EXIT_CODE
from salary.runtime.job import SUMMARY_MARKER, summary_line
from salary.runtime.version import CODE_VERSION_ENV, code_version
from salary_airflow.operators.ray import RayJobOperator


class RayPipelineJobOperator(RayJobOperator):
    """Run one of ``jobs/`` as a Ray job: the task returns the job's ``JOB_SUMMARY`` (a job that
    succeeds without one did not run, e.g. a mangled entrypoint, and fails the task), bad input
    fails it without retrying, and the job is told the code version it runs (its copy of the
    code, the runtime env's working_dir, has no .git: the commit is taken here).

    Takes ``RayJobOperator``'s parameters; ``result_marker`` and ``fail_fast_exit_codes`` are set.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(result_marker=SUMMARY_MARKER, fail_fast_exit_codes=(BAD_INPUT_EXIT_CODE,), **kwargs)

    def submission_runtime_env(self) -> dict[str, Any] | None:
        return with_code_version(self.runtime_env)

    def job_result(self, event: dict[str, Any]) -> Any:
        summary = super().job_result(event)
        self.log.info("%s", summary_line(summary))
        return summary


def with_code_version(runtime_env: dict[str, Any] | None) -> dict[str, Any] | None:
    """The runtime env with ``SALARY_CODE_VERSION`` of a local working_dir."""
    working_dir = (runtime_env or {}).get("working_dir")
    if not working_dir or not Path(working_dir).is_dir():
        return runtime_env
    env_vars = {CODE_VERSION_ENV: code_version(Path(working_dir)), **(runtime_env or {}).get("env_vars", {})}
    return {**(runtime_env or {}), "env_vars": env_vars}
