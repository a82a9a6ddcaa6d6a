from __future__ import annotations

import pytest

from salary.lake import Lake, is_visible, join, path_segment

SEGMENTS = [
    ("manual__2026-01-01T00:00:00+00:00", "manual__2026-01-01T00_00_00_00_00"),
    ("scheduled__2026-01-02T02:00:00+00:00", "scheduled__2026-01-02T02_00_00_00_00"),
    ("my run/../x", "my_run_.._x"),
    ("plain-id_1.2", "plain-id_1.2"),
    ("..:hidden:", "hidden"),
]


@pytest.mark.parametrize(("run_id", "segment"), SEGMENTS)
def test_path_segment_is_one_safe_segment(run_id, segment):
    assert path_segment(run_id) == segment


def test_the_cluster_test_names_run_folders_by_the_documented_rule():
    """The cluster test finds run folders as a user would, from docs/pipeline.md's rule, with its
    own copy of it: the copy must give the same folders as the package."""
    from tests.deploy.cluster_helpers import path_segment as users_rule

    assert [users_rule(run_id) for run_id, _ in SEGMENTS] == [segment for _, segment in SEGMENTS]


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
