"""Run a Ray job on a Ray cluster through the Jobs API, with its logs in the task log.

Generic: nothing here knows our jobs (their summary line, their bad-input status, the code
version): ``salary_airflow.operators.jobs.RayPipelineJobOperator`` adds those.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Collection, Sequence
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from salary_airflow.hooks.ray import TERMINAL, JobLog, RayHook
from salary_airflow.triggers.ray import RayJobTrigger


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

    Deferrable (the wait is handed to ``RayJobTrigger`` in the triggerer: no worker slot is
    held while the job runs) when ``deferrable``, by default ``[operators] default_deferrable``;
    otherwise the worker waits with the same hook code. With ``wait_in_worker``, a deferrable
    task first follows the job itself for up to that long: a short job ends without the hand-off
    to the triggerer and back (a second task start), a long one is deferred then, and the
    trigger skips the lines already logged. The job's output reaches the task log line by line
    at each line's own level.

    A try first looks for the jobs of earlier tries of the same task instance: one still
    running (its worker died, or the task was retried while the job went on) is re-attached
    to instead of submitting the work twice. ``job_timeout`` stops the job and fails the task
    when it runs longer. A failed job fails the task with the job's message and last lines,
    without retrying when its exit code is one of ``fail_fast_exit_codes``. Killing, clearing
    or marking the task stops the Ray job. The "Ray job" extra link opens it in the dashboard.

    :param entrypoint: the job's shell command (templated).
    :param runtime_env: Ray's runtime environment, e.g. ``{"working_dir": ...}`` (templated).
    :param ray_conn_id: the ``ray`` connection of the cluster (its Jobs API).
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable``.
    :param poll_interval: seconds between status checks when the log stream is not open.
    :param job_timeout: stop the job and fail the task after this long (None: no limit).
    :param entrypoint_num_cpus: CPUs reserved for the entrypoint (driver) process.
    :param wait_in_worker: follow the job in the worker this long before deferring.
    :param result_marker: a line of the job's output that carries this text followed by a JSON
        object is the job's result, returned as the task's XCom; a job that succeeds without
        one fails the task (it did not run what it was meant to). None: the XCom is the job id
        and status.
    :param fail_fast_exit_codes: driver exit codes that fail the task without retrying.
    """

    template_fields: Sequence[str] = ("entrypoint", "runtime_env")
    operator_extra_links = (RayJobLink(),)
    ui_color = "#d6e8ff"

    def __init__(self, *, entrypoint: str, runtime_env: dict[str, Any] | None = None,
                 ray_conn_id: str = RayHook.default_conn_name,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 poll_interval: float = 5.0, job_timeout: dt.timedelta | None = None, entrypoint_num_cpus: float = 0,
                 wait_in_worker: dt.timedelta | None = None, result_marker: str | None = None,
                 fail_fast_exit_codes: Collection[int] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entrypoint = entrypoint
        self.runtime_env = runtime_env
        self.ray_conn_id = ray_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self.wait_in_worker = wait_in_worker
        self.result_marker = result_marker
        self.fail_fast_exit_codes = frozenset(fail_fast_exit_codes)
        self.job_id: str | None = None

    def execute(self, context: Any) -> Any:
        ti = context["ti"]
        hook = RayHook(self.ray_conn_id)
        self.job_id = self._attach_or_submit(hook, ti)
        ti.xcom_push(key=RayJobLink().xcom_key, value=hook.job_url(self.job_id))
        deadline = time.time() + self.job_timeout.total_seconds() if self.job_timeout else None
        output = JobLog(self.log, result_marker=self.result_marker)
        if self.deferrable and self.wait_in_worker:
            event = asyncio.run(self._follow_within(hook, output, deadline, self.wait_in_worker.total_seconds()))
            if event is not None:
                return self.execute_complete(context, event)
            self.log.info("Ray job %s still running after %s: deferring", self.job_id, self.wait_in_worker)
        if self.deferrable:
            self.defer(trigger=RayJobTrigger(self.job_id, self.ray_conn_id, self.poll_interval, deadline,
                                             output.forwarded, self.result_marker),
                       method_name="execute_complete")
        return self.execute_complete(context, asyncio.run(self._follow(hook, output, deadline)))

    async def _follow(self, hook: RayHook, output: JobLog, deadline: float | None) -> dict[str, Any]:
        """Follow the job to its end (stopped at ``deadline``); the trigger's event payload."""
        assert self.job_id is not None
        client = await hook.async_client()
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        return await client.wait(self.job_id, output, self.poll_interval, timeout)

    async def _follow_within(self, hook: RayHook, output: JobLog, deadline: float | None,
                             within: float) -> dict[str, Any] | None:
        """``_follow`` for up to ``within`` seconds; None when the job has not ended (it goes on)."""
        try:
            return await asyncio.wait_for(self._follow(hook, output, deadline), within)
        except TimeoutError:
            return None

    def submission_runtime_env(self) -> dict[str, Any] | None:
        """The runtime env a new job is submitted with (subclasses add to it)."""
        return self.runtime_env

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
            runtime_env=self.submission_runtime_env(),
            submission_id=ids[0],
            entrypoint_num_cpus=self.entrypoint_num_cpus,
            metadata={"airflow_dag_id": ti.dag_id, "airflow_task_id": ti.task_id, "airflow_run_id": ti.run_id},
        )
        self.log.info("submitted Ray job %s to %s (%s)", job_id, hook.address, hook.job_url(job_id))
        return job_id

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """The task's end: the job's result, or a failure with the job's message and last lines."""
        if event["status"] != "success":
            code = event.get("driver_exit_code")
            if code is not None and code in self.fail_fast_exit_codes:
                raise AirflowFailException(f"{event['message']} (exit code {code}: not retrying)")
            raise AirflowException("\n".join([event["message"], *(event.get("tail") or [])]))
        self.log.info("Ray job %s SUCCEEDED", event["job_id"])
        return self.job_result(event)

    def job_result(self, event: dict[str, Any]) -> Any:
        """The XCom of a succeeded job: its result line's object when ``result_marker`` is set."""
        if self.result_marker is None:
            return {"job_id": event["job_id"], "job_status": event["job_status"]}
        if event.get("result") is None:
            raise AirflowException(f"Ray job {event['job_id']} succeeded but printed no {self.result_marker.strip()} "
                                   f"line: its entrypoint did not run the job ({self.entrypoint!r})")
        return event["result"]

    def on_kill(self) -> None:
        """The task was killed while waiting in the worker (deferrable=False, or within
        ``wait_in_worker``): stop the job. A deferred task's job is stopped by
        RayJobTrigger.on_kill."""
        if self.job_id:
            stopped = RayHook(self.ray_conn_id).stop_job(self.job_id)
            self.log.info("Ray job %s %s", self.job_id, "stopped" if stopped else "had already ended")
