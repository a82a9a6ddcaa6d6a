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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from salary.config import SearchPreset, Settings
from salary.errors import BadInputError
from salary.lake import LABELLED_PREFIX, MANIFEST, Lake, LakeIO, join
from salary.lake.fsspec_store import FsspecStore
from salary.model.features import (
    MODEL_COLUMNS,
    Split,
    build_pipeline,
    features,
    id_sample,
    mse,
    regression_metrics,
    sample_weights,
    split,
)
from salary.model.monitoring import reference_bins
from salary.model.pictures import PICTURES, draw, training_pictures
from salary.model.registry import champion, load_version, publish_version
from salary.model.table import tabulate
from salary.model.tuning import SearchData, load_model, search, search_rows
from salary.runtime.job import JobContext, Stages, code_version
from salary.schema import SOURCE

log = logging.getLogger(__name__)


def load_curated(lake: LakeIO[FsspecStore], run_id: str,
                 max_rows: int | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """This run's curated rows (model columns only) and the curated manifest. Beyond ``max_rows``
    rows: every labelled row and a stable sample of the generated ones (``id_sample``), read a
    batch at a time, so memory follows ``max_rows``, not the dataset."""
    uri = lake.paths.curated_version(run_id)
    manifest = lake.store.read_json(join(uri, MANIFEST))
    if manifest is None:
        raise BadInputError(f"no published curated dataset at {uri} (did etl_benchmark run for this run?)")
    fs, path = lake.store.filesystem(uri)
    # Versions curated before labelled drops existed have no source column: all generated.
    sourced = SOURCE in manifest.get("columns", [])
    columns = [*MODEL_COLUMNS, SOURCE] if sourced else list(MODEL_COLUMNS)
    # source is one of a few names per row: dictionary-encoded it stays a small categorical,
    # not one Python string per row.
    parquet = ds.ParquetFileFormat(read_options={"dictionary_columns": [SOURCE]} if sourced else None)
    dataset = ds.dataset(path, format=parquet, filesystem=fs)
    total = dataset.count_rows()
    if max_rows is None or total <= max_rows:
        table = dataset.to_table(columns=columns)
    else:
        fraction = max_rows / total
        log.info("curated version has %d rows > %d: every labelled row and %.2f%% of the generated ones, "
                 "by a hash of id", total, max_rows, 100 * fraction)
        # One batch ahead, one file at a time: the default read-ahead (16 batches of 4 files)
        # held 5.7 GB of a 300M-row version's batches before they were filtered (2.5 GB so).
        table = pa.Table.from_batches([batch.filter(_kept(batch, fraction, sourced))
                                       for batch in dataset.to_batches(columns=columns, batch_size=1 << 20,
                                                                       batch_readahead=1, fragment_readahead=1)])
    # Dates as datetime64, not a Python date object per row (32 of 61 bytes a row).
    return table.to_pandas(date_as_object=False, self_destruct=True), manifest


def _kept(batch: pa.RecordBatch, fraction: float, sourced: bool) -> np.ndarray:
    """Which rows of ``batch`` a sampled load keeps: the ``id_sample`` and every labelled row."""
    keep = id_sample(batch.column("id").to_numpy(), fraction)
    if sourced:
        source = batch.column(SOURCE)
        if isinstance(source, pa.DictionaryArray):  # tested once per name, not once per row
            names = pc.starts_with(source.dictionary, LABELLED_PREFIX).to_numpy(zero_copy_only=False)
            keep |= names[source.indices.to_numpy()]
        else:
            keep |= pc.starts_with(source, LABELLED_PREFIX).to_numpy(zero_copy_only=False)
    return keep


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


def score_champion(lake: LakeIO[FsspecStore], test_rows: pd.DataFrame, y_test: np.ndarray, as_of: dt.date,
                   names: tuple[str, ...], weights: np.ndarray | None) -> dict[str, Any] | None:
    """The current champion's MSE on exactly the candidate's test rows, with the same weights
    (what the gate compares)."""
    incumbent = champion(lake)
    if not incumbent:
        return None
    old, old_manifest = load_version(lake, incumbent["version"])
    X_old = features(test_rows, as_of, tuple(old_manifest.get("features", names)))
    return {"version": incumbent["version"], "mse": mse(y_test, tabulate(old).predict(X_old), weights)}


def reference_sample(rng: np.random.Generator, rows: np.ndarray, weights: np.ndarray | None,
                     size: int = 1_000_000) -> np.ndarray:
    """Up to ``size`` of ``rows``, drawn with probability proportional to their weights."""
    if weights is None:
        return rng.choice(rows, min(len(rows), size), replace=False)
    p = weights[rows] / weights[rows].sum()
    return rng.choice(rows, min(len(rows), size), replace=True, p=p)


def refit_rows_for(result: dict[str, Any], fit_rows: np.ndarray, train_rows: np.ndarray,
                   sampled: bool, max_rows: int) -> np.ndarray:
    """The rows the chosen configuration is refitted on: the first rows of the (shuffled) fit
    rows on which the search reached its target; the search's own rows for a preset that
    samples them; else the whole training split, or beyond ``max_rows`` (the refit's memory
    follows its rows) the first ``max_rows`` of the shuffled fit rows, a random sample of it."""
    if result.get("reached_target"):
        return fit_rows[: int(result["best_train_rows"])]
    if sampled:
        return fit_rows
    return train_rows if len(train_rows) <= max_rows else fit_rows[:max_rows]


@dataclass(frozen=True)
class TrainingData:
    """A run's curated rows as the model sees them: features, target, split and weights."""

    test_frame: pd.DataFrame  # the test split's loaded rows (the columns the champion's features need)
    curated_manifest: dict[str, Any]
    curated_rows: int  # the curated version's rows
    rows_loaded: int  # all of them, or a sample beyond max_rows_in_memory
    floor: float  # the noise floor: the best possible MSE
    as_of: dt.date
    parts: Split
    X: np.ndarray
    y: np.ndarray
    labelled: np.ndarray  # rows from labelled drops
    weights: np.ndarray | None  # sample weights (None: all rows weigh the same)

    def w(self, rows: Any) -> np.ndarray | None:
        return None if self.weights is None else self.weights[rows]


@dataclass(frozen=True)
class Rows:
    """Which rows each step uses: ``fit`` (shuffled, seeded: every ASHA rung's prefix is a
    random sample), the ``searched`` prefix of it, and ``validation``."""

    fit: np.ndarray
    searched: np.ndarray
    validation: np.ndarray


def load_training_data(lake: LakeIO[FsspecStore], settings: Settings, curated_run: str,
                       names: tuple[str, ...]) -> TrainingData:
    """The curated version's rows, split by id, with the features ``names`` and the weights. Of
    the loaded frame only the test split's rows are kept (the champion is scored on them): the
    rest is freed before the search and the refit, whose peaks are the job's."""
    m = settings.model
    df, manifest = load_curated(lake, curated_run, m.max_rows_in_memory)
    floor, as_of = ground_truth(manifest, settings)
    fresh = recency(df, manifest.get("labelled_at") or {}, dt.datetime.now(dt.UTC), m.labelled_half_life_days)
    parts = split(df["id"].to_numpy(), m.test_percent, m.validation_percent)
    return TrainingData(df.loc[parts.test], manifest, int(manifest.get("rows", len(df))), len(df), floor, as_of,
                        parts, features(df, as_of, names), df["salary"].to_numpy(np.float64, copy=True), fresh > 0,
                        sample_weights(fresh, m.labelled_share))


def choose_rows(data: TrainingData, preset: SearchPreset, validation_rows: int, rng: np.random.Generator) -> Rows:
    """The fit rows (the paper preset: the report's 10,000-row sample); no trial fits on more
    than the largest rung, so only that prefix goes to the object store (at 30M rows, 3.2M of
    the 24M fit rows)."""
    fit = rng.permutation(np.flatnonzero(data.parts.fit))
    if preset.train_rows:
        fit = fit[: preset.train_rows]
    return Rows(fit, fit[: search_rows(preset)], np.flatnonzero(data.parts.validation)[:validation_rows])


def mse_target(preset: SearchPreset, validation_rows: int) -> float | None:
    """The preset's MSE target over the noise floor, if the validation rows can tell it apart."""
    asha = preset.asha
    if asha is None or asha.target_mse_over_floor is None:
        return None
    if validation_rows < asha.target_min_validation_rows:
        # Too few validation rows to tell 0.4% from noise: a lucky trial would end the search.
        log.info("no MSE target: %d validation rows < %s", validation_rows, asha.target_min_validation_rows)
        return None
    return asha.target_mse_over_floor


def run_search(data: TrainingData, rows: Rows, preset: SearchPreset, target: float | None) -> dict[str, Any]:
    """The Ray Tune search on the cluster the job runs on."""
    with tempfile.TemporaryDirectory(prefix="tune-") as storage:
        # Built in the call: the search drops its arrays once they are in the object store.
        return search(preset, SearchData(
            data.X[rows.searched], data.y[rows.searched], data.X[rows.validation], data.y[rows.validation],
            data.w(rows.searched), data.w(rows.validation)), storage, target_mse=target and target * data.floor)


def final_model(data: TrainingData, preset: SearchPreset, result: dict[str, Any], refit_rows: np.ndarray) -> Any:
    """The winning trial's model when it was fitted on ``refit_rows``, else the best
    configuration refitted on them."""
    if result.get("best_model") is not None:
        log.info("no refit: the winning trial's model, fitted on these rows, is the model")
        return load_model(result["best_model"])
    model = build_pipeline(preset.model, result["best_config"], threads=-1)
    weights = data.w(refit_rows)
    return model.fit(data.X[refit_rows], data.y[refit_rows], **({} if weights is None else
                                                                 {"model__sample_weight": weights}))


def evaluate(lake: LakeIO[FsspecStore], data: TrainingData, model: Any, refit_rows: np.ndarray,
             names: tuple[str, ...]) -> tuple[dict[str, Any], np.ndarray, dict[str, Any] | None]:
    """Test metrics, test predictions, and the champion's MSE on the same rows and weights."""
    test_rows = data.parts.test
    y_test, w_test = data.y[test_rows], data.w(test_rows)
    train_mean = float(np.average(data.y[refit_rows], weights=data.w(refit_rows)))
    y_pred = tabulate(model).predict(data.X[test_rows])  # exactly model.predict's, from a table of its cells
    test = regression_metrics(y_test, y_pred, data.floor, train_mean, w_test)
    champion_on_split = score_champion(lake, data.test_frame, y_test, data.as_of, names, w_test)
    log.info("test MSE %.0f = %.4f x floor (mean predictor: %.2f x floor), R2 %.4f",
             test["mse"], test["mse_over_floor"], test["mean_baseline_over_floor"], test["r2"])
    return test, y_pred, champion_on_split


def version_manifest(lake: Lake, settings: Settings, run_id: str, curated_run: str, preset: SearchPreset,
                     data: TrainingData, result: dict[str, Any], refit_rows: np.ndarray, test: dict[str, Any],
                     rng: np.random.Generator) -> dict[str, Any]:
    """The model version's manifest: what it was trained on and how, and its drift reference."""
    m, names = settings.model, preset.features
    labelled = data.labelled
    return {
        "run_id": run_id,
        "model": preset.model,
        "preset": preset.name,
        "features": list(names),
        "best_params": result["best_config"],
        "train_rows": len(refit_rows),
        "split": {"rule": "splitmix64(id) % 100", "test_percent": m.test_percent,
                  "validation_percent": m.validation_percent},
        "dataset": {"curated": lake.curated_version(curated_run), "rows": data.curated_rows,
                    "rows_loaded": data.rows_loaded,
                    "generated_digest": (data.curated_manifest.get("generated_manifest") or {}).get("digest")},
        "as_of": data.as_of.isoformat(),
        "code_version": code_version(),
        "test_metrics": test,
        # Feature distributions of the training rows, for drift monitoring on new data (PSI).
        # Sampled by weight: after a retrain on drifted drops, the reference is the world the
        # model was fitted to, so the next drop from that world is not drift.
        "reference": reference_bins(data.X[reference_sample(rng, refit_rows, data.weights)],
                                    names, settings.predict.psi_bins),
        "weights": None if data.weights is None else {
            "labelled_rows": int(labelled.sum()), "labelled_row_weight_max": float(data.weights[labelled].max()),
            "labelled_share": m.labelled_share, "labelled_half_life_days": m.labelled_half_life_days,
            "rule": "salary.model.features.sample_weights"},
    }


def tune_and_publish(ctx: JobContext[FsspecStore], preset_name: str, curated_run: str | None = None) -> dict[str, Any]:
    """Load, search, fit, evaluate, draw and publish this run's model version (each a stage)."""
    lake, settings, run_id, stages = ctx.lake, ctx.settings, ctx.run_id, ctx.stages
    try:
        preset = settings.preset(preset_name)
    except ValueError as err:
        raise BadInputError(str(err)) from err
    curated_run = curated_run or run_id
    with stages.stage("load"):
        data = load_training_data(lake, settings, curated_run, preset.features)
    rng = np.random.default_rng(0)  # seeded: the same rows, and the same drift reference, on every run
    rows = choose_rows(data, preset, settings.model.validation_rows, rng)
    log.info("rows: %d curated, %d loaded (%d from labelled drops), %d train (%d fit, %d searched, %d validation), "
             "%d test; features %s", data.curated_rows, data.rows_loaded, int(data.labelled.sum()),
             int(data.parts.train.sum()), len(rows.fit), len(rows.searched), len(rows.validation),
             int(data.parts.test.sum()), preset.features)
    if data.weights is not None:
        log.info("labelled rows weigh %.1f-%.1f generated rows (labelled_share %s, half-life %s days)",
                 float(data.weights[data.labelled].min()), float(data.weights[data.labelled].max()),
                 settings.model.labelled_share, settings.model.labelled_half_life_days)
    target = mse_target(preset, len(rows.validation))
    with stages.stage("search"):
        result = run_search(data, rows, preset, target)
    train_rows = np.flatnonzero(data.parts.train)
    refit_rows = refit_rows_for(result, rows.fit, train_rows, preset.train_rows is not None,
                                settings.model.refit_max_rows)
    log.info("refit on %d rows (%s)", len(refit_rows), f"the rows on which validation MSE reached {target} x floor"
             if result["reached_target"] else "the whole training split" if len(refit_rows) == len(train_rows)
             else "a random sample of the training split, refit_max_rows" if preset.train_rows is None
             else "the search's rows")
    with stages.stage("refit"):
        model = final_model(data, preset, result, refit_rows)
    with stages.stage("evaluate"):
        test, y_pred, champion_on_split = evaluate(lake, data, model, refit_rows, preset.features)
    metrics = {
        "preset": preset.name, "test": test, "best_validation_mse": result["best_validation_mse"],
        "search": {"target_mse_over_floor": target, "reached_target": result["reached_target"],
                   "best_train_rows": result["best_train_rows"], "refit_rows": len(refit_rows),
                   "reused_trial_model": result.get("best_model") is not None},
        "champion_on_test_split": champion_on_split, "trials": result["trials"], "stage_seconds": stages.seconds,
    }
    manifest = version_manifest(lake.paths, settings, run_id, curated_run, preset, data, result, refit_rows, test, rng)
    with stages.stage("draw"):
        pictures = draw_training(settings, run_id, data, y_pred, result, stages, test, champion_on_split)
    with stages.stage("publish"):
        target_uri = publish_version(lake, run_id, model, manifest, metrics,
                                     {f"{PICTURES}/{name}": blob for name, blob in pictures.items()})
    return published_result(lake.store, run_id, target_uri, metrics, result)


def draw_training(settings: Settings, run_id: str, data: TrainingData, y_pred: np.ndarray, result: dict[str, Any],
                  stages: Stages, test: dict[str, Any], champion_on_split: dict[str, Any] | None) -> dict[str, bytes]:
    """The run's pictures (never failing the run: ``draw`` logs a failure and returns none)."""
    test_rows, floor = data.parts.test, data.floor
    return draw(f"model {run_id}", training_pictures, run_id, data.y[test_rows], y_pred,
                data.test_frame["age"].to_numpy(), data.labelled[test_rows], floor,
                settings.queries.age_band_starts, settings.dataset.truth.age_max, result["trials"], stages.seconds, {
                    "test MSE / noise floor": f"{test['mse_over_floor']:.4f}",
                    "champion on the same rows": champion_on_split and
                    f"{champion_on_split['mse'] / floor:.4f} x floor ({champion_on_split['version']})",
                    "rows": f"{data.curated_rows:,} curated, {data.rows_loaded:,} loaded, "
                            f"{int(data.labelled.sum()):,} from labelled drops",
                    "best parameters": result["best_config"]})


def published_result(store: FsspecStore, run_id: str, target: str, metrics: dict[str, Any],
                     result: dict[str, Any]) -> dict[str, Any]:
    """What the job reports. The registry's copy is the truth: a retry that found its version
    published by an earlier attempt reports that attempt's figures (what the gate reads)."""
    published = store.read_json(join(target, "metrics.json")) or metrics
    if published["test"] != metrics["test"]:
        log.warning("version %s was published by an earlier attempt: reporting its metrics", run_id)
    pictures_at = join(target, PICTURES) if store.exists(join(target, PICTURES, "index.html")) else None
    if pictures_at:
        log.info("pictures of model %s: %s/index.html", run_id, pictures_at)
    return {"output": target, "pictures": pictures_at, "preset": metrics["preset"], "test": published["test"],
            "best_params": result["best_config"], "trials": len(result["trials"]),
            "champion_on_test_split": published["champion_on_test_split"]}
