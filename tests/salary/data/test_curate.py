"""Curating the generated chunk together with labelled drops' chunks (Spark, local)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salary.data.curate import run_etl, training_chunks
from salary.errors import BadInputError
from salary.lake import MANIFEST, SUCCESS, Lake, LakeIO, join
from salary.lake.fsspec_store import FsspecStore
from salary.runtime.job import JobContext, Stages
from salary.schema import RAW_COLUMNS

STORE = FsspecStore()
DAY = dt.date(2024, 5, 1)
NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


def chunk(lake: Lake, name: str, rows: list[tuple], labelled_at: dt.datetime | None = None) -> str:
    folder = join(lake.raw, name)
    table = pa.table(dict(zip(RAW_COLUMNS, zip(*rows, strict=True), strict=True)),
                     schema=pa.schema([("id", pa.int64()), ("name", pa.string()), ("age", pa.int32()),
                                       ("salary", pa.float64()), ("signup_date", pa.date32()),
                                       ("is_active", pa.bool_())]))
    STORE.mkdirs(folder)
    pq.write_table(table, join(folder, "part-0.parquet").removeprefix("file://"))
    if labelled_at:
        STORE.write_json(join(folder, MANIFEST), {"labelled_at": labelled_at.isoformat()})
    STORE.write_atomic(join(folder, SUCCESS), b"")
    return folder


@pytest.fixture
def lake(tmp_path, settings):
    return Lake(f"file://{tmp_path}", settings.lake)


def test_labelled_chunks_older_than_the_window_are_left_out(lake):
    generated = chunk(lake, "generated", [(1, "Ann", 30, 10.0, DAY, True)])
    fresh = chunk(lake, "labelled-new", [(5, None, 30, 10.0, DAY, True)], NOW - dt.timedelta(days=89))
    old = chunk(lake, "labelled-old", [(6, None, 30, 10.0, DAY, True)], NOW - dt.timedelta(days=91))
    STORE.mkdirs(join(lake.raw, "half-written"))
    chunks, expired, arrivals = training_chunks(STORE, lake.raw, NOW, 90)
    assert sorted(chunks) == [generated, fresh] and expired == [old]
    assert arrivals == {"labelled-new": NOW - dt.timedelta(days=89)}


def test_a_labelled_chunk_without_its_arrival_time_is_bad_input(lake):
    chunk(lake, "labelled-x", [(5, None, 30, 10.0, DAY, True)])
    with pytest.raises(BadInputError, match="labelled-x has no labelled_at"):
        training_chunks(STORE, lake.raw, NOW, 90)


def test_labelled_rows_join_the_curated_data_by_the_same_rules(spark, lake, settings):
    chunk(lake, "generated", [(1, "Ann", 30, 10.0, DAY, True), (2, "Bo", 40, 20.0, DAY, False),
                              (2, "Bo", 40, 20.0, DAY, False)])
    recent = NOW.replace(year=dt.datetime.now(dt.UTC).year + 1)  # inside the window whenever the test runs
    chunk(lake, "labelled-d1", [(7, None, 60, 90.0, DAY, True),      # curated, without a name
                                (8, None, 95, 90.0, DAY, True),      # age out of range: rejected
                                (2, None, 40, 25.0, DAY, False)],    # id of a generated row: conflicting
          recent)
    summary = run_etl(spark, JobContext(LakeIO(lake, STORE), settings, "r1", Stages()))
    assert summary["rows_in"] == 6 and summary["rows_out"] == 3 and summary["duplicates_dropped"] == 1
    assert summary["rejected_by_reason"] == {"age_out_of_range": 1, "conflicting_id": 1}
    assert summary["labelled_rows_out"] == 1 and summary["labelled_chunks_expired"] == []
    curated = spark.read.parquet(lake.curated_version("r1"))
    assert {(r["id"], r["source"]) for r in curated.collect()} >= {(1, "generated"), (7, "labelled-d1")}
    manifest = STORE.read_json(join(lake.curated_version("r1"), MANIFEST))
    assert manifest["labelled_rows"] == 1 and manifest["labelled_at"] == {"labelled-d1": recent.isoformat()}
