"""Run a Ray job on a Ray cluster through the Jobs API, with its logs in the task log."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from salary.errors import BAD_INPUT_EXIT_CODE
from salary.runtime import summary_line
from salary_airflow.hooks.ray import TERMINAL, RayHook
from salary_airflow.triggers.ray import LogForwarder, RayJobTrigger


def submission_id(dag_id: str, task_id: str, run_id: str, try_number: int, map_index: int = -1) -> str:
    """The Ray submission id of one try of one task instance (a retry may re-attach to an
    earlier try's job instead of submitting a new one; see RayJobOperator)."""
    mapped = f"-m{map_index}" if map_index >= 0 else ""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", f"{dag_id}-{task_id}-{run_id}{mapped}-try{try_number}")


class RayJobLink(BaseOperatorLink):
    """The task's Ray job in the Ray dashboard (the URL is stored when the job is submitted)."""

    name = "Ray job"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(ti_key=ti_key, key=self.xcom_key) or ""


class RayJobOperator(BaseOperator):
    """Submit ``entrypoint`` as a Ray job and wait for it, streaming its logs into the task log.

    The job runs on the cluster with ``runtime_env`` (our code ships as its working_dir).
    Deferrable by default: after submitting, the task hands the wait to ``RayJobTrigger`` in
    the triggerer and holds no worker slot while the job runs; ``deferrable=False`` waits in
    the worker with the same code. With ``wait_in_worker``, the task first follows the job
    itself for up to that long: a short job (a small drop's prediction) ends without the
    hand-off to the triggerer and back (a second task start), a long one is deferred then,
    and the trigger skips the lines already logged. The job's output reaches the task log
    line by line at each line's own level.

    A try first looks for the jobs of earlier tries of the same task instance: one still
    running (its worker died, or the task was retried while the job went on) is re-attached
    to instead of submitting the work twice. ``job_timeout`` stops the job and fails the task
    when it runs longer. The task fails with the job's message and last lines when the job
    fails, fails without retrying when the job exits with the bad-input status, and returns
    the job's JOB_SUMMARY as XCom on success (a job that exits 0 without one did not run what
    it was meant to, e.g. a mangled entrypoint, and fails the task). Killing, clearing or
    marking the task stops the Ray job. The "Ray job" extra link opens it in the dashboard.
    """

    template_fields: Sequence[str] = ("entrypoint", "runtime_env")
    operator_extra_links = (RayJobLink(),)
    ui_color = "#d6e8ff"

    def __init__(self, *, entrypoint: str, runtime_env: dict[str, Any] | None = None,
                 ray_conn_id: str = RayHook.default_conn_name, deferrable: bool = True, poll_interval: float = 5.0,
                 job_timeout: dt.timedelta | None = None, entrypoint_num_cpus: float = 0,
                 wait_in_worker: dt.timedelta | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entrypoint = entrypoint
        self.runtime_env = runtime_env
        self.ray_conn_id = ray_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self.wait_in_worker = wait_in_worker
        self.job_id: str | None = None

    def execute(self, context: Any) -> dict[str, Any] | None:
        ti = context["ti"]
        hook = RayHook(self.ray_conn_id)
        self.job_id = self._attach_or_submit(hook, ti)
        ti.xcom_push(key=RayJobLink().xcom_key, value=hook.job_url(self.job_id))
        deadline = time.time() + self.job_timeout.total_seconds() if self.job_timeout else None
        trigger = RayJobTrigger(self.job_id, self.ray_conn_id, self.poll_interval, deadline)
        if self.deferrable and self.wait_in_worker:
            out = LogForwarder(self.log)
            event = asyncio.run(_outcome_within(trigger, out, self.wait_in_worker.total_seconds()))
            if event is not None:
                return self.execute_complete(context, event)
            self.log.info("Ray job %s still running after %s: deferring", self.job_id, self.wait_in_worker)
            trigger = RayJobTrigger(self.job_id, self.ray_conn_id, self.poll_interval, deadline, out.forwarded)
        if self.deferrable:
            self.defer(trigger=trigger, method_name="execute_complete")
        return self.execute_complete(context, asyncio.run(_first_event(trigger)))

    def _attach_or_submit(self, hook: RayHook, ti: Any) -> str:
        """This try's job: a job of this or an earlier try that has not ended, else a new one."""
        ids = [submission_id(ti.dag_id, ti.task_id, ti.run_id, n, getattr(ti, "map_index", -1))
               for n in range(ti.try_number, 0, -1)]
        for job_id in ids:
            info = hook.find_job(job_id)
            if info is not None and (job_id == ids[0] or info["status"] not in TERMINAL):
                self.log.warning("re-attaching to Ray job %s (%s) instead of submitting it again",
                                 job_id, info["status"])
                return job_id
        job_id = hook.get_conn().submit_job(
            entrypoint=self.entrypoint,
            runtime_env=with_code_version(self.runtime_env),
            submission_id=ids[0],
            entrypoint_num_cpus=self.entrypoint_num_cpus,
            metadata={"airflow_dag_id": ti.dag_id, "airflow_task_id": ti.task_id, "airflow_run_id": ti.run_id},
        )
        self.log.info("submitted Ray job %s to %s (%s)", job_id, hook.address, hook.job_url(job_id))
        return job_id

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        job_id, status = event["job_id"], event["status"]
        last_lines = "\n".join(event.get("tail") or [])
        if status == "timeout":
            raise AirflowException(f"Ray job {job_id} ran longer than {self.job_timeout} and was stopped\n{last_lines}")
        if status != "SUCCEEDED":
            message = f"Ray job {job_id} {status}: {event.get('message')}"
            if event.get("driver_exit_code") == BAD_INPUT_EXIT_CODE:
                raise AirflowFailException(f"{message} (bad input; not retrying)")
            raise AirflowException(f"{message}\n{last_lines}")
        if not event.get("summary"):
            raise AirflowException(f"Ray job {job_id} succeeded but printed no JOB_SUMMARY line: "
                                   f"its entrypoint did not run the job ({self.entrypoint!r})")
        self.log.info("Ray job %s SUCCEEDED", job_id)
        self.log.info("%s", summary_line(event["summary"]))
        return event["summary"]

    def on_kill(self) -> None:
        """The task was killed while waiting in the worker (deferrable=False, or within
        ``wait_in_worker``): stop the job.
        A deferred task's job is stopped by RayJobTrigger.on_kill."""
        if self.job_id:
            stopped = RayHook(self.ray_conn_id).stop_job(self.job_id)
            self.log.info("Ray job %s %s", self.job_id, "stopped" if stopped else "had already ended")


def with_code_version(runtime_env: dict[str, Any] | None) -> dict[str, Any] | None:
    """The runtime env with ``SALARY_CODE_VERSION`` of a local working_dir (a job's copy of the
    code has no .git: the commit is taken here, where the checkout or the image is)."""
    from salary.version import CODE_VERSION_ENV, code_version

    working_dir = (runtime_env or {}).get("working_dir")
    if not working_dir or not Path(working_dir).is_dir():
        return runtime_env
    env_vars = {CODE_VERSION_ENV: code_version(Path(working_dir)), **(runtime_env or {}).get("env_vars", {})}
    return {**(runtime_env or {}), "env_vars": env_vars}


async def _outcome_within(trigger: RayJobTrigger, out: LogForwarder, seconds: float) -> dict[str, Any] | None:
    """The job's outcome if it ends within ``seconds``, else None (the job goes on)."""
    try:
        return await asyncio.wait_for(trigger.outcome(out), seconds)
    except TimeoutError:
        return None


async def _first_event(trigger: RayJobTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return event.payload
    raise AirflowException(f"{trigger!r} ended without an event")
