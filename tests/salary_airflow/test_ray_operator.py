"""RayJobOperator (as RayPipelineJobOperator, our jobs' subclass) against a real Ray head through
the Jobs API, run by real Airflow (dag.test)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from salary.runtime.ray import job_runtime_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUNTIME_ENV = job_runtime_env(REPO)


DAG_FILE = """
import datetime as dt
from airflow.sdk import DAG
from salary_airflow.operators.jobs import RayPipelineJobOperator

with DAG(dag_id={dag_id!r}, schedule=None, catchup=False, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)):
    RayPipelineJobOperator(task_id="ray_job", entrypoint={entrypoint!r}, runtime_env={runtime_env!r},
                   poll_interval=0.5, retries={retries}, retry_delay=dt.timedelta(seconds=0))
"""


SCENARIOS = {
    "ray_logs": ("python -c \"from salary.runtime.job import summary_line; print('hello-from-ray'); "
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


def run_in_airflow(env: dict[str, str], dag_id: str, command: tuple[str, ...] = ("bash", str(REPO / "scripts" /
                   "dags_test.sh"))) -> tuple[str, int, str]:
    """Run a scenario's DAG as `make demo` runs its DAGs (scripts/dags_test.sh: `airflow dags
    test`, then its triggers cleaned up): the task's state, how many times it started, and the
    task log (dags test prints it)."""
    proc = subprocess.run([*command, dag_id], env=env, capture_output=True, text=True, timeout=600)
    states = subprocess.run(["airflow", "tasks", "states-for-dag-run", dag_id, _latest_run(env, dag_id),
                             "-o", "json"], env=env, capture_output=True, text=True)
    (ti,) = json.loads(next(line for line in states.stdout.splitlines() if line.startswith("[")))
    log = proc.stdout + proc.stderr
    return ti["state"], log.count("[DAG TEST] starting task_id=ray_job"), log


def _latest_run(env: dict[str, str], dag_id: str) -> str:
    runs = subprocess.run(["airflow", "dags", "list-runs", dag_id, "-o", "json"], env=env, capture_output=True,
                          text=True)
    return json.loads(next(line for line in runs.stdout.splitlines() if line.startswith("[")))[0]["run_id"]


def trigger_rows(env: dict[str, str]) -> int:
    import sqlite3

    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        return db.execute("SELECT count(*) FROM trigger").fetchone()[0]


def test_logs_stream_into_the_task_log_and_the_run_leaves_no_trigger_behind(airflow_env):
    state, _, log = run_in_airflow(airflow_env, "ray_logs")
    assert "[DAG TEST] running trigger in line" in log  # the task deferred
    assert trigger_rows(airflow_env) == 0  # nothing for the next triggerer to pick up and cancel
    assert state == "success", log[-3000:]
    assert "[ray] hello-from-ray" in log
    # Ray's client messages (runtime_env packaging, upload) keep their level: no red ERROR lines.
    assert [line for line in log.splitlines() if "dashboard_sdk" in line and "[info" in line]
    assert not [line for line in log.splitlines() if "[error" in line and "packag" in line.lower()]
    assert 'JOB_SUMMARY {"job": "x", "rows_out": 1}' in log
    # Why scripts/dags_test.sh cleans up: a plain `airflow dags test` leaves the trigger row.
    state, _, _ = run_in_airflow(airflow_env, "ray_logs", ("airflow", "dags", "test"))
    assert state == "success" and trigger_rows(airflow_env) >= 1


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
    assert "exit code 3: not retrying" in text


def task_instance(dag_id: str, task_id: str, try_number: int = 1, run_id: str | None = None) -> SimpleNamespace:
    """The fields of a task instance the operator reads (and a no-op xcom_push)."""
    return SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id or f"r{uuid.uuid4().hex[:8]}",
                           try_number=try_number, map_index=-1, xcom_push=lambda **kw: None)


def test_a_retry_re_attaches_to_the_running_job_of_an_earlier_try(ray_cluster):
    from ray.job_submission import JobSubmissionClient

    from salary_airflow.operators.jobs import RayPipelineJobOperator
    from salary_airflow.operators.ray import submission_id

    client = JobSubmissionClient(ray_cluster)
    ti = task_instance("reattach_test", "t", try_number=2)
    first = client.submit_job(
        entrypoint="python -c \"import time; from salary.runtime.job import summary_line; time.sleep(3); "
                   "print(summary_line({'job': 'first-try'}))\"",
        runtime_env=RUNTIME_ENV, submission_id=submission_id(ti.dag_id, ti.task_id, ti.run_id, 1))
    op = RayPipelineJobOperator(task_id="t", entrypoint="python -c \"raise SystemExit('a second submission')\"",
                        poll_interval=0.5, deferrable=False)
    assert op.execute({"ti": ti}) == {"job": "first-try"}
    assert op.job_id == first
    ids = {job.submission_id for job in client.list_jobs()}
    assert submission_id(ti.dag_id, ti.task_id, ti.run_id, 2) not in ids


def test_a_retry_after_a_failed_try_submits_a_new_job(ray_cluster):
    from ray.job_submission import JobStatus, JobSubmissionClient

    from salary_airflow.operators.jobs import RayPipelineJobOperator
    from salary_airflow.operators.ray import submission_id

    client = JobSubmissionClient(ray_cluster)
    ti = task_instance("resubmit_test", "t", try_number=2)
    failed = client.submit_job(entrypoint="python -c \"raise SystemExit(1)\"",
                               submission_id=submission_id(ti.dag_id, ti.task_id, ti.run_id, 1))
    while client.get_job_status(failed) not in (JobStatus.FAILED, JobStatus.SUCCEEDED):
        time.sleep(0.2)
    op = RayPipelineJobOperator(task_id="t", runtime_env=RUNTIME_ENV, poll_interval=0.5, deferrable=False,
                        entrypoint="python -c \"from salary.runtime.job import summary_line; "
                                   "print(summary_line({'job': 'second-try'}))\"")
    assert op.execute({"ti": ti}) == {"job": "second-try"}
    assert op.job_id == submission_id(ti.dag_id, ti.task_id, ti.run_id, 2)


def test_a_job_that_ends_within_wait_in_worker_completes_without_deferring(ray_cluster, capfd):
    from salary_airflow.operators.jobs import RayPipelineJobOperator

    op = RayPipelineJobOperator(task_id="short", runtime_env=RUNTIME_ENV, poll_interval=0.5,
                        wait_in_worker=dt.timedelta(seconds=120),
                        entrypoint="python -c \"from salary.runtime.job import summary_line; print('short-one'); "
                                   "print(summary_line({'job': 'short'}))\"")
    assert op.execute({"ti": task_instance("inline_test", "short")}) == {"job": "short"}  # no TaskDeferred
    assert "[ray] short-one" in capfd.readouterr().out


def test_a_job_still_running_after_wait_in_worker_defers_and_the_trigger_skips_logged_lines(ray_cluster, capfd):
    import asyncio

    from airflow.sdk.exceptions import TaskDeferred

    from salary_airflow.operators.jobs import RayPipelineJobOperator

    op = RayPipelineJobOperator(task_id="longer", runtime_env=RUNTIME_ENV, poll_interval=0.5,
                        wait_in_worker=dt.timedelta(seconds=10),
                        entrypoint="python -c \"import time; from salary.runtime.job import summary_line; "
                                   "print('before-defer', flush=True); time.sleep(20); print('after-defer'); "
                                   "print(summary_line({'job': 'longer'}))\"")
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": task_instance("defer_test", "longer")})
    assert "[ray] before-defer" in capfd.readouterr().out
    trigger = deferred.value.trigger
    assert trigger.job_id == op.job_id and trigger.skip_lines >= 1
    event = asyncio.run(anext(trigger.run())).payload
    assert event["status"] == "success" and event["result"] == {"job": "longer"}
    out = capfd.readouterr().out
    assert "[ray] after-defer" in out and "before-defer" not in out


def test_job_timeout_stops_the_job_and_fails_the_task(ray_cluster):
    from airflow.sdk.exceptions import AirflowException
    from ray.job_submission import JobStatus, JobSubmissionClient

    from salary_airflow.operators.jobs import RayPipelineJobOperator

    op = RayPipelineJobOperator(task_id="slow", entrypoint="python -c \"import time; print('started', flush=True); "
                        "time.sleep(600)\"", poll_interval=0.5, deferrable=False, job_timeout=dt.timedelta(seconds=5))
    with pytest.raises(AirflowException, match="ran longer than 5 s and was stopped"):
        op.execute({"ti": task_instance("timeout_test", "slow")})
    client = JobSubmissionClient(ray_cluster)
    deadline = time.monotonic() + 60
    while client.get_job_status(op.job_id) != JobStatus.STOPPED:
        assert time.monotonic() < deadline, client.get_job_status(op.job_id)
        time.sleep(0.2)


def test_killing_a_deferred_task_stops_its_job(ray_cluster):
    """The deferred path: the trigger follows the job; a user's kill (trigger.on_kill) stops it
    and the trigger then reports the job STOPPED."""
    import asyncio

    from ray.job_submission import JobStatus, JobSubmissionClient

    from salary_airflow.triggers.ray import RayJobTrigger

    client = JobSubmissionClient(ray_cluster)
    job_id = client.submit_job(entrypoint="python -c \"import time; time.sleep(600)\"")
    trigger = RayJobTrigger(job_id, poll_interval=0.5)

    async def scenario() -> dict:
        follow = asyncio.ensure_future(anext(trigger.run()))
        deadline = time.monotonic() + 120
        while client.get_job_status(job_id) != JobStatus.RUNNING:
            assert time.monotonic() < deadline, "the Ray job never started running"
            await asyncio.sleep(0.2)
        await trigger.on_kill()
        return (await asyncio.wait_for(follow, 120)).payload

    event = asyncio.run(scenario())
    assert (event["status"], event["job_status"], event["job_id"]) == ("error", "STOPPED", job_id)


def test_on_kill_stops_the_ray_job(ray_cluster):
    from airflow.sdk.exceptions import AirflowException
    from ray.job_submission import JobStatus, JobSubmissionClient

    from salary_airflow.operators.jobs import RayPipelineJobOperator

    op = RayPipelineJobOperator(task_id="long", entrypoint="python -c \"import time; time.sleep(600)\"",
                                poll_interval=0.5, deferrable=False)
    ti = task_instance("kill_test", "long")
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


def test_a_cancelled_trigger_whose_job_is_gone_cleans_up_quietly(ray_cluster, capfd):
    """A trigger cancelled after its job left the cluster (a replaced head) or with the head
    itself gone (the demo's stopped node): on_kill logs and returns, it raises nothing."""
    import asyncio

    from salary_airflow.triggers.ray import RayJobTrigger

    asyncio.run(RayJobTrigger("no-such-job-" + uuid.uuid4().hex, poll_interval=0.5).on_kill())
    assert "had already ended" in capfd.readouterr().out
    os.environ["AIRFLOW_CONN_RAY_GONE"] = json.dumps({"conn_type": "ray", "host": "127.0.0.1", "port": 1})
    try:
        asyncio.run(RayJobTrigger("any-job", ray_conn_id="ray_gone", poll_interval=0.5).on_kill())
    finally:
        del os.environ["AIRFLOW_CONN_RAY_GONE"]
    assert "not stopped, its cluster did not answer" in capfd.readouterr().out
