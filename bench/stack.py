"""The embedded stack the benchmark measures on: a Ray head and an Airflow deployment of its own
(api-server, scheduler, dag-processor, triggerer; LocalExecutor, SQLite), both on loopback, on
ports apart from `make demo`'s and the tests', started by this process (so their memory counts
in the stack's) and stopped by PID. Spark jobs run as the DAG runs them: local spark-submit."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from devtools.airflow_services import AirflowServices, airflow_services
from devtools.services import ray

REPO = Path(__file__).resolve().parents[1]
RAY_PORT, RAY_DASHBOARD_PORT = 6399, 8285
RAY_PORTS = ("--ray-client-server-port=10093", "--min-worker-port=22000", "--max-worker-port=22999",
             "--dashboard-agent-listen-port=52377")


@dataclass(frozen=True)
class Stack:
    ray_address: str  # the Jobs API
    airflow: AirflowServices
    lake_root: str  # the lake the deployment's DAGs (and the drop watcher) use


@contextmanager
def embedded_stack(work_dir: Path, lake_root: str) -> Iterator[Stack]:
    """Ray head + Airflow on ``lake_root``; salary_batch_predict unpaused (salary_training stays
    paused: the benchmark runs its jobs itself, one stage at a time)."""
    with socket.socket() as probe:  # a node left by another run would pass for ours
        if probe.connect_ex(("127.0.0.1", RAY_DASHBOARD_PORT)) == 0:
            raise RuntimeError(f"port {RAY_DASHBOARD_PORT} is taken (a Ray node of another benchmark?)")
    ray_dir = work_dir / "ray"
    shutil.rmtree(ray_dir, ignore_errors=True)
    address = f"http://127.0.0.1:{RAY_DASHBOARD_PORT}"
    home = work_dir / "airflow"
    shutil.rmtree(home, ignore_errors=True)
    connection = json.dumps({"conn_type": "ray", "host": "127.0.0.1", "port": RAY_DASHBOARD_PORT})
    try:  # from the start on: an interrupted start-up stops the node too (its PID is recorded first)
        ray.start(ray_dir, port=RAY_PORT, dashboard_port=RAY_DASHBOARD_PORT, num_cpus=os.cpu_count() or 2,
                  memory_gib=8, object_store_gib=2, extra=RAY_PORTS)
        with airflow_services(home, REPO / "dags", AIRFLOW_VAR_LAKE_ROOT=lake_root, SALARY_LAKE_ROOT=lake_root,
                              AIRFLOW_CONN_RAY_DEFAULT=connection) as services:
            services.wait_for_dag("salary_batch_predict")
            yield Stack(address, services, lake_root)
    finally:
        ray.stop(ray_dir)


def runs(stack: Stack, dag_id: str) -> list[dict[str, Any]]:
    """The DAG's runs from the REST API (cheap to poll, unlike a CLI process per look)."""
    reply = requests.get(f"{stack.airflow.base_url}/api/v2/dags/{dag_id}/dagRuns",
                         params={"limit": "1000", "order_by": "-run_after"}, timeout=30)
    reply.raise_for_status()
    return [{**r, "run_id": r["dag_run_id"]} for r in reply.json()["dag_runs"]]


def timeline(stack: Stack, dag_id: str, run_id: str, start: float) -> dict[str, list[float | None]]:
    """Each task of the run: seconds from ``start`` (epoch) to its queueing, start and end."""
    reply = requests.get(f"{stack.airflow.base_url}/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
                         "/taskInstances", timeout=30)
    reply.raise_for_status()

    def rel(value: str | None) -> float | None:
        return None if value is None else round(dt.datetime.fromisoformat(value).timestamp() - start, 2)

    return {ti["task_id"]: [rel(ti.get("queued_when")), rel(ti["start_date"]), rel(ti["end_date"])]
            for ti in reply.json()["task_instances"]}
