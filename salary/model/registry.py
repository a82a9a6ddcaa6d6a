"""The model registry in the lake: <lake>/models/salary/<version>/ and the champion pointer.

A version folder holds the fitted pipeline (model.joblib), the report's ml_model.pkl and
scaler.pkl, metrics.json and manifest.json with the sha256 of every artifact. Unpickling runs
code, so a model is loaded only after its bytes match the manifest.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import joblib

from salary.lake import LakeIO, join

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
CHAMPION = "champion"


class IntegrityError(RuntimeError):
    """A model artifact does not match the sha256 recorded in its manifest."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dump(obj: Any) -> bytes:
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getvalue()


def publish_version(lake: LakeIO, version: str, pipeline: Any, manifest: dict[str, Any],
                    metrics: dict[str, Any], extra_files: Mapping[str, bytes] | None = None) -> str:
    """Stage a model version (with ``extra_files``, e.g. its pictures), then publish it by one
    rename. Returns its URI.

    Versions are immutable: when a retry of the same run finds its version already published,
    that version stays (the champion pointer may name it) and the new copy is dropped.
    """
    artifacts = {
        MODEL_FILE: _dump(pipeline),
        # The report's deployment files: the estimator and the scaler, separately.
        "ml_model.pkl": _dump(pipeline.named_steps["model"]),
        "scaler.pkl": _dump(pipeline.named_steps["scaler"]),
    }
    target = lake.paths.model_version(version)
    staging = lake.store.stage(lake.paths.staging("register_model", version))
    for name, data in artifacts.items():
        lake.store.write_bytes(join(staging, name), data)
    for name, data in (extra_files or {}).items():
        lake.store.write_bytes(join(staging, name), data)
    lake.store.write_json(join(staging, "metrics.json"), metrics)
    full = {**manifest, "version": version, "sha256": {n: sha256(d) for n, d in artifacts.items()}}
    lake.store.write_json(join(staging, "manifest.json"), full)  # last: the folder is complete
    if lake.store.publish(staging, target):
        log.info("published model version %s to %s", version, target)
    return target


def load_version(lake: LakeIO, version: str) -> tuple[Any, dict[str, Any]]:
    """A version's pipeline (sha256-checked before unpickling) and its manifest."""
    folder = lake.paths.model_version(version)
    manifest = lake.store.read_json(join(folder, "manifest.json"))
    if manifest is None:
        raise FileNotFoundError(f"no model manifest in {folder}")
    data = lake.store.read_bytes(join(folder, MODEL_FILE))
    expected = manifest["sha256"][MODEL_FILE]
    if sha256(data) != expected:
        raise IntegrityError(
            f"{folder}/{MODEL_FILE} has sha256 {sha256(data)}, manifest says {expected}: refusing to load it"
        )
    return joblib.load(io.BytesIO(data)), manifest


def champion(lake: LakeIO) -> dict[str, Any] | None:
    """The champion pointer: {"version", "test_mse", ...}, or None before the first promotion."""
    return lake.store.read_json(join(lake.paths.models, CHAMPION))


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate_mse: float, champion_mse: float | None, margin: float) -> Decision:
    """Promote when there is no champion, or the candidate's test MSE beats the champion's on the
    same test split by more than ``margin`` (relative)."""
    if champion_mse is None:
        return Decision(True, "no champion yet")
    threshold = champion_mse * (1 - margin)
    if candidate_mse < threshold:
        return Decision(True, f"test MSE {candidate_mse:,.0f} < champion's {champion_mse:,.0f} x (1 - {margin})")
    return Decision(False, f"test MSE {candidate_mse:,.0f} does not beat champion's {champion_mse:,.0f} "
                           f"x (1 - {margin}) = {threshold:,.0f}")


def promote(lake: LakeIO, version: str, margin: float,
            trigger: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Apply the promotion gate to ``version`` and record the decision, with what started the
    run (``trigger``), in the lake.paths.

    Both MSEs come from the version's metrics.json, where the tuning job scored the candidate
    and the champion of the time on the same test rows.
    """
    folder = lake.paths.model_version(version)
    metrics = lake.store.read_json(join(folder, "metrics.json"))
    if metrics is None:
        raise FileNotFoundError(f"no metrics.json in {folder}")
    current = champion(lake)
    on_split = metrics.get("champion_on_test_split") or {}
    if current and on_split.get("version") != current["version"]:
        raise RuntimeError(
            f"the champion changed to {current['version']} after {version} was scored against "
            f"{on_split.get('version')}: re-run tune_model"
        )
    decision = decide(metrics["test"]["mse"], on_split.get("mse") if current else None, margin)
    record = {"version": version, "promoted": decision.promote, "reason": decision.reason,
              "candidate_test_mse": metrics["test"]["mse"], "previous_champion": current,
              "champion_test_mse_on_same_rows": on_split.get("mse"), "trigger": dict(trigger or {})}
    if decision.promote:
        lake.store.write_json(join(lake.paths.models, CHAMPION), {
            "version": version, "test_mse": metrics["test"]["mse"], "path": folder,
            "mse_over_floor": metrics["test"]["mse_over_floor"]})
    lake.store.write_json(lake.paths.decision_record(version), record)
    log.info("promotion of %s: %s (%s)", version, "PROMOTED" if decision.promote else "kept out", decision.reason)
    return record
