"""ETL transforms: validate the raw schema, normalise, reject bad rows, de-duplicate by id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from salary import schema
from salary.columns import snake_case
from salary.errors import BadInputError
from salary.lake.paths import LABELLED_PREFIX
from salary.schema import RAW_COLUMNS, SOURCE

STATUS = "status"
CURATED, REJECTED, DUPLICATE = "curated", "rejected", "duplicate"
REASON = "reject_reason"
CONFLICTING_ID = "conflicting_id"

_KINDS: tuple[tuple[tuple[type, ...], frozenset[str]], ...] = (
    ((T.ByteType, T.ShortType, T.IntegerType, T.LongType), frozenset({schema.INTEGER, schema.NUMERIC})),
    ((T.FloatType, T.DoubleType, T.DecimalType), frozenset({schema.NUMERIC})),
    ((T.DateType, T.TimestampType, T.TimestampNTZType), frozenset({schema.DATELIKE})),
    ((T.StringType,), frozenset({schema.STRING})),
    ((T.BooleanType,), frozenset({schema.BOOLEAN})),
)
_TARGETS: dict[str, T.DataType] = {"long": T.LongType(), "int": T.IntegerType(), "double": T.DoubleType(),
                                   "date": T.DateType(), "boolean": T.BooleanType(), "string": T.StringType()}


def found_type(data_type: T.DataType) -> schema.FoundType:
    """What a Spark type satisfies of the schema rules' kinds."""
    kinds = next((k for types, k in _KINDS if isinstance(data_type, types)), frozenset())
    return schema.FoundType(kinds, data_type.simpleString())


def target_type(column: str) -> T.DataType:
    return _TARGETS[schema.RULES[column].target]


CURATED_SCHEMA = T.StructType([T.StructField(name, target_type(name), True) for name in RAW_COLUMNS])


class SchemaMismatchError(BadInputError):
    """A raw dataset lacks a required column or has one of the wrong type."""


def check_schema(struct: T.StructType, source: str) -> None:
    """Raise SchemaMismatchError naming every missing column and every wrong type."""
    found = {snake_case(f.name): found_type(f.dataType) for f in struct.fields}
    problems = schema.problems(found, RAW_COLUMNS)
    if problems:
        raise SchemaMismatchError(f"{source}: " + "; ".join(problems))


def normalise(df: DataFrame, source: str) -> DataFrame:
    """snake_case names, target types, trimmed names, signup_date as a DATE; extra columns dropped;
    ``source`` (the chunk's folder name) in a last column."""
    renamed = df.toDF(*[snake_case(c) for c in df.columns])
    types = {f.name: f.dataType for f in renamed.schema.fields}
    out = [_converted(F.col(c), types[c], target_type(c)).alias(c) for c in RAW_COLUMNS if c != "name"]
    out.insert(1, F.trim(F.col("name")).alias("name"))
    return renamed.select(*out, F.lit(source).alias(SOURCE))


_MICROS_PER_DAY = 86_400_000_000


def _converted(column: Column, source: T.DataType, target: T.DataType) -> Column:
    """``column`` cast to ``target``; a timestamp's date by arithmetic on its epoch micros.

    Spark's cast of a TIMESTAMP to a DATE builds a ZonedDateTime per row (3.7% of the CPU of the
    30M-row ETL pass); in UTC, the jobs' session time zone (salary.runtime.spark), the date is the epoch
    micros floor-divided by a day's.
    """
    if isinstance(source, T.TimestampType) and isinstance(target, T.DateType):
        micros, day = F.unix_micros(column), F.lit(_MICROS_PER_DAY)
        days = F.call_function("div", micros - F.pmod(micros, day), day)  # exact floor division
        return F.date_from_unix_date(days.cast("int"))
    return column.cast(target)


def reject_reason(age_min: int, age_max: int) -> Column:
    """Why a normalised row cannot be used (the first null column wins), or null when it can."""
    age = F.col("age")
    reason = F.when(age.isNotNull() & ~age.between(age_min, age_max), F.lit("age_out_of_range"))
    name = F.col("name")
    reason = F.when(name.isNotNull() & (F.length(name) == 0), F.lit("blank_name")).otherwise(reason)
    for column in reversed(RAW_COLUMNS):
        missing = F.col(column).isNull()
        if column == "name":  # a labelled drop's rows have no names (the model does not use them)
            missing = missing & ~F.col(SOURCE).startswith(LABELLED_PREFIX)
        reason = F.when(missing, F.lit(f"null_{column}")).otherwise(reason)
    return reason


def clean(df: DataFrame, age_min: int, age_max: int) -> DataFrame:
    """Give every normalised row a status: curated, duplicate or rejected (with a reason).

    One row per id is curated: the one with the smallest content hash, so the choice is
    deterministic. Exact copies of it are duplicates (dropped, counted). A row whose id also
    has a curated row with different content is rejected as ``conflicting_id``; rows with
    nulls or impossible values are rejected with their own reason, every copy kept.

    A window over (id, reason) ordered by a 64-bit row hash does this with one shuffle and a
    sort on fixed-width keys; rows with equal hashes count as identical (a 2^-64 chance per
    pair of differing rows under one id).
    """
    data = [F.col(c) for c in RAW_COLUMNS]
    by_id = Window.partitionBy("id", REASON).orderBy("_row_hash")
    ranked = (
        df.withColumn(REASON, reject_reason(age_min, age_max))
        .withColumn("_row_hash", F.xxhash64(*data))
        .withColumn("_nth", F.row_number().over(by_id))
        .withColumn("_variant", F.dense_rank().over(by_id))
    )
    reason = F.when(F.col(REASON).isNull() & (F.col("_variant") > 1), F.lit(CONFLICTING_ID)).otherwise(F.col(REASON))
    status = (
        F.when(reason.isNotNull(), F.lit(REJECTED))
        .when(F.col("_nth") == 1, F.lit(CURATED))
        .otherwise(F.lit(DUPLICATE))
    )
    return ranked.select(*RAW_COLUMNS, SOURCE, reason.alias(REASON), status.alias(STATUS))


def written_counts(written: DataFrame, any_labelled: bool = True) -> DataFrame:
    """Rows per (status, reject_reason, labelled) of ``clean()``'s output as written (partitioned
    by status and reason): what ``tally`` reconciles. Only ``source`` is read, and only when a
    labelled chunk went in (``any_labelled``); without one, no column is read at all (reading
    ``source`` was 1-2 s of the 30M-row ETL)."""
    labelled = F.col(SOURCE).startswith(LABELLED_PREFIX) if any_labelled else F.lit(False)
    return written.groupBy(STATUS, REASON, labelled.alias("labelled")).count()


def tally(counts: Iterable[tuple[str, str | None, bool, int]]) -> dict[str, Any]:
    """Curated, rejected (and why) and duplicate rows, and the curated rows from labelled drops,
    from (status, reject_reason, labelled, rows) groups: ``written_counts``' rows as collected."""
    out: dict[str, Any] = {"rows_out": 0, "rows_rejected": 0, "duplicates_dropped": 0, "labelled_rows_out": 0,
                           "rejected_by_reason": {}}
    key = {CURATED: "rows_out", REJECTED: "rows_rejected", DUPLICATE: "duplicates_dropped"}
    for status, reason, labelled, rows in counts:
        out[key[status]] += rows
        if status == CURATED and labelled:
            out["labelled_rows_out"] += rows
        if status == REJECTED:
            out["rejected_by_reason"][reason] = out["rejected_by_reason"].get(reason, 0) + rows
    return out
