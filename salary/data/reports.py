"""Publishing small query results as a report folder: Parquet tables plus a JSON summary."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any, NamedTuple

from pyspark.sql import DataFrame, Row
from pyspark.sql.types import StructType

from salary.config import Settings
from salary.lake import SUCCESS, Store, join
from salary.lake.hadoop_store import HadoopStore
from salary.lake.tables import write_parquet


def as_records(rows: list[Row]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (dates as ISO strings)."""
    return [
        {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.asDict().items()}
        for row in rows
    ]


class Table(NamedTuple):
    """A query's result as collected: its schema and its (few) rows."""

    schema: StructType
    rows: list[Row]


# How a report job runs one of its queries: the runner collects it, timed as a stage of that name.
Collect = Callable[[str, DataFrame], Table]


def publish_report(store: Store, staging: str, target: str, tables: dict[str, Table]) -> None:
    """Write each collected table as one Parquet file under ``staging``, then publish the
    folder at ``target``. The queries are not run again: the few collected rows are written by
    the driver with pyarrow, with the query's schema (a Spark write job per tiny table cost
    ~1 s each)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    store.stage(staging)
    for name, table in tables.items():
        rows = pa.Table.from_pylist([row.asDict() for row in table.rows], schema=to_arrow_schema(table.schema))
        write_parquet(store, join(staging, name, "part-00000.parquet"), rows)
        store.write_bytes(join(staging, name, SUCCESS), b"")
    store.publish(staging, target)


def run_report_job(
    job: str,
    description: str,
    argv: list[str] | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run_queries: Callable[[DataFrame, Settings, argparse.Namespace, Collect], dict[str, Table]],
    summarize: Callable[[dict[str, list[Row]]], dict[str, Any]],
) -> int:
    """The whole life of a query job over this run's curated version: parse, session, run
    each query once (``run_queries`` may use one query's rows to plan the next), publish the
    report folder, end with the summary line."""
    from salary.runtime.job import job_parser, start_job
    from salary.runtime.spark import finish_spark_job, get_session

    parser = job_parser(description)
    add_arguments(parser)
    started = start_job(parser, argv)
    args, settings, lake, stages = started.args, started.settings, started.lake, started.stages
    with stages.stage("session"):
        spark = get_session(job)
    ctx = started.context(HadoopStore(spark, lake.root))

    def collect(name: str, df: DataFrame) -> Table:
        with stages.stage(name):
            return Table(df.schema, df.collect())

    source = lake.curated_version(args.run_id)
    tables = run_queries(spark.read.parquet(source), settings, args, collect)
    target = lake.report(job, args.run_id)
    with stages.stage("publish"):
        publish_report(ctx.lake.store, lake.staging(job, args.run_id), target, tables)
    collected = {name: table.rows for name, table in tables.items()}
    finish_spark_job(spark, ctx, job, {"input": source, "output": target, **summarize(collected),
                                       "results": {name: as_records(rows) for name, rows in collected.items()}})
    spark.stop()
    return 0
