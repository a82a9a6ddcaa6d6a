"""Tuning, refit and evaluation of the salary model on a run's curated data (in a Ray job).

Splits by a stable hash of id (test ids never change), searches the preset's space with Ray
Tune on the cluster the job runs on, refits the best configuration on the whole training split,
scores it (and the current champion) on the test split, and publishes the model version.
Promotion is a separate task (``registry.promote``).
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from salary.config import Settings
from salary.errors import BadInputError
from salary.lake import MANIFEST, Lake, join
from salary.lake.fsspec_store import FsspecStore
from salary.model import MODEL_COLUMNS, build_pipeline, features, regression_metrics, split
from salary.monitoring import reference_bins
from salary.registry import champion, load_version, publish_version
from salary.runtime import Stages, code_version
from salary.tuning import SearchData, search

log = logging.getLogger(__name__)


def load_curated(store: FsspecStore, lake: Lake, run_id: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """This run's curated rows (model columns only) and the curated manifest."""
    uri = lake.curated_version(run_id)
    manifest = store.read_json(join(uri, MANIFEST))
    if manifest is None:
        raise BadInputError(f"no published curated dataset at {uri} (did etl_benchmark run for this run?)")
    fs, path = store.filesystem(uri)
    return pq.read_table(path, columns=list(MODEL_COLUMNS), filesystem=fs).to_pandas(), manifest


def ground_truth(manifest: dict[str, Any], settings: Settings) -> tuple[float, dt.date]:
    """Noise floor (best possible MSE) and as_of date, from the generated dataset's manifest."""
    generated = manifest.get("generated_manifest") or {}
    floor = generated.get("noise_floor_mse", settings.dataset.truth.noise_floor_mse)
    as_of = dt.date.fromisoformat(generated.get("as_of", settings.dataset.as_of.isoformat()))
    return float(floor), as_of


def score_champion(store: FsspecStore, lake: Lake, test_rows: pd.DataFrame, y_test: np.ndarray, as_of: dt.date,
                   names: tuple[str, ...]) -> dict[str, Any] | None:
    """The current champion's MSE on exactly the candidate's test rows (what the gate compares)."""
    incumbent = champion(store, lake)
    if not incumbent:
        return None
    old, old_manifest = load_version(store, lake, incumbent["version"])
    X_old = features(test_rows, as_of, tuple(old_manifest.get("features", names)))
    return {"version": incumbent["version"], "mse": float(np.mean((y_test - old.predict(X_old)) ** 2))}


def tune_and_publish(store: FsspecStore, lake: Lake, settings: Settings, run_id: str, preset_name: str, stages: Stages,
                     curated_run: str | None = None) -> dict[str, Any]:
    presets = settings.search_presets()
    if preset_name not in presets:
        raise BadInputError(f"unknown search preset {preset_name!r}; known: {sorted(presets)}")
    preset = presets[preset_name]
    names = tuple(preset["features"])
    m = settings.model
    curated_run = curated_run or run_id
    with stages.stage("load"):
        df, curated_manifest = load_curated(store, lake, curated_run)
        floor, as_of = ground_truth(curated_manifest, settings)
        ids = df["id"].to_numpy()
        parts = split(ids, m.test_percent, m.validation_percent)
        y = df["salary"].to_numpy(np.float64)
        X = features(df, as_of, names)
    # Shuffle the fit rows once (seeded) so every ASHA rung's prefix is a random sample.
    rng = np.random.default_rng(0)
    fit_rows = rng.permutation(np.flatnonzero(parts.fit))
    if "train_rows" in preset:  # the paper preset: the report's 10,000-row sample
        fit_rows = fit_rows[: int(preset["train_rows"])]
    val_rows = np.flatnonzero(parts.validation)[: m.validation_rows]
    data = SearchData(X[fit_rows], y[fit_rows], X[val_rows], y[val_rows])
    log.info("rows: %d curated, %d train (%d fit, %d validation), %d test; features %s",
             len(df), int(parts.train.sum()), len(fit_rows), len(val_rows), int(parts.test.sum()), names)

    with stages.stage("search"), tempfile.TemporaryDirectory(prefix="tune-") as storage:
        result = search(preset_name, preset, data, storage)

    refit_rows = fit_rows if "train_rows" in preset else np.flatnonzero(parts.train)
    with stages.stage("refit"):
        pipeline = build_pipeline(preset["model"], result["best_config"], threads=-1)
        pipeline.fit(X[refit_rows], y[refit_rows])
    with stages.stage("evaluate"):
        X_test, y_test = X[parts.test], y[parts.test]
        train_mean = float(y[refit_rows].mean())
        test = regression_metrics(y_test, pipeline.predict(X_test), floor, train_mean)
        champion_on_split = score_champion(store, lake, df.loc[parts.test], y_test, as_of, names)
    log.info("test MSE %.0f = %.4f x floor (mean predictor: %.2f x floor), R2 %.4f",
             test["mse"], test["mse_over_floor"], test["mean_baseline_over_floor"], test["r2"])

    metrics = {
        "preset": preset_name,
        "test": test,
        "best_validation_mse": result["best_validation_mse"],
        "champion_on_test_split": champion_on_split,
        "trials": result["trials"],
        "stage_seconds": stages.seconds,
    }
    manifest = {
        "run_id": run_id,
        "model": preset["model"],
        "preset": preset_name,
        "features": list(names),
        "best_params": result["best_config"],
        "train_rows": len(refit_rows),
        "split": {"rule": "splitmix64(id) % 100", "test_percent": m.test_percent,
                  "validation_percent": m.validation_percent},
        "dataset": {"curated": lake.curated_version(curated_run), "rows": len(df),
                    "generated_digest": (curated_manifest.get("generated_manifest") or {}).get("digest")},
        "as_of": as_of.isoformat(),
        "code_version": code_version(),
        "test_metrics": test,
        # Feature distributions of the training rows, for drift monitoring on new data (PSI).
        "reference": reference_bins(X[rng.choice(refit_rows, min(len(refit_rows), 1_000_000), replace=False)],
                                    names, settings.predict.psi_bins),
    }
    with stages.stage("publish"):
        target = publish_version(store, lake, run_id, pipeline, manifest, metrics)
    return {"output": target, "preset": preset_name, "test": test, "best_params": result["best_config"],
            "trials": len(result["trials"]), "champion_on_test_split": champion_on_split}
