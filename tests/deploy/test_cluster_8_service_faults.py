"""A fault that is not a host, on the compose stack: the NameNode restarted while a drop is being
predicted. Each run the drop starts ends in success (after retries) or in a failure that names
its cause; the drop is published once, nothing is lost. (Postgres and the NameNode restarted
during a training run: test_cluster_5_faults; a full disk: tests/jobs/test_etl_crash.py, on a
small filesystem of its own.)"""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cluster_helpers import LAKE, PREDICT, people, predict_runs, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

DROP, DROP_ROWS = "namenode-restart.parquet", 200_000


@pytest.fixture(scope="module")
def predicted_through_restart(stack, scaled_run, tmp_path_factory):
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
