"""Faults that are not a host, on the compose stack: the metadata database (Postgres) restarted
while a training run's generate_dataset runs, the NameNode restarted while its etl_benchmark
runs, and the NameNode restarted while a drop is being predicted. Each run ends in success
(after retries) or in a failure that names its cause; nothing is half-published or lost.
(A full disk: tests/jobs/test_etl_crash.py, on a small filesystem of its own.)"""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cluster_helpers import LAKE, PREDICT, SMALL_ROWS, TRAINING, path_segment, people, predict_runs, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

DROP, DROP_ROWS = "namenode-restart.parquet", 200_000


def answering(stack) -> bool:
    """The api-server answers and reaches its database again."""
    status, body = stack.http("GET", "/api/v2/monitor/health")
    return status == 200 and json.loads(body)["metadatabase"]["status"] == "healthy"


def state_of(stack, run_id: str, task_id: str) -> str | None:
    return stack.task_instances(TRAINING, run_id)[task_id]["state"]


@pytest.fixture(scope="module")
def restarted_run(stack):
    """One training run: Postgres restarted during generate_dataset, the NameNode during etl_benchmark."""
    events: dict[str, str | None] = {}

    def during(run_id: str) -> None:
        stack.wait_for_task(TRAINING, run_id, "generate_dataset", {"running"})
        events["postgres restarted while generate_dataset was"] = state_of(stack, run_id, "generate_dataset")
        stack.compose("restart", "postgres")
        wait_until(lambda: answering(stack), 180, "the api-server to reach Postgres again")
        stack.wait_for_task(TRAINING, run_id, "etl_benchmark", {"running"}, timeout=900)
        time.sleep(2)  # into its Spark job: reading the raw chunks, writing the staged output
        events["namenode restarted while etl_benchmark was"] = state_of(stack, run_id, "etl_benchmark")
        stack.compose("restart", "namenode")

    stack.sampler.phase = "Postgres and NameNode restarted"
    t0 = time.monotonic()
    run_id = stack.trigger(TRAINING, {"rows": SMALL_ROWS, "seed": 8})
    during(run_id)
    state = stack.wait_for_run(TRAINING, run_id)
    stack.timer("salary_training, Postgres and the NameNode restarted", time.monotonic() - t0)
    stack.sampler.phase = "between runs"
    return run_id, state, stack.task_instances(TRAINING, run_id), events


def test_a_run_survives_postgres_and_namenode_restarts_and_publishes_each_output_once(stack, restarted_run):
    run_id, state, tis, events = restarted_run
    assert events == {"postgres restarted while generate_dataset was": "running",
                      "namenode restarted while etl_benchmark was": "running"}
    assert state == "success", {k: (v["state"], v["try_number"]) for k, v in tis.items()}
    run = path_segment(run_id)
    assert stack.hdfs_ls(f"{LAKE}/datasets/curated").count(run) == 1
    assert stack.hdfs_ls(f"{LAKE}/models/salary").count(run) == 1
    assert stack.hdfs_ls(f"{LAKE}/_staging/etl_benchmark") == []
    summary = json.loads(stack.hdfs_cat(f"{LAKE}/reports/etl_benchmark/{run}/metrics.json"))
    assert summary["rows_in"] == summary["rows_out"] + summary["rows_rejected"] + summary["duplicates_dropped"]


def test_a_try_the_namenode_restart_failed_names_the_cause_in_its_log(stack, restarted_run):
    run_id, _, tis, _ = restarted_run
    tries = tis["etl_benchmark"]["try_number"]
    print(f"\netl_benchmark tries: {tries}; generate_dataset tries: {tis['generate_dataset']['try_number']}")
    for n in range(1, tries):  # a try that failed: its log says which service it could not reach
        text = "\n".join(stack.task_log(TRAINING, run_id, "etl_benchmark", n))
        assert "namenode" in text.lower() or "Connection refused" in text or "SafeMode" in text, text[-3000:]


@pytest.fixture(scope="module")
def predicted_through_restart(stack, restarted_run, tmp_path_factory):
    """A drop put as a user puts one; the NameNode restarted while its predict task runs."""
    folder = tmp_path_factory.mktemp("nn-drop")
    table = pa.table(people(DROP_ROWS, 21, 21 * 10**9)).drop_columns(["salary"])
    pq.write_table(table, folder / DROP)
    before = {r["dag_run_id"] for r in predict_runs(stack)}
    stack.api("PATCH", f"/dags/{PREDICT}", {"is_paused": False})
    t0 = time.monotonic()
    try:
        stack.hdfs_put(folder / DROP, f"{LAKE}/drops/incoming/{DROP}")

        def predicting() -> bool:
            return any(stack.task_instances(PREDICT, run["dag_run_id"]).get("predict", {}).get("state")
                       in ("running", "deferred") for run in predict_runs(stack) if run["dag_run_id"] not in before)

        wait_until(predicting, 600, "the drop's predict task to run", interval=0.5)
        stack.compose("restart", "namenode")
        wait_until(lambda: stack.hdfs("-test", "-e", f"{LAKE}/predictions/{DROP}/_SUCCESS",
                                      check=False).returncode == 0, 900, f"{DROP} to be published")
        wait_until(lambda: all(r["state"] in ("success", "failed") for r in predict_runs(stack)), 600,
                   "every prediction run to end")
    finally:
        stack.api("PATCH", f"/dags/{PREDICT}", {"is_paused": True})
    stack.timer("drop put, NameNode restarted mid-prediction -> published", time.monotonic() - t0)
    return [r for r in predict_runs(stack) if r["dag_run_id"] not in before]


def test_a_drop_predicted_through_a_namenode_restart_is_published_once_and_nothing_is_lost(
        stack, predicted_through_restart):
    runs = predicted_through_restart
    print("\nruns the drop started:", [(r["state"], {k: (v["state"], v["try_number"]) for k, v in
                                                     stack.task_instances(PREDICT, r["dag_run_id"]).items()})
                                       for r in runs])
    manifest = json.loads(stack.hdfs_cat(f"{LAKE}/predictions/{DROP}/_MANIFEST.json"))
    assert manifest["rows_predicted"] == DROP_ROWS
    assert manifest["run"] in {r["dag_run_id"] for r in runs}
    assert stack.hdfs_ls(f"{LAKE}/drops/processed").count(DROP) == 1
    assert DROP not in stack.hdfs_ls(f"{LAKE}/drops/incoming")
    assert DROP not in stack.hdfs_ls(f"{LAKE}/drops/rejected")
    for run in runs:  # success, or a failure whose log names the cause (the watcher's listings failed)
        if run["state"] == "success":
            continue
        tis = stack.task_instances(PREDICT, run["dag_run_id"])
        assert tis["find_drops"]["state"] == "failed", (run, tis)
        text = "\n".join(stack.task_log(PREDICT, run["dag_run_id"], "find_drops", tis["find_drops"]["try_number"]))
        assert "could not list drops/incoming/" in text, text[-3000:]
