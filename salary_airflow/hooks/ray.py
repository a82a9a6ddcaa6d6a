"""Ray cluster access through the Ray Jobs API (no ray.init() in the Airflow worker).

The hook owns the ``ray`` connection type and every call to the Jobs API: submit (through
Ray's own client, which packages and uploads the runtime_env), find and stop; and, async for
the triggerer and for a worker that follows a job itself, ``AsyncRayJobs``: status, the log
tail (the dashboard's WebSocket), stop, and ``wait``, which follows a job to its end with
its output in the task log (``JobLog``) and returns the outcome as a trigger event payload.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections import deque
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook

# A job in one of these states is over; any other (PENDING, RUNNING) may still change.
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
TAIL_LINES = 20
# Once a job printed its result line (its last act), its status is checked this often: the
# dashboard closes the log stream only 2-3 s after the job has ended (it looks at the status
# every second, then reads the log once more), and a task following the job would wait for it.
END_CHECK_SECONDS = 0.25
# "2026-01-01 12:00:00,123 WARNING name: ..." (Python logging, Ray's own "<date> <time>\tINFO x.py:1 -- ...")
LEVEL = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d+\s+(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")


class RayJobsApiError(RuntimeError):
    """The Jobs API answered with an error (or not at all)."""


class RayHook(BaseHook):
    """The Jobs API of the Ray cluster an Airflow connection of type ``ray`` points at.

    Connection: host and port of the Ray dashboard (Jobs API), e.g.
    ``AIRFLOW_CONN_RAY_DEFAULT='{"conn_type": "ray", "host": "127.0.0.1", "port": 8265}'``;
    ``schema`` is ``http`` (default) or ``https``. A cluster with token authentication
    (``RAY_AUTH_MODE=token``) takes its token as the password, sent as a bearer token (see
    ``headers_of`` for the fallback when the password is empty). The
    extra ``dashboard_url`` is the dashboard's address as a browser reaches it (the task's
    "Ray job" link), when that differs from the address Airflow uses. The connection form
    Airflow shows for the type is declared in salary_airflow/provider.py.

    :param ray_conn_id: the Airflow connection of type ``ray`` to use (default ``ray_default``).
    """

    conn_name_attr = "ray_conn_id"
    default_conn_name = "ray_default"
    conn_type = "ray"
    hook_name = "Ray"

    def __init__(self, ray_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.ray_conn_id = ray_conn_id

    @cached_property
    def connection(self) -> Any:
        """The Airflow connection, looked up once per hook."""
        return self.get_connection(self.ray_conn_id)

    @property
    def address(self) -> str:
        return address_of(self.connection)

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of a token-authenticated cluster; none without a password."""
        return headers_of(self.connection)

    def job_url(self, job_id: str) -> str:
        """The job's page in the Ray dashboard."""
        extra = self.connection.extra_dejson  # the form may store the field with its old prefix
        base = (extra.get("dashboard_url") or extra.get("extra__ray__dashboard_url") or self.address).rstrip("/")
        return f"{base}/#/jobs/{quote(job_id)}"

    def get_conn(self) -> Any:
        """Ray's JobSubmissionClient for the connection's cluster (submits with runtime_env upload)."""
        from ray.job_submission import JobSubmissionClient

        route_ray_logging()
        return JobSubmissionClient(self.address, headers=self.headers or None)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's "Test" button: the Jobs API answers and accepts the token."""
        import requests

        try:
            resp = requests.get(f"{self.address}/api/jobs/", headers=self.headers, timeout=10)
        except requests.RequestException as exc:
            return False, f"{self.address}: {exc}"
        if resp.status_code != 200:
            return False, f"{self.address}: HTTP {resp.status_code}: {resp.text[:200]}"
        return True, f"Ray Jobs API at {self.address}: {len(resp.json())} jobs"

    def find_job(self, job_id: str) -> dict[str, Any] | None:
        """The job's info (``status``, ``message``, ...) or None when the cluster has no such job."""
        import requests

        resp = requests.get(f"{self.address}/api/jobs/{quote(job_id)}", headers=self.headers, timeout=30)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise RayJobsApiError(f"GET job {job_id}: HTTP {resp.status_code}: {resp.text[:300]}")
        return resp.json()

    def stop_job(self, job_id: str) -> bool:
        """Ask the cluster to stop the job; True when it was still running."""
        return bool(self.get_conn().stop_job(job_id))

    async def async_client(self) -> AsyncRayJobs:
        """A non-blocking client for the triggerer (the connection is fetched asynchronously)."""
        connection = await self.aget_connection(self.ray_conn_id)
        return AsyncRayJobs(address_of(connection), headers_of(connection))


def route_ray_logging() -> None:
    """Send the Ray client's log records (runtime_env packaging, upload) through the task's
    logging at their own level. Importing ray gives its logger a stderr handler of its own,
    and a task's stderr is shown as ERROR: harmless INFO lines would look like failures."""
    ray_logger = logging.getLogger("ray")
    for handler in list(ray_logger.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            ray_logger.removeHandler(handler)
    ray_logger.propagate = True


def address_of(connection: Any) -> str:
    return f"{connection.schema or 'http'}://{connection.host}:{connection.port or 8265}"


def headers_of(connection: Any) -> dict[str, str]:
    """The bearer header of the connection's token; without a password, the token Ray's own
    clients would use (``RAY_AUTH_TOKEN``, or the file ``RAY_AUTH_TOKEN_PATH`` under
    ``RAY_AUTH_MODE=token``: the embedded default), else none."""
    token = connection.password or os.environ.get("RAY_AUTH_TOKEN")
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if not token and path and os.environ.get("RAY_AUTH_MODE") == "token" and os.path.exists(path):
        with open(path) as fh:
            token = fh.read().strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def line_level(line: str, previous: int = logging.INFO) -> int:
    """The level a job's output line is logged at: its own when it names one; a traceback or
    an indented continuation keeps the level of the line it continues; anything else INFO."""
    match = LEVEL.match(line)
    if match:
        return int(logging.getLevelNamesMapping()[match.group(1)])
    if line[:1].isspace() or line.startswith(("Traceback", "During handling")) or not line.strip():
        return previous
    return logging.INFO


class JobLog:
    """A job's output as log lines: splits the chunks into lines and logs each new one once,
    at its level (``[ray] <line>``); keeps the last lines, and the JSON object after the last
    occurrence of ``result_marker`` (a job's machine-readable result line), if one is given.

    :param log: a stdlib logger or Airflow's structlog one (the task's, the trigger's).
    :param skip_lines: lines already logged (by a worker that followed the job before deferring).
    :param result_marker: the text a result line carries before its JSON object.
    """

    def __init__(self, log: Any, skip_lines: int = 0, result_marker: str | None = None) -> None:
        self.log = log
        self.forwarded = skip_lines  # lines logged so far (survives reconnects)
        self.result_marker = result_marker
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.result: Any = None
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
            if self.result_marker and self.result_marker in line:
                self.result = json.JSONDecoder().raw_decode(line.split(self.result_marker, 1)[1])[0]


class AsyncRayJobs:
    """Jobs API calls over aiohttp: one job's info, its log tail, stop, and following a job
    to its end (``wait``). ``RayHook.async_jobs()`` makes one from the connection.

    :param address: the Jobs API's base URL (``http://host:8265``).
    :param headers: sent with every request (the bearer token of an authenticating cluster).
    """

    def __init__(self, address: str, headers: dict[str, str]) -> None:
        self.address = address.rstrip("/")
        self.headers = headers

    def _session(self) -> Any:
        import aiohttp

        return aiohttp.ClientSession(headers=self.headers, timeout=aiohttp.ClientTimeout(total=None, sock_connect=30))

    async def info(self, job_id: str) -> dict[str, Any]:
        import aiohttp

        async with self._session() as session, session.get(
                f"{self.address}/api/jobs/{quote(job_id)}", timeout=aiohttp.ClientTimeout(total=30)) as resp:
            if resp.status != 200:
                raise RayJobsApiError(f"GET job {job_id}: HTTP {resp.status}: {(await resp.text())[:300]}")
            return await resp.json()

    async def stop(self, job_id: str) -> bool:
        """Stop the job; True when it was still running, False when it had ended or the
        cluster does not know it (a head that was replaced)."""
        import aiohttp

        async with self._session() as session, session.post(
                f"{self.address}/api/jobs/{quote(job_id)}/stop", timeout=aiohttp.ClientTimeout(total=30)) as resp:
            if resp.status == 404:
                return False
            if resp.status != 200:
                raise RayJobsApiError(f"stop job {job_id}: HTTP {resp.status}: {(await resp.text())[:300]}")
            return bool((await resp.json()).get("stopped"))

    async def tail(self, job_id: str) -> AsyncIterator[str]:
        """The job's output from its start, chunk by chunk as the driver writes it; ends when the
        job ends (the dashboard closes the WebSocket). Raises RayJobsApiError if it breaks off."""
        import aiohttp

        async with self._session() as session, session.ws_connect(
                f"{self.address}/api/jobs/{quote(job_id)}/logs/tail", heartbeat=30) as ws:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    yield msg.data
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    raise RayJobsApiError(f"log tail of {job_id} broke off: {ws.exception()}")

    async def logs(self, job_id: str) -> str:
        """The job's whole output so far (one read, not a stream)."""
        import aiohttp

        async with self._session() as session, session.get(
                f"{self.address}/api/jobs/{quote(job_id)}/logs", timeout=aiohttp.ClientTimeout(total=60)) as resp:
            if resp.status != 200:
                raise RayJobsApiError(f"GET logs of job {job_id}: HTTP {resp.status}: {(await resp.text())[:300]}")
            return str((await resp.json()).get("logs") or "")

    async def follow(self, job_id: str, output: JobLog, poll_interval: float) -> dict[str, Any]:
        """Stream the job's output into ``output`` until the job is over; its final info. A
        stream that breaks off (a dashboard restart, a network blip) is reopened, and the
        lines already logged are skipped. Once the job has printed its result line, its status
        is checked every ``END_CHECK_SECONDS`` beside the stream, and the rest of its output is
        read at once when it has ended (the dashboard closes the stream 2-3 s after the end)."""
        import aiohttp

        while True:
            stream = asyncio.ensure_future(self._stream(job_id, output))
            ended = asyncio.ensure_future(self._ended_after_result(job_id, output))
            try:
                await asyncio.wait((stream, ended), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pending in (stream, ended):
                    pending.cancel()
                await asyncio.gather(stream, ended, return_exceptions=True)
            if not ended.cancelled() and ended.exception() is None:
                await self._read_rest(job_id, output)
                return ended.result()
            if not stream.cancelled() and (exc := stream.exception()) is not None:
                if not isinstance(exc, aiohttp.ClientError | RayJobsApiError):
                    raise exc
                output.log.warning("log stream of Ray job %s broke off (%s); reconnecting", job_id, exc)
            try:
                info = await self.info(job_id)
            except (aiohttp.ClientError, RayJobsApiError, TimeoutError) as exc:
                output.log.warning("status of Ray job %s unavailable (%s); retrying", job_id, exc)
            else:
                if info["status"] in TERMINAL:
                    return info
            await asyncio.sleep(poll_interval)

    async def _stream(self, job_id: str, output: JobLog) -> None:
        output.restart()
        async for chunk in self.tail(job_id):
            output.feed(chunk)
        output.feed("", final=True)

    async def _ended_after_result(self, job_id: str, output: JobLog) -> dict[str, Any]:
        """The job's info once it is over, checked only after its result line was seen."""
        import aiohttp

        while True:
            await asyncio.sleep(END_CHECK_SECONDS)
            if output.result is None:
                continue
            try:
                info = await self.info(job_id)
            except (aiohttp.ClientError, RayJobsApiError, TimeoutError):
                continue  # the stream, or its reopening, goes on
            if info["status"] in TERMINAL:
                return info

    async def _read_rest(self, job_id: str, output: JobLog) -> None:
        """The output the stream had not delivered when the job ended, from one read of all of it."""
        import aiohttp

        try:
            everything = await self.logs(job_id)
        except (aiohttp.ClientError, RayJobsApiError, TimeoutError) as exc:
            output.log.warning("the last output of Ray job %s is unavailable (%s)", job_id, exc)
            output.feed("", final=True)
            return
        output.restart()
        output.feed(everything, final=True)

    async def wait(self, job_id: str, output: JobLog, poll_interval: float,
                   timeout: float | None = None) -> dict[str, Any]:
        """Follow the job to its end (``follow``), stopping it after ``timeout`` seconds; the
        outcome as a trigger event payload: ``status`` ``success`` or ``error``, a ``message``,
        and ``job_id``, ``job_status`` (SUCCEEDED, FAILED, STOPPED or TIMEOUT),
        ``driver_exit_code``, ``tail`` (the last lines) and ``result`` (``JobLog.result``)."""
        output.log.info("following Ray job %s on %s", job_id, self.address)
        try:
            info = await asyncio.wait_for(self.follow(job_id, output, poll_interval), timeout=timeout)
            status, message = info["status"], f"Ray job {job_id} {info['status']}: {info.get('message')}"
        except TimeoutError:
            stopped = await self.stop(job_id)
            info = {}
            status = "TIMEOUT"
            message = f"Ray job {job_id} ran longer than {timeout:.0f} s and was {'stopped' if stopped else 'ending'}"
        return {
            "status": "success" if status == "SUCCEEDED" else "error",
            "message": message,
            "job_id": job_id, "job_status": status, "driver_exit_code": info.get("driver_exit_code"),
            "tail": list(output.tail), "result": output.result,
        }
