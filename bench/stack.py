"""The embedded stack the benchmark measures on: a Ray head and an Airflow deployment of its own
(api-server, scheduler, dag-processor, triggerer; LocalExecutor, SQLite), both on loopback, on
ports apart from `make demo`'s and the tests', started by this process (so their memory counts
in the stack's) and stopped by PID. Spark jobs run as the DAG runs them: local spark-submit."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
