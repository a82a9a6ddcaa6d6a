"""Benchmark: batch prediction of one drop (default 1,000,000 rows) against the champion
model's bare predict() in one plain Python process, measured in the same run.

    python bench/predict_drop.py [--rows 1000000] [--lake-root URI] [--airflow]

Needs a champion in the lake (make demo) and a running Ray head (scripts/ray_local.py start
.local/ray). Measures, on the same rows:
  - baseline: read the drop's files, build the features, model.predict() in this process;
  - ours, the Ray job through the Jobs API (as the DAG's predict task submits it): submission
    to finish, and its work (read + validate + predict + monitor + write, from its stages);
    then the publish step (renames);
  - with --airflow: latency from the drop's arrival to its published _SUCCESS through
    `airflow dags test salary_batch_predict` (Airflow's CLI start-up included).
Prints a table; writes bench/results/predict_drop.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]

from devtools.ray_jobs import run_and_wait  # noqa: E402
from devtools.synthetic import write_drop  # noqa: E402
from salary.config import load_settings  # noqa: E402
from salary.drops.publish import publish_all  # noqa: E402
from salary.lake import SUCCESS, Lake, join  # noqa: E402
from salary.lake.fsspec_store import FsspecStore  # noqa: E402
from salary.model import features  # noqa: E402
from salary.registry import champion, load_version  # noqa: E402

STORE = FsspecStore()


def baseline(lake: Lake, drop: str) -> dict:
    """The champion's predict() on the drop's rows, in this process (read, features, predict)."""
    t0 = time.perf_counter()
    model, manifest = load_version(STORE, lake, champion(STORE, lake)["version"])
    t1 = time.perf_counter()
    tables = [pq.read_table(io.BytesIO(STORE.read_bytes(f))) for f in STORE.files(join(lake.incoming, drop))]
    df = pa.concat_tables(tables).to_pandas()
    X = features(df, pd.Timestamp(manifest["as_of"]).date(), manifest["features"])
    t2 = time.perf_counter()
    model.predict(X)
    t3 = time.perf_counter()
    return {"load_model": t1 - t0, "read_and_features": t2 - t1, "predict": t3 - t2, "rows": len(df)}


def run_job(address: str, lake: Lake, drop: str, run_id: str) -> tuple[float, dict]:
    return run_and_wait(address, f"python jobs/predict_drops.py --lake-root '{lake.root}' --run-id '{run_id}' "
                                 f"--config config/pipeline.toml --drops '{json.dumps([drop])}'", REPO, 0.2)


def via_airflow(lake: Lake, rows: int) -> float:
    """Seconds from a drop's arrival to its published _SUCCESS, through the DAG."""
    drop = f"bench-airflow-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    write_drop(lake, drop, rows, 4, True, seed=3)
    start = time.perf_counter()
    subprocess.run(["airflow", "dags", "test", "salary_batch_predict"], check=True, capture_output=True,
                   env={**os.environ, "AIRFLOW_VAR_LAKE_ROOT": lake.root})
    fs, marker = STORE.filesystem(join(lake.predictions(drop), SUCCESS))
    if not fs.exists(marker):
        raise RuntimeError(f"{drop} was not published")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lake-root", default=os.environ.get("SALARY_LAKE_ROOT"))
    parser.add_argument("--ray-address", default="http://127.0.0.1:8265")
    parser.add_argument("--airflow", action="store_true", help="also time the DAG end to end")
    args = parser.parse_args(argv)
    lake = Lake(args.lake_root, load_settings().lake)
    if champion(STORE, lake) is None:
        raise SystemExit(f"no champion model in {lake.models}: run make demo first")
    stamp = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    drop, run_id = f"bench-{stamp}", f"bench__{stamp}"
    write_drop(lake, drop, args.rows, 4, True, seed=2)

    base = baseline(lake, drop)  # before the job claims (moves) the drop
    wall, summary = run_job(args.ray_address, lake, drop, run_id)
    t = time.perf_counter()
    publish_all(STORE, lake, run_id, summary["drops"])
    publish = time.perf_counter() - t
    stages = summary["stage_seconds"]
    work = sum(v for k, v in stages.items() if k.startswith(f"{drop}:"))
    result = {
        "rows": base["rows"], "lake": lake.root, "cluster_cpus": summary["cluster_cpus"],
        "baseline": base,
        "ours": {"job_wall": wall, "job_seconds_inside": summary["seconds"], "work": work, "stages": stages,
                 "publish": publish, "arrival_to_published_without_airflow": wall + publish},
        "work_over_bare_predict": work / base["predict"],
        "rows_per_second_work": base["rows"] / work,
        "rows_per_second_job": base["rows"] / (wall + publish),
        "report_rows_per_second": 5000 / 20,
    }
    if args.airflow:
        result["ours"]["arrival_to_published_via_airflow_dags_test"] = via_airflow(lake, args.rows)

    print(f"{'':<44}{'seconds':>10}")
    print(f"{'baseline: bare predict() (one process)':<44}{base['predict']:>10.2f}")
    print(f"{'baseline: read + features':<44}{base['read_and_features']:>10.2f}")
    for k, v in stages.items():
        print(f"{'ours: ' + k.replace(drop + ':', ''):<44}{v:>10.2f}")
    print(f"{'ours: work (read..write)':<44}{work:>10.2f}   = {result['work_over_bare_predict']:.2f} x bare predict")
    print(f"{'ours: Ray job submit -> done':<44}{wall:>10.2f}")
    print(f"{'ours: publish (renames)':<44}{publish:>10.2f}")
    if args.airflow:
        print(f"{'ours: arrival -> published (airflow dags test)':<44}"
              f"{result['ours']['arrival_to_published_via_airflow_dags_test']:>10.2f}")
    print(f"rows/s: work {result['rows_per_second_work']:,.0f}, whole job {result['rows_per_second_job']:,.0f} "
          f"(the report: {result['report_rows_per_second']:,.0f})")
    out = REPO / "bench" / "results" / "predict_drop.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
