"""Tuning to the MSE target: tune_model (Ray Tune + ASHA, submitted through the Ray Jobs API,
ending at the first rung that reaches the target) against GridSearchCV (bench/gridsearch.py)
over the same candidates and rows, measured in the same run; each one's time to its model and
that model's test MSE."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.measure import MemorySampler, run_measured
from devtools.ray_jobs import run_and_wait
from salary.lake import Lake, join
from salary.lake.fsspec_store import FsspecStore

REPO = Path(__file__).resolve().parents[1]
STORE = FsspecStore()


def tuning(address: str, lake: Lake, curated_run: str, tmp: Path, sampler: MemorySampler) -> dict[str, Any]:
    run_id = f"{curated_run}_tune"
    wall, summary = run_and_wait(address, f"python jobs/tune_model.py --lake-root '{lake.root}' --run-id '{run_id}' "
                                          f"--curated-run '{curated_run}' --config config/pipeline.toml "
                                          f"--preset default", REPO, 0.5)
    metrics = STORE.read_json(join(lake.model_version(run_id), "metrics.json"))
    if metrics is None:
        raise RuntimeError(f"tune_model published no metrics for {run_id}")
    candidates = tmp / "candidates.json"
    candidates.write_text(json.dumps([t["config"] for t in metrics["trials"]]))
    base = run_measured([sys.executable, str(REPO / "bench" / "gridsearch.py"), "--lake-root", lake.root,
                         "--curated-run", curated_run, "--candidates", str(candidates)],
                        sampler=sampler, baseline=True)
    grid = json.loads(base["stdout"].strip().splitlines()[-1])
    stages = summary["stage_seconds"]
    ours_work, base_work = stages["search"] + stages["refit"], grid["search_s"] + grid["refit_s"]
    return {
        "version": run_id,
        "ours": {"job_wall": wall, "stages": stages, "work": ours_work, "search": metrics["search"],
                 "trials": [{k: t[k] for k in ("train_rows", "mse", "history")} for t in metrics["trials"]],
                 "test_mse_over_floor": summary["test"]["mse_over_floor"], "best": summary["best_params"]},
        "baseline": {**{k: v for k, v in grid.items() if k != "test"}, "work": base_work, "wall": base["wall"],
                     "test_mse_over_floor": grid["test"]["mse_over_floor"], "peak_rss_bytes": base["peak_rss_bytes"]},
        "speedup": base_work / ours_work,
    }
