"""Our Spark jobs exactly as the DAG submits them, against their baselines: a trivial job (the
fixed cost of a Spark task), generation (numpy + pyarrow writing the same rows:
devtools.generate_np reproduces Spark's hash-based draws) and the three ETL jobs (DuckDB, 2
threads, the same rules and outputs, whose results must equal ours)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure import MemorySampler, run_measured
from salary.config import Settings
from salary.lake import Lake, join
from salary.runtime.job import parse_summaries

REPO = Path(__file__).resolve().parents[1]
SPARK_JOBS = ("etl_benchmark", "top_earners", "age_distribution")
# A trivial job that prints when its Python started, its session was ready and its action done:
# with the wall clock around spark-submit, where a Spark task's fixed cost goes.
TRIVIAL = """import json, time
t0 = time.time()
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
t1 = time.time()
spark.range(1000).count()
t2 = time.time()
print("STARTUP " + json.dumps({"python_started": t0, "session_ready": t1, "action_done": t2}), flush=True)
"""


def spark_submit_cmd(settings: Settings, app: str, args: list[str], stock: bool = False,
                     extra_conf: dict[str, str] | None = None) -> list[str]:
    cmd = ["spark-submit", "--master", "local[*]"]
    if not stock:
        for key, value in {**settings.spark.conf, **(extra_conf or {})}.items():
            cmd += ["--conf", f"{key}={value}"]
        cmd += ["--py-files", str(REPO / "build" / "salary.zip"), "--driver-memory", settings.spark.driver_memory]
    return [*cmd, app, *args]


def spark_job(settings: Settings, lake: Lake, job: str, run_id: str, sampler: MemorySampler,
              *extra: str) -> dict[str, Any]:
    """One of our Spark jobs as the DAG runs it (its event log into the lake's spark-events/
    included); work = its stages after the session started."""
    args = ["--lake-root", lake.root, "--run-id", run_id, "--config", str(settings.config_dir / "pipeline.toml"),
            *extra]
    Path(lake.spark_events.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    event_log = {**settings.spark.event_log, "spark.eventLog.dir": lake.spark_events}
    measured = run_measured(spark_submit_cmd(settings, str(REPO / "jobs" / f"{job}.py"), args, extra_conf=event_log),
                            sampler=sampler)
    summary = parse_summaries(measured["stdout"] + measured["stderr"])[-1]  # PythonRunner: stdout
    stages = summary["stage_seconds"]
    work = sum(v for k, v in stages.items() if k != "session")
    spark = {k: v for k, v in summary["spark"].items() if k != "executors"}  # memory, I/O, where time went
    return {"wall": measured["wall"], "work": work, "startup": measured["wall"] - work, "stages": stages,
            "peak_rss_bytes": measured["peak_rss_bytes"], "spark": spark,
            **{k: summary[k] for k in ("rows_in", "rows_out", "rows_rejected") if k in summary}}


# What makes our spark-submit ours besides its arguments (scripts/env.sh): the Spark home of
# devtools/build/spark_home.py, the launcher's JVM options and the lock's Java 25
# (devtools/build/java_home.py). Stock runs from pip's pyspark as installed, on the `java` on PATH
# (the system's Java 17).
OUR_SPARK_ENV = ("SPARK_HOME", "SPARK_LAUNCHER_OPTS", "JAVA_HOME")


def stock_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in OUR_SPARK_ENV}


def trivial_job(cmd: list[str], sampler: MemorySampler, baseline: bool) -> dict[str, float]:
    """One run of the trivial job: its wall and where it went (spark-submit's launcher and the
    driver JVM until Python starts; the session; the first action; the exit). The ``baseline``
    runs in the stock environment."""
    start = time.time()
    measured = run_measured(cmd, env=stock_env() if baseline else None, sampler=sampler, baseline=baseline)
    end = start + measured["wall"]
    line = next(x for x in measured["stdout"].splitlines() if x.startswith("STARTUP "))
    t = json.loads(line.removeprefix("STARTUP "))
    return {"wall": measured["wall"], "until_python": t["python_started"] - start,
            "session": t["session_ready"] - t["python_started"], "first_action": t["action_done"] - t["session_ready"],
            "exit": end - t["action_done"]}


def startup(settings: Settings, tmp: Path, sampler: MemorySampler, repeats: int = 3) -> dict[str, Any]:
    """A trivial job: stock `spark-submit` vs ours (UI off, Java 25 with the ahead-of-time caches
    of the driver and the launcher, the Spark home of devtools/build/spark_home.py), best of ``repeats``.
    The two run in pairs, taking turns to go first, so a slow spell of the machine (the
    benchmark's stack runs beside them) falls on both."""
    app = tmp / "trivial.py"
    app.write_text(TRIVIAL)
    commands = {baseline: spark_submit_cmd(settings, str(app), [], stock=baseline) for baseline in (True, False)}
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for i in range(repeats):
        for baseline in (True, False) if i % 2 == 0 else (False, True):
            runs[baseline].append(trivial_job(commands[baseline], sampler, baseline))
    stock, ours = runs[True], runs[False]
    best_stock, best_ours = min(stock, key=lambda r: r["wall"]), min(ours, key=lambda r: r["wall"])
    return {"stock_runs": stock, "ours_runs": ours, "stock": best_stock["wall"], "ours": best_ours["wall"],
            "ratio": best_ours["wall"] / best_stock["wall"], "cds_archive": os.environ.get("SALARY_SPARK_CDS"),
            "spark_home": os.environ.get("SPARK_HOME"), "java_home": os.environ.get("JAVA_HOME"),
            "profile": {"stock": best_stock, "ours": best_ours}}


def generation(settings: Settings, lake: Lake, rows: int, seed: int, tmp: Path,
               sampler: MemorySampler) -> dict[str, Any]:
    shutil.rmtree(lake.generated_chunk.removeprefix("file://"), ignore_errors=True)
    ours = spark_job(settings, lake, "generate_dataset", f"bench_{rows}", sampler, "--rows", str(rows),
                     "--seed", str(seed))
    out = tmp / "np_generated"
    base = run_measured([sys.executable, str(REPO / "bench" / "np_generate.py"), "--rows", str(rows),
                         "--seed", str(seed), "--out", str(out)], sampler=sampler, baseline=True)
    shutil.rmtree(out, ignore_errors=True)
    doc = json.loads(base["stdout"].strip().splitlines()[-1])
    if doc["rows"] != ours["rows_out"]:
        raise AssertionError(f"numpy wrote {doc['rows']} rows, Spark {ours['rows_out']}")
    return {"ours": ours, "baseline": {"wall": base["wall"], "work": doc["work_seconds"],
                                       "startup": base["wall"] - doc["work_seconds"],
                                       "peak_rss_bytes": base["peak_rss_bytes"]},
            "rows": ours["rows_out"]}


def etl(settings: Settings, lake: Lake, rows: int, tmp: Path, sampler: MemorySampler,
        repeats: int = 2) -> dict[str, Any]:
    """The three jobs in DAG order, ``repeats`` times, against DuckDB as often: each job's best
    run counts (this machine's noise moved a job by 30% between runs), with every run's work
    kept. The last runs' results must be equal."""
    run_id = f"bench_{rows}"
    rounds = [{job: spark_job(settings, lake, job, run_id, sampler) for job in SPARK_JOBS} for _ in range(repeats)]
    ours = {job: {**min((r[job] for r in rounds), key=lambda m: m["work"]),
                  "work_runs": [r[job]["work"] for r in rounds]} for job in SPARK_JOBS}
    out = tmp / "duckdb"
    runs = []
    for _ in range(repeats):
        base = run_measured([sys.executable, str(REPO / "bench" / "duckdb_etl.py"),
                             "--raw", lake.generated_chunk.removeprefix("file://"), "--out", str(out)],
                            sampler=sampler, baseline=True)
        shutil.rmtree(out, ignore_errors=True)
        runs.append((base, json.loads(base["stdout"].strip().splitlines()[-1])))
    check_same(rounds[-1], runs[-1][1], lake, run_id)
    jobs = {job: min(doc["seconds"][job] for _, doc in runs) for job in runs[-1][1]["seconds"]}
    return {"ours": ours, "baseline": {"wall": min(b["wall"] for b, _ in runs), "work": sum(jobs.values()),
                                       "jobs": jobs, "work_runs": [sum(doc["seconds"].values()) for _, doc in runs],
                                       "peak_rss_bytes": max(b["peak_rss_bytes"] for b, _ in runs)},
            "rows": runs[-1][1]["rows_in"], "results_match": True}


def check_same(ours: dict[str, Any], duck: dict[str, Any], lake: Lake, run_id: str) -> None:
    """Our results equal DuckDB's: counts, top earners, youngest/oldest, histogram."""
    import pyarrow.parquet as pq

    metrics = ours["etl_benchmark"]
    for key in ("rows_in", "rows_out", "rows_rejected"):
        if metrics[key] != duck[key]:
            raise AssertionError(f"{key}: Spark {metrics[key]} != DuckDB {duck[key]}")

    def table(job: str, name: str) -> list[list]:
        folder = join(lake.report(job, run_id), name).removeprefix("file://")
        return [list(r.values()) for r in pq.read_table(folder).to_pylist()]

    pairs = [(table("top_earners", "top_earners"), duck["top_earners"]),
             (table("age_distribution", "youngest"), duck["youngest"]),
             (table("age_distribution", "oldest"), duck["oldest"]),
             (table("age_distribution", "age_histogram"), duck["histogram"])]
    for spark_rows, duck_rows in pairs:
        if [[str(v) for v in r] for r in spark_rows] != [[str(v) for v in r] for r in duck_rows]:
            raise AssertionError(f"results differ: {spark_rows[:3]} vs {duck_rows[:3]}")
