"""Batch prediction on new drops with the champion model, as a Ray job (Ray Jobs API).

Claims the drops it is given (plus this run's unfinished claims and expired ones of other
runs), then for each: reads and validates it, predicts its valid rows in parallel Ray tasks
(the model is put in the object store once), and stages predictions/<drop>/ (Parquet, the
report's predictions.csv, monitoring.json, _MANIFEST.json, _SUCCESS last) and the rows it
rejected. The DAG's publish task then makes them visible by renames. Rows in = rows
predicted + rows rejected, per drop.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import ray

from salary.config import Settings
from salary.drops import (
    LABEL,
    MANIFEST_FILE,
    PREDICTION,
    REJECT_REASON,
    DropRejected,
    already_published,
    claim_drops,
    read_drop,
    stage_rejected,
    staging_dir,
    validate_rows,
    write_csv,
    write_parquet,
)
from salary.errors import BadInputError
from salary.lake import SUCCESS, Lake, join
from salary.lakefs import filesystem, write_bytes_atomic, write_json_atomic
from salary.model import features
from salary.monitoring import drift_report
from salary.registry import champion, load_version
from salary.runtime import Stages, emit_summary, job_parser, run_job, start_job

JOB = "predict_drops"
log = logging.getLogger(JOB)


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


def predict_parallel(model_ref: Any, X: np.ndarray, batch_rows: int, cpus: int) -> np.ndarray:
    """Predict in at least one batch per CPU, at most ``batch_rows`` rows each, in order."""
    if len(X) == 0:
        return np.empty(0)
    batches = max(cpus, -(-len(X) // batch_rows))
    parts = [p for p in np.array_split(X, batches) if len(p)]
    return np.concatenate(ray.get([predict_batch.remote(model_ref, p) for p in parts]))


def predict_drop(lake: Lake, settings: Settings, owner: str, drop: str, model_ref: Any,
                 manifest: dict[str, Any], cpus: int, stages: Stages) -> dict[str, Any]:
    """Validate and predict one claimed drop; stage its outputs. Returns its result record."""
    fs, path = filesystem(join(lake.claimed(owner), drop))
    staged = staging_dir(lake, owner, drop)
    truth = settings.dataset.truth
    result: dict[str, Any] = {"drop": drop, "model_version": manifest["version"], "run": owner}
    published = already_published(lake, drop)
    if published is not None and published.get("run") == owner:
        log.info("drop %s: predictions already published by this run (a retry): not predicted again", drop)
        return {**published, "status": "predicted"}
    if published is not None:
        reason = (f"{drop}: a drop of this name was already predicted by run {published.get('run')} "
                  f"(predictions/{drop}); send new data under a new name")
        log.warning("drop %s rejected: %s", drop, reason)
        stage_rejected(join(staged, "rejected"), drop, reason, {}, None, owner)
        return {**result, "status": "rejected", "reason": reason, "rows_in": None, "rows_predicted": 0,
                "rows_rejected": None}
    try:
        with stages.stage(f"{drop}:read"):
            table, files = read_drop(fs, path, drop)
    except DropRejected as exc:
        log.warning("drop %s rejected: %s", drop, exc)
        stage_rejected(join(staged, "rejected"), drop, str(exc), {}, None, owner)
        return {**result, "status": "rejected", "reason": str(exc), "rows_in": None,
                "rows_predicted": 0, "rows_rejected": None}

    with stages.stage(f"{drop}:validate"):
        valid, rejected = validate_rows(table, truth.age_min, truth.age_max)
        names = tuple(manifest["features"])
        as_of = pd.Timestamp(manifest["as_of"]).date()
        X = features(valid, as_of, names)
    with stages.stage(f"{drop}:predict"):
        prediction = predict_parallel(model_ref, X, settings.predict.batch_rows, cpus)
    with stages.stage(f"{drop}:monitor"):
        monitoring = drift_report(manifest.get("reference"), X, names, settings.predict.psi_drift)
        if LABEL in valid.columns and valid[LABEL].notna().any():
            labelled = valid[LABEL].notna().to_numpy()
            mse = float(np.mean((valid[LABEL].to_numpy()[labelled] - prediction[labelled]) ** 2))
            floor = float(manifest.get("test_metrics", {}).get("floor_mse") or truth.noise_floor_mse)
            monitoring["live"] = {"rows_with_label": int(labelled.sum()), "mse": mse, "floor_mse": floor,
                                  "mse_over_floor": mse / floor,
                                  "test_mse_over_floor": manifest.get("test_metrics", {}).get("mse_over_floor")}
    counts = rejected[REJECT_REASON].value_counts().to_dict() if len(rejected) else {}
    result.update(status="predicted" if len(valid) else "rejected", files=files, rows_in=len(table),
                  rows_predicted=len(valid), rows_rejected=len(rejected), rejected_by_reason=counts,
                  psi=monitoring.get("psi"), drifted=monitoring.get("drifted"), live=monitoring.get("live"))
    if result["rows_in"] != result["rows_predicted"] + result["rows_rejected"]:
        raise AssertionError(f"{drop}: rows do not reconcile: {result}")

    with stages.stage(f"{drop}:write"):
        fs_out, staged_path = filesystem(staged)
        if fs_out.exists(staged_path):
            fs_out.rm(staged_path, recursive=True)
        if len(rejected):
            stage_rejected(join(staged, "rejected"), drop, f"{len(rejected)} of {len(table)} rows rejected",
                           counts, rejected, owner)
        if len(valid):
            out = valid[["id", "age", "is_active", "signup_date"]].copy()
            for j, name in enumerate(names):
                if name not in out.columns:
                    out[name] = X[:, j]
            if LABEL in valid.columns:
                out[LABEL] = valid[LABEL]
            out[PREDICTION] = prediction
            out = pa.Table.from_pandas(out, preserve_index=False).append_column(
                "model_version", pa.repeat(pa.scalar(manifest["version"]), len(out)).dictionary_encode())
            folder = join(staged, "predictions")
            with ThreadPoolExecutor(2) as pool:  # Arrow encodes and the HDFS client writes off the GIL
                done = [pool.submit(write_parquet, join(folder, "predictions.parquet"), out),
                        pool.submit(write_csv, join(folder, "predictions.csv"), out)]
                for future in done:
                    future.result()
            write_json_atomic(join(folder, "monitoring.json"), monitoring)
            write_json_atomic(join(folder, MANIFEST_FILE), result)
            write_bytes_atomic(join(folder, SUCCESS), b"")  # last: the folder is complete
    log.info("drop %s: %d rows in, %d predicted, %d rejected %s; PSI %s", drop, result["rows_in"],
             result["rows_predicted"], result["rows_rejected"], counts or "", monitoring.get("psi"))
    return result


def run(lake: Lake, settings: Settings, run_id: str, wanted: Sequence[str], stages: Stages) -> dict[str, Any]:
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = [warm_up.remote() for _ in range(cpus)]
    incumbent = champion(lake)
    if incumbent is None:
        # Checked before claiming: the drops stay in incoming/ for a later run.
        raise BadInputError("no champion model in the registry yet: run salary_training first")
    with stages.stage("load_model"):
        model, manifest = load_version(lake, incumbent["version"])
        model_ref = ray.put(model)
    with stages.stage("claim"):
        claims = claim_drops(lake, run_id, wanted, settings.predict.claim_lease_seconds)
    log.info("claimed %s", [(c.drop, c.how) for c in claims] or "nothing")
    with stages.stage("workers_ready"):  # start-up, not work: new processes for this job
        warm = len(set(ray.get(workers)))
    results = [{**predict_drop(lake, settings, run_id, c.drop, model_ref, manifest, cpus, stages), "claim": c.how}
               for c in claims]
    return {"model_version": manifest["version"], "drops": results, "cluster_cpus": cpus, "warm_workers": warm}


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--drops", default="[]", help="JSON list of complete drop names (the sensor's XCom)")
    job = start_job(parser, argv)
    args, settings, lake, stages = job.args, job.settings, job.lake, job.stages
    wanted = json.loads(args.drops or "[]") or []
    with stages.stage("connect"):
        ray.init(logging_level=logging.WARNING)
    result = run(lake, settings, args.run_id, wanted, stages)
    summary = {"job": JOB, "run_id": args.run_id, **result, "stage_seconds": stages.seconds,
               "seconds": stages.total}
    write_json_atomic(join(lake.report(JOB, args.run_id), "summary.json"), summary)
    emit_summary(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_job(main))
