"""Ray cluster access through the Ray Jobs API (no ray.init() in the Airflow worker)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook


class RayHook(BaseHook):
    """A JobSubmissionClient for the cluster an Airflow connection points at.

    Connection: host and port of the Ray dashboard (Jobs API), e.g.
    ``AIRFLOW_CONN_RAY_DEFAULT='{"conn_type": "http", "host": "127.0.0.1", "port": 8265}'``;
    ``schema`` may be ``https``. A cluster with token authentication (``RAY_AUTH_MODE=token``)
    takes its token as the connection's password: it is sent as a bearer token.
    """

    conn_name_attr = "ray_conn_id"
    default_conn_name = "ray_default"
    conn_type = "http"
    hook_name = "Ray Jobs API"

    def __init__(self, ray_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.ray_conn_id = ray_conn_id

    @cached_property
    def connection(self) -> Any:
        """The Airflow connection, looked up once per hook."""
        return self.get_connection(self.ray_conn_id)

    @property
    def address(self) -> str:
        scheme = self.connection.schema or "http"
        return f"{scheme}://{self.connection.host}:{self.connection.port or 8265}"

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of a token-authenticated cluster; none without a password."""
        token = self.connection.password
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get_conn(self) -> Any:
        """A Jobs API client for the connection's cluster."""
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.address, headers=self.headers or None)
