"""The drops triggers against a real HDFS (through WebHDFS) and a file lake: they fire on
complete drops only, with success/error events, and an unreachable NameNode is an error."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from salary.lake import join
from salary_airflow.triggers.drops import DropArrivalTrigger, DropsTrigger, listing_failure
from tests.helpers import STORE, drop_table, put


@pytest.fixture(params=["file", pytest.param("hdfs", marks=pytest.mark.slow)])
def incoming(request, tmp_path) -> str:
    """An incoming folder URI on a file lake or on a real HDFS (webhdfs_default points at it)."""
    if request.param == "file":
        return f"file://{tmp_path}/incoming"
    return f"{request.getfixturevalue('hdfs')}/trigger-{tmp_path.name}/incoming"


def first_event(trigger) -> dict:
    async def run() -> dict:
        return (await anext(trigger.run())).payload

    return asyncio.run(run())


def down_connection(monkeypatch, port: int = 1) -> str:
    """A webhdfs connection to a port nothing listens on (a real refused connection)."""
    monkeypatch.setenv("AIRFLOW_CONN_WEBHDFS_DOWN", json.dumps({"conn_type": "webhdfs", "host": "127.0.0.1",
                                                                "port": port, "login": "root"}))
    return "webhdfs_down"


def test_the_sensor_trigger_waits_through_incomplete_drops_and_fires_once_one_is_complete(incoming):
    put(join(incoming, "batch", "part-0.parquet"), drop_table(1))  # a folder without _SUCCESS
    put(join(incoming, "x.parquet._COPYING_"), drop_table(1))       # hdfs dfs -put in progress
    put(join(incoming, ".hidden.parquet"), drop_table(1))

    async def run() -> dict:
        waiting = asyncio.ensure_future(anext(DropsTrigger(incoming, poke_interval=0.3).run()))
        await asyncio.sleep(1.0)
        assert not waiting.done()  # nothing complete yet
        await asyncio.to_thread(STORE.write_atomic, join(incoming, "batch", "_SUCCESS"), b"")
        return (await asyncio.wait_for(waiting, 30)).payload

    event = asyncio.run(run())
    assert event["status"] == "success" and event["drops"] == ["batch"] and incoming in event["message"]


def test_a_missing_incoming_folder_is_no_drops_not_an_error(incoming):
    async def run() -> bool:
        waiting = asyncio.ensure_future(anext(DropsTrigger(incoming + "-absent", poke_interval=0.2).run()))
        await asyncio.sleep(1.0)
        done = waiting.done()
        waiting.cancel()
        return done

    assert asyncio.run(run()) is False


def test_the_sensor_trigger_fails_instead_of_waiting_when_the_namenode_is_unreachable(monkeypatch):
    trigger = DropsTrigger("hdfs://127.0.0.1:1/lake/drops/incoming", down_connection(monkeypatch),
                           poke_interval=0.1, failures_before_alert=2)
    event = first_event(trigger)
    assert event["status"] == "error" and "127.0.0.1:1" in event["message"] and "2 listings" in event["message"]


def test_serialize_round_trip():
    trigger = DropsTrigger("hdfs://nn:8020/lake/drops/incoming", "webhdfs_lake", 15, 4)
    path, kwargs = trigger.serialize()
    assert path == "salary_airflow.triggers.drops.DropsTrigger"
    assert DropsTrigger(**kwargs).serialize() == (path, kwargs)


def arrival_trigger(monkeypatch, root: str, **kwargs) -> DropArrivalTrigger:
    monkeypatch.setenv("AIRFLOW_VAR_ARRIVAL_TEST_LAKE", root)
    return DropArrivalTrigger(lake_root_variable="arrival_test_lake", poke_interval=0.2, **kwargs)


def test_arrival_fires_once_per_new_complete_drop(monkeypatch, tmp_path):
    root = f"file://{tmp_path}/lake"
    incoming = join(root, "drops", "incoming")
    put(join(incoming, "a.parquet"), drop_table(1))
    put(join(incoming, "b", "part-0.parquet"), drop_table(1))  # not complete yet
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

    first, second = asyncio.run(run())
    assert (first["status"], first["incoming"], first["drops"]) == ("success", incoming, ["a.parquet"])
    assert (second["status"], second["drops"]) == ("success", ["b"])
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
        await asyncio.to_thread(put, join(incoming, "a.parquet"), drop_table(1))
        return (await asyncio.wait_for(waiting, 30)).payload

    assert asyncio.run(after_restart())["drops"] == ["a.parquet"]


def test_an_unreachable_namenode_is_an_error_not_an_empty_inbox_and_the_run_says_so(monkeypatch):
    """Logged each time, then an error event; the run it starts reads the cause back."""
    trigger = arrival_trigger(monkeypatch, "hdfs://127.0.0.1:1/lake", webhdfs_conn_id=down_connection(monkeypatch),
                              failures_before_alert=3)
    start = time.monotonic()
    event = first_event(trigger)
    assert event["status"] == "error" and event["failures"] == 3
    assert "ClientConnectorError" in event["message"] and "127.0.0.1:1" in event["message"]
    assert time.monotonic() - start >= 2 * 0.2  # it retried before alerting
    healthy = {"status": "success", "message": "new complete drops", "drops": ["x"]}
    message = listing_failure([{"from_trigger": True, "payload": healthy}, {"from_trigger": True, "payload": event}])
    assert message is not None and "3 listings" in message and "127.0.0.1:1" in message


@pytest.mark.parametrize("extras", [[], [None], [{}], [{"payload": "x"}], [{"payload": {"status": "success"}}]])
def test_no_listing_failure_in_other_events(extras):
    assert listing_failure(extras) is None


def test_arrival_trigger_serialize_round_trip():
    trigger = DropArrivalTrigger("drops/incoming", "lake_root", "webhdfs_default", 5.0, 3)
    path, kwargs = trigger.serialize()
    assert path == "salary_airflow.triggers.drops.DropArrivalTrigger"
    assert DropArrivalTrigger(**kwargs).serialize() == (path, kwargs)


@pytest.mark.slow
def test_the_second_namenode_answers_when_the_first_is_down(hdfs, tmp_path, monkeypatch):
    """An HA pair in one connection (host "a,b"): the hook fails over to the one that answers."""
    conn = json.loads(os.environ["AIRFLOW_CONN_WEBHDFS_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_WEBHDFS_HA", json.dumps({**conn, "host": f"127.0.0.9,{conn['host']}"}))
    incoming = f"{hdfs}/ha-{tmp_path.name}/incoming"
    put(join(incoming, "a.parquet"), drop_table(1))
    assert first_event(DropsTrigger(incoming, "webhdfs_ha", poke_interval=0.2))["drops"] == ["a.parquet"]
