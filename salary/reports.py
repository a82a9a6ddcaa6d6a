"""Publishing small query results as a report folder: Parquet tables plus a JSON summary."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, Row

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


def publish_report(store: Store, staging: str, target: str, tables: dict[str, DataFrame],
                   collected: dict[str, list[Row]]) -> None:
    """Write each collected table as one Parquet file under ``staging``, then publish the
    folder at ``target``. The queries are not run again: the few collected rows are written by
    the driver with pyarrow, with the query's schema (a Spark write job per tiny table cost
    ~1 s each)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    store.stage(staging)
    for name, df in tables.items():
        table = pa.Table.from_pylist([row.asDict() for row in collected[name]], schema=to_arrow_schema(df.schema))
        write_parquet(store, join(staging, name, "part-00000.parquet"), table)
        store.write_bytes(join(staging, name, SUCCESS), b"")
    store.publish(staging, target)


def run_report_job(
    job: str,
    description: str,
    argv: list[str] | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    build_tables: Callable[[DataFrame, Settings, argparse.Namespace], dict[str, DataFrame]],
    summarize: Callable[[dict[str, list[Row]]], dict[str, Any]],
) -> int:
    """The whole life of a query job over this run's curated version: parse, session, run
    each table's query once, publish the report folder, end with the summary line."""
    from salary.runtime import job_parser, start_job
    from salary.spark import finish_job, get_session

    parser = job_parser(description)
    add_arguments(parser)
    started = start_job(parser, argv)
    args, settings, lake, stages = started.args, started.settings, started.lake, started.stages
    with stages.stage("session"):
        spark = get_session(job)
    source = lake.curated_version(args.run_id)
    tables = build_tables(spark.read.parquet(source), settings, args)
    collected = {}
    for name, df in tables.items():
        with stages.stage(name):
            collected[name] = df.collect()
    target = lake.report(job, args.run_id)
    with stages.stage("publish"):
        publish_report(HadoopStore(spark, lake.root), lake.staging(job, args.run_id), target, tables, collected)
    finish_job(spark, join(target, "summary.json"), job, args.run_id, {
        "input": source, "output": target, **summarize(collected),
        "results": {name: as_records(rows) for name, rows in collected.items()}}, stages)
    spark.stop()
    return 0
