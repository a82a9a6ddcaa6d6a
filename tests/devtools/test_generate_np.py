"""The numpy generator (the benchmark's baseline) produces exactly Spark's rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import functions as F

from devtools.generate_np import chunks, hash_int, hash_long
from salary.data.generate import generate


def test_hash_matches_spark_xxhash64(spark):
    ids = [0, 1, 2**40 + 7, 2**63 - 1, -5]
    got = (spark.createDataFrame([(i,) for i in ids], "id long")
           .select(F.xxhash64(F.lit(20250101), F.lit(3), F.col("id")).alias("h")).collect())
    prefix = hash_int(3, hash_int(20250101, 42))
    ours = hash_long(np.array(ids, dtype=np.int64), prefix).astype(np.int64)
    assert [r.h for r in got] == ours.tolist()


def test_rows_equal_sparks(spark, settings):
    rows, seed = 20_000, 99
    theirs = generate(spark, rows, seed, settings.dataset).drop("_is_duplicate", "_has_null").toPandas()
    ours = pa.concat_tables(list(chunks(rows, seed, settings.dataset))).to_pandas()
    assert len(ours) == len(theirs) > rows  # duplicates included
    key = ["id", "name", "age", "salary", "is_active"]
    theirs["signup_date"] = theirs["signup_date"].astype("datetime64[us]")
    ours_sorted = ours.sort_values(key, na_position="first").reset_index(drop=True)
    theirs_sorted = theirs[ours.columns].sort_values(key, na_position="first").reset_index(drop=True)
    assert ours_sorted.equals(theirs_sorted) or ours_sorted.compare(theirs_sorted).empty
