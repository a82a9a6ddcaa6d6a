"""Faults and scaling on the same stack: workers killed mid-run, the scheduler and the triggerer
restarted, a second Spark and Ray worker; memory; the artifacts CI keeps."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cluster_helpers import FAULT_ROWS, LAKE, SPARK_TASKS, TRAINING, GiB, path_segment, ray_jobs, ray_node_ips

from devtools.cluster_stack import OUT

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def test_killing_the_spark_and_ray_workers_mid_run_loses_nothing(stack, faulted_run):
    run_id, tis, events = faulted_run
    # Each kill hit its task while it ran (tune_model deferred: its Ray job was running).
    assert events == {"spark-worker killed while etl_benchmark was": "running",
                      "ray-worker killed while tune_model was": "deferred"}, events
    assert {ti["state"] for ti in tis.values()} == {"success"}
    run = path_segment(run_id)
    # One curated version and one model for the run, published whole; nothing half-written.
    assert stack.hdfs_cat(f"{LAKE}/datasets/curated/_CURRENT").strip() == run
    assert stack.hdfs_ls(f"{LAKE}/datasets/curated").count(run) == 1
    etl = json.loads(stack.hdfs_cat(f"{LAKE}/reports/etl_benchmark/{run}/metrics.json"))
    assert etl["rows_in"] == etl["rows_rejected"] + etl["duplicates_dropped"] + etl["rows_out"]
    assert 0.98 * FAULT_ROWS < etl["rows_out"] <= FAULT_ROWS
    assert etl["labelled_rows_out"] == 0  # the drops so far carried no salary
    assert "_SUCCESS" in stack.hdfs_ls(f"{LAKE}/datasets/curated/{run}")
    assert stack.hdfs_ls(f"{LAKE}/_staging/etl_benchmark") == []
    assert "metrics.json" in stack.hdfs_ls(f"{LAKE}/models/salary/{run}")


def test_the_1m_row_run_fits_in_8_gib(stack, faulted_run):
    peak = stack.sampler.peaks["1M-row run, spark-worker and ray-worker killed"]["sum_bytes"]
    assert 0 < peak < 8 * GiB, peak / GiB


def test_restarting_the_scheduler_mid_run_completes_the_run_once(stack, scaled_run):
    run_id, tis, events = scaled_run
    assert events == {"scheduler restarted while etl_benchmark was": "running",
                      "triggerer restarted while tune_model was": "deferred"}
    assert {ti["state"] for ti in tis.values()} == {"success"}
    assert tis["etl_benchmark"]["try_number"] >= 2  # its process died with the scheduler: retried
    run = path_segment(run_id)
    assert stack.hdfs_ls(f"{LAKE}/datasets/curated").count(run) == 1
    assert stack.hdfs_ls(f"{LAKE}/models/salary").count(run) == 1
    assert stack.hdfs_ls(f"{LAKE}/_staging/etl_benchmark") == []


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
    assert {"20k-row training run", "1M-row run, spark-worker and ray-worker killed"} <= set(doc)
    summary = {phase: round(p["sum_bytes"] / GiB, 2) for phase, p in doc.items()}
    (OUT / "docker-stats-summary.json").write_text(json.dumps(summary, indent=2))
    print("peak summed container memory (GiB) per phase:", summary, "; timings:", stack.timer.steps,
          f"; at {dt.datetime.now(dt.UTC):%H:%M}", sep="\n")


def test_artifacts_are_kept_for_ci(stack):
    assert Path(OUT / "ui-salary_training-run.png").stat().st_size > 10_000
    assert json.loads((OUT / "timings.json").read_text())
