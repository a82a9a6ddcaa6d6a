"""RayJobTrigger: follow a Ray job from the triggerer, its output streamed into the task log.

The job's output comes through the dashboard's log-tail WebSocket as the driver writes it
(each line once, at its own level); when the stream breaks off (a dashboard restart, a
network blip) the trigger reconnects and skips the lines it already forwarded. It ends
with one event: the job's final status, message, exit code, last lines and JOB_SUMMARY, or
``timeout`` after stopping the job at the deadline. A triggerer restart re-creates the
trigger from its kwargs, so it re-attaches to the same job; a user killing or clearing the
deferred task stops the job (``on_kill``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from salary.runtime import parse_summaries
from salary_airflow.hooks.ray import TERMINAL, RayHook, RayJobsApiError

TAIL_LINES = 20
# "2026-01-01 12:00:00,123 WARNING name: ..." (Python logging, Ray's own "<date> <time>\tINFO x.py:1 -- ...")
LEVEL = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d+\s+(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")


def line_level(line: str, previous: int = logging.INFO) -> int:
    """The level a forwarded job line is logged at: its own when it names one; a traceback or
    an indented continuation keeps the level of the line it continues; anything else INFO."""
    match = LEVEL.match(line)
    if match:
        return int(logging.getLevelNamesMapping()[match.group(1)])
    if line[:1].isspace() or line.startswith(("Traceback", "During handling")) or not line.strip():
        return previous
    return logging.INFO


class LogForwarder:
    """Splits the job's output into lines and logs each new one once, at its level; keeps the
    last lines and the last JOB_SUMMARY for the final event."""

    def __init__(self, log: Any) -> None:  # a stdlib logger or Airflow's structlog one
        self.log = log
        self.forwarded = 0  # lines logged so far (survives reconnects)
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.summary: dict[str, Any] | None = None
        self._level = logging.INFO
        self._seen = 0  # lines of the current stream
        self._partial = ""

    def restart(self) -> None:
        """A new stream replays the output from its start: count its lines again."""
        self._seen, self._partial = 0, ""

    def feed(self, chunk: str, final: bool = False) -> None:
        lines = (self._partial + chunk).split("\n")
        self._partial = "" if final else lines.pop()
        for line in lines:
            if final and not line:
                continue
            self._seen += 1
            if self._seen <= self.forwarded:
                continue
            self.forwarded = self._seen
            self._level = line_level(line, self._level)
            self.log.log(self._level, "[ray] %s", line)
            self.tail.append(line)
            for summary in parse_summaries(line):
                self.summary = summary


class RayJobTrigger(BaseTrigger):
    """Fires once when the Ray job ``job_id`` ends (or at ``deadline``, epoch seconds)."""

    def __init__(self, job_id: str, ray_conn_id: str = RayHook.default_conn_name, poll_interval: float = 5.0,
                 deadline: float | None = None, skip_lines: int = 0) -> None:
        super().__init__()
        self.job_id = job_id
        self.ray_conn_id = ray_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.skip_lines = skip_lines  # lines the task already logged while it followed the job itself

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("salary_airflow.triggers.ray.RayJobTrigger", {"job_id": self.job_id, "ray_conn_id": self.ray_conn_id,
                                               "poll_interval": self.poll_interval, "deadline": self.deadline,
                                               "skip_lines": self.skip_lines})

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        out = LogForwarder(self.log)
        out.forwarded = self.skip_lines
        yield TriggerEvent(await self.outcome(out))

    async def outcome(self, out: LogForwarder) -> dict[str, Any]:
        """Follow the job to its end, forwarding its output to ``out``; the event's payload.
        (RayJobOperator also awaits this in the worker, before or instead of deferring.)"""
        client = await RayHook(self.ray_conn_id).async_client()
        self.log.info("following Ray job %s on %s", self.job_id, client.address)
        try:
            info = await asyncio.wait_for(self._follow(client, out), timeout=self._remaining())
        except TimeoutError:
            stopped = await client.stop(self.job_id)
            self.log.error("Ray job %s still running at its deadline: %s", self.job_id,
                           "stopped" if stopped else "it had just ended")
            return {"status": "timeout", "job_id": self.job_id, "tail": list(out.tail)}
        return {
            "status": info["status"], "job_id": self.job_id, "message": info.get("message"),
            "driver_exit_code": info.get("driver_exit_code"), "tail": list(out.tail), "summary": out.summary,
        }

    async def _follow(self, client: Any, out: LogForwarder) -> dict[str, Any]:
        """Forward the output until the job is over; return its final info."""
        import aiohttp

        while True:
            out.restart()
            try:
                async for chunk in client.tail(self.job_id):
                    out.feed(chunk)
                out.feed("", final=True)
            except (aiohttp.ClientError, RayJobsApiError) as exc:
                self.log.warning("log stream of Ray job %s broke off (%s); reconnecting", self.job_id, exc)
            try:
                info = await client.info(self.job_id)
            except (aiohttp.ClientError, RayJobsApiError, TimeoutError) as exc:
                self.log.warning("status of Ray job %s unavailable (%s); retrying", self.job_id, exc)
            else:
                if info["status"] in TERMINAL:
                    return info
            await asyncio.sleep(self.poll_interval)

    async def on_kill(self) -> None:
        """The user killed, cleared or marked the deferred task: stop the Ray job with it."""
        client = await RayHook(self.ray_conn_id).async_client()
        stopped = await client.stop(self.job_id)
        self.log.info("task killed: Ray job %s %s", self.job_id, "stopped" if stopped else "had already ended")
