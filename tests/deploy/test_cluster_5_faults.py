"""Faults and scaling on the same stack: a second Spark and Ray worker, then one training run
through restarts of the scheduler, the metadata database (Postgres), the NameNode and the
triggerer; memory; the artifacts CI keeps. Each output is published once, a try a restart failed
names its cause. (Workers lost mid-run: tests/deploy/hosts; a drop predicted through a NameNode
restart: test_cluster_8_service_faults; a full disk: tests/jobs/test_etl_crash.py.)"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from cluster_helpers import (
    LAKE,
    SCALED_RUN,
    SPARK_TASKS,
    TRAINING,
    GiB,
    path_segment,
    ray_jobs,
    ray_node_ips,
    wait_until,
)

from devtools.cluster_stack import OUT

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def test_a_run_through_four_restarts_completes_once_and_publishes_each_output_once(stack, scaled_run):
    run_id, tis, events = scaled_run
    assert events == {"scheduler restarted while generate_dataset was": "running",
                      "postgres restarted while generate_dataset's retry was": "running",
                      "namenode restarted while etl_benchmark was": "running",
                      "triggerer restarted while tune_model was": "deferred"}
    assert {ti["state"] for ti in tis.values()} == {"success"}
    print(f"\ntries: { {task: ti['try_number'] for task, ti in tis.items()} }")
    assert tis["generate_dataset"]["try_number"] >= 2  # its process died with the scheduler: retried
    run = path_segment(run_id)
    assert stack.hdfs_ls(f"{LAKE}/datasets/curated").count(run) == 1
    assert stack.hdfs_ls(f"{LAKE}/models/salary").count(run) == 1
    assert stack.hdfs_ls(f"{LAKE}/_staging/etl_benchmark") == []
    summary = json.loads(stack.hdfs_cat(f"{LAKE}/reports/etl_benchmark/{run}/metrics.json"))
    assert summary["rows_in"] == summary["rows_out"] + summary["rows_rejected"] + summary["duplicates_dropped"]


def test_a_try_the_namenode_restart_failed_names_the_cause_in_its_log(stack, scaled_run):
    run_id, tis, _ = scaled_run
    for n in range(1, tis["etl_benchmark"]["try_number"]):  # a failed try: its log says what it could not reach
        text = "\n".join(stack.task_log(TRAINING, run_id, "etl_benchmark", n))
        assert "namenode" in text.lower() or "Connection refused" in text or "SafeMode" in text, text[-3000:]


def test_a_retried_spark_task_links_the_application_of_its_last_try(stack, scaled_run):
    """generate_dataset's first try died with the scheduler: the task's link opens the application
    of the try that succeeded (each try records its own), and the History Server shows it."""
    run_id, tis, _ = scaled_run
    last = tis["generate_dataset"]["try_number"]
    records = {n: stack.hdfs("-cat", f"{LAKE}/_spark_apps/generate_dataset/{path_segment(run_id)}-try{n}.json",
                             check=False).stdout for n in range(1, last + 1)}
    app_ids = {n: json.loads(text)["application_id"] for n, text in records.items() if text}
    assert last in app_ids, records
    links = stack.api("GET", f"/dags/{TRAINING}/dagRuns/{quote(run_id, safe='')}/taskInstances/generate_dataset/links")
    assert links["extra_links"]["Spark application"].endswith(f"/history/{app_ids[last]}/stages/")
    assert len(set(app_ids.values())) == len(app_ids)  # a try that got as far as a session had its own

    def listed() -> bool:
        try:
            with urllib.request.urlopen(links["extra_links"]["Spark application"], timeout=30) as resp:
                return "Completed Stages" in resp.read().decode()
        except OSError:
            return False

    wait_until(listed, 120, f"the History Server to show {app_ids[last]}")


def test_a_restarted_triggerer_re_attaches_to_the_ray_job_instead_of_running_it_again(stack, scaled_run):
    run_id, tis, _ = scaled_run
    assert tis["tune_model"]["try_number"] == 1
    jobs = [job for job in ray_jobs(stack) if (job.get("metadata") or {}).get("airflow_run_id") == run_id
            and job["metadata"].get("airflow_task_id") == "tune_model"]
    assert [job["status"] for job in jobs] == ["SUCCEEDED"], jobs
    lines = stack.task_log(TRAINING, run_id, "tune_model", 1)
    assert sum("following Ray job" in line for line in lines) >= 2  # the trigger started again after the restart


def test_work_lands_on_the_added_workers(stack, scaled_run):
    run_id, _, _ = scaled_run
    for index in (1, 2):  # each Spark worker ran executors of this run's applications
        worker = stack.exec("spark-worker", "curl", "-fsS", "http://localhost:8081/json/", index=index)
        state = json.loads(worker.stdout)
        apps = {e["appdesc"]["name"] for e in state["finishedexecutors"] + state["executors"]}
        assert apps & set(SPARK_TASKS), (index, apps)
    metrics = json.loads(stack.hdfs_cat(f"{LAKE}/models/salary/{path_segment(run_id)}/metrics.json"))
    nodes = {trial["node_ip"] for trial in metrics["trials"]}
    assert len(ray_node_ips(stack)) == 3 and len(nodes & ray_node_ips(stack)) >= 2, (nodes, ray_node_ips(stack))


def test_peak_memory_is_recorded(stack, scaled_run):
    stack.sampler.sample()
    doc = json.loads((OUT / "docker-stats.json").read_text())
    assert {"20k-row training run", SCALED_RUN} <= set(doc)
    summary = {phase: round(p["sum_bytes"] / GiB, 2) for phase, p in doc.items()}
    (OUT / "docker-stats-summary.json").write_text(json.dumps(summary, indent=2))
    print("peak summed container memory (GiB) per phase:", summary, "; timings:", stack.timer.steps,
          f"; at {dt.datetime.now(dt.UTC):%H:%M}", sep="\n")


def test_artifacts_are_kept_for_ci(stack):
    assert Path(OUT / "ui-salary_training-run.png").stat().st_size > 10_000
    assert json.loads((OUT / "timings.json").read_text())
