"""ETL transforms: validate the raw schema, normalise, reject bad rows, de-duplicate by id."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from salary.errors import BadInputError
from salary.generate import RAW_COLUMNS

STATUS = "status"
CURATED, REJECTED = "curated", "rejected"
REASON = "reject_reason"

_INTEGRAL = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
_NUMERIC = (*_INTEGRAL, T.FloatType, T.DoubleType, T.DecimalType)
_DATELIKE = (T.DateType, T.TimestampType, T.TimestampNTZType)


@dataclass(frozen=True)
class ColumnRule:
    accepted: tuple[type, ...]
    accepted_text: str
    target: T.DataType


SCHEMA_RULES: dict[str, ColumnRule] = {
    "id": ColumnRule(_INTEGRAL, "an integer type", T.LongType()),
    "name": ColumnRule((T.StringType,), "string", T.StringType()),
    "age": ColumnRule(_INTEGRAL, "an integer type", T.IntegerType()),
    "salary": ColumnRule(_NUMERIC, "a numeric type", T.DoubleType()),
    "signup_date": ColumnRule(_DATELIKE, "date or timestamp", T.DateType()),
    "is_active": ColumnRule((T.BooleanType,), "boolean", T.BooleanType()),
}

CURATED_SCHEMA = T.StructType(
    [T.StructField(name, SCHEMA_RULES[name].target, True) for name in RAW_COLUMNS]
)


class SchemaMismatchError(BadInputError):
    """A raw dataset lacks a required column or has one of the wrong type."""


def snake_case(name: str) -> str:
    """``Signup Date`` / ``signupDate`` / ``Signup-Date`` -> ``signup_date``."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def check_schema(schema: T.StructType, source: str) -> None:
    """Raise SchemaMismatchError naming every missing column and every wrong type."""
    found = {snake_case(f.name): f.dataType for f in schema.fields}
    problems = []
    for column, rule in SCHEMA_RULES.items():
        if column not in found:
            problems.append(f"missing column '{column}' (expected {rule.accepted_text})")
        elif not isinstance(found[column], rule.accepted):
            problems.append(
                f"column '{column}' has type {found[column].simpleString()}, "
                f"expected {rule.accepted_text}"
            )
    if problems:
        raise SchemaMismatchError(f"{source}: " + "; ".join(problems))


def normalise(df: DataFrame) -> DataFrame:
    """snake_case names, target types, trimmed names, signup_date as a DATE; extra columns dropped."""
    renamed = df.toDF(*[snake_case(c) for c in df.columns])
    out = [F.col(c).cast(SCHEMA_RULES[c].target).alias(c) for c in RAW_COLUMNS if c != "name"]
    out.insert(1, F.trim(F.col("name")).alias("name"))
    return renamed.select(*out)


def reject_reason(age_min: int, age_max: int) -> Column:
    """Why a normalised row cannot be used (the first null column wins), or null when it can."""
    age = F.col("age")
    reason = F.when(age.isNotNull() & ~age.between(age_min, age_max), F.lit("age_out_of_range"))
    name = F.col("name")
    reason = F.when(name.isNotNull() & (F.length(name) == 0), F.lit("blank_name")).otherwise(reason)
    for column in reversed(RAW_COLUMNS):
        reason = F.when(F.col(column).isNull(), F.lit(f"null_{column}")).otherwise(reason)
    return reason


def clean(df: DataFrame, age_min: int, age_max: int) -> DataFrame:
    """Flag bad rows and de-duplicate by id, in one shuffle.

    Curated rows (null ``reject_reason``) are grouped by id and the smallest row is kept, so
    the choice is deterministic. A rejected row groups with its exact copies only. Columns:
    the curated schema, ``reject_reason``, ``copies`` (input rows the output row stands for)
    and ``variants`` (2 when an id had differing contents).
    """
    data = [F.col(c) for c in RAW_COLUMNS]
    flagged = df.withColumn(REASON, reject_reason(age_min, age_max))
    row_key = F.when(F.col(REASON).isNotNull(), F.xxhash64(*data)).alias("_row_key")
    grouped = flagged.groupBy("id", REASON, row_key).agg(
        F.min(F.struct(*data)).alias("_first"),
        F.max(F.struct(*data)).alias("_last"),
        F.count(F.lit(1)).alias("copies"),
    )
    return grouped.select(
        *[F.col(f"_first.{c}").alias(c) for c in RAW_COLUMNS],
        F.col(REASON),
        F.col("copies"),
        F.when(F.col("_first") == F.col("_last"), F.lit(1)).otherwise(F.lit(2)).alias("variants"),
    )


def clean_metrics() -> list[Column]:
    """Aggregates over ``clean()``'s output that reconcile the row counts of one ETL run."""
    curated = F.col(REASON).isNull()
    return [
        F.sum(F.when(curated, 1).otherwise(0)).alias("rows_out"),
        F.sum(F.when(~curated, F.col("copies")).otherwise(0)).alias("rows_rejected"),
        F.sum(F.when(curated, F.col("copies") - 1).otherwise(0)).alias("duplicates_dropped"),
        F.sum(F.when(curated & (F.col("variants") > 1), 1).otherwise(0)).alias("conflicting_ids"),
    ]


def routed(cleaned: DataFrame) -> DataFrame:
    """Rows to write, partitioned by (status, reject_reason).

    Curated rows appear once; a rejected row appears as many times as it came in, so every
    input row is either curated, a dropped duplicate of a curated row, or rejected with its
    reason.
    """
    copies = F.when(F.col(REASON).isNull(), F.lit(1)).otherwise(F.col("copies"))
    return cleaned.select(
        *RAW_COLUMNS,
        F.when(F.col(REASON).isNull(), F.lit(CURATED)).otherwise(F.lit(REJECTED)).alias(STATUS),
        F.col(REASON),
        F.explode(F.sequence(F.lit(1), copies)).alias("_copy"),
    ).drop("_copy")
