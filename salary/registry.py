"""The model registry in the lake: <lake>/models/salary/<version>/ and the champion pointer.

A version folder holds the fitted pipeline (model.joblib), the report's ml_model.pkl and
scaler.pkl, metrics.json and manifest.json with the sha256 of every artifact. Unpickling runs
code, so a model is loaded only after its bytes match the manifest.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from typing import Any

import joblib

from salary.lake import Lake, join
from salary.lakefs import filesystem, read_json, write_json_atomic

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


def publish_version(lake: Lake, version: str, pipeline: Any, manifest: dict[str, Any],
                    metrics: dict[str, Any]) -> str:
    """Write a model version to a staging folder, then rename it into place. Returns its URI."""
    artifacts = {
        MODEL_FILE: _dump(pipeline),
        # The report's deployment files: the estimator and the scaler, separately.
        "ml_model.pkl": _dump(pipeline.named_steps["model"]),
        "scaler.pkl": _dump(pipeline.named_steps["scaler"]),
    }
    target = lake.model_version(version)
    staging = join(lake.models, "_staging", target.rsplit("/", 1)[1])
    fs, staging_path = filesystem(staging)
    if fs.exists(staging_path):
        fs.rm(staging_path, recursive=True)
    fs.makedirs(staging_path, exist_ok=True)
    for name, data in artifacts.items():
        with fs.open(f"{staging_path}/{name}", "wb") as fh:
            fh.write(data)
    write_json_atomic(join(staging, "metrics.json"), metrics)
    full = {**manifest, "version": version, "sha256": {n: sha256(d) for n, d in artifacts.items()}}
    write_json_atomic(join(staging, "manifest.json"), full)  # last: the folder is complete
    _, target_path = filesystem(target)
    if fs.exists(target_path):  # a retry of the same run replaces its own version
        fs.rm(target_path, recursive=True)
    fs.mv(staging_path, target_path, recursive=True)
    log.info("published model version %s to %s", version, target)
    return target


def load_version(lake: Lake, version: str) -> tuple[Any, dict[str, Any]]:
    """A version's pipeline (sha256-checked before unpickling) and its manifest."""
    folder = lake.model_version(version)
    manifest = read_json(join(folder, "manifest.json"))
    if manifest is None:
        raise FileNotFoundError(f"no model manifest in {folder}")
    fs, path = filesystem(join(folder, MODEL_FILE))
    with fs.open(path, "rb") as fh:
        data = fh.read()
    expected = manifest["sha256"][MODEL_FILE]
    if sha256(data) != expected:
        raise IntegrityError(
            f"{folder}/{MODEL_FILE} has sha256 {sha256(data)}, manifest says {expected}: refusing to load it"
        )
    return joblib.load(io.BytesIO(data)), manifest


def champion(lake: Lake) -> dict[str, Any] | None:
    """The champion pointer: {"version", "test_mse", ...}, or None before the first promotion."""
    return read_json(join(lake.models, CHAMPION))


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


def promote(lake: Lake, version: str, margin: float) -> dict[str, Any]:
    """Apply the promotion gate to ``version`` and record the decision in the lake.

    Both MSEs come from the version's metrics.json, where the tuning job scored the candidate
    and the champion of the time on the same test rows.
    """
    folder = lake.model_version(version)
    metrics = read_json(join(folder, "metrics.json"))
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
              "candidate_test_mse": metrics["test"]["mse"], "previous_champion": current}
    if decision.promote:
        write_json_atomic(join(lake.models, CHAMPION), {
            "version": version, "test_mse": metrics["test"]["mse"], "path": folder,
            "mse_over_floor": metrics["test"]["mse_over_floor"]})
    write_json_atomic(join(lake.models, "decisions", f"{folder.rsplit('/', 1)[1]}.json"), record)
    log.info("promotion of %s: %s (%s)", version, "PROMOTED" if decision.promote else "kept out", decision.reason)
    return record
