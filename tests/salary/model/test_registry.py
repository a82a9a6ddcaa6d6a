from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from salary.lake import Lake
from salary.model.features import build_pipeline
from salary.model.registry import IntegrityError, champion, decide, load_version, promote, publish_version
from tests.helpers import STORE, lake_io


@pytest.fixture
def lake(tmp_path, settings) -> Lake:
    return Lake(f"file://{tmp_path}", settings.lake)


def _fitted():
    X = np.arange(40, dtype=float).reshape(-1, 1)
    return build_pipeline("random_forest", {"n_estimators": 3, "max_depth": 3, "min_samples_split": 2}).fit(X, X[:, 0])


def _publish(lake, version, mse, champion_mse=None, champion_version=None):
    on_split = {"version": champion_version, "mse": champion_mse} if champion_version else None
    metrics = {"test": {"mse": mse, "mse_over_floor": mse / 25e6}, "champion_on_test_split": on_split}
    return publish_version(lake_io(lake), version, _fitted(), {"features": ["age"]}, metrics)


def test_publish_and_load_round_trip(lake):
    target = _publish(lake, "run:1", 30e6)
    folder = Path(target.removeprefix("file://"))
    assert folder.name == "run_1"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "metrics.json", "ml_model.pkl",
                                                        "model.joblib", "scaler.pkl"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == "run:1" and set(manifest["sha256"]) == {"model.joblib", "ml_model.pkl", "scaler.pkl"}
    model, loaded = load_version(lake_io(lake), "run:1")
    assert loaded == manifest
    assert model.predict(np.array([[10.0]]))[0] == pytest.approx(10.0, abs=5)
    assert not STORE.exists(lake.staging("register_model", "run:1"))  # published by renaming the staged folder


def test_a_published_version_is_never_replaced(lake):
    """A retry of the same run keeps the version its earlier attempt published (the champion
    pointer may name it already): no moment without a version, no version changing under it."""
    first = _publish(lake, "v1", 30e6)
    before = STORE.read_json(f"{first}/manifest.json")
    assert _publish(lake, "v1", 20e6) == first
    assert STORE.read_json(f"{first}/manifest.json") == before
    assert STORE.read_json(f"{first}/metrics.json")["test"]["mse"] == 30e6
    assert not STORE.exists(lake.staging("register_model", "v1"))


def test_tampered_artifact_is_refused(lake):
    target = _publish(lake, "v1", 30e6)
    artifact = Path(target.removeprefix("file://")) / "model.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match="refusing to load"):
        load_version(lake_io(lake), "v1")


@pytest.mark.parametrize(("candidate", "incumbent", "promoted"), [
    (30e6, None, True), (29e6, 30e6, True), (29.99e6, 30e6, False), (31e6, 30e6, False)])
def test_decide(candidate, incumbent, promoted):
    assert decide(candidate, incumbent, margin=0.001).promote is promoted


def test_gate_promotes_better_keeps_out_worse_and_records_everything(lake):
    _publish(lake, "v1", 30e6)
    assert promote(lake_io(lake), "v1", 0.001)["promoted"] is True
    assert champion(lake_io(lake))["version"] == "v1"
    _publish(lake, "v2", 31e6, champion_mse=30e6, champion_version="v1")
    record = promote(lake_io(lake), "v2", 0.001)
    assert record["promoted"] is False and "does not beat" in record["reason"]
    assert champion(lake_io(lake))["version"] == "v1"
    _publish(lake, "v3", 26e6, champion_mse=30.5e6, champion_version="v1")
    assert promote(lake_io(lake), "v3", 0.001)["promoted"] is True
    assert champion(lake_io(lake)) == {"version": "v3", "test_mse": 26e6, "path": lake.model_version("v3"),
                              "mse_over_floor": 26e6 / 25e6}
    models = Path(lake.models.removeprefix("file://"))
    assert sorted(p.name for p in (models / "decisions").iterdir()) == ["v1.json", "v2.json", "v3.json"]
    assert not list(models.glob(".*tmp*"))  # the pointer was replaced by rename, no temp file left


def test_gate_refuses_a_comparison_against_a_stale_champion(lake):
    _publish(lake, "v1", 30e6)
    promote(lake_io(lake), "v1", 0.001)
    _publish(lake, "v2", 20e6, champion_mse=30e6, champion_version="v0")
    with pytest.raises(RuntimeError, match="champion changed"):
        promote(lake_io(lake), "v2", 0.001)


def test_a_version_carries_its_extra_files_and_a_decision_its_trigger(lake):
    on_split = None
    metrics = {"test": {"mse": 30e6, "mse_over_floor": 1.2}, "champion_on_test_split": on_split}
    target = publish_version(lake_io(lake), "v1", _fitted(), {"features": ["age"]}, metrics,
                             {"_pictures/index.html": b"<html>"})
    assert Path(target.removeprefix("file://"), "_pictures", "index.html").read_bytes() == b"<html>"
    trigger = {"run_type": "asset_triggered", "events": [{"asset": "salary_model_health", "extra": {"drop": "d"}}]}
    record = promote(lake_io(lake), "v1", 0.001, trigger)
    assert record["trigger"] == trigger
    assert STORE.read_json(f"{lake.models}/decisions/v1.json")["trigger"] == trigger
