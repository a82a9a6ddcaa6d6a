"""A clean salary_training run on the stack, seen through the REST API, its task logs and the lake."""

from __future__ import annotations

import json
import re
import urllib.request
from urllib.parse import quote

import duckdb
import pyarrow.parquet as pq
import pytest
from cluster_helpers import (
    ALL_TASKS,
    LAKE,
    SMALL_ROWS,
    SPARK_TASKS,
    TRAINING,
    path_segment,
    ray_jobs,
    ray_node_ips,
    wait_until,
)

from devtools.cluster_stack import REPO
from salary.runtime.version import source_hash

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def test_training_run_succeeds_with_every_task(training):
    _, tis = training
    assert set(tis) == ALL_TASKS
    assert {ti["state"] for ti in tis.values()} == {"success"}


@pytest.mark.parametrize("task_id", SPARK_TASKS)
def test_spark_task_log_has_spark_submit_output_and_ends_with_its_summary(stack, training, task_id):
    run_id, tis = training
    lines = stack.task_log(TRAINING, run_id, task_id, tis[task_id]["try_number"])
    assert any(line.startswith("Spark-Submit cmd: spark-submit --master spark://spark-master:7077") for line in lines)
    assert any("salary.runtime.job: stage session took" in line for line in lines)  # the driver's own output
    job_lines = lines[: next(i for i, line in enumerate(lines) if line == "::group::Post Execute")]
    # The job's own last line is its summary (Spark's standalone backend may still warn while the
    # session stops after it); then the operator names the application it ran.
    assert job_lines[-1].startswith("Spark application app-"), job_lines[-5:]
    summary = [line for line in job_lines if " salary." in line][-1]
    assert "JOB_SUMMARY" in summary, job_lines[-5:]
    doc = json.loads(summary.split("JOB_SUMMARY", 1)[1])
    assert doc["job"] == task_id and doc["run_id"] == run_id


def test_tune_model_log_streams_the_ray_job(stack, training):
    run_id, tis = training
    lines = stack.task_log(TRAINING, run_id, "tune_model", tis["tune_model"]["try_number"])
    assert any(line.startswith("submitted Ray job ") and "http://ray-head:8265" in line for line in lines)
    ray_lines = [line for line in lines if line.startswith("[ray] ")]
    assert len(ray_lines) > 10 and "JOB_SUMMARY" in ray_lines[-1]


def test_promote_model_log_ends_with_its_decision(stack, training):
    run_id, tis = training
    lines = stack.task_log(TRAINING, run_id, "promote_model", tis["promote_model"]["try_number"])
    # The function's own last line comes just before Airflow's "Done. Returned value was: ...".
    done = next(i for i, line in enumerate(lines) if line.startswith("Done. Returned value was:"))
    doc = json.loads(lines[done - 1].split("JOB_SUMMARY", 1)[1])
    assert doc["job"] == "promote_model" and doc["promoted"] is True, doc


def test_no_secret_appears_in_any_task_log(stack, training):
    run_id, tis = training
    secret_values = [stack.env[k] for k in ("RAY_AUTH_TOKEN", "SPARK_AUTH_SECRET", "POSTGRES_PASSWORD",
                                            "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_SECRET_KEY")]
    for task_id, ti in tis.items():
        text = "\n".join(stack.task_log(TRAINING, run_id, task_id, ti["try_number"]))
        assert not any(value in text for value in secret_values), task_id


def test_tune_trials_ran_on_both_ray_nodes(stack, training):
    run_id, _ = training
    metrics = json.loads(stack.hdfs_cat(f"{LAKE}/models/salary/{path_segment(run_id)}/metrics.json"))
    nodes = {trial["node_ip"] for trial in metrics["trials"]}
    assert nodes == ray_node_ips(stack), metrics["trials"]




def test_spark_tasks_ran_one_at_a_time_in_the_pool_airflow_init_created(stack, training):
    """airflow-init created the Spark pool of config/airflow_pools.json; the Spark tasks ran in
    it, so the two report queries, ready together, ran one after the other."""
    _, tis = training
    pool = stack.api("GET", "/pools/spark_jobs")
    assert pool["slots"] == 1 and pool["include_deferred"] is True, pool
    assert {tis[t]["pool"] for t in SPARK_TASKS} == {"spark_jobs"}
    first, second = sorted((tis[t] for t in ("top_earners", "age_distribution")), key=lambda ti: ti["start_date"])
    assert first["end_date"] <= second["start_date"], (first, second)


def test_tune_model_was_deferred_and_links_to_its_ray_job(stack, training):
    """While its Ray job ran the task held no worker slot; the task's extra link opens the job."""
    run_id, tis = training
    lines = stack.task_log(TRAINING, run_id, "tune_model", tis["tune_model"]["try_number"])
    assert any("Pausing task as DEFERRED" in line for line in lines)
    links = stack.api("GET", f"/dags/{TRAINING}/dagRuns/{quote(run_id, safe='')}/taskInstances/tune_model/links")
    (job,) = [j for j in ray_jobs(stack) if (j.get("metadata") or {}).get("airflow_run_id") == run_id
              and j["metadata"]["airflow_task_id"] == "tune_model"]
    port = stack.env.get("RAY_DASHBOARD_PORT", "8265")  # the dashboard's published loopback port
    assert links["extra_links"]["Ray job"] == f"http://127.0.0.1:{port}/#/jobs/{job['submission_id']}"


@pytest.mark.parametrize("task_id", SPARK_TASKS)
def test_spark_task_links_its_application_in_the_history_server(stack, training, task_id):
    """The task's "Spark application" link (REST) opens the application's stages in the History
    Server published on 127.0.0.1, read from its compressed event log in HDFS; the log names it."""
    run_id, tis = training
    links = stack.api("GET", f"/dags/{TRAINING}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/links")
    url = links["extra_links"]["Spark application"]
    port = stack.env["SPARK_HISTORY_PORT"]
    found = re.fullmatch(rf"http://127\.0\.0\.1:{port}/history/(app-[0-9-]+)/stages/", url or "")
    assert found, url
    app_id = found.group(1)
    lines = stack.task_log(TRAINING, run_id, task_id, tis[task_id]["try_number"])
    assert any(f"Spark application {app_id}: {url}" in line for line in lines)
    assert any(name.endswith(".zstd") for name in stack.hdfs_ls(f"{LAKE}/spark-events/eventlog_v2_{app_id}"))
    pages: list[str] = []

    def stages_listed() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                pages.append(resp.read().decode())
        except OSError:
            return False
        return bool(re.search(r"Completed Stages \([1-9]\d*\)", pages[-1]))

    wait_until(stages_listed, 120, f"the History Server to list the stages of {app_id}")


def test_lake_has_curated_data_reports_model_and_champion(stack, training):
    run_id, _ = training
    run = path_segment(run_id)
    assert stack.hdfs_cat(f"{LAKE}/datasets/curated/_CURRENT").strip() == run
    assert "_SUCCESS" in stack.hdfs_ls(f"{LAKE}/datasets/curated/{run}")
    for report in ("etl_benchmark", "top_earners", "age_distribution"):
        assert run in stack.hdfs_ls(f"{LAKE}/reports/{report}"), report
    assert {"model.joblib", "manifest.json", "metrics.json"} <= set(stack.hdfs_ls(f"{LAKE}/models/salary/{run}"))
    assert json.loads(stack.hdfs_cat(f"{LAKE}/models/salary/champion"))["version"] == run_id
    assert stack.hdfs_ls(f"{LAKE}/_staging/etl_benchmark") == []  # published, nothing left half-written


def test_top_earners_equal_an_independent_computation_over_the_curated_files(stack, training, tmp_path):
    run = path_segment(training[0])
    curated = stack.hdfs_get(f"{LAKE}/datasets/curated/{run}", tmp_path / "curated")
    report = stack.hdfs_get(f"{LAKE}/reports/top_earners/{run}/top_earners", tmp_path / "report")
    theirs = pq.read_table(report).to_pylist()
    n = len(theirs)
    assert n == 100  # the DAG's default top_n
    ours = duckdb.sql(f"SELECT id, name, age, salary FROM read_parquet('{curated}/*.parquet') "
                      f"ORDER BY salary DESC, id ASC LIMIT {n}").fetchall()
    assert [(r["id"], r["name"], r["age"], r["salary"]) for r in theirs] == ours
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{curated}/*.parquet')").fetchone()[0]
    assert 0.98 * SMALL_ROWS < rows <= SMALL_ROWS  # distinct people minus the rows with injected nulls


def test_summaries_and_the_model_record_the_commit_the_image_was_built_from(stack, training):
    """The image has no .git: it carries its build commit (SALARY_GIT_COMMIT), and the operators
    hand `<commit> <source hash>` to the Spark and Ray jobs."""
    run_id, tis = training
    expected = f"{stack.env['SALARY_GIT_COMMIT']} {source_hash(REPO)}"
    for task_id in ("etl_benchmark", "tune_model", "promote_model"):
        lines = stack.task_log(TRAINING, run_id, task_id, tis[task_id]["try_number"])
        summary = json.loads(next(line for line in reversed(lines) if "JOB_SUMMARY" in line).split("JOB_SUMMARY", 1)[1])
        assert summary["code_version"] == expected, (task_id, summary["code_version"])
    manifest = json.loads(stack.hdfs_cat(f"{LAKE}/models/salary/{path_segment(run_id)}/manifest.json"))
    assert manifest["code_version"] == expected
