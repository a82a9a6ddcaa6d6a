"""Ten times the report's rows (issue 27): generation, the three ETL jobs and tune_model, ours
only, at each size (the baselines per size are ``--stages sizes``): each stage's work per row
against the smallest size's, the stack's peak memory during each stage, and the lake's disk.

What bounds each stage's memory, whatever the rows: generation writes a partition per task
(Spark's tasks hold one partition each); the ETL jobs stream through Spark's shuffle, which
spills to disk past its memory fraction; tune_model holds at most ``model.max_rows_in_memory``
curated rows, read a batch at a time (``salary.model.train.load_curated``), and refits on at
most ``model.refit_max_rows`` of them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench.measure import MemorySampler
from bench.spark_stages import SPARK_JOBS, spark_job
from devtools.ray_jobs import run_and_wait
from salary.config import Settings
from salary.lake import Lake

REPO = Path(__file__).resolve().parents[1]


def disk_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def scale(settings: Settings, address: str, work: Path, sizes: list[int], seed: int,
          sampler: MemorySampler) -> dict[str, Any]:
    """Per size: each stage's work and wall seconds and the stack's peak RSS during it, and the
    lake's bytes after the run (each size's lake is deleted before the next)."""
    out: dict[str, Any] = {}
    for rows in sorted(sizes):
        tmp = work / f"scale-{rows}"
        tmp.mkdir()
        lake, run_id = Lake(f"file://{tmp}/lake", settings.lake), f"scale_{rows}"
        stages: dict[str, Any] = {}
        phase = f"scale generation {rows:,}"
        with sampler.phase(phase):
            g = spark_job(settings, lake, "generate_dataset", run_id, sampler, "--rows", str(rows), "--seed", str(seed))
        stages["generation"] = {"work": g["work"], "wall": g["wall"], "peak_bytes": sampler.peaks.get(phase, 0)}
        print(f"{rows:,} generation: {g['work']:.1f} s of work", flush=True)
        phase = f"scale ETL {rows:,}"
        with sampler.phase(phase):
            jobs = {job: spark_job(settings, lake, job, run_id, sampler) for job in SPARK_JOBS}
        stages["ETL (3 jobs)"] = {"work": sum(j["work"] for j in jobs.values()),
                                  "wall": sum(j["wall"] for j in jobs.values()),
                                  "jobs": {k: j["work"] for k, j in jobs.items()},
                                  "peak_bytes": sampler.peaks.get(phase, 0)}
        print(f"{rows:,} ETL: {stages['ETL (3 jobs)']['work']:.1f} s of work", flush=True)
        phase = f"scale tuning {rows:,}"
        with sampler.phase(phase):
            wall, summary = run_and_wait(address, f"python jobs/tune_model.py --lake-root '{lake.root}' "
                                                  f"--run-id '{run_id}_tune' --curated-run '{run_id}' "
                                                  "--config config/pipeline.toml --preset default", REPO, 0.5)
        seconds = summary["stage_seconds"]
        stages["tuning"] = {"work": sum(seconds.values()), "wall": wall, "stage_seconds": seconds,
                            "test_mse_over_floor": summary["test"]["mse_over_floor"],
                            "peak_bytes": sampler.peaks.get(phase, 0)}
        print(f"{rows:,} tuning: {stages['tuning']['work']:.1f} s of work {seconds}, test "
              f"{summary['test']['mse_over_floor']:.4f} x floor", flush=True)
        out[str(rows)] = {"stages": stages, "rows_out": g.get("rows_out"), "curated_rows": jobs["etl_benchmark"].get(
            "rows_out"), "lake_bytes": disk_bytes(tmp / "lake")}
        print(f"{rows:,} lake on disk: {out[str(rows)]['lake_bytes'] / 1e9:.2f} GB", flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return out
