from __future__ import annotations

import pytest

from salary.lake import Lake, is_visible, join, path_segment


@pytest.mark.parametrize(("run_id", "segment"), [
    ("manual__2026-01-01T00:00:00+00:00", "manual__2026-01-01T00_00_00_00_00"),
    ("scheduled__2026-01-02T02:00:00+00:00", "scheduled__2026-01-02T02_00_00_00_00"),
    ("my run/../x", "my_run_.._x"),
    ("plain-id_1.2", "plain-id_1.2"),
])
def test_path_segment_is_one_safe_segment(run_id, segment):
    assert path_segment(run_id) == segment


def test_path_segment_refuses_empty():
    with pytest.raises(ValueError):
        path_segment("::")


def test_join_and_layout(settings):
    assert join("hdfs://nn:8020/", "/a/", "b") == "hdfs://nn:8020/a/b"
    lake = Lake("file:///tmp/lake", settings.lake)
    assert lake.raw == "file:///tmp/lake/datasets/parquet_chunks"
    assert lake.generated_chunk == "file:///tmp/lake/datasets/parquet_chunks/generated"
    assert lake.curated_version("r:1") == "file:///tmp/lake/datasets/curated/r_1"
    assert lake.report("top_earners", "r:1") == "file:///tmp/lake/reports/top_earners/r_1"
    assert lake.rejected_rows("r") == "file:///tmp/lake/datasets/rejected/r"
    assert lake.staging("etl", "r") == "file:///tmp/lake/_staging/etl/r"
    assert not is_visible(lake.staging("etl", "r").split("/")[5])


def test_is_visible():
    assert is_visible("generated") and not is_visible("_SUCCESS") and not is_visible(".tmp")
