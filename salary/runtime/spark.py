"""The Spark session every job uses, and the resource metrics Spark itself records."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from pyspark.sql import SparkSession

from salary.runtime.job import APPLICATION_RECORD_ENV, JobContext, finish_job

log = logging.getLogger(__name__)

# Memory metrics Spark's executors report (ExecutorMetricType); JVMHeapMemory is the peak heap.
PEAK_MEMORY_METRICS = ("JVMHeapMemory", "JVMOffHeapMemory", "OnHeapExecutionMemory", "OnHeapStorageMemory")


def get_session(app_name: str) -> SparkSession:
    """The job's session. The master and resources come from spark-submit; the time zone,
    which the results depend on, is set here whoever launched the job."""
    spark = SparkSession.builder.appName(app_name).getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    record_application(spark, os.environ.get(APPLICATION_RECORD_ENV))
    return spark


def record_application(spark: SparkSession, record: str | None) -> None:
    """Name the application in the log and, when ``record`` (a lake URI) is given, write its id
    there: the Airflow task links it in the History Server, after the job ended or failed."""
    sc = spark.sparkContext
    conf = sc.getConf()  # a copy of the JVM's conf: taken once
    event_log = conf.get("spark.eventLog.dir") if conf.get("spark.eventLog.enabled") == "true" else None
    log.info("Spark application %s (%s)", sc.applicationId,
             f"event log in {event_log}" if event_log else "no event log")
    if not record:
        return
    from salary.lake import open_store

    try:
        open_store(record).write_json(record, {"application_id": sc.applicationId, "name": sc.appName,
                                               "event_log_dir": event_log, "at": time.time()})
    except Exception:  # noqa: BLE001 - the link is lost, never the job
        log.exception("could not record the application id in %s", record)


def _scala_seq(seq: Any) -> list[Any]:
    return [seq.apply(i) for i in range(seq.size())]


def resource_metrics(spark: SparkSession) -> dict[str, Any]:
    """Peak memory and I/O totals from Spark's status store (what its UI and REST API show).

    Works with the UI disabled: the status store is kept regardless. Peak executor memory
    comes from executor heartbeats, so a job shorter than one heartbeat may report none; the
    driver JVM's own peak heap (MemoryPoolMXBean) is recorded too, which in local mode is
    the executor's JVM as well.
    """
    jsc = spark.sparkContext._jsc.sc()
    store = jsc.statusStore()
    out: dict[str, Any] = {}

    peaks: dict[str, int] = {}
    executors = []
    for summary in _scala_seq(store.executorList(False)):
        executors.append({"id": str(summary.id()), "host_port": str(summary.hostPort()),
                          "total_tasks": int(summary.totalTasks())})
        option = summary.peakMemoryMetrics()
        if option.isDefined():
            metrics = option.get()
            for name in PEAK_MEMORY_METRICS:
                peaks[name] = max(peaks.get(name, 0), int(metrics.getMetricValue(name)))
    out["executor_peak_bytes"] = peaks
    # Where tasks ran: "driver" alone in local mode; executors on the workers of a cluster.
    out["executors"] = executors
    out["master"] = spark.sparkContext.master
    out["application_id"] = spark.sparkContext.applicationId

    totals = {"input_bytes": 0, "output_bytes": 0, "shuffle_write_bytes": 0,
              "shuffle_read_bytes": 0, "memory_spilled_bytes": 0, "disk_spilled_bytes": 0,
              "peak_execution_memory_bytes": 0, "stages": 0, "tasks": 0}
    # Where the tasks' time went (a profile of the job's work): summed over tasks, in seconds.
    times = {"task_run_seconds": ("executorRunTime", 1e-3), "task_cpu_seconds": ("executorCpuTime", 1e-9),
             "task_gc_seconds": ("jvmGcTime", 1e-3), "task_deserialize_seconds": ("executorDeserializeTime", 1e-3),
             "shuffle_write_seconds": ("shuffleWriteTime", 1e-9),
             "shuffle_fetch_wait_seconds": ("shuffleFetchWaitTime", 1e-3)}
    spent = dict.fromkeys(times, 0.0)
    gateway: Any = spark.sparkContext._gateway
    no_quantiles = gateway.new_array(gateway.jvm.double, 0)
    all_tasks = gateway.jvm.java.util.ArrayList()
    # stageList(statuses=None: all, details, withSummaries, unsortedQuantiles, taskStatus)
    for stage in _scala_seq(store.stageList(None, False, False, no_quantiles, all_tasks)):
        totals["stages"] += 1
        totals["tasks"] += int(stage.numCompleteTasks())
        totals["input_bytes"] += int(stage.inputBytes())
        totals["output_bytes"] += int(stage.outputBytes())
        totals["shuffle_write_bytes"] += int(stage.shuffleWriteBytes())
        totals["shuffle_read_bytes"] += int(stage.shuffleReadBytes())
        totals["memory_spilled_bytes"] += int(stage.memoryBytesSpilled())
        totals["disk_spilled_bytes"] += int(stage.diskBytesSpilled())
        totals["peak_execution_memory_bytes"] = max(
            totals["peak_execution_memory_bytes"], int(stage.peakExecutionMemory())
        )
        for key, (method, unit) in times.items():
            spent[key] += int(getattr(stage, method)()) * unit
    out.update(totals)
    out.update({k: round(v, 3) for k, v in spent.items()})

    jvm: Any = spark.sparkContext._jvm
    heap_peak = 0
    for pool in jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans():
        if str(pool.getType().toString()) == "Heap memory":
            heap_peak += int(pool.getPeakUsage().getUsed())
    out["driver_jvm_peak_heap_bytes"] = heap_peak
    return out


def finish_spark_job(spark: SparkSession, ctx: JobContext[Any], job: str, result: dict[str, Any],
                     report: str = "summary.json") -> dict[str, Any]:
    """``finish_job`` of a Spark job: its result with Spark's metrics."""
    return finish_job(ctx, job, {**result, "spark": resource_metrics(spark)}, report)
