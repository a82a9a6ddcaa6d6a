"""DropSensor, the time-window alternative to the drops watcher: it returns the complete drops,
waits in the triggerer when deferrable, and a window with no drop ends in AirflowSensorTimeout."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, TaskDeferred

from salary.lake import join
from salary_airflow.sensors.drops import DropSensor
from tests.helpers import drop_table, put


def sensor(incoming: str, **kwargs) -> DropSensor:
    return DropSensor(task_id="wait_for_drops", incoming=incoming, poke_interval=0.1, **kwargs)


def test_in_a_worker_it_returns_the_complete_drops(tmp_path):
    incoming = f"file://{tmp_path}/incoming"
    put(join(incoming, "b", "part-0.parquet"), drop_table(1))  # incomplete: ignored
    put(join(incoming, "a.parquet"), drop_table(1))
    assert sensor(incoming, timeout=5, deferrable=False).execute({}) == ["a.parquet"]


def test_in_a_worker_a_window_without_drops_times_out(tmp_path):
    with pytest.raises(AirflowSensorTimeout):
        sensor(f"file://{tmp_path}/incoming", timeout=0.3, deferrable=False).execute({})


def test_deferred_it_hands_the_wait_and_the_window_to_the_triggerer(tmp_path):
    incoming = f"file://{tmp_path}/incoming"
    with pytest.raises(TaskDeferred) as deferred:
        sensor(incoming, timeout=7200, deferrable=True, webhdfs_conn_id="webhdfs_lake").execute({})
    assert deferred.value.timeout == dt.timedelta(hours=2)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.trigger.serialize()[1] == {"incoming": incoming, "webhdfs_conn_id": "webhdfs_lake",
                                                     "poke_interval": 0.1, "failures_before_alert": 3}
    # The trigger it defers to, run for real: the drop arriving is its success event.
    put(join(incoming, "a.parquet"), drop_table(1))
    event = asyncio.run(anext(deferred.value.trigger.run())).payload
    assert sensor(incoming, deferrable=True).execute_complete({}, event) == ["a.parquet"]


def test_deferred_the_end_of_the_window_is_a_sensor_timeout_and_soft_fail_skips_it(tmp_path):
    from airflow.sdk.exceptions import AirflowSkipException

    timed_out = {"error": "Trigger timeout"}
    with pytest.raises(AirflowSensorTimeout):
        sensor("file:///x", deferrable=True).resume_execution("__fail__", timed_out, {})
    with pytest.raises(AirflowSkipException):
        sensor("file:///x", deferrable=True, soft_fail=True).resume_execution("__fail__", timed_out, {})


def test_a_listing_error_fails_the_task_with_its_cause():
    event = {"status": "error", "message": "3 listings failed in a row, the last with ConnectionRefused"}
    with pytest.raises(AirflowException, match="ConnectionRefused"):
        sensor("hdfs://nn:8020/lake/drops/incoming", deferrable=True).execute_complete({}, event)
