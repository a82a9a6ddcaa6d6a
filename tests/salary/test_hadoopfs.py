"""HadoopFS (the Spark jobs' metadata operations) on a file lake and on real HDFS."""

from __future__ import annotations

import pytest

from salary.hadoopfs import HadoopFS


@pytest.fixture(params=["file", pytest.param("hdfs", marks=pytest.mark.slow)])
def root(request, tmp_path) -> str:
    if request.param == "file":
        return f"file://{tmp_path}"
    return f"{request.getfixturevalue('hdfs')}/hadoopfs-{tmp_path.name}"


def test_json_round_trip_and_replace(spark, root):
    fs = HadoopFS(spark, root)
    fs.write_json(f"{root}/a/doc.json", {"v": 1})
    fs.write_json(f"{root}/a/doc.json", {"v": 2})  # replaced in one rename
    assert fs.read_json(f"{root}/a/doc.json") == {"v": 2}
    assert fs.list_names(f"{root}/a") == ["doc.json"]  # no temporary file left
    assert fs.read_json(f"{root}/a/missing.json") is None


def test_replace_dir_publishes_the_staged_folder(spark, root):
    fs = HadoopFS(spark, root)
    fs.write_text(f"{root}/staged/part", "new")
    fs.write_text(f"{root}/out/part", "old")
    fs.replace_dir(f"{root}/staged", f"{root}/out")
    assert fs.read_text(f"{root}/out/part") == "new"
    assert not fs.exists(f"{root}/staged")
    assert fs.list_names(root, dirs_only=True) == ["out"]
