"""Drops: completeness, claims, validation and publication, on a file lake and on real HDFS."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salary.drops import (
    DropRejected,
    claim_drops,
    list_complete,
    publish_all,
    read_drop,
    stage_rejected,
    staging_dir,
    validate_rows,
)
from salary.incoming import IGNORED, PENDING, READY, complete_drops, drop_state
from salary.lake import Lake, join
from salary.lakefs import filesystem, read_json, write_bytes_atomic


@pytest.fixture(params=["file", pytest.param("hdfs", marks=pytest.mark.slow)])
def lake(request, tmp_path, settings) -> Lake:
    if request.param == "file":
        root = f"file://{tmp_path}/lake"
    else:
        root = f"{request.getfixturevalue('hdfs')}/t-{tmp_path.name}"
    return Lake(root, settings.lake)


def people(n: int, start_id: int = 1, **overrides) -> pa.Table:
    rng = np.random.default_rng(start_id)
    data = {
        "id": np.arange(start_id, start_id + n, dtype=np.int64),
        "age": rng.integers(18, 81, n).astype(np.int32),
        "is_active": rng.random(n) < 0.6,
        "signup_date": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D"),
    }
    data.update(overrides)
    df = pd.DataFrame(data)
    df["signup_date"] = df["signup_date"].dt.date if hasattr(df["signup_date"], "dt") else df["signup_date"]
    return pa.Table.from_pandas(df, preserve_index=False)


def put(uri: str, table: pa.Table | bytes) -> None:
    fs, path = filesystem(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as fh:
        if isinstance(table, bytes):
            fh.write(table)
        else:
            pq.write_table(table, fh)


@pytest.mark.parametrize(
    ("name", "is_dir", "children", "state"),
    [
        ("a.parquet", False, [], READY),
        ("a.parquet._COPYING_", False, [], IGNORED),
        (".a.parquet", False, [], IGNORED),
        ("_tmp", True, ["_SUCCESS"], IGNORED),
        ("batch", True, ["part-0.parquet"], PENDING),
        ("batch", True, ["part-0.parquet", "_SUCCESS"], READY),
        ("x.tmp", False, [], IGNORED),
    ],
)
def test_drop_state(name, is_dir, children, state):
    assert drop_state(name, is_dir, children) == state


def test_complete_drops_only_ready():
    entries = {"b.parquet": None, "a": ["_SUCCESS", "p.parquet"], "c": ["p.parquet"], "d._COPYING_": None}
    assert complete_drops(entries) == ["a", "b.parquet"]


def test_list_complete_on_lake(lake):
    put(join(lake.incoming, "one.parquet"), people(3))
    put(join(lake.incoming, "two", "part-0.parquet"), people(3))  # no _SUCCESS yet
    put(join(lake.incoming, "three.parquet._COPYING_"), people(3))
    assert list_complete(lake.incoming) == ["one.parquet"]
    write_bytes_atomic(join(lake.incoming, "two", "_SUCCESS"), b"")
    assert list_complete(lake.incoming) == ["one.parquet", "two"]


def test_validate_rows_reasons_and_counts():
    table = people(6, age=np.array([30, 17, 81, 40, 50, 60], dtype=np.int32))
    table = table.set_column(0, "id", pa.array([1, 2, 3, None, 5, 6], pa.int64()))
    table = table.set_column(2, "is_active", pa.array([True, False, True, True, None, False]))
    valid, rejected = validate_rows(table, 18, 80)
    assert valid["id"].tolist() == [1, 6]
    assert dict(zip(rejected["id"].fillna(-1).astype(int), rejected["reject_reason"], strict=True)) == {
        2: "age_out_of_range", 3: "age_out_of_range", -1: "null_id", 5: "null_is_active"}
    assert len(valid) + len(rejected) == table.num_rows


def test_each_id_is_predicted_once_and_repeats_are_rejected_with_their_reason():
    table = people(8, age=np.array([30, 31, 32, 33, 130, 35, 36, 37], dtype=np.int32))
    ids = [1, 2, 1, 3, 4, 4, 2, 1]  # 1 three times, 2 twice, 4 after an invalid row with id 4
    table = table.set_column(0, "id", pa.array(ids, pa.int64()))
    df = table.to_pandas()
    df.loc[2, df.columns.drop(["id"])] = df.loc[0, df.columns.drop(["id"])]  # row 2 repeats row 0 exactly
    table = pa.Table.from_pandas(df, schema=table.schema, preserve_index=False)
    valid, rejected = validate_rows(table, 18, 80)
    assert valid["id"].tolist() == [1, 2, 3, 4]  # each id once: its first usable row
    assert valid["age"].tolist() == [30, 31, 33, 35]
    assert sorted(zip(rejected["id"], rejected["reject_reason"], strict=True)) == [
        (1, "conflicting_id"), (1, "duplicate_id"), (2, "conflicting_id"), (4, "age_out_of_range")]
    assert len(valid) + len(rejected) == table.num_rows


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file (0 bytes)"),
        (b"not parquet at all", "not a readable Parquet file"),
        ("missing", "missing column 'signup_date'"),
        ("wrong_type", "column 'age' has type string, expected an integer type"),
        ("no_rows", "no rows"),
    ],
)
def test_bad_files_reject_the_drop(lake, content, message):
    if content == "missing":
        content = people(3).drop_columns(["signup_date"])
    elif content == "wrong_type":
        content = people(3).set_column(1, "age", pa.array(["1", "2", "3"]))
    elif content == "no_rows":
        content = people(3).slice(0, 0)
    uri = join(lake.incoming, "bad.parquet")
    put(uri, content)
    fs, path = filesystem(uri)
    with pytest.raises(DropRejected, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_drop(fs, path, "bad.parquet")


def test_read_drop_folder_normalises_names_and_types(lake):
    t = people(4)
    t = t.rename_columns(["ID", "Age", "isActive", "Signup Date"]).set_column(1, "Age", pa.array([20, 30, 40, 50],
                                                                                                 pa.int64()))
    put(join(lake.incoming, "d", "part-0.parquet"), t)
    put(join(lake.incoming, "d", "part-1.parquet"), people(2, start_id=10))
    write_bytes_atomic(join(lake.incoming, "d", "_SUCCESS"), b"")
    fs, path = filesystem(join(lake.incoming, "d"))
    table, files = read_drop(fs, path, "d")
    assert files == ["part-0.parquet", "part-1.parquet"]
    assert table.num_rows == 6
    assert table.schema.field("age").type == pa.int32()


def test_two_runs_claim_each_drop_once(lake):
    drops = [f"d{i}.parquet" for i in range(8)]
    for d in drops:
        put(join(lake.incoming, d), people(2))
    won: dict[str, list[str]] = {}

    def claim(owner: str) -> None:
        won[owner] = [c.drop for c in claim_drops(lake, owner, drops, lease_seconds=3600)]

    threads = [threading.Thread(target=claim, args=(owner,)) for owner in ("run_a", "run_b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won["run_a"] + won["run_b"]) == drops  # every drop once, none twice
    assert list_complete(lake.incoming) == []


def test_claims_resume_and_lease_takeover(lake):
    put(join(lake.incoming, "a.parquet"), people(2))
    [claim] = claim_drops(lake, "run_a", ["a.parquet"], lease_seconds=60)
    assert (claim.drop, claim.how) == ("a.parquet", "new")
    # The same run's retry resumes its claim; another run leaves it alone within the lease ...
    assert [(c.drop, c.how) for c in claim_drops(lake, "run_a", [], lease_seconds=60)] == [("a.parquet", "resumed")]
    assert claim_drops(lake, "run_b", [], lease_seconds=60) == []
    # ... and takes it over once the lease has expired.
    later = dt.datetime.now().timestamp() + 120
    taken = claim_drops(lake, "run_b", [], lease_seconds=60, now=later)
    assert [(c.drop, c.how) for c in taken] == [("a.parquet", "taken over")]


def test_publish_rejected_drop_keeps_data_and_reason(lake):
    put(join(lake.incoming, "bad.parquet"), b"garbage")
    claim_drops(lake, "run_a", ["bad.parquet"], lease_seconds=60)
    stage_rejected(join(staging_dir(lake, "run_a", "bad.parquet"), "rejected"), "bad.parquet",
                   "bad.parquet: not a readable Parquet file", {}, None, "run_a")
    out = publish_all(lake, "run_a", [{"drop": "bad.parquet", "status": "rejected"}])
    assert out["rejected"] == ["bad.parquet"]
    reason = read_json(join(lake.rejected_drops, "bad.parquet", "_REASON.json"))
    assert "not a readable Parquet file" in reason["reason"]
    fs, path = filesystem(join(lake.rejected_drops, "bad.parquet", "bad.parquet"))
    assert fs.cat_file(path) == b"garbage"  # nothing lost
    assert not fs.exists(filesystem(lake.claimed("run_a"))[1])
    # Publishing again (a retry after a crash) changes nothing and loses nothing.
    publish_all(lake, "run_a", [{"drop": "bad.parquet", "status": "rejected"}])
    assert fs.cat_file(path) == b"garbage"


def test_a_reused_drop_name_never_hides_the_earlier_one(lake):
    from salary.drops import already_published, rejected_folder

    assert already_published(lake, "d.parquet") is None
    write_bytes_atomic(join(lake.predictions("d.parquet"), "_MANIFEST.json"), b'{"run": "run_a"}')
    assert already_published(lake, "d.parquet") is None  # no _SUCCESS yet: not published
    write_bytes_atomic(join(lake.predictions("d.parquet"), "_SUCCESS"), b"")
    assert already_published(lake, "d.parquet") == {"run": "run_a"}

    assert rejected_folder(lake, "d.parquet", "run_b") == join(lake.rejected_drops, "d.parquet")
    write_bytes_atomic(join(lake.rejected_drops, "d.parquet", "_REASON.json"), b'{"run": "run_a"}')
    assert rejected_folder(lake, "d.parquet", "run_a") == join(lake.rejected_drops, "d.parquet")
    assert rejected_folder(lake, "d.parquet", "run_b") == join(lake.rejected_drops, "d.parquet.run_b")
