"""What each operator decides, in isolation and in milliseconds: every job outcome, bad input,
timeouts, re-attaching, the code version. The Ray hook is replaced by a fake that records
calls (named as such: the real Jobs API behaviour is covered by test_ray_operator.py and
the DAG runs); Spark's submit is replaced by a function that fails the way spark-submit does."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from salary.errors import BAD_INPUT_EXIT_CODE
from salary.runtime.job import APPLICATION_RECORD_ENV
from salary.runtime.version import CODE_VERSION_ENV
from salary_airflow.operators.jobs import RayPipelineJobOperator, with_code_version
from salary_airflow.operators.ray import RayJobOperator, submission_id
from salary_airflow.operators.spark import SparkApplicationLink, SparkJobSubmitOperator

REPO = Path(__file__).resolve().parents[2]


def ray_op(**kwargs: Any) -> RayPipelineJobOperator:
    return RayPipelineJobOperator(task_id="tune", entrypoint="python jobs/tune_model.py", **kwargs)


def error(job_status: str, message: str, code: int | None = None, tail: tuple[str, ...] = ()) -> dict[str, Any]:
    """An error event as the Ray hook makes it."""
    return {"status": "error", "message": message, "job_id": "j1", "job_status": job_status,
            "driver_exit_code": code, "tail": list(tail), "result": None}


@pytest.mark.parametrize(("event", "raised", "words"), [
    (error("FAILED", "Ray job j1 FAILED: exit 1", 1, ("Traceback", "ValueError: x")),
     AirflowException, ["FAILED", "ValueError: x"]),
    (error("FAILED", "Ray job j1 FAILED: bad", BAD_INPUT_EXIT_CODE), AirflowFailException,
     [f"exit code {BAD_INPUT_EXIT_CODE}: not retrying"]),
    (error("STOPPED", "Ray job j1 STOPPED: stopped by a user"), AirflowException, ["STOPPED"]),
    (error("TIMEOUT", "Ray job j1 ran longer than 5 s and was stopped", tail=("last line",)), AirflowException,
     ["longer than", "last line"]),
    ({"status": "success", "message": "ok", "job_id": "j1", "job_status": "SUCCEEDED", "result": None, "tail": []},
     AirflowException, ["printed no JOB_SUMMARY"]),
])
def test_every_unsuccessful_outcome_fails_the_task_with_its_reason(event, raised, words):
    with pytest.raises(raised) as caught:
        ray_op().execute_complete({}, event)
    assert all(w in str(caught.value) for w in words), str(caught.value)
    if raised is AirflowException:
        assert not isinstance(caught.value, AirflowFailException)  # retries may still help


def test_success_returns_the_job_summary():
    summary = {"job": "tune_model", "rows_out": 3}
    event = {"status": "success", "message": "ok", "job_id": "j1", "job_status": "SUCCEEDED", "result": summary}
    assert ray_op().execute_complete({}, event) == summary


def test_the_generic_operator_needs_no_result_line_and_retries_every_failure():
    generic = RayJobOperator(task_id="any", entrypoint="python any.py")
    event = {"status": "success", "message": "ok", "job_id": "j1", "job_status": "SUCCEEDED", "result": None}
    assert generic.execute_complete({}, event) == {"job_id": "j1", "job_status": "SUCCEEDED"}
    with pytest.raises(AirflowException) as caught:
        generic.execute_complete({}, error("FAILED", "Ray job j1 FAILED: bad", BAD_INPUT_EXIT_CODE))
    assert not isinstance(caught.value, AirflowFailException)


class FakeRayHook:
    """Stands in for RayHook: knows some jobs, records submissions."""

    def __init__(self, jobs: dict[str, str]) -> None:
        self.jobs, self.submitted = jobs, []

    def find_job(self, job_id: str) -> dict[str, Any] | None:
        return {"status": self.jobs[job_id]} if job_id in self.jobs else None

    def get_conn(self) -> Any:
        return SimpleNamespace(submit_job=lambda **kw: self.submitted.append(kw) or kw["submission_id"])

    address = "http://ray:8265"

    def job_url(self, job_id: str) -> str:
        return f"{self.address}/#/jobs/{job_id}"


TI = SimpleNamespace(dag_id="d", task_id="tune", run_id="manual__1", try_number=3, map_index=-1)


def ids(*tries: int) -> list[str]:
    return [submission_id("d", "tune", "manual__1", n) for n in tries]


@pytest.mark.parametrize(("jobs", "attached"), [
    ({}, None),  # nothing earlier: submit this try's job
    ({ids(2)[0]: "RUNNING"}, ids(2)[0]),  # an earlier try's job still runs: follow it
    ({ids(1)[0]: "PENDING"}, ids(1)[0]),
    ({ids(2)[0]: "FAILED", ids(1)[0]: "SUCCEEDED"}, None),  # earlier jobs ended: a new one
    ({ids(3)[0]: "SUCCEEDED"}, ids(3)[0]),  # this try's own job (the triggerer resumed it)
])
def test_a_try_follows_a_live_job_of_an_earlier_try_or_submits_its_own(jobs, attached):
    hook = FakeRayHook(jobs)
    got = ray_op(runtime_env={"working_dir": str(REPO)})._attach_or_submit(hook, TI)
    if attached:
        assert got == attached and hook.submitted == []
    else:
        (submitted,) = hook.submitted
        assert got == submitted["submission_id"] == ids(3)[0]
        assert submitted["metadata"]["airflow_run_id"] == "manual__1"
        assert submitted["runtime_env"]["env_vars"][CODE_VERSION_ENV].split()[1].startswith("sha256:")


def test_code_version_is_added_to_a_local_working_dir_only():
    env = with_code_version({"working_dir": str(REPO), "env_vars": {"X": "1"}})
    assert env is not None and env["env_vars"]["X"] == "1" and CODE_VERSION_ENV in env["env_vars"]
    assert with_code_version({"working_dir": "s3://bucket/code.zip"}) == {"working_dir": "s3://bucket/code.zip"}
    assert with_code_version(None) is None


@pytest.fixture
def spark_op(tmp_path) -> SparkJobSubmitOperator:
    return SparkJobSubmitOperator(task_id="etl_benchmark", application=str(REPO / "jobs" / "etl_benchmark.py"),
                                  lake_root=f"file://{tmp_path}", application_args=["--run-id", "r1"])


def fail_like_spark_submit(record: dict[str, Any] | None):
    def execute(self: SparkJobSubmitOperator, context: Any) -> None:
        uri = self.application_args[self.application_args.index("--failure-record") + 1]
        if record is not None:
            path = Path(uri.removeprefix("file://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))
        raise AirflowException("Cannot execute: spark-submit ... Error code is: 3.")
    return execute


@pytest.mark.parametrize(("record", "error"), [
    ({"kind": "bad_input", "message": "missing column 'age'"}, AirflowFailException),
    ({"kind": "storage_full", "message": "No space left on device"}, AirflowException),
    (None, AirflowException),
])
def test_spark_bad_input_fails_at_once_other_failures_retry(monkeypatch, spark_op, record, error):
    monkeypatch.setattr(SparkSubmitOperator, "execute", fail_like_spark_submit(record))
    context = {"ti": SimpleNamespace(run_id="manual__1", try_number=2)}
    with pytest.raises(error) as caught:
        spark_op.execute(context)
    if record and record["kind"] == "bad_input":
        assert "missing column 'age'" in str(caught.value) and "not retrying" in str(caught.value)
    elif record:  # the storage may have room again by the next try: retried, with the cause
        assert not isinstance(caught.value, AirflowFailException)
        assert str(caught.value) == "etl_benchmark: the lake's storage is full: No space left on device (a retry " \
                                    "can succeed once room is made)"
    else:
        assert not isinstance(caught.value, AirflowFailException)
    assert spark_op.application_args[-1].endswith("/_failures/etl_benchmark/manual__1-try2.json")
    assert spark_op.env_vars[CODE_VERSION_ENV].split()[1].startswith("sha256:")


def run_application(app_id: str, fail: bool):
    """spark-submit as far as the job's session: it records its application id, then ends."""
    def execute(self: SparkJobSubmitOperator, context: Any) -> None:
        path = Path(self.env_vars[APPLICATION_RECORD_ENV].removeprefix("file://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"application_id": app_id}))
        if fail:
            raise AirflowException("Cannot execute: spark-submit ... Error code is: 1.")
    return execute


def test_each_try_links_the_application_it_ran_failed_or_not(monkeypatch, spark_op, tmp_path, capfd):
    history = {"conn_type": "spark", "host": "local[*]", "extra": {"history_url": "http://127.0.0.1:18088/"}}
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps(history))
    spark_op.conf = {"spark.eventLog.enabled": "true", "spark.eventLog.dir": f"file://{tmp_path}/spark-events"}
    pushed: dict[int, tuple[str, str]] = {}
    for try_number, app_id, fail in ((1, "app-20261203-0001", True), (2, "app-20261203-0002", False)):
        monkeypatch.setattr(SparkSubmitOperator, "execute", run_application(app_id, fail))
        ti = SimpleNamespace(run_id="manual__1", try_number=try_number,
                             xcom_push=lambda key, value, n=try_number: pushed.__setitem__(n, (key, value)))
        if fail:
            with pytest.raises(AirflowException):
                spark_op.execute({"ti": ti})
        else:
            spark_op.execute({"ti": ti})
        record = spark_op.env_vars[APPLICATION_RECORD_ENV]
        assert record.endswith(f"/_spark_apps/etl_benchmark/manual__1-try{try_number}.json")
    key = SparkApplicationLink().xcom_key
    assert pushed == {1: (key, "http://127.0.0.1:18088/history/app-20261203-0001/stages/"),
                      2: (key, "http://127.0.0.1:18088/history/app-20261203-0002/stages/")}
    assert "Spark application app-20261203-0002: http://127.0.0.1:18088/history/" in capfd.readouterr().out
    assert (tmp_path / "spark-events").is_dir()  # created before spark-submit: Spark refuses a missing one


def test_without_a_history_server_the_log_still_names_the_application(monkeypatch, spark_op, capfd):
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[*]"}))
    monkeypatch.setattr(SparkSubmitOperator, "execute", run_application("local-1796340750105", False))
    pushed: list[Any] = []
    ti = SimpleNamespace(run_id="manual__1", try_number=1, xcom_push=lambda **kw: pushed.append(kw))
    spark_op.execute({"ti": ti})
    assert pushed == [] and "Spark application local-1796340750105: no History Server" in capfd.readouterr().out
