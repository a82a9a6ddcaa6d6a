"""A real Airflow deployment for tests and benchmarks: api-server (tasks reach the Execution API
there), dag-processor, scheduler and triggerer (LocalExecutor, SQLite) on a fresh AIRFLOW_HOME
and loopback, driven through the CLI as a user would, stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from devtools.services import free_port

__all__ = ["AirflowServices", "airflow", "airflow_services", "free_port", "json_rows", "wait_for"]

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")


def airflow(env: dict[str, str], *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the Airflow CLI as a user would, in ``env``."""
    return subprocess.run(["airflow", *args], env=env, capture_output=True, text=True, check=check, timeout=timeout)


def json_rows(proc: subprocess.CompletedProcess) -> list[dict[str, Any]]:
    """The JSON table an `airflow ... -o json` command printed (Airflow may log lines before it)."""
    line = next((line for line in proc.stdout.splitlines() if line.startswith("[")), "[]")
    return json.loads(line)


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """The first truthy value of ``predicate()``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
    return result


class AirflowServices:
    """The running components and the environment to reach them with the CLI."""

    def __init__(self, env: dict[str, str], home: Path, base_url: str) -> None:
        self.env = env
        self.home = home
        self.base_url = base_url  # the api-server (REST API without login: SimpleAuthManager, all admins)

    def log(self, component: str) -> str:
        return (self.home / f"{component}.log").read_text(errors="replace")

    def wait_healthy(self, timeout: float = 120) -> None:
        """Until the api-server answers its health check."""
        import requests

        def healthy() -> bool:
            try:
                return requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).ok
            except requests.ConnectionError:
                return False

        try:
            wait_for(healthy, timeout, "the api-server", interval=1)
        except AssertionError as err:
            raise TimeoutError(f"{err}\n{self.log('api-server')[-3000:]}") from None

    def passwords(self) -> dict[str, str]:
        """The simple auth manager's generated passwords, by user."""
        return dict(json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text()))

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Until the dag-processor has serialized ``dag_id``; then unpause it."""
        deadline = time.monotonic() + timeout
        while not any(row["dag_id"] == dag_id for row in json_rows(airflow(self.env, "dags", "list", "-o", "json"))):
            errors = json_rows(airflow(self.env, "dags", "list-import-errors", "-o", "json", check=False))
            if errors or time.monotonic() > deadline:
                raise AssertionError(f"{dag_id} was not parsed: {errors}")
            time.sleep(2)
        airflow(self.env, "dags", "unpause", dag_id)

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return json_rows(airflow(self.env, "dags", "list-runs", dag_id, "-o", "json"))

    def wait_for_runs(self, dag_id: str, count: int, timeout: float) -> list[dict[str, Any]]:
        """Until ``count`` runs of ``dag_id`` have finished (success or failed); returns all runs."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs(dag_id)
            if sum(run["state"] in ("success", "failed") for run in runs) >= count:
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id}: {runs}\n{self.log('scheduler')[-3000:]}")
            time.sleep(2)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        rows = json_rows(airflow(self.env, "tasks", "states-for-dag-run", dag_id, run_id, "-o", "json"))
        return {row["task_id"]: row["state"] for row in rows}


@contextmanager
def airflow_services(home: Path, dags: Path, components: Collection[str] = COMPONENTS,
                     **config: str) -> Iterator[AirflowServices]:
    """Start ``components`` (all four by default) on ``home`` with ``dags``; ``config`` adds
    AIRFLOW__ variables (and overrides the defaults here)."""
    port = free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
           "AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
           **config}
    home.mkdir(parents=True, exist_ok=True)
    airflow(env, "db", "migrate")
    subprocess.run([sys.executable, "-m", "salary_airflow.pools", str(REPO / "config" / "airflow_pools.json")],
                   env=env, check=True, capture_output=True, timeout=120)
    procs: list[subprocess.Popen] = []
    try:
        commands = {"api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                    "dag-processor": ["dag-processor"], "scheduler": ["scheduler", "--skip-serve-logs"],
                    "triggerer": ["triggerer", "--skip-serve-logs"]}
        for component, args in ((c, commands[c]) for c in components):
            with open(home / f"{component}.log", "ab") as log:
                procs.append(subprocess.Popen(["airflow", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        yield AirflowServices(env, home, f"http://127.0.0.1:{port}")
    finally:
        for proc in procs:  # each component and the workers it forked: its own process group
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            try:  # task processes the component forked and left behind
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
