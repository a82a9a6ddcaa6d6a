"""Batch prediction of claimed drops with the champion model on a Ray cluster.

For each drop: read and validate it, predict its valid rows (``make_scorer``: the champion's
exact table of predictions in the driver, or, for a model without one, a small drop in the
driver and a bigger one in parallel Ray tasks with the model put in the object store once), and stage
predictions/<drop>/ (Parquet, the report's predictions.csv, monitoring.json, _MANIFEST.json,
_SUCCESS last) and the rows it rejected. The drops are pipelined: Ray tasks predict the next
drop's rows while the driver writes the one before. The DAG's publish task then makes them
visible by renames. Rows in = rows predicted + rows rejected.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import ray

from salary.config import PredictSettings
from salary.drops import PREDICTION, REJECT_REASON, DropRejected
from salary.drops.claims import claim_drops
from salary.drops.health import pool_small_drops
from salary.drops.publish import already_published, stage_rejected, staging_dir
from salary.drops.validate import read_drop, validate_rows
from salary.errors import BadInputError
from salary.lake import MANIFEST, SUCCESS, Store, join
from salary.lake.tables import write_csv, write_parquet
from salary.model.features import features
from salary.model.monitoring import drift_report
from salary.model.registry import champion, load_version
from salary.model.table import TabulatedModel, tabulate
from salary.runtime.job import JobContext, Stages
from salary.schema import DROP_COLUMNS, LABEL, RAW_COLUMNS

log = logging.getLogger(__name__)


@ray.remote(num_cpus=1)
def predict_batch(model: Any, X: np.ndarray) -> np.ndarray:
    """One batch of rows through the model (one CPU: the batches run side by side)."""
    return model.predict(X)


@ray.remote(num_cpus=1)
def warm_up() -> int:
    """Start a worker and import the model's code while the driver reads and validates the
    drop (a job's workers are new processes; importing scikit-learn takes seconds)."""
    import sklearn.ensemble  # noqa: F401

    return os.getpid()


def submit_batches(model_ref: Any, X: np.ndarray, batch_rows: int, cpus: int) -> list[Any]:
    """Start predicting ``X`` in at least one batch per CPU, at most ``batch_rows`` rows each;
    returns the batches' object refs in row order (``gather`` waits for them)."""
    if len(X) == 0:
        return []
    batches = max(cpus, -(-len(X) // batch_rows))
    return [predict_batch.remote(model_ref, p) for p in np.array_split(X, batches) if len(p)]


def gather(refs: Sequence[Any]) -> np.ndarray:
    """The predictions of ``submit_batches``'s refs, in row order."""
    return np.concatenate(ray.get(list(refs))) if refs else np.empty(0)


@dataclass
class Scorer:
    """Where a drop's rows are predicted. At most ``driver_rows`` valid rows: in the driver (a
    job's Ray workers are new processes that take seconds to import scikit-learn; a few thousand
    rows take milliseconds). More: in Ray batches on the job's workers, which start warming up
    with the job (``warming``) and are waited for, in the stage ``workers_ready`` (start-up, not
    work), by the first drop that needs them."""

    model: Any
    model_ref: Any
    cpus: int
    batch_rows: int
    driver_rows: int
    warming: list[Any] = field(default_factory=list)
    warm_workers: int = 0

    def needs_workers(self, rows: int) -> bool:
        return rows > self.driver_rows

    def wait_for_workers(self, stages: Stages) -> None:
        """Wait until the warming workers have started (once; the stage ``workers_ready``)."""
        if self.warming:
            with stages.stage("workers_ready"):
                self.warm_workers = len(set(ray.get(self.warming)))
            self.warming = []

    def submit(self, X: np.ndarray, stages: Stages) -> list[Any] | None:
        """Start predicting ``X`` on the workers: the batches' refs, or None when ``predict``
        will predict it in the driver."""
        if not self.needs_workers(len(X)):
            return None
        self.wait_for_workers(stages)
        return submit_batches(self.model_ref, X, self.batch_rows, self.cpus)

    def predict(self, X: np.ndarray, refs: list[Any] | None) -> np.ndarray:
        """The predictions of ``X``: its batches' (``refs``), or the driver's."""
        if refs is not None:
            return gather(refs)
        return self.model.predict(X) if len(X) else np.empty(0)


def make_scorer(model: Any, cpus: int, settings: PredictSettings) -> Scorer:
    """Where this job predicts. A tabulated model (``salary.model.table``: exactly the pipeline's
    predictions, 1M rows in 0.14 s) predicts every drop in the driver, and no worker is started
    (a job's workers took 2.1 s to be ready for a 1M-row drop). Any other model: in Ray batches
    beyond ``driver_rows``, on workers that start warming up now."""
    if isinstance(model, TabulatedModel):
        return Scorer(model, None, cpus, settings.batch_rows, driver_rows=sys.maxsize)
    return Scorer(model, ray.put(model), cpus, settings.batch_rows, settings.driver_rows,
                  [warm_up.remote() for _ in range(cpus)])


def live_metrics(valid: pd.DataFrame, prediction: np.ndarray, manifest: dict[str, Any],
                 default_floor: float) -> dict[str, Any] | None:
    """MSE of the predictions on the rows that carry the true salary, against the noise floor."""
    if LABEL not in valid.columns or not valid[LABEL].notna().any():
        return None
    labelled = valid[LABEL].notna().to_numpy()
    mse = float(np.mean((valid[LABEL].to_numpy()[labelled] - prediction[labelled]) ** 2))
    test = manifest.get("test_metrics", {})
    floor = float(test.get("floor_mse") or default_floor)
    return {"rows_with_label": int(labelled.sum()), "mse": mse, "floor_mse": floor, "mse_over_floor": mse / floor,
            "test_mse_over_floor": test.get("mse_over_floor")}


def prediction_table(valid: pd.DataFrame, X: np.ndarray, names: Sequence[str], prediction: np.ndarray,
                     version: str) -> pa.Table:
    """The published rows: the drop's columns, the model's features, the prediction, the model."""
    out = valid[list(DROP_COLUMNS)].copy()
    for j, name in enumerate(names):
        if name not in out.columns:
            out[name] = X[:, j]
    if LABEL in valid.columns:
        out[LABEL] = valid[LABEL]
    out[PREDICTION] = prediction
    return pa.Table.from_pandas(out, preserve_index=False).append_column(
        "model_version", pa.repeat(pa.scalar(version), len(out)).dictionary_encode())


def labelled_table(valid: pd.DataFrame) -> pa.Table | None:
    """The drop's rows that carry the true salary, as a raw chunk of the training data (the raw
    columns; a drop has no names, so ``name`` is null), or None when no row is labelled."""
    if LABEL not in valid.columns or not valid[LABEL].notna().any():
        return None
    rows = valid.loc[valid[LABEL].notna()]
    arrays = {
        "id": pa.array(rows["id"].to_numpy(np.int64)),
        "name": pa.nulls(len(rows), pa.string()),
        "age": pa.array(rows["age"].to_numpy(np.int32)),
        "salary": pa.array(rows[LABEL].to_numpy(np.float64)),
        # Straight from the column (dates, or datetimes at midnight): a detour through pandas'
        # datetimes and back to Python dates took 0.25 s of a 1M-row drop's 1 s of writing.
        "signup_date": pa.array(rows["signup_date"]).cast(pa.date32()),
        "is_active": pa.array(rows["is_active"].to_numpy(bool)),
    }
    return pa.table({c: arrays[c] for c in RAW_COLUMNS})


def _stage_outputs(store: Store, staged: str, labelled: pa.Table | None, predictions: pa.Table | None,
                   monitoring: dict[str, Any], result: dict[str, Any]) -> None:
    """The drop's training rows (``labelled/``) and predictions (``predictions/``) in its staging
    folder: the three data files encoded and written at once (Arrow encodes and the HDFS client
    writes off the GIL), then each folder's manifest and _SUCCESS, last."""
    files = [] if labelled is None else [(write_parquet, join(staged, "labelled", "part-0.parquet"), labelled)]
    if predictions is not None:
        files += [(write_parquet, join(staged, "predictions", "predictions.parquet"), predictions),
                  (write_csv, join(staged, "predictions", "predictions.csv"), predictions)]
    with ThreadPoolExecutor(len(files) or 1) as pool:
        for future in [pool.submit(write, store, uri, table) for write, uri, table in files]:
            future.result()
    if labelled is not None:
        folder = join(staged, "labelled")
        store.write_json(join(folder, MANIFEST), {
            "drop": result["drop"], "rows": labelled.num_rows, "labelled_at": dt.datetime.now(dt.UTC).isoformat(),
            "run": result["run"], "model_version": result["model_version"]})
        store.write_atomic(join(folder, SUCCESS), b"")
    if predictions is not None:
        folder = join(staged, "predictions")
        store.write_json(join(folder, "monitoring.json"), monitoring)
        store.write_json(join(folder, MANIFEST), result)
        store.write_atomic(join(folder, SUCCESS), b"")  # last: the folder is complete


def _rejected_whole(store: Store, staged: str, result: dict[str, Any], reason: str) -> dict[str, Any]:
    log.warning("drop %s rejected: %s", result["drop"], reason)
    stage_rejected(store, join(staged, "rejected"), result["drop"], reason, {}, None, result["run"])
    return {**result, "status": "rejected", "reason": reason, "rows_in": None, "rows_predicted": 0,
            "rows_rejected": None}


@dataclass
class Scoring:
    """A drop read, validated and handed to Ray: its rows are being predicted while the job
    writes the drop before it and reads the one after."""

    result: dict[str, Any]
    staged: str
    rows_in: int
    valid: pd.DataFrame
    rejected: pd.DataFrame
    X: np.ndarray
    names: tuple[str, ...]
    refs: list[Any] | None  # None: predicted in the driver


def start_drop(ctx: JobContext[Any], drop: str, scorer: Scorer, manifest: dict[str, Any]) -> dict[str, Any] | Scoring:
    """Read and validate one claimed drop and start predicting its valid rows. Returns its result
    record when there is nothing to predict (rejected whole, or already published by this run),
    else the Scoring that ``finish_drop`` completes."""
    store, settings, owner, stages = ctx.lake.store, ctx.settings, ctx.run_id, ctx.stages
    staged = staging_dir(ctx.lake.paths, owner, drop)
    truth = settings.dataset.truth
    result: dict[str, Any] = {"drop": drop, "model_version": manifest["version"], "run": owner}
    published = already_published(ctx.lake, drop)
    if published is not None and published.get("run") == owner:
        log.info("drop %s: predictions already published by this run (a retry): not predicted again", drop)
        return {**published, "status": "predicted"}
    if published is not None:
        return _rejected_whole(store, staged, result, (
            f"{drop}: a drop of this name was already predicted by run {published.get('run')} "
            f"(predictions/{drop}); send new data under a new name"))
    try:
        with stages.stage(f"{drop}:read"):
            table, files = read_drop(store, join(ctx.lake.paths.claimed(owner), drop), drop)
    except DropRejected as exc:
        return _rejected_whole(store, staged, result, str(exc))

    if scorer.needs_workers(table.num_rows):
        # Before validating: workers starting on every core (importing scikit-learn) took the
        # CPU validation needs (a 1M-row drop validated in 1.3 s instead of 0.5 s).
        scorer.wait_for_workers(stages)
    with stages.stage(f"{drop}:validate"):
        valid, rejected = validate_rows(table, truth.age_min, truth.age_max)
        names = tuple(manifest["features"])
        X = features(valid, pd.Timestamp(manifest["as_of"]).date(), names)
    result["files"] = files
    return Scoring(result, staged, len(table), valid, rejected, X, names, scorer.submit(X, stages))


def finish_drop(ctx: JobContext[Any], scoring: Scoring, scorer: Scorer, manifest: dict[str, Any],
                unjudged: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Wait for a drop's predictions, check them against its reference and stage its outputs.
    Returns its result record; a drift report too small to be judged goes into ``unjudged``."""
    store, settings, owner, stages = ctx.lake.store, ctx.settings, ctx.run_id, ctx.stages
    result, valid, rejected, X, names = scoring.result, scoring.valid, scoring.rejected, scoring.X, scoring.names
    drop, staged = result["drop"], scoring.staged
    with stages.stage(f"{drop}:predict"):
        prediction = scorer.predict(X, scoring.refs)
    with stages.stage(f"{drop}:monitor"):
        monitoring = drift_report(manifest.get("reference"), X, names, settings.predict.psi_drift,
                                  settings.predict.psi_min_rows)
        live = live_metrics(valid, prediction, manifest, settings.dataset.truth.noise_floor_mse)
        if live is not None:
            monitoring["live"] = live
        if unjudged is not None and monitoring.get("judged") is False:  # pooled_drift skips empty ones
            unjudged[drop] = monitoring
    counts = rejected[REJECT_REASON].value_counts().to_dict() if len(rejected) else {}
    result.update(status="predicted" if len(valid) else "rejected", rows_in=scoring.rows_in,
                  rows_predicted=len(valid), rows_rejected=len(rejected), rejected_by_reason=counts,
                  psi=monitoring.get("psi"), drifted=monitoring.get("drifted"), judged=monitoring.get("judged"),
                  live=monitoring.get("live"))
    if result["rows_in"] != result["rows_predicted"] + result["rows_rejected"] or len(prediction) != len(valid):
        raise AssertionError(f"{drop}: rows do not reconcile: {result}")

    with stages.stage(f"{drop}:write"):
        store.stage(staged)
        if len(rejected):
            stage_rejected(store, join(staged, "rejected"), drop, f"{len(rejected)} of {scoring.rows_in} rows rejected",
                           counts, rejected, owner)
        labelled = labelled_table(valid)  # training data from now on (published with the predictions)
        result["rows_labelled"] = 0 if labelled is None else labelled.num_rows
        predictions = prediction_table(valid, X, names, prediction, manifest["version"]) if len(valid) else None
        _stage_outputs(store, staged, labelled, predictions, monitoring, result)
    log.info("drop %s: %d rows in, %d predicted, %d rejected %s; PSI %s", drop, result["rows_in"],
             result["rows_predicted"], result["rows_rejected"], counts or "", monitoring.get("psi"))
    return result


def predict_pipelined(start: Callable[[str], dict[str, Any] | Scoring],
                      finish: Callable[[Scoring], dict[str, Any]], drops: Sequence[str]) -> list[dict[str, Any]]:
    """Each drop's result record, in ``drops``'s order, with one drop in flight behind another:
    the next drop is read, validated and handed to Ray before the one before it is waited for
    and written, so the driver's reading and writing overlap the workers' predicting (at most
    two drops' rows in memory)."""
    results: dict[str, dict[str, Any]] = {}
    waiting: Scoring | None = None
    for drop in drops:
        started = start(drop)
        if isinstance(started, dict):
            results[drop] = started
            continue
        if waiting is not None:
            results[waiting.result["drop"]] = finish(waiting)
        waiting = started
    if waiting is not None:
        results[waiting.result["drop"]] = finish(waiting)
    return [results[drop] for drop in drops]


def predict_drops(ctx: JobContext[Any], wanted: Sequence[str]) -> dict[str, Any]:
    """Claim the drops (``wanted`` plus this run's and expired claims) and predict each one."""
    lake, stages, settings = ctx.lake, ctx.stages, ctx.settings.predict
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    incumbent = champion(lake)
    if incumbent is None:
        # Checked before claiming: the drops stay in incoming/ for a later run.
        raise BadInputError("no champion model in the registry yet: run salary_training first")
    with stages.stage("load_model"):
        model, manifest = load_version(lake, incumbent["version"])
        scorer = make_scorer(tabulate(model), cpus, settings)
    with stages.stage("claim"):
        claims = claim_drops(lake, ctx.run_id, wanted, settings.claim_lease_seconds)
    log.info("claimed %s", [(c.drop, c.how) for c in claims] or "nothing")
    unjudged: dict[str, dict[str, Any]] = {}
    results = predict_pipelined(lambda drop: start_drop(ctx, drop, scorer, manifest),
                                lambda scoring: finish_drop(ctx, scoring, scorer, manifest, unjudged),
                                [c.drop for c in claims])
    results = [{**result, "claim": c.how} for c, result in zip(claims, results, strict=True)]
    pooled = pool_small_drops(lake, unjudged, manifest["version"], dt.datetime.now(dt.UTC), settings)
    return {"model_version": manifest["version"], "drops": results, "pooled_drift": pooled, "cluster_cpus": cpus,
            "warm_workers": scorer.warm_workers}
