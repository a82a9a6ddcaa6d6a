"""DropsTrigger against a real HDFS (through WebHDFS) and a file lake: it fires on complete
drops only, and times out when none arrives."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salary.lake import join
from salary.lake.fsspec_store import FsspecStore
from salary_airflow.triggers.drops import DropArrivalTrigger, DropsTrigger
from tests.helpers import put

STORE = FsspecStore()


@pytest.fixture(params=["file", pytest.param("hdfs", marks=pytest.mark.slow)])
def incoming(request, tmp_path) -> tuple[str, str | None]:
    """(incoming folder URI, WebHDFS base URL or None)."""
    if request.param == "file":
        return f"file://{tmp_path}/incoming", None
    root = request.getfixturevalue("hdfs")
    conn = json.loads(os.environ["AIRFLOW_CONN_WEBHDFS_DEFAULT"])
    return f"{root}/trigger-{tmp_path.name}/incoming", f"http://{conn['host']}:{conn['port']}"


def first_event(trigger: DropsTrigger) -> dict:
    async def run() -> dict:
        return (await anext(trigger.run())).payload

    return asyncio.run(run())


def parquet_bytes() -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": [1]}), sink)
    return sink.getvalue().to_pybytes()


def test_ignores_incomplete_drops_then_times_out(incoming):
    uri, webhdfs = incoming
    put(join(uri, "batch", "part-0.parquet"), parquet_bytes())  # a folder without _SUCCESS
    put(join(uri, "x.parquet._COPYING_"), parquet_bytes())       # hdfs dfs -put in progress
    put(join(uri, ".hidden.parquet"), parquet_bytes())
    start = time.time()
    event = first_event(DropsTrigger(uri, webhdfs, "root", poke_interval=0.5, deadline=start + 2))
    assert event == {"status": "timeout", "incoming": uri}
    assert time.time() - start >= 2


def test_fires_once_a_drop_is_complete(incoming):
    uri, webhdfs = incoming
    put(join(uri, "batch", "part-0.parquet"), parquet_bytes())
    put(join(uri, "x.parquet._COPYING_"), parquet_bytes())

    async def run() -> dict:
        trigger = DropsTrigger(uri, webhdfs, "root", poke_interval=0.3, deadline=time.time() + 60)
        waiting = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(1.0)
        assert not waiting.done()  # nothing complete yet
        await asyncio.to_thread(STORE.write_atomic, join(uri, "batch", "_SUCCESS"), b"")
        return (await asyncio.wait_for(waiting, 30)).payload

    assert asyncio.run(run()) == {"status": "ready", "drops": ["batch"]}


def test_missing_incoming_folder_is_no_drops(incoming):
    uri, webhdfs = incoming
    event = first_event(DropsTrigger(uri + "-absent", webhdfs, "root", poke_interval=0.2, deadline=time.time() + 0.5))
    assert event["status"] == "timeout"


def test_serialize_round_trip():
    trigger = DropsTrigger("hdfs://nn:8020/lake/drops/incoming", "http://nn:9870", "airflow", 15, 123.0)
    path, kwargs = trigger.serialize()
    assert path == "salary_airflow.triggers.drops.DropsTrigger"
    assert DropsTrigger(**kwargs).serialize() == (path, kwargs)


def arrival_trigger(monkeypatch, root: str, **kwargs) -> DropArrivalTrigger:
    monkeypatch.setenv("AIRFLOW_VAR_ARRIVAL_TEST_LAKE", root)
    return DropArrivalTrigger(lake_root_variable="arrival_test_lake", poke_interval=0.2, **kwargs)


def test_arrival_fires_once_per_new_complete_drop(monkeypatch, tmp_path):
    root = f"file://{tmp_path}/lake"
    incoming = join(root, "drops", "incoming")
    put(join(incoming, "a.parquet"), parquet_bytes())
    put(join(incoming, "b", "part-0.parquet"), parquet_bytes())  # not complete yet
    trigger = arrival_trigger(monkeypatch, root)

    async def run() -> list[dict]:
        events = trigger.run()
        first = (await anext(events)).payload
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(1.0)
        assert not waiting.done()  # a.parquet is not fired again; b is still being written
        await asyncio.to_thread(STORE.write_atomic, join(incoming, "b", "_SUCCESS"), b"")
        second = (await asyncio.wait_for(waiting, 30)).payload
        # The state is written after the event was handed over (at least once, never lost).
        pending = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.5)
        pending.cancel()
        return [first, second]

    assert asyncio.run(run()) == [{"status": "ready", "incoming": incoming, "drops": ["a.parquet"]},
                                  {"status": "ready", "incoming": incoming, "drops": ["b"]}]
    # What was seen is state (the asset state store in a watcher): a restarted trigger with the
    # same state stays quiet about drops still waiting; a drop that left and came back fires again.
    restarted = arrival_trigger(monkeypatch, root)
    restarted._memory = dict(trigger._memory)
    assert restarted._memory == {"seen": ["a.parquet", "b"]}

    async def after_restart() -> dict:
        events = restarted.run()
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(1.0)
        assert not waiting.done()
        fs, path = STORE.filesystem(join(incoming, "a.parquet"))
        await asyncio.to_thread(fs.rm, path)
        await asyncio.sleep(0.6)
        await asyncio.to_thread(put, join(incoming, "a.parquet"), parquet_bytes())
        event = (await asyncio.wait_for(waiting, 30)).payload
        return event

    assert asyncio.run(after_restart())["drops"] == ["a.parquet"]


def test_an_unreachable_namenode_is_a_failure_not_an_empty_inbox(monkeypatch):
    """A real refused connection (nothing listens on port 1): logged each time, then an alert event."""
    monkeypatch.setenv("AIRFLOW_CONN_WEBHDFS_DOWN", json.dumps({"conn_type": "webhdfs", "host": "127.0.0.1",
                                                                "port": 1, "login": "root"}))
    trigger = arrival_trigger(monkeypatch, "hdfs://127.0.0.1:1/lake", webhdfs_conn_id="webhdfs_down",
                              failures_before_alert=3)
    start = time.monotonic()
    event = first_event(trigger)
    assert event["status"] == "listing_failed" and event["failures"] == 3
    assert "ClientConnectorError" in event["error"] and "127.0.0.1:1" in event["error"]
    assert time.monotonic() - start >= 2 * 0.2  # it retried before alerting


def test_the_sensor_trigger_also_fails_instead_of_waiting_out_its_deadline():
    trigger = DropsTrigger("hdfs://127.0.0.1:1/lake/drops/incoming", "http://127.0.0.1:1", "root",
                           poke_interval=0.1, deadline=time.time() + 600, failures_before_alert=2)
    event = first_event(trigger)
    assert event["status"] == "listing_failed" and "127.0.0.1:1" in event["error"]


def test_arrival_trigger_serialize_round_trip():
    trigger = DropArrivalTrigger("drops/incoming", "lake_root", "webhdfs_default", 5.0, 3)
    path, kwargs = trigger.serialize()
    assert path == "salary_airflow.triggers.drops.DropArrivalTrigger"
    assert DropArrivalTrigger(**kwargs).serialize() == (path, kwargs)
