"""Publishing small query results as a report folder: Parquet tables plus a JSON summary."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession

from salary.config import Settings
from salary.hadoopfs import HadoopFS
from salary.lake import join

log = logging.getLogger(__name__)


def as_records(rows: list[Row]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (dates as ISO strings)."""
    return [
        {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.asDict().items()}
        for row in rows
    ]


def publish_report(spark: SparkSession, fs: HadoopFS, staging: str, target: str,
                   tables: dict[str, DataFrame], collected: dict[str, list[Row]]) -> None:
    """Write each collected table as one Parquet file under ``staging``, then publish the
    folder at ``target`` by rename. The queries are not run again, and the few collected rows
    are written by the driver with pyarrow (a Spark write job per tiny table cost ~1 s each),
    with the query's schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import to_arrow_schema

    from salary.lakefs import write_bytes_atomic

    fs.delete(staging)
    for name, df in tables.items():
        schema = to_arrow_schema(df.schema)
        table = pa.Table.from_pylist([row.asDict() for row in collected[name]], schema=schema)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        write_bytes_atomic(join(staging, name, "part-00000.parquet"), sink.getvalue().to_pybytes())
        write_bytes_atomic(join(staging, name, "_SUCCESS"), b"")
    fs.replace_dir(staging, target)
    log.info("published report tables %s to %s", sorted(tables), target)


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
        publish_report(spark, HadoopFS(spark, lake.root), lake.staging(job, args.run_id), target, tables, collected)
    finish_job(spark, join(target, "summary.json"), {
        "job": job,
        "run_id": args.run_id,
        "input": source,
        "output": target,
        **summarize(collected),
        "results": {name: as_records(rows) for name, rows in collected.items()},
    }, stages)
    spark.stop()
    return 0
