"""The ``stack`` fixture: the compose stack of the shipped files on a real Docker engine
(devtools.cluster_stack.compose_stack: torn down also when a test fails), and the runs the
test modules share."""

from __future__ import annotations

import secrets
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cluster_helpers import (
    BAD_AGES,
    GOOD_ROWS,
    LAKE,
    NULL_ACTIVE,
    PREDICT,
    REPEATED,
    SCALED_RUN,
    SMALL_ROWS,
    TRAINING,
    answering,
    people,
    predict_runs,
    run_training,
    wait_until,
)

from devtools.cluster_stack import compose_stack


@pytest.fixture(scope="session")
def stack():
    with compose_stack() as s:
        yield s


# The runs the test modules share, in the order the modules use them (pytest runs the files in
# name order: test_cluster_1_stack ... test_cluster_6_drift). Workers lost mid-run at 1M rows are
# the multi-host test's (tests/deploy/hosts: a worker host cut off mid-ETL and mid-tuning).


@pytest.fixture(scope="session")
def training(stack):
    run_id, tis = run_training(stack, SMALL_ROWS, "20k-row training run")
    return run_id, tis


@pytest.fixture(scope="session")
def drops(stack, training, tmp_path_factory):
    """Four drops, put as a user puts files into HDFS, then one salary_batch_predict run. No
    salary in them: they are not training data (test_cluster_6_drift puts labelled ones)."""
    folder = tmp_path_factory.mktemp("drops")
    good = pa.table(people(GOOD_ROWS, 1, 10**9)).drop_columns(["salary"])
    cols = people(GOOD_ROWS, 2, 2 * 10**9)
    del cols["salary"]
    cols["age"][:BAD_AGES] = 130
    is_active = pa.array(cols.pop("is_active"), mask=np.arange(GOOD_ROWS) >= GOOD_ROWS - NULL_ACTIVE)
    bad_rows = pa.table({**cols, "is_active": is_active})
    bad_rows = pa.concat_tables([bad_rows, bad_rows.slice(BAD_AGES, REPEATED)])  # ids sent twice
    files = {"good.parquet": good, "bad_rows.parquet": bad_rows,
             "missing_column.parquet": pa.table(people(100, 3, 3 * 10**9)).drop_columns(["signup_date"])}
    for name, table in files.items():
        pq.write_table(table, folder / name)
    (folder / "corrupt.parquet").write_bytes(b"PAR1" + secrets.token_bytes(2000))
    # Event-driven: unpaused, the DAG waits for the drops asset's watcher (in the triggerer).
    stack.api("PATCH", f"/dags/{PREDICT}", {"is_paused": False})
    wait_until(lambda: "for complete drops every" in stack.compose("logs", "airflow-triggerer").stdout, 180,
               "the drop watcher to start")
    before = {r["dag_run_id"] for r in predict_runs(stack)}
    stack.sampler.phase = "batch prediction"
    for name in (*files, "corrupt.parquet"):
        stack.hdfs_put(folder / name, f"{LAKE}/drops/incoming/{name}")
    t0 = time.monotonic()
    wait_until(lambda: stack.hdfs("-test", "-e", f"{LAKE}/predictions/good.parquet/_SUCCESS",
                                  check=False).returncode == 0, 600, "good.parquet to be published", interval=0.5)
    stack.timer("drop arrival (hdfs dfs -put done) -> published _SUCCESS, event-driven", time.monotonic() - t0)
    wait_until(lambda: len({*stack.hdfs_ls(f"{LAKE}/drops/processed"), *stack.hdfs_ls(f"{LAKE}/drops/rejected")}) == 4
               and all(r["state"] in ("success", "failed") for r in predict_runs(stack)), 900, "every drop to be done")
    stack.timer("four drops put -> all published or rejected, event-driven", time.monotonic() - t0)
    # Paused again so that the training runs of the fault tests (promotions) start no runs of it.
    stack.api("PATCH", f"/dags/{PREDICT}", {"is_paused": True})
    return [r for r in predict_runs(stack) if r["dag_run_id"] not in before]


@pytest.fixture(scope="session")
def scaled_run(stack, training):
    """Two Spark workers and two Ray workers, then one training run through four restarts, one
    after the other: the scheduler while generate_dataset runs (its try dies with it), Postgres
    while generate_dataset's next try runs, the NameNode while etl_benchmark runs, and the
    triggerer while tune_model is deferred. A new seed: generate_dataset has rows to write."""
    t0 = time.monotonic()
    stack.compose("up", "-d", "--wait", "--scale", "spark-worker=2", "--scale", "ray-worker=2")
    stack.timer("scale to 2 spark-workers + 2 ray-workers", time.monotonic() - t0)
    events: dict[str, str] = {}

    def state(run_id: str, task_id: str) -> str:
        return stack.task_instances(TRAINING, run_id)[task_id]["state"]

    def during(run_id: str) -> None:
        stack.wait_for_task(TRAINING, run_id, "generate_dataset", {"running"})
        time.sleep(3)  # into its Spark application
        events["scheduler restarted while generate_dataset was"] = state(run_id, "generate_dataset")
        stack.compose("restart", "airflow-scheduler")

        def retry_running() -> bool:
            ti = stack.task_instances(TRAINING, run_id)["generate_dataset"]
            return ti["state"] == "running" and ti["try_number"] >= 2

        wait_until(retry_running, 900, "generate_dataset's retry to run", interval=1)
        events["postgres restarted while generate_dataset's retry was"] = state(run_id, "generate_dataset")
        stack.compose("restart", "postgres")
        wait_until(lambda: answering(stack), 180, "the api-server to reach Postgres again")
        stack.wait_for_task(TRAINING, run_id, "etl_benchmark", {"running"}, timeout=900)
        time.sleep(2)  # into its Spark job: reading the raw chunks, writing the staged output
        events["namenode restarted while etl_benchmark was"] = state(run_id, "etl_benchmark")
        stack.compose("restart", "namenode")
        stack.wait_for_task(TRAINING, run_id, "tune_model", {"deferred"}, timeout=1500)
        time.sleep(10)  # its job's log is streaming through the triggerer
        events["triggerer restarted while tune_model was"] = state(run_id, "tune_model")
        stack.compose("restart", "airflow-triggerer")

    run_id, tis = run_training(stack, SMALL_ROWS, SCALED_RUN, during, seed=8)
    return run_id, tis, events
