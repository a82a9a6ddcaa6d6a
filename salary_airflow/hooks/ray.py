"""Ray cluster access through the Ray Jobs API (no ray.init() in the Airflow worker).

The hook owns the ``ray`` connection type and every call to the Jobs API: submit (through
Ray's own client, which packages and uploads the runtime_env), and for the triggerer an
aiohttp client for status, the log tail (the dashboard's WebSocket) and stop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook

# A job in one of these states is over; any other (PENDING, RUNNING) may still change.
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})


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


class AsyncRayJobs:
    """Jobs API calls over aiohttp: one job's info, its log tail and stop."""

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
        import aiohttp

        async with self._session() as session, session.post(
                f"{self.address}/api/jobs/{quote(job_id)}/stop", timeout=aiohttp.ClientTimeout(total=30)) as resp:
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
