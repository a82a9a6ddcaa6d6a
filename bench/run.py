"""The pipeline's stages against their baselines, measured in the same run, at one or more sizes.

    python bench/run.py [--rows 30000000 3000000] [--skip-startup]
    make bench                                   # the same, with set-up

Per size, in one run:
  start-up    a stock `spark-submit` of a trivial job vs the same job with our settings
              (UI off, the driver's class-data-sharing archive): the fixed cost of a Spark task
  generation  jobs/generate_dataset.py (spark-submit) vs bench/np_generate.py (numpy + pyarrow,
              the same rows: devtools.generate_np reproduces Spark's hash-based draws)
  ETL         jobs/etl_benchmark.py + top_earners.py + age_distribution.py vs bench/duckdb_etl.py
              (DuckDB, 2 threads, the same rules and outputs); results must match ours
Tuning and prediction have their own benchmarks (bench/tune_vs_gridsearch.py,
bench/predict_drop.py: they need a Ray head); their latest results are folded into the table
when present, marked with the time they were measured.

Wall seconds are split into start-up (process, JVM, session) and work (the job's own stages
after its session started); peak memory is the summed RSS of the whole process tree (sampled
every 0.1 s). Writes bench/results/bench.json and bench/results/bench.png.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]

from salary.config import load_settings  # noqa: E402
from salary.lake import Lake, join  # noqa: E402
from salary.runtime import parse_summaries  # noqa: E402

RESULTS = REPO / "bench" / "results"
SPARK_JOBS = ("etl_benchmark", "top_earners", "age_distribution")
TRIVIAL = "from pyspark.sql import SparkSession\nSparkSession.builder.getOrCreate().range(1000).count()\n"


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; wall seconds, output, and the peak summed RSS of its process tree."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or os.environ)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                tree = [proc, *proc.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall": wall, "stdout": out, "stderr": err, "peak_rss_bytes": peak}


def spark_submit_cmd(settings, app: str, args: list[str], stock: bool = False) -> list[str]:
    cmd = ["spark-submit", "--master", "local[*]"]
    if not stock:
        for key, value in settings.spark.conf.items():
            cmd += ["--conf", f"{key}={value}"]
        cmd += ["--py-files", str(REPO / "build" / "salary.zip"), "--driver-memory", settings.spark.driver_memory]
    return [*cmd, app, *args]


def spark_job(settings, lake: Lake, job: str, run_id: str, *extra: str) -> dict[str, Any]:
    """One of our Spark jobs as the DAG runs it; work = its stages after the session started."""
    args = ["--lake-root", lake.root, "--run-id", run_id, "--config", str(settings.config_dir / "pipeline.toml"),
            *extra]
    measured = run_measured(spark_submit_cmd(settings, str(REPO / "jobs" / f"{job}.py"), args))
    summary = parse_summaries(measured["stdout"] + measured["stderr"])[-1]  # PythonRunner: stdout
    stages = summary["stage_seconds"]
    work = sum(v for k, v in stages.items() if k != "session")
    return {"wall": measured["wall"], "work": work, "startup": measured["wall"] - work, "stages": stages,
            "peak_rss_bytes": measured["peak_rss_bytes"], "summary": summary}


def startup(settings, tmp: Path, repeats: int = 2) -> dict[str, Any]:
    app = tmp / "trivial.py"
    app.write_text(TRIVIAL)
    stock = [run_measured(spark_submit_cmd(settings, str(app), [], stock=True))["wall"] for _ in range(repeats)]
    ours = [run_measured(spark_submit_cmd(settings, str(app), []))["wall"] for _ in range(repeats)]
    return {"stock_walls": stock, "ours_walls": ours, "stock": min(stock), "ours": min(ours),
            "ratio": min(ours) / min(stock), "cds_archive": os.environ.get("SALARY_SPARK_CDS")}


def generation(settings, lake: Lake, rows: int, seed: int, tmp: Path) -> dict[str, Any]:
    shutil.rmtree(lake.generated_chunk.removeprefix("file://"), ignore_errors=True)
    ours = spark_job(settings, lake, "generate_dataset", f"bench_{rows}", "--rows", str(rows), "--seed", str(seed))
    out = tmp / "np_generated"
    base = run_measured([sys.executable, str(REPO / "bench" / "np_generate.py"), "--rows", str(rows),
                         "--seed", str(seed), "--out", str(out)])
    doc = json.loads(base["stdout"].strip().splitlines()[-1])
    raw_rows = ours["summary"]["rows_out"]
    if doc["rows"] != raw_rows:
        raise AssertionError(f"numpy wrote {doc['rows']} rows, Spark {raw_rows}")
    return {"ours": ours, "baseline": {"wall": base["wall"], "work": doc["work_seconds"],
                                       "startup": base["wall"] - doc["work_seconds"],
                                       "peak_rss_bytes": base["peak_rss_bytes"]},
            "rows": raw_rows}


def etl(settings, lake: Lake, rows: int, tmp: Path) -> dict[str, Any]:
    run_id = f"bench_{rows}"
    ours = {"etl_benchmark": spark_job(settings, lake, "etl_benchmark", run_id),
            "top_earners": spark_job(settings, lake, "top_earners", run_id),
            "age_distribution": spark_job(settings, lake, "age_distribution", run_id)}
    out = tmp / "duckdb"
    base = run_measured([sys.executable, str(REPO / "bench" / "duckdb_etl.py"),
                         "--raw", lake.generated_chunk.removeprefix("file://"), "--out", str(out)])
    doc = json.loads(base["stdout"].strip().splitlines()[-1])
    check_same(ours, doc, lake, run_id)
    return {"ours": ours, "baseline": {"wall": base["wall"], "work": sum(doc["seconds"].values()),
                                       "jobs": doc["seconds"], "peak_rss_bytes": base["peak_rss_bytes"]},
            "rows": doc["rows_in"], "results_match": True}


def check_same(ours: dict[str, Any], duck: dict[str, Any], lake: Lake, run_id: str) -> None:
    """Our results equal DuckDB's: counts, top earners, youngest/oldest, histogram."""
    import pyarrow.parquet as pq

    metrics = ours["etl_benchmark"]["summary"]
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


def earlier(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    doc["measured_at"] = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat(timespec="seconds")
    return doc


def rows_table(result: dict[str, Any]) -> list[tuple]:
    """(stage, size, ours wall, ours start-up, ours work, baseline work, work ratio, ours GB, base GB, rows/s)."""
    gb = 1024**3
    out = []
    for size, r in result["sizes"].items():
        g = r["generation"]
        o, b = g["ours"], g["baseline"]
        out.append(("generation", size, o["wall"], o["startup"], o["work"], b["work"], o["work"] / b["work"],
                    o["peak_rss_bytes"] / gb, b["peak_rss_bytes"] / gb, g["rows"] / o["work"]))
        e = r["etl"]
        for job in SPARK_JOBS:
            j = e["ours"][job]
            out.append((f"  {job}", size, j["wall"], j["startup"], j["work"], e["baseline"]["jobs"][job],
                        j["work"] / e["baseline"]["jobs"][job], j["peak_rss_bytes"] / gb, None, None))
        work = sum(e["ours"][job]["work"] for job in SPARK_JOBS)
        out.append(("ETL (3 jobs)", size, sum(e["ours"][j]["wall"] for j in SPARK_JOBS),
                    sum(e["ours"][j]["startup"] for j in SPARK_JOBS), work, e["baseline"]["work"],
                    work / e["baseline"]["work"], max(e["ours"][j]["peak_rss_bytes"] for j in SPARK_JOBS) / gb,
                    e["baseline"]["peak_rss_bytes"] / gb, e["rows"] / work))
    return out


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, ours_start, ours_work, base = [], [], [], []
    for size, r in result["sizes"].items():
        for name, stage in (("generation", r["generation"]), ("ETL", r["etl"])):
            labels.append(f"{name}\n{int(size):,}")
            if name == "ETL":
                ours_start.append(sum(stage["ours"][j]["startup"] for j in SPARK_JOBS))
                ours_work.append(sum(stage["ours"][j]["work"] for j in SPARK_JOBS))
            else:
                ours_start.append(stage["ours"]["startup"])
                ours_work.append(stage["ours"]["work"])
            base.append(stage["baseline"]["work"])
    x = range(len(labels))
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(labels)), 4))
    ax.bar([i - 0.2 for i in x], ours_work, 0.4, label="Spark: work")
    ax.bar([i - 0.2 for i in x], ours_start, 0.4, bottom=ours_work, label="Spark: start-up")
    ax.bar([i + 0.2 for i in x], base, 0.4, label="baseline (numpy / DuckDB): work")
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("seconds")
    ax.set_title("salary pipeline vs baselines, same run (2 cores)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[30_000_000, 3_000_000])
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".local" / "bench")
    args = parser.parse_args(argv)
    settings = load_settings()
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "cpus": os.cpu_count(), "sizes": {}}
    if not args.skip_startup:
        result["startup"] = startup(settings, args.work_dir)
        s = result["startup"]
        print(f"start-up: stock spark-submit {s['stock']:.1f} s, ours {s['ours']:.1f} s ({s['ratio']:.2f} x)")
    for rows in sorted(args.rows):
        tmp = args.work_dir / f"rows-{rows}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        lake = Lake(f"file://{tmp}/lake", settings.lake)
        gen = generation(settings, lake, rows, args.seed, tmp)
        print(f"{rows:,} generation: Spark work {gen['ours']['work']:.1f} s, numpy {gen['baseline']['work']:.1f} s")
        etl_result = etl(settings, lake, rows, tmp)
        work = sum(etl_result["ours"][j]["work"] for j in SPARK_JOBS)
        print(f"{rows:,} ETL: Spark work {work:.1f} s, DuckDB {etl_result['baseline']['work']:.1f} s (results match)")
        result["sizes"][str(rows)] = {"generation": gen, "etl": etl_result}
        for stage in (gen, etl_result):  # keep the JSON small: summaries hold Spark's full metrics
            for job in ([stage["ours"]] if "summary" in stage["ours"] else stage["ours"].values()):
                job["spark"] = {k: job["summary"]["spark"].get(k) for k in ("memory_spilled_bytes",
                                "disk_spilled_bytes", "driver_jvm_peak_heap_bytes", "shuffle_write_bytes")}
                job.pop("summary")
        shutil.rmtree(tmp / "lake", ignore_errors=True)
        shutil.rmtree(tmp / "np_generated", ignore_errors=True)
        shutil.rmtree(tmp / "duckdb", ignore_errors=True)
    result["tuning"] = earlier("tune_vs_gridsearch")
    result["prediction"] = earlier("predict_drop")

    print(f"\n{'stage':<20}{'rows':>12}{'wall':>8}{'start':>8}{'work':>8}{'base':>8}{'ratio':>8}"
          f"{'GB':>6}{'base GB':>8}{'rows/s':>12}")
    for row in rows_table(result):
        cells = [f"{row[0]:<20}", f"{int(row[1]):>12,}"] + [
            f"{v:>8.2f}" if v is not None else f"{'-':>8}" for v in row[2:6]]
        cells += [f"{row[6]:>7.1f}x", f"{row[7]:>6.2f}", f"{row[8]:>8.2f}" if row[8] is not None else f"{'-':>8}",
                  f"{row[9]:>12,.0f}" if row[9] else f"{'-':>12}"]
        print("".join(cells))
    if result.get("prediction"):
        p = result["prediction"]
        print(f"prediction ({p['rows']:,} rows, {p['measured_at']}): work {p['ours']['work']:.1f} s = "
              f"{p['work_over_bare_predict']:.2f} x bare predict()")
    if result.get("tuning"):
        print(f"tuning ({result['tuning']['measured_at']}): see bench/results/tune_vs_gridsearch.json")
    (RESULTS / "bench.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    chart(result, RESULTS / "bench.png")
    print(f"written {RESULTS / 'bench.json'} and {RESULTS / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
