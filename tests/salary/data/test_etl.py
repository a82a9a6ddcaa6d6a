from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from salary.data.etl import (
    CURATED,
    CURATED_SCHEMA,
    DUPLICATE,
    REASON,
    REJECTED,
    STATUS,
    SchemaMismatchError,
    check_schema,
    clean,
    normalise,
    snake_case,
    tally,
    written_counts,
)
from salary.schema import SOURCE

RAW = T.StructType([
    T.StructField("id", T.LongType()),
    T.StructField("name", T.StringType()),
    T.StructField("age", T.IntegerType()),
    T.StructField("salary", T.DoubleType()),
    T.StructField("signup_date", T.TimestampType()),
    T.StructField("is_active", T.BooleanType()),
])
D = dt.datetime(2020, 6, 30)


@pytest.mark.parametrize(("raw", "expected"), [
    ("signup_date", "signup_date"),
    ("Signup_date", "signup_date"),
    ("signupDate", "signup_date"),
    ("Signup Date ", "signup_date"),
    ("is-active", "is_active"),
    ("ID", "id"),
])
def test_snake_case(raw, expected):
    assert snake_case(raw) == expected


def test_check_schema_accepts_the_report_schema_and_other_integer_widths():
    check_schema(RAW, "ok")
    widened = T.StructType([T.StructField("ID", T.IntegerType()), *RAW.fields[1:3],
                            T.StructField("Salary", T.LongType()), T.StructField("signupDate", T.DateType()),
                            RAW.fields[5]])
    check_schema(widened, "ok")


def test_check_schema_names_missing_column_and_wrong_type():
    bad = T.StructType([RAW.fields[0], RAW.fields[1], T.StructField("age", T.StringType()), *RAW.fields[4:]])
    with pytest.raises(SchemaMismatchError) as err:
        check_schema(bad, "raw chunk x")
    message = str(err.value)
    assert message.startswith("raw chunk x: ")
    assert "column 'age' has type string, expected an integer type" in message
    assert "missing column 'salary' (expected a numeric type)" in message


def test_normalise_names_types_and_trimming(spark):
    df = spark.createDataFrame(
        [(1, "  Bob ", 30, 100, D, True)],
        "ID int, ` Name` string, Age smallint, Salary bigint, signupDate timestamp, isActive boolean",
    ).withColumn("extra", F.lit("dropped"))
    out = normalise(df, "generated")
    assert out.drop(SOURCE).schema == CURATED_SCHEMA
    assertDataFrameEqual(out, _rows(spark, [(1, "Bob", 30, 100.0, D.date(), True)]))


def test_a_timestamps_date_is_the_utc_day_spark_casts_it_to(spark):
    """normalise() takes a timestamp's date by arithmetic on its epoch micros: the same day as
    Spark's cast in the UTC session, before 1970, on a day's last microsecond, at the ends of time."""
    stamps = ["1969-12-31 23:59:59.999999", "1970-01-01 00:00:00", "1899-03-01 12:00:00", "1582-10-04 23:00:00",
              "2024-02-29 23:59:59.999999", "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999", None]
    df = spark.createDataFrame([(1, "a", 30, 1.0, s, True) for s in stamps],
                               "id long, name string, age int, salary double, s string, is_active boolean")
    df = df.select("*", F.to_timestamp("s").alias("signup_date")).drop("s")
    got = normalise(df, "generated").select(F.col("signup_date").cast("string")).collect()
    expected = df.select(F.col("signup_date").cast("date").cast("string")).collect()
    assert [r[0] for r in got] == [r[0] for r in expected]
    assert expected[0][0] == "1969-12-31" and expected[-1][0] is None


def _rows(spark, rows, source="generated"):
    return spark.createDataFrame(rows, CURATED_SCHEMA).withColumn(SOURCE, F.lit(source))


def test_a_labelled_drops_rows_need_no_name_but_everything_else(spark):
    day = dt.date(2020, 1, 1)
    labelled = _rows(spark, [(1, None, 30, 10.0, day, True), (2, None, None, 10.0, day, True)], "labelled-d1")
    generated = _rows(spark, [(3, None, 30, 10.0, day, True), (4, "Di", 40, 20.0, day, False)])
    out = {r["id"]: (r[STATUS], r[REASON], r[SOURCE]) for r in clean(labelled.unionByName(generated), 18, 80).collect()}
    assert out == {1: ("curated", None, "labelled-d1"), 2: (REJECTED, "null_age", "labelled-d1"),
                   3: (REJECTED, "null_name", "generated"), 4: ("curated", None, "generated")}


def test_clean_dedups_by_id_rejects_bad_rows_and_reconciles(spark, tmp_path):
    day = dt.date(2020, 1, 1)
    good = (1, "Ann", 30, 10.0, day, True)
    conflict = [(3, "Cy", 50, 30.0, day, True), (3, "Cy", 50, 31.0, day, True)]
    rows = [
        good, good, good,                               # exact duplicates: one kept
        (2, "Bo", 40, 20.0, day, False),
        *conflict,                                      # same id, different rows: one kept, one rejected
        (4, None, 20, 40.0, day, True),                 # null name
        (4, None, 20, 40.0, day, True),                 # ... and its exact copy: both kept as rejected
        (5, "Di", None, 50.0, day, True),               # null age
        (6, "Ed", 12, 60.0, day, True),                 # out of range
        (7, "", 25, 70.0, day, True),                   # blank name
        (None, "Fa", 25, 70.0, day, True),              # null id
    ]
    cleaned = clean(_rows(spark, rows), 18, 80).collect()
    by_status = {}
    for r in cleaned:
        by_status.setdefault(r[STATUS], []).append(r)
    curated = sorted(tuple(r)[:6] for r in by_status["curated"])
    assert [c[0] for c in curated] == [1, 2, 3]
    assert curated[0] == good and curated[1] == rows[3] and curated[2] in conflict
    rejected = sorted((r["id"] or 0, r[REASON]) for r in by_status[REJECTED])
    assert rejected == [(0, "null_id"), (3, "conflicting_id"), (4, "null_name"), (4, "null_name"),
                        (5, "null_age"), (6, "age_out_of_range"), (7, "blank_name")]
    conflict_rejected = next(tuple(r)[:6] for r in by_status[REJECTED] if r[REASON] == "conflicting_id")
    assert {conflict_rejected, curated[2]} == set(conflict)
    assert len(by_status["duplicate"]) == 2
    m = tally(written_counts(spark.createDataFrame(cleaned)).collect())
    assert m == {"rows_out": 3, "rows_rejected": 7, "duplicates_dropped": 2, "labelled_rows_out": 0,
                 "rejected_by_reason": {"null_id": 1, "conflicting_id": 1, "null_name": 2, "null_age": 1,
                                        "age_out_of_range": 1, "blank_name": 1}}
    assert m["rows_out"] + m["rows_rejected"] + m["duplicates_dropped"] == len(rows)
    written = tmp_path / "written"
    spark.createDataFrame(cleaned).write.partitionBy(STATUS, REASON).parquet(str(written))
    without_labelled = written_counts(spark.read.parquet(str(written)), any_labelled=False)
    assert tally(without_labelled.collect()) == m
    assert "ReadSchema: struct<>" in without_labelled._jdf.queryExecution().executedPlan().toString()


def test_clean_is_deterministic_whatever_the_input_order(spark):
    day = dt.date(2020, 1, 1)
    rows = [(3, "Cy", 50, float(s), day, True) for s in range(10)]
    kept = {tuple(r)[:6] for order in (rows, rows[::-1], rows[3:] + rows[:3])
            for r in clean(_rows(spark, order).repartition(3), 18, 80).filter(f"{STATUS} = 'curated'").collect()}
    assert len(kept) == 1


def test_tally_counts_each_status_reason_and_the_curated_labelled_rows():
    groups = [(CURATED, None, False, 5), (CURATED, None, True, 2), (DUPLICATE, None, False, 3),
              (DUPLICATE, None, True, 1), (REJECTED, "null_age", True, 4), (REJECTED, "null_age", False, 1),
              (REJECTED, "blank_name", False, 6)]
    assert tally(groups) == {"rows_out": 7, "rows_rejected": 11, "duplicates_dropped": 4, "labelled_rows_out": 2,
                             "rejected_by_reason": {"null_age": 5, "blank_name": 6}}
    assert tally([]) == {"rows_out": 0, "rows_rejected": 0, "duplicates_dropped": 0, "labelled_rows_out": 0,
                         "rejected_by_reason": {}}
