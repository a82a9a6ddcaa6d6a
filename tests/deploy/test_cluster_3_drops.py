"""Drops land in HDFS and salary_batch_predict runs by itself; what the UI shows in a browser."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from cluster_helpers import (
    ALL_TASKS,
    BAD_AGES,
    GOOD_ROWS,
    LAKE,
    NULL_ACTIVE,
    REPEATED,
    TRAINING,
    asset_events,
    manifest,
    reason,
)

from devtools.cluster_stack import OUT

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def test_drops_start_prediction_runs_by_themselves(stack, drops):
    """No run was triggered by hand: the watcher's asset events started them, and they all succeeded."""
    assert drops and all(r["run_type"] == "asset_triggered" for r in drops), drops
    assert {r["state"] for r in drops} == {"success"}, drops
    events = [e for e in asset_events(stack, "salary_drops") if e["extra"].get("from_trigger")]
    fired = sorted(d for e in events for d in e["extra"]["payload"]["drops"])
    assert fired == sorted(["good.parquet", "bad_rows.parquet", "missing_column.parquet", "corrupt.parquet"])


def test_promotion_is_an_event_of_the_champion_asset(stack, training):
    run_id, _ = training
    promoted = [e for e in asset_events(stack, "salary_champion") if e["source_run_id"] == run_id]
    assert [e["source_task_id"] for e in promoted] == ["promote_model"]
    assert promoted[0]["extra"]["version"] == run_id and promoted[0]["extra"]["promoted"] is True


def test_good_drop_is_predicted_once_with_every_row(stack, drops):
    assert stack.hdfs_ls(f"{LAKE}/predictions") == ["bad_rows.parquet", "good.parquet"]
    doc = manifest(stack, "good.parquet")
    assert (doc["rows_in"], doc["rows_predicted"], doc["rows_rejected"]) == (GOOD_ROWS, GOOD_ROWS, 0)
    assert {"predictions.parquet", "predictions.csv", "monitoring.json", "_SUCCESS"} <= set(
        stack.hdfs_ls(f"{LAKE}/predictions/good.parquet"))


def test_bad_rows_are_rejected_with_reasons_and_counts_reconcile(stack, drops, tmp_path):
    doc = manifest(stack, "bad_rows.parquet")
    assert doc["rows_in"] == GOOD_ROWS + REPEATED == doc["rows_predicted"] + doc["rows_rejected"]
    assert doc["rejected_by_reason"] == {"age_out_of_range": BAD_AGES, "null_is_active": NULL_ACTIVE,
                                         "duplicate_id": REPEATED}
    rows = pq.read_table(stack.hdfs_get(f"{LAKE}/drops/rejected/bad_rows.parquet/rows.parquet",
                                        tmp_path / "rows.parquet")).to_pylist()
    assert len(rows) == BAD_AGES + NULL_ACTIVE + REPEATED
    assert {r["reject_reason"] for r in rows} == {"age_out_of_range", "null_is_active", "duplicate_id"}
    predicted = pq.read_table(stack.hdfs_get(f"{LAKE}/predictions/bad_rows.parquet/predictions.parquet",
                                             tmp_path / "predicted.parquet")).column("id").to_pylist()
    assert len(predicted) == len(set(predicted)) == doc["rows_predicted"]  # each id once


@pytest.mark.parametrize(("drop", "why"), [("corrupt.parquet", "not a readable Parquet file"),
                                           ("missing_column.parquet", "missing column 'signup_date'")])
def test_unusable_drops_are_rejected_whole_with_their_reason(stack, drops, drop, why):
    assert why in reason(stack, drop)
    assert drop in stack.hdfs_ls(f"{LAKE}/drops/rejected/{drop}")  # the data itself, next to its reason


def test_nothing_is_left_claimed_staged_or_waiting(stack, drops):
    assert stack.hdfs_ls(f"{LAKE}/drops/incoming") == []
    assert stack.hdfs_ls(f"{LAKE}/drops/claimed") == []
    assert sorted(stack.hdfs_ls(f"{LAKE}/drops/processed")) == ["bad_rows.parquet", "good.parquet"]
    staged = stack.hdfs("-ls", "-R", f"{LAKE}/_staging/predict", check=False).stdout.splitlines()
    assert [line for line in staged if line.startswith("-")] == []  # folders may stay; no file


def test_the_ui_shows_the_run_and_its_tasks_in_a_browser(stack, training):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from devtools.browser import chromium, log_in

    run_id, _ = training
    with chromium() as driver:
        wait = WebDriverWait(driver, 60)
        log_in(driver, stack.ui, "admin", stack.env["AIRFLOW_ADMIN_PASSWORD"])
        driver.get(f"{stack.ui}/dags/{TRAINING}/runs/{run_id}")
        wait.until(lambda d: all(t in d.find_element(By.TAG_NAME, "body").text for t in ALL_TASKS))
        body = driver.find_element(By.TAG_NAME, "body").text
        assert run_id in body and "Success" in body
        driver.save_screenshot(str(OUT / "ui-salary_training-run.png"))
