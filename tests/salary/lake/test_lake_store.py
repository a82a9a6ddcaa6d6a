"""The one lake I/O layer: both backends (fsspec outside Spark, Hadoop's FileSystem in Spark
drivers) follow the same rules, on a file lake and on a real HDFS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from salary.lake import Store, join
from salary.lake.fsspec_store import FsspecStore


@pytest.fixture(params=["file", pytest.param("hdfs", marks=pytest.mark.slow)])
def root(request, tmp_path) -> str:
    if request.param == "file":
        return f"file://{tmp_path}"
    return f"{request.getfixturevalue('hdfs')}/store-{tmp_path.name}"


@pytest.fixture(params=["fsspec", "hadoop"])
def store(request, root) -> Store:
    if request.param == "fsspec":
        return FsspecStore()
    from salary.lake.hadoop_store import HadoopStore

    return HadoopStore(request.getfixturevalue("spark"), root)


def test_json_round_trip_replaces_atomically(store, root):
    store.write_json(join(root, "a", "doc.json"), {"v": 1})
    store.write_json(join(root, "a", "doc.json"), {"v": 2})  # replaced in one rename
    assert store.read_json(join(root, "a", "doc.json")) == {"v": 2}
    assert [n for n in store.names(join(root, "a")) if not n.endswith(".crc")] == ["doc.json"]  # no temp file
    assert store.read_json(join(root, "a", "missing.json")) is None


def test_rename_never_replaces(store, root):
    store.write_bytes(join(root, "src", "f"), b"new")
    store.write_bytes(join(root, "dst", "f"), b"old")
    with pytest.raises(FileExistsError):
        store.rename(join(root, "src"), join(root, "dst"))  # a folder, too
    with pytest.raises(FileNotFoundError):
        store.rename(join(root, "nothing"), join(root, "elsewhere"))
    store.rename(join(root, "src"), join(root, "deep", "er", "moved"))  # parents are created
    assert store.read_bytes(join(root, "deep", "er", "moved", "f")) == b"new"
    assert store.read_bytes(join(root, "dst", "f")) == b"old"


def test_publish_first_publication_stays(store, root):
    staged, target = join(root, "_staging", "x"), join(root, "out")
    store.stage(staged)
    store.write_bytes(join(staged, "part"), b"first")
    assert store.publish(staged, target) is True
    assert not store.exists(staged)
    store.stage(staged)  # a retry of the same run stages again
    store.write_bytes(join(staged, "part"), b"second")
    assert store.publish(staged, target) is False  # published versions are immutable
    assert store.read_bytes(join(target, "part")) == b"first"
    assert not store.exists(staged)
    assert store.publish(staged, target) is False  # nothing staged: nothing to do


def test_stage_empties_what_an_earlier_attempt_left(store, root):
    staged = join(root, "_staging", "job", "run")
    store.write_bytes(join(staged, "leftover"), b"x")
    store.stage(staged)
    assert store.exists(staged) and store.names(staged) == []


def test_republish_replaces_a_folder(store, root):
    for content in (b"old", b"new"):
        store.write_bytes(join(root, "staged", "part"), content)
        store.republish(join(root, "staged"), join(root, "chunk"))
    assert store.read_bytes(join(root, "chunk", "part")) == b"new"
    assert [n for n in store.names(root) if not n.startswith(".")] == ["chunk"]  # nothing set aside is left


def test_listing_helpers_skip_hidden_names(store, root):
    store.write_bytes(join(root, "d", "a.parquet"), b"1")
    store.write_bytes(join(root, "d", "sub", "b.parquet"), b"2")
    store.write_bytes(join(root, "d", "_SUCCESS"), b"")
    store.write_bytes(join(root, "d", ".hidden"), b"")
    store.write_bytes(join(root, "f.parquet"), b"3")
    assert store.dirs(root) == ["d"]
    assert store.files(join(root, "d")) == [join(root, "d", "a.parquet"), join(root, "d", "sub", "b.parquet")]
    assert store.files(join(root, "f.parquet")) == [join(root, "f.parquet")]
    entries = store.entries(root)
    assert entries["f.parquet"] is None and "_SUCCESS" in (entries["d"] or [])
    assert store.size(join(root, "f.parquet")) == 1 and store.mtime(join(root, "f.parquet")) > 1.7e9


FORKS_AFTER_HDFS = """import subprocess, sys
from salary.lake import join
from salary.lake.fsspec_store import FsspecStore
FsspecStore().write_json(join(sys.argv[1], "forking", "doc.json"), {"v": 1})
subprocess.run(["true"], preexec_fn=lambda: None, check=True)
"""


@pytest.mark.slow
def test_a_process_that_used_hdfs_can_still_fork_a_child(hdfs):
    """A child forked with the at-fork hooks run (Popen with preexec_fn, as pyspark launches its
    gateway) starts and execs: it hung dropping the hdfs-native client that fsspec's cache held.
    In a process of its own (a session), killed whole if it hangs."""
    proc = subprocess.Popen([sys.executable, "-c", FORKS_AFTER_HDFS, hdfs], start_new_session=True,
                            stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail("the forked child hung")
    assert proc.returncode == 0, err


def test_open_store_serves_the_lakes_schemes_and_refuses_others():
    from salary.lake import open_store
    from salary.lake.fsspec_store import FsspecStore

    assert isinstance(open_store("file:///tmp/lake"), FsspecStore)
    assert isinstance(open_store("hdfs://namenode:8020/lake"), FsspecStore)
    with pytest.raises(ValueError, match="the lake is file:// or hdfs://"):
        open_store("s3://bucket/lake")


def test_stream_reads_a_file_in_chunks_and_fails_before_the_first_for_a_missing_one(root):
    store, uri = FsspecStore(), join(root, "pictures", "big.png")
    data = os.urandom(600_000)
    store.write_bytes(uri, data)
    chunks = list(store.stream(uri, chunk_bytes=256 * 1024))
    assert [len(c) for c in chunks] == [262_144, 262_144, 75_712] and b"".join(chunks) == data
    with pytest.raises(FileNotFoundError):
        store.stream(join(root, "pictures", "missing.png"))
