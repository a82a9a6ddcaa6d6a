"""Reading a drop and the row rules: clear reasons, counts that reconcile, canonical types."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from salary.drops import DropRejected
from salary.drops.validate import read_drop, validate_rows
from salary.lake import join
from tests.helpers import STORE, drop_table, put


def test_validate_rows_reasons_and_counts():
    table = drop_table(6, age=np.array([30, 17, 81, 40, 50, 60], dtype=np.int32))
    table = table.set_column(0, "id", pa.array([1, 2, 3, None, 5, 6], pa.int64()))
    table = table.set_column(2, "is_active", pa.array([True, False, True, True, None, False]))
    valid, rejected = validate_rows(table, 18, 80)
    assert valid["id"].tolist() == [1, 6]
    assert dict(zip(rejected["id"].fillna(-1).astype(int), rejected["reject_reason"], strict=True)) == {
        2: "age_out_of_range", 3: "age_out_of_range", -1: "null_id", 5: "null_is_active"}
    assert len(valid) + len(rejected) == table.num_rows


def test_each_id_is_predicted_once_and_repeats_are_rejected_with_their_reason():
    table = drop_table(8, age=np.array([30, 31, 32, 33, 130, 35, 36, 37], dtype=np.int32))
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
        content = drop_table(3).drop_columns(["signup_date"])
    elif content == "wrong_type":
        content = drop_table(3).set_column(1, "age", pa.array(["1", "2", "3"]))
    elif content == "no_rows":
        content = drop_table(3).slice(0, 0)
    uri = join(lake.incoming, "bad.parquet")
    put(uri, content)
    with pytest.raises(DropRejected, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_drop(STORE, uri, "bad.parquet")


def test_read_drop_folder_normalises_names_and_types(lake):
    t = drop_table(4)
    t = t.rename_columns(["ID", "Age", "isActive", "Signup Date"]).set_column(1, "Age", pa.array([20, 30, 40, 50],
                                                                                                 pa.int64()))
    put(join(lake.incoming, "d", "part-0.parquet"), t)
    put(join(lake.incoming, "d", "part-1.parquet"), drop_table(2, start_id=10))
    STORE.write_atomic(join(lake.incoming, "d", "_SUCCESS"), b"")
    table, files = read_drop(STORE, join(lake.incoming, "d"), "d")
    assert files == ["part-0.parquet", "part-1.parquet"]
    assert table.num_rows == 6
    assert table.schema.field("age").type == pa.int32()
