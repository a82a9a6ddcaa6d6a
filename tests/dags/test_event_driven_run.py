"""Both DAGs through a real Airflow deployment (api-server, scheduler, dag-processor, triggerer;
tests/airflow_services.py) on the embedded default: salary_training triggered as a user would,
its promotion an event of the champion asset; then drops land (scripts/make_drop.py) and the
drops asset's watcher starts salary_batch_predict by itself, once per drop.

Measured here and printed: drop complete -> predictions/<drop>/_SUCCESS through the real
scheduler and triggerer (warm), and the runs' task states.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from salary.lake import SUCCESS, Lake
from tests.airflow_services import airflow, airflow_services
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def api(services, path: str) -> dict:
    with urllib.request.urlopen(f"{services.base_url}/api/v2/{path}", timeout=30) as resp:
        return json.loads(resp.read())


def asset_events(services, name: str) -> list[dict]:
    # only_active=false: an asset emitted only through an alias is referenced by no DAG yet
    (asset,) = [a for a in api(services, "assets?limit=100&only_active=false")["assets"] if a["name"] == name]
    return api(services, f"assets/events?asset_id={asset['id']}&limit=100")["asset_events"]


def make_drop(lake: Lake, name: str, rows: int, seed: int, *world: str) -> None:
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_drop.py"), name, "--rows", str(rows),
                    "--seed", str(seed), "--lake-root", lake.root, *world], check=True, capture_output=True,
                   timeout=300)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, settings, ray_cluster):
    root = tmp_path_factory.mktemp("events")
    lake = Lake(f"file://{root}/lake", settings.lake)
    with airflow_services(root / "home", REPO / "dags", AIRFLOW_VAR_LAKE_ROOT=lake.root,
                          SALARY_LAKE_ROOT=lake.root) as services:
        services.wait_for_dag("salary_training")
        airflow(services.env, "dags", "trigger", "salary_training", "-c", json.dumps({"rows": 20_000, "seed": 3}))
        (training,) = services.wait_for_runs("salary_training", 1, timeout=900)
        services.wait_for_dag("salary_batch_predict")
        yield services, lake, training


def test_training_promotes_and_the_champion_asset_gets_an_event(deployment):
    services, lake, training = deployment
    assert training["state"] == "success", services.task_states("salary_training", training["run_id"])
    (event,) = asset_events(services, "salary_champion")
    assert event["source_dag_id"] == "salary_training" and event["source_task_id"] == "promote_model"
    assert event["extra"]["promoted"] is True and event["extra"]["version"] == training["run_id"]
    assert [e["source_task_id"] for e in asset_events(services, "salary_curated")] == ["etl_benchmark"]


@pytest.fixture(scope="module")
def predicted(deployment):
    """Two drops, one after the other; each must start one run by itself."""
    services, lake, _ = deployment
    wait_for(lambda: "for complete drops every" in services.log("triggerer"), 180, "the drop watcher to start")
    time.sleep(3 * 5)  # a few listings of the empty inbox: nothing may start
    runs_before = services.runs("salary_batch_predict")
    latencies = {}
    for i, name in enumerate(["drop-a", "drop-b"]):
        make_drop(lake, name, rows=2_000, seed=40 + i)
        complete = time.monotonic()
        success = Path(lake.predictions(name).removeprefix("file://"), SUCCESS)
        wait_for(success.exists, 600, f"{success}", interval=0.1)
        latencies[name] = time.monotonic() - complete
        services.wait_for_runs("salary_batch_predict", len(runs_before) + i + 1, timeout=120)
    time.sleep(3 * 5)  # the watcher keeps listing: no further run may start
    print(f"\ndrop complete -> published _SUCCESS through the scheduler and triggerer: {latencies}")
    before = {r["run_id"] for r in runs_before}
    after = [r for r in services.runs("salary_batch_predict") if r["run_id"] not in before]
    return services, lake, runs_before, after, latencies


def test_nothing_arriving_predicts_nothing(predicted):
    """Before the drops, only the champion's promotion may have started a run: it found no drop."""
    services, _, runs_before, _, _ = predicted
    assert len(runs_before) <= 1, runs_before
    for run in runs_before:
        assert services.task_states("salary_batch_predict", run["run_id"]) == {
            "find_drops": "skipped", "predict": "skipped", "publish": "skipped"}


def test_each_drop_starts_exactly_one_run_that_predicts_it(predicted):
    services, lake, _, runs, _ = predicted
    assert len(runs) == 2 and {r["state"] for r in runs} == {"success"}, runs
    for run in runs:
        assert run["run_id"].startswith("asset_triggered__"), run
        assert set(services.task_states("salary_batch_predict", run["run_id"]).values()) == {"success"}
    for name in ("drop-a", "drop-b"):
        manifest = json.loads(Path(lake.predictions(name).removeprefix("file://"), "_MANIFEST.json").read_text())
        assert manifest["rows_predicted"] == 2_000, manifest
        assert os.path.isdir(Path(lake.processed.removeprefix("file://"), name))
    (event,) = [e for e in asset_events(services, "salary_drops") if e["extra"]["payload"]["drops"] == ["drop-a"]]
    assert event["extra"]["from_trigger"] is True
    assert [e["source_task_id"] for e in asset_events(services, "salary_predictions")] == ["publish", "publish"]


@pytest.fixture(scope="module")
def drifted(predicted):
    """A drop from an older population than the champion was trained on (ages 60-80 only)."""
    services, lake, _, _, _ = predicted
    runs_before = len(services.runs("salary_batch_predict"))
    make_drop(lake, "drop-older", 2_000, 60, "--ages", "60-80")
    wait_for(Path(lake.predictions("drop-older").removeprefix("file://"), SUCCESS).exists, 600, "drop-older",
             interval=0.2)
    services.wait_for_runs("salary_batch_predict", runs_before + 1, timeout=120)
    return services


def test_only_the_drifted_drop_is_an_event_of_the_model_health_asset(drifted):
    (event,) = asset_events(drifted, "salary_model_health")
    assert event["source_task_id"] == "publish"
    extra = event["extra"]
    assert extra["drop"] == "drop-older" and extra["drifted_features"] == ["age"], extra
    assert extra["psi"]["age"] > 0.25 and extra["psi"]["is_active"] < 0.1
    assert extra["live_mse"] > 0 and extra["live_mse_over_test"] < 1.5  # same salary relation: drift, no decay
