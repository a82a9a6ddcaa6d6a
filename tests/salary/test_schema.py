"""The column rules are stated once (salary.schema) and read the same through Spark's types
(raw chunks) and Arrow's (prediction drops)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyspark.sql import types as T

from salary import schema
from salary.data.etl import check_schema, found_type
from salary.drops import validate


def test_problems_names_every_missing_and_mistyped_column_in_rule_order():
    found = {"id": schema.FoundType(frozenset({schema.INTEGER, schema.NUMERIC}), "bigint"),
             "age": schema.FoundType(frozenset({schema.STRING}), "string"),
             "salary": schema.FoundType(frozenset({schema.STRING}), "string")}
    assert schema.problems(found, schema.DROP_COLUMNS, optional=(schema.LABEL,)) == [
        "column 'age' has type string, expected an integer type",
        "column 'salary' has type string, expected a numeric type",
        "missing column 'signup_date' (expected date or timestamp)",
        "missing column 'is_active' (expected boolean)",
    ]
    assert schema.problems(found, ["id"]) == []  # columns outside the required/optional sets are not checked


@pytest.mark.parametrize(("spark_type", "arrow_type"), [
    (T.LongType(), pa.int64()), (T.ShortType(), pa.int16()), (T.DoubleType(), pa.float64()),
    (T.DecimalType(10, 2), pa.decimal128(10, 2)), (T.StringType(), pa.string()), (T.DateType(), pa.date32()),
    (T.TimestampType(), pa.timestamp("us")), (T.BooleanType(), pa.bool_()),
])
def test_spark_and_arrow_types_satisfy_the_same_kinds(spark_type, arrow_type):
    assert found_type(spark_type).kinds == validate.found_type(arrow_type).kinds


def test_a_raw_chunk_and_a_drop_with_the_same_fault_get_the_same_reason(spark):
    raw = T.StructType([T.StructField(c, T.StringType() if c == "age" else T.LongType()) for c in
                        ("id", "name", "age", "salary", "is_active")])
    with pytest.raises(Exception) as spark_error:
        check_schema(raw, "chunk")
    table = pa.table({"id": [1], "age": ["x"], "is_active": [True]})
    with pytest.raises(Exception) as arrow_error:
        validate.normalise_schema(table, "drop")
    for message in ("column 'age' has type string, expected an integer type",
                    "missing column 'signup_date' (expected date or timestamp)"):
        assert message in str(spark_error.value) and message in str(arrow_error.value)
