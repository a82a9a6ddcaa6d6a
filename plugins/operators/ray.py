"""Run a Ray job on a Ray cluster through the Jobs API, with its logs in the task log."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from hooks.ray import RayHook

from salary.errors import BAD_INPUT_EXIT_CODE
from salary.runtime import parse_summaries

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
# "2026-01-01 12:00:00,123 WARNING name: ..." (Python logging, Ray's own "<date> <time>\tINFO x.py:1 -- ...")
LEVEL = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d+\s+(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")


def line_level(line: str, previous: int = logging.INFO) -> int:
    """The level a forwarded job line is logged at: its own when it names one; a traceback or
    an indented continuation keeps the level of the line it continues; anything else INFO."""
    match = LEVEL.match(line)
    if match:
        return logging.getLevelName(match.group(1))
    if line[:1].isspace() or line.startswith(("Traceback", "During handling")) or not line.strip():
        return previous
    return logging.INFO


def submission_id(dag_id: str, task_id: str, run_id: str, try_number: int) -> str:
    """A Ray submission id unique per task try (a retry is a new Ray job)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", f"{dag_id}-{task_id}-{run_id}-try{try_number}")


class RayJobOperator(BaseOperator):
    """Submit ``entrypoint`` as a Ray job and wait for it, streaming its logs into the task log.

    The job runs on the cluster with ``runtime_env`` (our code ships as its working_dir). The
    task fails with the job's own error when the job fails, fails without retrying when the
    job exits with the bad-input status, returns the job's summary line as XCom on success
    (a job that exits 0 without one did not run what it was meant to, e.g. a mangled
    entrypoint, and fails the task), and stops the Ray job when the task is killed or cleared (``on_kill``).
    """

    template_fields: Sequence[str] = ("entrypoint", "runtime_env")
    ui_color = "#d6e8ff"

    def __init__(self, *, entrypoint: str, runtime_env: dict[str, Any] | None = None,
                 ray_conn_id: str = RayHook.default_conn_name, poll_interval: float = 2.0,
                 entrypoint_num_cpus: float = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entrypoint = entrypoint
        self.runtime_env = runtime_env
        self.ray_conn_id = ray_conn_id
        self.poll_interval = poll_interval
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self.job_id: str | None = None
        self._client: Any = None

    def execute(self, context: Any) -> dict[str, Any] | None:
        from ray.job_submission import JobStatus

        ti = context["ti"]
        hook = RayHook(self.ray_conn_id)
        address = hook.address
        self._client = hook.get_conn()
        self.job_id = self._client.submit_job(
            entrypoint=self.entrypoint,
            runtime_env=self.runtime_env,
            submission_id=submission_id(ti.dag_id, ti.task_id, ti.run_id, ti.try_number),
            entrypoint_num_cpus=self.entrypoint_num_cpus,
            metadata={"airflow_dag_id": ti.dag_id, "airflow_task_id": ti.task_id, "airflow_run_id": ti.run_id},
        )
        self.log.info("submitted Ray job %s to %s", self.job_id, address)
        logs = self._follow()
        info = self._client.get_job_info(self.job_id)
        if info.status != JobStatus.SUCCEEDED:
            message = f"Ray job {self.job_id} {info.status}: {info.message}"
            if getattr(info, "driver_exit_code", None) == BAD_INPUT_EXIT_CODE:
                raise AirflowFailException(f"{message} (bad input; not retrying)")
            raise AirflowException(message + "\n" + "\n".join(logs.splitlines()[-20:]))
        summaries = parse_summaries(logs)
        if not summaries:
            raise AirflowException(f"Ray job {self.job_id} succeeded but printed no JOB_SUMMARY line: "
                                   f"its entrypoint did not run the job ({self.entrypoint!r})")
        return summaries[-1]

    def _follow(self) -> str:
        """Poll until the job ends, logging each new line of its output; return all of it."""
        seen, level = 0, logging.INFO
        while True:
            status = str(self._client.get_job_status(self.job_id))
            logs = self._client.get_job_logs(self.job_id)
            for line in logs[seen:].splitlines():
                level = line_level(line, level)
                self.log.log(level, "[ray] %s", line)
            seen = len(logs)
            if status.rsplit(".", 1)[-1] in TERMINAL:
                return logs
            time.sleep(self.poll_interval)

    def on_kill(self) -> None:
        if self.job_id and self._client is not None:
            self.log.info("stopping Ray job %s", self.job_id)
            self._client.stop_job(self.job_id)
