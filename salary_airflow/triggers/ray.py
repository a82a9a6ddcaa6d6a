"""RayJobTrigger: follow a Ray job from the triggerer, its output streamed into the task log.

The trigger only awaits the Ray hook (``AsyncRayJobs.wait``: the dashboard's log-tail
WebSocket, reconnected when it breaks off, each line once at its own level) and yields one
event, ``success`` or ``error`` with a message and the job's status, exit code, last lines
and result line. At ``deadline`` the job is stopped and the event is an error. A triggerer
restart re-creates the trigger from its kwargs, so it re-attaches to the same job; a user
killing or clearing the deferred task stops the job (``on_kill``), and a job or a head that
is gone by then is only logged.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from salary_airflow.hooks.ray import JobLog, RayHook


class RayJobTrigger(BaseTrigger):
    """Fires once when the Ray job ``job_id`` ends, or at ``deadline``.

    :param job_id: the job's submission id.
    :param ray_conn_id: the ``ray`` connection of its cluster.
    :param poll_interval: seconds between status checks when the log stream is not open.
    :param deadline: epoch seconds after which the job is stopped (None: no limit).
    :param skip_lines: output lines the task already logged while it followed the job itself.
    :param result_marker: the text before the JSON object of the job's result line, if any.
    """

    def __init__(self, job_id: str, ray_conn_id: str = RayHook.default_conn_name, poll_interval: float = 5.0,
                 deadline: float | None = None, skip_lines: int = 0, result_marker: str | None = None) -> None:
        super().__init__()
        self.job_id = job_id
        self.ray_conn_id = ray_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.skip_lines = skip_lines
        self.result_marker = result_marker

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("salary_airflow.triggers.ray.RayJobTrigger", {
            "job_id": self.job_id, "ray_conn_id": self.ray_conn_id, "poll_interval": self.poll_interval,
            "deadline": self.deadline, "skip_lines": self.skip_lines, "result_marker": self.result_marker})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        client = await RayHook(self.ray_conn_id).async_client()
        output = JobLog(self.log, self.skip_lines, self.result_marker)
        timeout = None if self.deadline is None else max(0.0, self.deadline - time.time())
        yield TriggerEvent(await client.wait(self.job_id, output, self.poll_interval, timeout))

    async def on_kill(self) -> None:
        """The user killed, cleared or marked the deferred task: stop the Ray job with it. A
        job the cluster no longer knows, or a cluster that no longer answers, is not an error
        here: there is nothing left to stop."""
        try:
            client = await RayHook(self.ray_conn_id).async_client()
            stopped = await client.stop(self.job_id)
        except Exception as exc:  # noqa: BLE001 - the head may be gone; cleanup must not fail
            self.log.info("task killed: Ray job %s not stopped, its cluster did not answer (%s: %s)",
                          self.job_id, type(exc).__name__, exc)
            return
        self.log.info("task killed: Ray job %s %s", self.job_id, "stopped" if stopped else "had already ended")
