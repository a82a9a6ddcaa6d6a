"""RayJobOperator against a real Ray head through the Jobs API, run by real Airflow (dag.test)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from salary.ray_runtime import job_runtime_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUNTIME_ENV = job_runtime_env(REPO)


DAG_FILE = """
import datetime as dt
from airflow.sdk import DAG
from operators.ray import RayJobOperator

with DAG(dag_id={dag_id!r}, schedule=None, catchup=False, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)):
    RayJobOperator(task_id="ray_job", entrypoint={entrypoint!r}, runtime_env={runtime_env!r},
                   poll_interval=0.5, retries={retries}, retry_delay=dt.timedelta(seconds=0))
"""


SCENARIOS = {
    "ray_logs": ("python -c \"from salary.runtime import summary_line; print('hello-from-ray'); "
                 "print(summary_line({'job': 'x', 'rows_out': 1}))\"", 0),
    "ray_no_summary": ("python -c \"print('ran something else')\"", 0),
    "ray_fails": ("python -c \"import sys; print('boom-7 went wrong'); sys.exit(2)\"", 0),
    "ray_bad_input": ("python -c \"import sys; from salary.errors import BAD_INPUT_EXIT_CODE; "
                      "sys.exit(BAD_INPUT_EXIT_CODE)\"", 2),
}


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, ray_cluster) -> dict[str, str]:
    """A fresh SQLite Airflow home whose dags folder holds one small DAG per scenario."""
    root = tmp_path_factory.mktemp("ray_operator")
    dags = root / "dags"
    dags.mkdir()
    for dag_id, (entrypoint, retries) in SCENARIOS.items():
        (dags / f"{dag_id}.py").write_text(DAG_FILE.format(dag_id=dag_id, entrypoint=entrypoint,
                                                           runtime_env=RUNTIME_ENV, retries=retries))
    env = {**os.environ, "AIRFLOW_HOME": str(root / "home"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


def run_in_airflow(env: dict[str, str], dag_id: str) -> tuple[str, int, str]:
    """Run a scenario's DAG through `airflow dags test`: the task's state, how many times it
    started, and the task log (dags test prints it)."""
    proc = subprocess.run(["airflow", "dags", "test", dag_id], env=env, capture_output=True, text=True, timeout=600)
    states = subprocess.run(["airflow", "tasks", "states-for-dag-run", dag_id, _latest_run(env, dag_id),
                             "-o", "json"], env=env, capture_output=True, text=True)
    (ti,) = json.loads(next(line for line in states.stdout.splitlines() if line.startswith("[")))
    log = proc.stdout + proc.stderr
    return ti["state"], log.count("[DAG TEST] starting task_id=ray_job"), log


def _latest_run(env: dict[str, str], dag_id: str) -> str:
    runs = subprocess.run(["airflow", "dags", "list-runs", dag_id, "-o", "json"], env=env, capture_output=True,
                          text=True)
    return json.loads(next(line for line in runs.stdout.splitlines() if line.startswith("[")))[0]["run_id"]


def test_logs_stream_into_the_task_log(airflow_env):
    state, _, log = run_in_airflow(airflow_env, "ray_logs")
    assert state == "success", log[-3000:]
    assert "[ray] hello-from-ray" in log
    assert 'JOB_SUMMARY {"job": "x", "rows_out": 1}' in log


def test_failing_job_fails_the_task_with_its_error(airflow_env):
    state, _, text = run_in_airflow(airflow_env, "ray_fails")
    assert state == "failed"
    assert "FAILED: Job entrypoint command failed with exit code 2" in text
    assert "boom-7 went wrong" in text


def test_success_without_a_summary_fails(airflow_env):
    state, _, text = run_in_airflow(airflow_env, "ray_no_summary")
    assert state == "failed"
    assert "printed no JOB_SUMMARY line" in text


def test_bad_input_fails_without_using_retries(airflow_env):
    state, attempts, text = run_in_airflow(airflow_env, "ray_bad_input")
    assert state == "failed" and attempts == 1
    assert "bad input; not retrying" in text


def test_on_kill_stops_the_ray_job(ray_cluster):
    from airflow.sdk.exceptions import AirflowException
    from operators.ray import RayJobOperator
    from ray.job_submission import JobStatus, JobSubmissionClient

    op = RayJobOperator(task_id="long", entrypoint="python -c \"import time; time.sleep(600)\"", poll_interval=0.5)
    # The operator reads only these four fields of the task instance.
    ti = SimpleNamespace(dag_id="kill_test", task_id="long", run_id=f"r{uuid.uuid4().hex[:8]}", try_number=1)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute({"ti": ti})
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            errors.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    client = JobSubmissionClient(ray_cluster)
    deadline = time.monotonic() + 120
    while op.job_id is None or client.get_job_status(op.job_id) != JobStatus.RUNNING:
        assert time.monotonic() < deadline, "the Ray job never started running"
        time.sleep(0.2)
    op.on_kill()
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert client.get_job_status(op.job_id) == JobStatus.STOPPED
    assert len(errors) == 1 and isinstance(errors[0], AirflowException) and "STOPPED" in str(errors[0])
