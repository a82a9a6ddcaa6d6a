"""Drift retrains, on the cluster: labelled drops from a changed world land in HDFS; the first is
one model-health event that starts salary_training, whose champion then predicts the changed
world clearly better; the second, inside the cooldown, starts nothing. Pictures in HDFS."""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cluster_helpers import (
    LAKE,
    PREDICT,
    TRAINING,
    asset_events,
    manifest,
    path_segment,
    people,
    predict_runs,
    wait_until,
)

from devtools.cluster_stack import OUT

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

CHANGED = {"ages": (60, 80), "pay_rise": 0.25}  # an older population, paid 25% more
ROWS = 4_000


def training_runs(stack) -> list[dict]:
    return stack.api("GET", f"/dags/{TRAINING}/dagRuns?limit=100")["dag_runs"]


def put_drop(stack, folder, name: str, seed: int) -> None:
    pq.write_table(pa.table(people(ROWS, seed, seed * 10**9, **CHANGED)), folder / name)
    stack.hdfs_put(folder / name, f"{LAKE}/drops/incoming/{name}")
    wait_until(lambda: stack.hdfs("-test", "-e", f"{LAKE}/predictions/{name}/_SUCCESS", check=False).returncode == 0,
               600, f"{name} to be published", interval=1)


@pytest.fixture(scope="module")
def drift(stack, scaled_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("changed")
    stack.api("PATCH", f"/dags/{PREDICT}", {"is_paused": False})
    try:
        before = {r["dag_run_id"] for r in training_runs(stack)}
        stack.sampler.phase = "drift -> retrain"
        t0 = time.monotonic()
        put_drop(stack, folder, "changed-1.parquet", 5)
        wait_until(lambda: [r for r in training_runs(stack) if r["dag_run_id"] not in before], 180,
                   "the model-health event to start salary_training")
        (retrain,) = [r for r in training_runs(stack) if r["dag_run_id"] not in before]
        state = stack.wait_for_run(TRAINING, retrain["dag_run_id"], timeout=1800)
        stack.timer("changed-world drop put -> retrained (salary_training on the model-health event)",
                    time.monotonic() - t0)
        # The promotion starts a (drop-less) prediction run; let it finish before the next drop.
        wait_until(lambda: all(r["state"] in ("success", "failed") for r in predict_runs(stack)), 300,
                   "prediction runs to finish")
        put_drop(stack, folder, "changed-2.parquet", 6)
        time.sleep(20)  # an event would have queued a training run by now
        # Before the pause below: a paused DAG's run gets no further task (draw comes after publish).
        wait_until(lambda: all(r["state"] in ("success", "failed") for r in predict_runs(stack)), 300,
                   "prediction runs to finish")
        stack.sampler.phase = "between runs"
        return retrain, state, [r for r in training_runs(stack) if r["dag_run_id"] not in before]
    finally:
        stack.api("PATCH", f"/dags/{PREDICT}", {"is_paused": True})


def test_the_first_changed_drop_is_one_event_that_retrains(stack, drift):
    retrain, state, new_runs = drift
    assert retrain["run_type"] == "asset_triggered" and state == "success", retrain
    assert [r["dag_run_id"] for r in new_runs] == [retrain["dag_run_id"]], new_runs  # changed-2 started none
    events = asset_events(stack, "salary_model_health")
    assert [e["extra"]["drop"] for e in events] == ["changed-1.parquet"], events
    extra = events[0]["extra"]
    assert "age" in extra["drifted_features"] and extra["live_mse_over_test"] > 1.5, extra
    inside = json.loads(stack.hdfs_cat(f"{LAKE}/models/salary/health/changed-2.parquet.json"))
    assert inside["healthy"] is False and inside["event"] is False and inside["why"].startswith("cooldown")


def test_the_gate_records_the_trigger_and_the_new_champion_predicts_better(stack, drift):
    retrain, _, _ = drift
    run = path_segment(retrain["dag_run_id"])
    decision = json.loads(stack.hdfs_cat(f"{LAKE}/models/salary/decisions/{run}.json"))
    assert decision["promoted"] is True and decision["trigger"]["run_type"] == "asset_triggered", decision
    assert [e["extra"]["drop"] for e in decision["trigger"]["events"]] == ["changed-1.parquet"]
    etl = json.loads(stack.hdfs_cat(f"{LAKE}/reports/etl_benchmark/{run}/metrics.json"))
    assert etl["labelled_rows_out"] == ROWS and etl["rows_in"] == (
        etl["rows_out"] + etl["rows_rejected"] + etl["duplicates_dropped"])
    before, after = manifest(stack, "changed-1.parquet"), manifest(stack, "changed-2.parquet")
    assert after["model_version"] == retrain["dag_run_id"] != before["model_version"]
    old, new = before["live"]["mse_over_floor"], after["live"]["mse_over_floor"]
    (OUT / "drift.json").write_text(json.dumps({
        "event": asset_events(stack, "salary_model_health")[0]["extra"], "decision": decision,
        "live_mse_over_floor": {"old_champion_on_changed_1": old, "retrained_on_changed_2": new}}, indent=2))
    assert new < old / 3 and new < 2.5, (old, new)


def test_pictures_of_the_run_and_the_drops_are_in_hdfs(stack, drift):
    retrain, _, _ = drift
    model = stack.hdfs_ls(f"{LAKE}/models/salary/{path_segment(retrain['dag_run_id'])}/_pictures")
    assert {"index.html", "predicted_vs_actual.png", "error_by_age_band.png", "trials.png"} <= set(model)
    drop = stack.hdfs_ls(f"{LAKE}/predictions/changed-2.parquet/_pictures")
    assert set(drop) == {"index.html", "psi.png", "distributions.png", "live_mse.png"}
