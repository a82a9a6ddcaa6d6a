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
from triggers.drops import DropsTrigger

from salary.lake import join
from salary.lakefs import filesystem, write_bytes_atomic


@pytest.fixture(params=["file", pytest.param("hdfs", marks=pytest.mark.slow)])
def incoming(request, tmp_path) -> tuple[str, str | None]:
    """(incoming folder URI, WebHDFS base URL or None)."""
    if request.param == "file":
        return f"file://{tmp_path}/incoming", None
    root = request.getfixturevalue("hdfs")
    conn = json.loads(os.environ["AIRFLOW_CONN_WEBHDFS_DEFAULT"])
    return f"{root}/trigger-{tmp_path.name}/incoming", f"http://{conn['host']}:{conn['port']}"


def put(uri: str, data: bytes = b"") -> None:
    fs, path = filesystem(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as fh:
        fh.write(data)


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
        await asyncio.to_thread(write_bytes_atomic, join(uri, "batch", "_SUCCESS"), b"")
        return (await asyncio.wait_for(waiting, 30)).payload

    assert asyncio.run(run()) == {"status": "ready", "drops": ["batch"]}


def test_missing_incoming_folder_is_no_drops(incoming):
    uri, webhdfs = incoming
    event = first_event(DropsTrigger(uri + "-absent", webhdfs, "root", poke_interval=0.2, deadline=time.time() + 0.5))
    assert event["status"] == "timeout"


def test_serialize_round_trip():
    trigger = DropsTrigger("hdfs://nn:8020/lake/drops/incoming", "http://nn:9870", "airflow", 15, 123.0)
    path, kwargs = trigger.serialize()
    assert path == "triggers.drops.DropsTrigger"
    assert DropsTrigger(**kwargs).serialize() == (path, kwargs)
