"""Curating the raw chunks (Spark): validate, normalise, reject, de-duplicate, publish.

Reads every complete chunk under <lake>/datasets/parquet_chunks/ (a folder with _SUCCESS): the
generated one and the labelled drops' (``labelled-<drop>``, within the recency window),
fails on a missing column or wrong type before reading any rows, rejects rows with nulls or
out-of-range ages (to <lake>/datasets/rejected/<run>/<reason>/), drops duplicate ids, and
publishes the curated version by rename, then points _CURRENT at it. The row counts reconcile:
rows in = curated + rejected + duplicates dropped.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from salary.data.etl import (
    CONFLICTING_ID,
    CURATED,
    REASON,
    REJECTED,
    STATUS,
    check_schema,
    clean,
    normalise,
    tally,
    written_counts,
)
from salary.errors import BadInputError
from salary.lake import CURRENT, GENERATED_CHUNK, LABELLED_PREFIX, MANIFEST, SUCCESS, Store, join, path_segment
from salary.runtime.job import JobContext
from salary.schema import RAW_COLUMNS, SOURCE

JOB = "etl_benchmark"
log = logging.getLogger(__name__)

REJECT_REASONS = tuple(f"null_{c}" for c in RAW_COLUMNS) + ("blank_name", "age_out_of_range", CONFLICTING_ID)


def training_chunks(store: Store, raw: str, now: dt.datetime,
                    labelled_window_days: float) -> tuple[list[str], list[str], dict[str, dt.datetime]]:
    """Paths of the raw chunks to curate, the labelled chunks left out as older than the window,
    and when each curated labelled chunk arrived (by name). Incomplete chunks are logged and skipped."""
    chunks, expired, arrivals = [], [], {}
    oldest = now - dt.timedelta(days=labelled_window_days)
    for name in store.dirs(raw):
        path = join(raw, name)
        if not store.exists(join(path, SUCCESS)):
            log.warning("skipping raw chunk %s: no %s marker (still being written?)", path, SUCCESS)
            continue
        if name.startswith(LABELLED_PREFIX):
            arrived = labelled_at(store, path)
            if arrived < oldest:
                expired.append(path)
                continue
            arrivals[name] = arrived
        chunks.append(path)
    if not chunks:
        raise BadInputError(f"no complete raw chunk under {raw}")
    if expired:
        log.info("left out %d labelled chunk(s) older than %s days: %s", len(expired), labelled_window_days, expired)
    return chunks, expired, arrivals


def labelled_at(store: Store, chunk: str) -> dt.datetime:
    manifest = store.read_json(join(chunk, MANIFEST)) or {}
    if "labelled_at" not in manifest:
        raise BadInputError(f"labelled chunk {chunk} has no labelled_at in its {MANIFEST}")
    return dt.datetime.fromisoformat(manifest["labelled_at"])


def read_raw(spark: SparkSession, chunks: list[str]) -> DataFrame:
    """All chunks, each validated and normalised to the curated schema (+ its source), as one DataFrame."""
    frames = []
    for path in chunks:
        df = spark.read.parquet(path)
        check_schema(df.schema, f"raw chunk {path}")
        frames.append(normalise(df, path.rsplit("/", 1)[1]))
    return functools.reduce(DataFrame.unionByName, frames)


def run_etl(spark: SparkSession, ctx: JobContext[Any]) -> dict[str, Any]:
    store, lake, settings, run_id, stages = ctx.lake.store, ctx.lake.paths, ctx.settings, ctx.run_id, ctx.stages
    truth = settings.dataset.truth
    with stages.stage("read_validate"):
        chunks, expired, arrivals = training_chunks(store, lake.raw, dt.datetime.now(dt.UTC),
                                          settings.model.labelled_window_days)
        raw = read_raw(spark, chunks)
        rows_in = raw.count()  # from the chunks' Parquet footers: no column is read

    staging = lake.staging(JOB, run_id)
    store.delete(staging)  # what an earlier attempt of this run left (Spark's writer makes the folder)
    # One pass: scan, normalise, flag, de-duplicate (one shuffle), write every row under its
    # status and reason (duplicates too: counted below, never published).
    with stages.stage("transform_write"):
        clean(raw, truth.age_min, truth.age_max).write.partitionBy(STATUS, REASON).mode("overwrite").parquet(staging)
    # The counts come from the rows as written (at most `source` is read): an observation on the
    # 30M-row pass cost 12 s of its 42 (it breaks whole-stage code generation).
    with stages.stage("count"):
        groups = (written_counts(spark.read.parquet(staging), any_labelled=bool(arrivals)).collect()
                  if store.dirs(staging) else [])
        counted = tally(groups)
    rejected_by_reason = {r: n for r in REJECT_REASONS if (n := counted["rejected_by_reason"].get(r))}
    metrics = {k: counted[k] for k in ("rows_out", "rows_rejected", "duplicates_dropped")}
    labelled_rows_out = counted["labelled_rows_out"]
    accounted = metrics["rows_out"] + metrics["rows_rejected"] + metrics["duplicates_dropped"]
    if accounted != rows_in or set(counted["rejected_by_reason"]) - set(REJECT_REASONS):
        raise RuntimeError(f"row counts do not reconcile: {rows_in} in, {accounted} written {counted}")
    if rejected_by_reason.get(CONFLICTING_ID):
        log.warning("%d rows share an id with a different curated row: rejected as %s",
                    rejected_by_reason[CONFLICTING_ID], CONFLICTING_ID)

    curated_out = lake.curated_version(run_id)
    rejected_out = lake.rejected_rows(run_id)
    with stages.stage("publish"):
        staged_curated = join(staging, f"{STATUS}={CURATED}", f"{REASON}=__HIVE_DEFAULT_PARTITION__")
        if not store.exists(staged_curated):  # every row was rejected: publish an empty dataset
            spark.createDataFrame([], raw.schema).write.mode("overwrite").parquet(staged_curated)
        store.write_json(join(staged_curated, MANIFEST), {
            "run_id": run_id,
            "rows": metrics["rows_out"],
            "columns": [*RAW_COLUMNS, SOURCE],
            "source_chunks": chunks,
            "labelled_rows": labelled_rows_out,
            # When each labelled drop arrived (its rows' weight decays with it: salary.model.train).
            "labelled_at": {name: arrived.isoformat() for name, arrived in arrivals.items()},
            "generated_manifest": store.read_json(join(lake.raw, GENERATED_CHUNK, MANIFEST)),
        })
        store.write_atomic(join(staged_curated, SUCCESS), b"")
        store.publish(join(staging, f"{STATUS}={REJECTED}"), rejected_out)
        store.publish(staged_curated, curated_out)
        store.write_atomic(join(lake.curated, CURRENT), (path_segment(run_id) + "\n").encode())
        store.delete(staging)
        removed = prune_versions(store, lake.curated, keep=settings.lake.curated_versions_kept,
                                 current=path_segment(run_id))
    return {
        "rows_in": rows_in,
        **metrics,
        "rejected_by_reason": rejected_by_reason,
        "labelled_rows_out": labelled_rows_out,
        "source_chunks": chunks,
        "labelled_chunks_expired": expired,
        "output": curated_out,
        "rejected_output": rejected_out if rejected_by_reason else None,
        "pruned_versions": removed,
    }


def prune_versions(store: Store, curated: str, keep: int, current: str) -> list[str]:
    """Delete all but the newest ``keep`` curated versions (never the current one)."""
    versions = [n for n in store.dirs(curated) if n != current]
    versions.sort(key=lambda n: store.mtime(join(curated, n)), reverse=True)
    doomed = versions[max(keep - 1, 0):]
    for name in doomed:
        store.delete(join(curated, name))
    return doomed
