"""Batch prediction: a 1M-row drop through the prediction job (Ray Jobs API, as the DAG's
predict task submits it) against the champion's bare predict() in one process on the same
rows; and a drop's arrival -> its published _SUCCESS through the real scheduler and triggerer
(the drops asset's watcher starts salary_batch_predict) against the same drop predicted by the
bare Ray job plus publish, without Airflow."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.stack import Stack, runs, timeline
from devtools.airflow_services import wait_for
from devtools.ray_jobs import run_and_wait
from devtools.synthetic import write_drop
from salary.config import Settings
from salary.drops.publish import publish_all
from salary.lake import SUCCESS, Lake, LakeIO, join
from salary.lake.fsspec_store import FsspecStore
from salary.model.features import features
from salary.model.registry import champion, load_version, promote
from salary.model.table import tabulate

REPO = Path(__file__).resolve().parents[1]
STORE = FsspecStore()
DAG = "salary_batch_predict"


def make_champion(lake: Lake, version: str, settings: Settings) -> None:
    if (champion(LakeIO(lake, STORE)) or {}).get("version") != version:
        record = promote(LakeIO(lake, STORE), version, settings.model.promotion_margin)
        if not record["promoted"]:
            raise RuntimeError(f"{version} was not promoted: {record['reason']}")


def bare_predict(lake: Lake, folders: list[str]) -> dict[str, Any]:
    """``lake``'s champion's predict() on the rows of the drop ``folders`` at once, in this process
    (load the model, read, features, predict); then, for the record, the same from its table
    (``salary.model.table``, which the job predicts with: build and predict)."""
    t0 = time.perf_counter()
    model, manifest = load_version(LakeIO(lake, STORE), (champion(LakeIO(lake, STORE)) or {})["version"])
    t1 = time.perf_counter()
    tables = [pq.read_table(io.BytesIO(STORE.read_bytes(f))) for folder in folders for f in STORE.files(folder)]
    df = pa.concat_tables(tables).to_pandas()
    X = features(df, pd.Timestamp(manifest["as_of"]).date(), manifest["features"])
    t2 = time.perf_counter()
    expected = model.predict(X)
    t3 = time.perf_counter()
    tabulated = tabulate(model)  # what the job predicts with: the same floats, from the model's table
    same = bool((tabulated.predict(X) == expected).all())
    t4 = time.perf_counter()
    return {"load_model": t1 - t0, "read_and_features": t2 - t1, "predict": t3 - t2, "rows": len(df),
            "table_predict": t4 - t3 if tabulated is not model else None, "table_same": same}


def ray_job(address: str, lake: Lake, drop: str) -> dict[str, Any]:
    """The prediction job on ``drop`` through the Jobs API, then publish: seconds of each."""
    run_id = f"bench__{drop}"
    wall, summary = run_and_wait(address, f"python jobs/predict_drops.py --lake-root '{lake.root}' "
                                          f"--run-id '{run_id}' --config config/pipeline.toml "
                                          f"--drops '{json.dumps([drop])}'", REPO, 0.1)
    t = time.perf_counter()
    published = publish_all(LakeIO(lake, STORE), run_id, summary["drops"])
    if published["published"] != [drop]:
        raise RuntimeError(f"{drop} was not published: {published}")
    stages = summary["stage_seconds"]
    return {"job_wall": wall, "publish": time.perf_counter() - t, "stages": stages,
            "work": sum(v for k, v in stages.items() if k.startswith(f"{drop}:")),
            "warm_workers": summary.get("warm_workers"), "cluster_cpus": summary.get("cluster_cpus")}


def prediction(address: str, lake: Lake, rows: int) -> dict[str, Any]:
    drop = f"bench-{rows}-{dt.datetime.now(dt.UTC):%H%M%S}"
    write_drop(lake, drop, rows, 4, True, seed=2)
    base = bare_predict(lake, [join(lake.incoming, drop)])  # before the job claims (moves) the drop
    ours = ray_job(address, lake, drop)
    return {"rows": base["rows"], "baseline": base, "ours": ours, "ratio": ours["work"] / base["predict"],
            "rows_per_second_work": base["rows"] / ours["work"],
            "rows_per_second_job": base["rows"] / (ours["job_wall"] + ours["publish"])}


def run_timelines(stack: Stack, before: set[str], epoch: float) -> dict[str, dict[str, Any]]:
    """The runs not in ``before``: seconds from ``epoch`` (the drop's _SUCCESS) to the run's
    queueing and start, and each task's queueing, start and end (where Airflow's hand-offs go)."""
    def rel(value: str | None) -> float | None:
        return None if value is None else round(dt.datetime.fromisoformat(value).timestamp() - epoch, 2)

    return {r["run_id"]: {"run": [rel(r.get("queued_at")), rel(r.get("start_date")), rel(r.get("end_date"))],
                          **timeline(stack, DAG, r["run_id"], epoch)}
            for r in runs(stack, DAG) if r["run_id"] not in before}


def latency(stack: Stack, source: Lake, version: str, settings: Settings, address: str,
            rows: int = 2_000, drops: int = 4) -> dict[str, Any]:
    """Seconds from a drop's _SUCCESS to predictions/<drop>/_SUCCESS through Airflow, one drop at
    a time (the first is cold: the DAG's first run); baseline: the bare Ray job + publish."""
    lake = Lake(stack.lake_root, settings.lake)
    target = lake.model_version(version).removeprefix("file://")
    shutil.copytree(source.model_version(version).removeprefix("file://"), target, dirs_exist_ok=True)
    make_champion(lake, version, settings)
    wait_for(lambda: "for complete drops every" in stack.airflow.log("triggerer"), 180, "the drop watcher")
    seconds, timelines = [], []
    for i in range(drops):
        drop = f"latency-{i}"
        before = {r["run_id"] for r in runs(stack, DAG)}
        write_drop(lake, drop, rows, 2, False, seed=60 + i)
        start, epoch = time.monotonic(), time.time()
        marker = Path(lake.predictions(drop).removeprefix("file://"), SUCCESS)
        wait_for(marker.exists, 600, str(marker), interval=0.05)
        seconds.append(time.monotonic() - start)
        wait_for(lambda: all(r["state"] in ("success", "failed") for r in runs(stack, DAG)), 300,
                 "the run's end")
        timelines.append(run_timelines(stack, before, epoch))
    write_drop(source, "latency-bare", rows, 2, False, seed=70)
    bare = ray_job(address, source, "latency-bare")
    warm = statistics.median(seconds[1:])
    return {"rows": rows, "airflow_seconds": seconds, "warm_median": warm, "timelines": timelines,
            "bare_job_seconds": bare["job_wall"] + bare["publish"], "bare": bare,
            "ratio": warm / (bare["job_wall"] + bare["publish"])}
