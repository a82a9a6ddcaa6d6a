"""Tuning, refit and evaluation of the salary model on a run's curated data (in a Ray job).

Splits by a stable hash of id (test ids never change), searches the preset's space with Ray
Tune on the cluster the job runs on, takes the model of the trial that reached the MSE target
(else refits the best configuration on the whole training split), scores it (and the current
champion) on the test split, and publishes the model version. Promotion is a separate task
(``registry.promote``).
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
from salary.lake import LABELLED_PREFIX, MANIFEST, Lake, join
from salary.lake.fsspec_store import FsspecStore
from salary.model.features import (
    MODEL_COLUMNS,
    build_pipeline,
    features,
    mse,
    regression_metrics,
    sample_weights,
    split,
)
from salary.model.monitoring import reference_bins
from salary.model.pictures import PICTURES, draw, training_pictures
from salary.model.registry import champion, load_version, publish_version
from salary.model.tuning import SearchData, load_model, search, search_rows
from salary.runtime.job import Stages, code_version
from salary.schema import SOURCE

log = logging.getLogger(__name__)


def load_curated(store: FsspecStore, lake: Lake, run_id: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """This run's curated rows (model columns only) and the curated manifest."""
    uri = lake.curated_version(run_id)
    manifest = store.read_json(join(uri, MANIFEST))
    if manifest is None:
        raise BadInputError(f"no published curated dataset at {uri} (did etl_benchmark run for this run?)")
    fs, path = store.filesystem(uri)
    # Versions curated before labelled drops existed have no source column: all generated.
    columns = [*MODEL_COLUMNS, SOURCE] if SOURCE in manifest.get("columns", []) else list(MODEL_COLUMNS)
    # source is one of a few names per row: dictionary-encoded it stays a small categorical,
    # not one Python string per row.
    table = pq.read_table(path, columns=columns, filesystem=fs, read_dictionary=[SOURCE] if SOURCE in columns else None)
    return table.to_pandas(), manifest


def _labelled_sources(df: pd.DataFrame) -> list[str]:
    """The distinct sources of the curated rows that are labelled drops (a few: tested once each,
    not once per row)."""
    if SOURCE not in df.columns:
        return []
    return [s for s in pd.unique(df[SOURCE]) if str(s).startswith(LABELLED_PREFIX)]


def recency(df: pd.DataFrame, labelled_at: dict[str, str], now: dt.datetime, half_life_days: float) -> np.ndarray:
    """0 for a generated row; 0.5 ** (days since its drop arrived / half-life) for a labelled one
    (a drop whose arrival the curated manifest does not record counts as fresh). Positive exactly
    for the rows of labelled drops (the window keeps them far from underflow)."""
    out = np.zeros(len(df))
    for source in _labelled_sources(df):
        at = labelled_at.get(source)
        days = 0.0 if at is None else max(0.0, (now - dt.datetime.fromisoformat(at)).total_seconds() / 86400)
        out[(df[SOURCE] == source).to_numpy()] = 0.5 ** (days / half_life_days)
    return out


def ground_truth(manifest: dict[str, Any], settings: Settings) -> tuple[float, dt.date]:
    """Noise floor (best possible MSE) and as_of date, from the generated dataset's manifest."""
    generated = manifest.get("generated_manifest") or {}
    floor = generated.get("noise_floor_mse", settings.dataset.truth.noise_floor_mse)
    as_of = dt.date.fromisoformat(generated.get("as_of", settings.dataset.as_of.isoformat()))
    return float(floor), as_of


def score_champion(store: FsspecStore, lake: Lake, test_rows: pd.DataFrame, y_test: np.ndarray, as_of: dt.date,
                   names: tuple[str, ...], weights: np.ndarray | None) -> dict[str, Any] | None:
    """The current champion's MSE on exactly the candidate's test rows, with the same weights
    (what the gate compares)."""
    incumbent = champion(store, lake)
    if not incumbent:
        return None
    old, old_manifest = load_version(store, lake, incumbent["version"])
    X_old = features(test_rows, as_of, tuple(old_manifest.get("features", names)))
    return {"version": incumbent["version"], "mse": mse(y_test, old.predict(X_old), weights)}


def reference_sample(rng: np.random.Generator, rows: np.ndarray, weights: np.ndarray | None,
                     size: int = 1_000_000) -> np.ndarray:
    """Up to ``size`` of ``rows``, drawn with probability proportional to their weights."""
    if weights is None:
        return rng.choice(rows, min(len(rows), size), replace=False)
    p = weights[rows] / weights[rows].sum()
    return rng.choice(rows, min(len(rows), size), replace=True, p=p)


def refit_rows_for(result: dict[str, Any], fit_rows: np.ndarray, train_rows: np.ndarray,
                   sampled: bool) -> np.ndarray:
    """The rows the chosen configuration is refitted on: the first rows of the (shuffled) fit
    rows on which the search reached its target; the search's own rows for a preset that
    samples them; else the whole training split."""
    if result.get("reached_target"):
        return fit_rows[: int(result["best_train_rows"])]
    return fit_rows if sampled else train_rows


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
        fresh = recency(df, curated_manifest.get("labelled_at") or {}, dt.datetime.now(dt.UTC),
                        m.labelled_half_life_days)
        labelled = fresh > 0
        weights = sample_weights(fresh, m.labelled_share)
    # Shuffle the fit rows once (seeded) so every ASHA rung's prefix is a random sample.
    rng = np.random.default_rng(0)
    fit_rows = rng.permutation(np.flatnonzero(parts.fit))
    if "train_rows" in preset:  # the paper preset: the report's 10,000-row sample
        fit_rows = fit_rows[: int(preset["train_rows"])]
    val_rows = np.flatnonzero(parts.validation)[: m.validation_rows]
    # No trial fits on more than the largest rung: only that prefix goes to the object store
    # (at 30M rows, 3.2M of the 24M fit rows).
    searched = fit_rows[: search_rows(preset)]
    log.info("rows: %d curated (%d from labelled drops), %d train (%d fit, %d searched, %d validation), %d test; "
             "features %s", len(df), int(labelled.sum()), int(parts.train.sum()), len(fit_rows), len(searched),
             len(val_rows), int(parts.test.sum()), names)
    if weights is not None:
        log.info("labelled rows weigh %.1f-%.1f generated rows (labelled_share %s, half-life %s days)",
                 float(weights[labelled].min()), float(weights[labelled].max()), m.labelled_share,
                 m.labelled_half_life_days)

    asha = preset.get("asha", {})
    mse_target = asha.get("target_mse_over_floor")
    if mse_target and len(val_rows) < int(asha.get("target_min_validation_rows", 0)):
        # Too few validation rows to tell 0.4% from noise: a lucky trial would end the search.
        log.info("no MSE target: %d validation rows < %s", len(val_rows), asha["target_min_validation_rows"])
        mse_target = None
    with stages.stage("search"), tempfile.TemporaryDirectory(prefix="tune-") as storage:
        # Built in the call: the search drops its arrays once they are in the object store.
        result = search(preset_name, preset, SearchData(
            X[searched], y[searched], X[val_rows], y[val_rows],
            *((None, None) if weights is None else (weights[searched], weights[val_rows]))),
            storage, target_mse=mse_target and mse_target * floor)

    refit_rows = refit_rows_for(result, fit_rows, np.flatnonzero(parts.train), "train_rows" in preset)
    log.info("refit on %d rows (%s)", len(refit_rows), f"the rows on which validation MSE reached {mse_target} x floor"
             if result["reached_target"] else "the whole training split" if len(refit_rows) > len(fit_rows)
             else "the search's rows")
    with stages.stage("refit"):
        if result.get("best_model") is not None:  # fitted on exactly refit_rows by the winning trial
            pipeline = load_model(result["best_model"])
            log.info("no refit: the winning trial's model, fitted on these rows, is the model")
        else:
            pipeline = build_pipeline(preset["model"], result["best_config"], threads=-1)
            pipeline.fit(X[refit_rows], y[refit_rows],
                         **({} if weights is None else {"model__sample_weight": weights[refit_rows]}))
    with stages.stage("evaluate"):
        X_test, y_test = X[parts.test], y[parts.test]
        w_test = None if weights is None else weights[parts.test]
        train_mean = float(np.average(y[refit_rows], weights=None if weights is None else weights[refit_rows]))
        y_pred = pipeline.predict(X_test)
        test = regression_metrics(y_test, y_pred, floor, train_mean, w_test)
        champion_on_split = score_champion(store, lake, df.loc[parts.test], y_test, as_of, names, w_test)
    log.info("test MSE %.0f = %.4f x floor (mean predictor: %.2f x floor), R2 %.4f",
             test["mse"], test["mse_over_floor"], test["mean_baseline_over_floor"], test["r2"])

    metrics = {
        "preset": preset_name,
        "test": test,
        "best_validation_mse": result["best_validation_mse"],
        "search": {"target_mse_over_floor": mse_target, "reached_target": result["reached_target"],
                   "best_train_rows": result["best_train_rows"], "refit_rows": len(refit_rows),
                   "reused_trial_model": result.get("best_model") is not None},
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
        # Sampled by weight: after a retrain on drifted drops, the reference is the world the
        # model was fitted to, so the next drop from that world is not drift.
        "reference": reference_bins(X[reference_sample(rng, refit_rows, weights)], names, settings.predict.psi_bins),
        "weights": None if weights is None else {
            "labelled_rows": int(labelled.sum()), "labelled_row_weight_max": float(weights[labelled].max()),
            "labelled_share": m.labelled_share, "labelled_half_life_days": m.labelled_half_life_days,
            "rule": "salary.model.features.sample_weights"},
    }
    with stages.stage("draw"):
        truth = settings.dataset.truth
        pictures = draw(f"model {run_id}", training_pictures, run_id, y_test, y_pred,
                        df["age"].to_numpy()[parts.test], labelled[parts.test], floor, settings.queries.age_band_starts,
                        truth.age_max, result["trials"], stages.seconds, {
                            "test MSE / noise floor": f"{test['mse_over_floor']:.4f}",
                            "champion on the same rows": champion_on_split and
                            f"{champion_on_split['mse'] / floor:.4f} x floor ({champion_on_split['version']})",
                            "rows": f"{len(df):,} curated, {int(labelled.sum()):,} from labelled drops",
                            "best parameters": result["best_config"]})
    with stages.stage("publish"):
        target = publish_version(store, lake, run_id, pipeline, manifest, metrics,
                                 {f"{PICTURES}/{name}": data for name, data in pictures.items()})
    # The registry's copy is the truth: a retry that found its version published by an earlier
    # attempt reports that attempt's figures (what the gate reads), not its own refit's.
    published = store.read_json(join(target, "metrics.json")) or metrics
    if published["test"] != test:
        log.warning("version %s was published by an earlier attempt: reporting its metrics", run_id)
    pictures_at = join(target, PICTURES) if store.exists(join(target, PICTURES, "index.html")) else None
    if pictures_at:
        log.info("pictures of model %s: %s/index.html", run_id, pictures_at)
    return {"output": target, "pictures": pictures_at,
            "preset": preset_name, "test": published["test"], "best_params": result["best_config"],
            "trials": len(result["trials"]), "champion_on_test_split": published["champion_on_test_split"]}
