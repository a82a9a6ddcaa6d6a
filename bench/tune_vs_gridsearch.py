"""Benchmark: tune_model (Ray Tune + ASHA, submitted through the Ray Jobs API) against
scikit-learn's GridSearchCV(n_jobs=2) over the same candidates, measured in the same run.

Both search the 8 configurations tune_model sampled from the `default` preset, on the same
shuffled fit rows (up to the preset's largest ASHA budget), then refit the winner on the whole
training split and score it on the same test ids. The baseline's search is 3-fold CV over
all 8 candidates at the full budget; ours stops weak candidates early on small samples and
runs trials in parallel on the cluster's CPUs.

    python bench/tune_vs_gridsearch.py --lake-root file://$PWD/.local/lake --curated-run RUN

Prints a table and writes bench/results/tune_vs_gridsearch.json. Needs a running Ray head
(scripts/ray_local.py start .local/ray).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from devtools.ray_jobs import run_and_wait  # noqa: E402
from salary.config import load_settings  # noqa: E402
from salary.lake import Lake, join  # noqa: E402
from salary.lake.fsspec_store import FsspecStore  # noqa: E402
from salary.model import build_pipeline, features, regression_metrics, split  # noqa: E402
from salary.train import ground_truth, load_curated  # noqa: E402

STORE = FsspecStore()


def run_ours(address: str, lake_root: str, curated_run: str, run_id: str) -> tuple[float, dict]:
    return run_and_wait(address, f"python jobs/tune_model.py --lake-root '{lake_root}' --run-id '{run_id}' "
                                 f"--curated-run '{curated_run}' --config config/pipeline.toml --preset default",
                        REPO, 1.0)


def run_baseline(lake: Lake, settings, curated_run: str, candidates: list[dict]) -> dict:
    from sklearn.model_selection import GridSearchCV

    preset = settings.search_presets()["default"]
    m = settings.model
    t0 = time.perf_counter()
    df, manifest = load_curated(STORE, lake, curated_run)
    floor, as_of = ground_truth(manifest, settings)
    parts = split(df["id"].to_numpy(), m.test_percent, m.validation_percent)
    X, y = features(df, as_of, tuple(preset["features"])), df["salary"].to_numpy(np.float64)
    fit_rows = np.random.default_rng(0).permutation(np.flatnonzero(parts.fit))[: int(preset["asha"]["max_rows"])]
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    grid = [{f"model__{k}": [v] for k, v in c.items()} for c in candidates]
    search = GridSearchCV(build_pipeline("hist_gradient_boosting", candidates[0]), grid, cv=3, n_jobs=2,
                          scoring="neg_mean_squared_error", refit=False)
    search.fit(X[fit_rows], y[fit_rows])
    best = candidates[int(np.argmax(search.cv_results_["mean_test_score"]))]
    search_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    train = np.flatnonzero(parts.train)
    model = build_pipeline("hist_gradient_boosting", best).fit(X[train], y[train])
    refit_s = time.perf_counter() - t0
    test = regression_metrics(y[parts.test], model.predict(X[parts.test]), floor, float(y[train].mean()))
    return {"load_s": load_s, "search_s": search_s, "refit_s": refit_s, "best": best, "test": test}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--curated-run", required=True)
    parser.add_argument("--ray-address", default="http://127.0.0.1:8265")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "tune_vs_gridsearch.json"))
    args = parser.parse_args()
    settings = load_settings()
    lake = Lake(args.lake_root, settings.lake)
    run_id = f"bench-tune-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"

    wall, ours = run_ours(args.ray_address, args.lake_root, args.curated_run, run_id)
    metrics = STORE.read_json(join(lake.model_version(run_id), "metrics.json"))
    candidates = [t["config"] for t in metrics["trials"]]
    base = run_baseline(lake, settings, args.curated_run, candidates)

    ours_work = ours["stage_seconds"]["search"] + ours["stage_seconds"]["refit"]
    base_work = base["search_s"] + base["refit_s"]
    result = {
        "curated_rows": STORE.read_json(join(lake.model_version(run_id), "manifest.json"))["dataset"]["rows"],
        "candidates": len(candidates),
        "ours": {"job_wall_s": wall, **{f"{k}_s": v for k, v in ours["stage_seconds"].items()},
                 "test_mse_over_floor": ours["test"]["mse_over_floor"], "best": ours["best_params"]},
        "gridsearchcv_n_jobs_2": {**{k: v for k, v in base.items() if k != "test"},
                                  "test_mse_over_floor": base["test"]["mse_over_floor"]},
        "search_plus_refit_s": {"ours": ours_work, "gridsearchcv": base_work, "speedup": base_work / ours_work},
    }
    print(f"{'':<26}{'search s':>10}{'refit s':>10}{'total s':>10}{'MSE/floor':>11}")
    stage = ours["stage_seconds"]
    print(f"{'Ray Tune + ASHA (ours)':<26}{stage['search']:>10.1f}{stage['refit']:>10.1f}"
          f"{ours_work:>10.1f}{ours['test']['mse_over_floor']:>11.4f}")
    print(f"{'GridSearchCV(n_jobs=2)':<26}{base['search_s']:>10.1f}{base['refit_s']:>10.1f}"
          f"{base_work:>10.1f}{base['test']['mse_over_floor']:>11.4f}")
    print(f"speed-up (baseline / ours): {base_work / ours_work:.2f}x; our job's wall incl. submission "
          f"and data load: {wall:.1f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
