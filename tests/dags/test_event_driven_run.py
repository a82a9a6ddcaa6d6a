"""Both DAGs through a real Airflow deployment (api-server, scheduler, dag-processor, triggerer;
devtools/airflow_services.py) on the embedded default: salary_training triggered as a user would,
its promotion an event of the champion asset; then drops land (scripts/make_drop.py) and the
drops asset's watcher starts salary_batch_predict by itself, once per drop; then labelled drops
from a changed world: the first is a model-health event that retrains the model on them, the
second (inside the cooldown) starts nothing and shows the retrained champion's live MSE.

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

from devtools.airflow_services import airflow, airflow_services
from salary.lake import SUCCESS, Lake, path_segment
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


def make_drop(lake: Lake, name: str, rows: int, seed: int, *options: str) -> None:
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_drop.py"), name, "--rows", str(rows),
                    "--seed", str(seed), "--lake-root", lake.root, *options], check=True, capture_output=True,
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
        make_drop(lake, name, 2_000, 40 + i, "--no-salary")  # unlabelled: not training data
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
            "find_drops": "skipped", "predict": "skipped", "publish": "skipped", "draw": "skipped"}


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


BURST = [f"burst-{i:02d}" for i in range(12)]


@pytest.fixture(scope="module")
def burst(predicted, tmp_path_factory):
    """A burst at a small N: 12 complete drops made elsewhere, then moved into incoming/ within
    milliseconds (renames), as a producer flushing a backlog would; every run they start ends."""
    services, lake, _, _, _ = predicted
    runs_before = {r["run_id"] for r in services.runs("salary_batch_predict")}
    elsewhere = Lake(f"file://{tmp_path_factory.mktemp('producer')}/lake", lake.layout)
    for i, name in enumerate(BURST):
        make_drop(elsewhere, name, 500, 100 + i, "--no-salary")
    incoming = Path(lake.incoming.removeprefix("file://"))
    start = time.monotonic()
    for name in BURST:
        os.rename(Path(elsewhere.incoming.removeprefix("file://"), name), incoming / name)
    published = [Path(lake.predictions(name).removeprefix("file://"), SUCCESS) for name in BURST]
    wait_for(lambda: all(p.exists() for p in published), 600, "every drop of the burst to be published",
             interval=0.2)
    took = time.monotonic() - start
    wait_for(lambda: all(r["state"] in ("success", "failed") for r in services.runs("salary_batch_predict")), 300,
             "every run the burst started to end")
    time.sleep(3 * 5)  # the watcher keeps listing: nothing may start again
    print(f"\n{len(BURST)} drops of 500 rows moved into incoming/ at once -> all published in {took:.1f} s")
    return services, lake, [r for r in services.runs("salary_batch_predict") if r["run_id"] not in runs_before]


def test_a_burst_of_drops_is_predicted_exactly_once_and_no_run_is_left_behind(burst):
    services, lake, runs = burst
    assert runs and {r["state"] for r in runs} == {"success"}, runs  # none queued, running or failed
    manifests = {name: read_json(f"{lake.predictions(name)}/_MANIFEST.json") for name in BURST}
    assert {name: m["rows_predicted"] for name, m in manifests.items()} == dict.fromkeys(BURST, 500)
    assert {m["run"] for m in manifests.values()} <= {r["run_id"] for r in runs}  # by the runs it started
    processed = os.listdir(lake.processed.removeprefix("file://"))
    assert sorted(n for n in processed if n.startswith("burst-")) == BURST  # each moved on once
    # Nothing waiting, claimed or rejected: a second prediction of a published drop by another run
    # would have been refused into rejected/ with its reason.
    for folder in (lake.incoming, lake.rejected_drops, f"{lake.drops}/claimed"):
        local_folder = Path(folder.removeprefix("file://"))
        left = [p.name for p in local_folder.rglob("burst-*")] if local_folder.exists() else []
        assert left == [], (folder, left)


CHANGED_WORLD = ("--ages", "60-80", "--pay-rise", "60-80:25")  # an older population, paid 25% more


def read_json(uri: str) -> dict:
    return json.loads(Path(uri.removeprefix("file://")).read_text())


@pytest.fixture(scope="module")
def drifted(predicted):
    """Labelled drops from a changed world: the first is an event that retrains the model; the
    second, inside the cooldown, starts nothing and is predicted by the retrained champion."""
    services, lake, _, _, _ = predicted
    predict_runs = len(services.runs("salary_batch_predict"))
    make_drop(lake, "drop-changed-1", 4_000, 60, *CHANGED_WORLD)
    wait_for(Path(lake.predictions("drop-changed-1").removeprefix("file://"), SUCCESS).exists, 600,
             "drop-changed-1", interval=0.2)
    services.wait_for_runs("salary_batch_predict", predict_runs + 1, timeout=120)
    training = services.wait_for_runs("salary_training", 2, timeout=1200)
    # The promotion is an event of salary_champion: one more (empty) prediction run.
    services.wait_for_runs("salary_batch_predict", predict_runs + 2, timeout=120)
    make_drop(lake, "drop-changed-2", 4_000, 61, *CHANGED_WORLD)
    wait_for(Path(lake.predictions("drop-changed-2").removeprefix("file://"), SUCCESS).exists, 600,
             "drop-changed-2", interval=0.2)
    services.wait_for_runs("salary_batch_predict", predict_runs + 3, timeout=120)
    time.sleep(20)  # the scheduler would have queued a training run for an event by now
    return services, lake, training, services.runs("salary_training")


def test_the_changed_world_is_one_event_of_the_model_health_asset(drifted):
    services, lake, _, _ = drifted
    (event,) = asset_events(services, "salary_model_health")
    assert event["source_task_id"] == "publish"
    extra = event["extra"]
    assert extra["drop"] == "drop-changed-1" and extra["drifted_features"] == ["age"] and extra["event"], extra
    assert extra["psi"]["age"] > 0.25 and extra["psi"]["is_active"] < 0.1
    assert extra["live_mse_over_test"] > 1.5  # and the pay rise: degraded
    print(f"\ndrift event: PSI {extra['psi']}, live MSE {extra['live_mse_over_test']:.2f} x the test MSE")
    for healthy in ("drop-a", "drop-b"):
        assert read_json(lake.health_record(healthy))["healthy"] is True
    inside = read_json(lake.health_record("drop-changed-2"))
    assert inside["healthy"] is False and inside["event"] is False and inside["why"].startswith("cooldown"), inside


def test_the_event_retrains_and_the_gate_records_it(drifted):
    services, lake, training, runs_now = drifted
    retrain = [r for r in training if r["run_id"].startswith("asset_triggered__")]
    assert len(retrain) == 1 and retrain[0]["state"] == "success", training
    assert len(runs_now) == 2, runs_now  # drop-changed-2 (inside the cooldown) started nothing
    decision = read_json(f"{lake.models}/decisions/{path_segment(retrain[0]['run_id'])}.json")
    assert decision["promoted"] is True, decision
    assert decision["trigger"]["run_type"] == "asset_triggered"
    (cause,) = decision["trigger"]["events"]
    assert cause["asset"] == "salary_model_health" and cause["extra"]["drop"] == "drop-changed-1"
    etl = read_json(f"{lake.report('etl_benchmark', retrain[0]['run_id'])}/metrics.json")
    assert etl["labelled_rows_out"] == 4_000 and etl["rows_in"] == etl["rows_out"] + etl[
        "rows_rejected"] + etl["duplicates_dropped"]
    # The retrain kept the 20,000 generated people (its params are the 30M defaults).
    assert 19_000 < etl["rows_out"] - etl["labelled_rows_out"] <= 20_000


def test_the_retrained_champion_predicts_the_changed_world_clearly_better(drifted):
    _, lake, _, _ = drifted
    before = read_json(f"{lake.predictions('drop-changed-1')}/_MANIFEST.json")
    after = read_json(f"{lake.predictions('drop-changed-2')}/_MANIFEST.json")
    assert after["model_version"] != before["model_version"]
    old, new = before["live"]["mse_over_floor"], after["live"]["mse_over_floor"]
    print(f"\nlive MSE / noise floor on the changed world: old champion {old:.2f}, retrained {new:.2f}")
    assert new < old / 3 and new < 2.5, (old, new)


def test_every_run_and_drop_leaves_its_pictures(drifted):
    _, lake, training, _ = drifted
    for run in training:
        pictures = Path(lake.model_version(run["run_id"]).removeprefix("file://"), "_pictures")
        assert {p.name for p in pictures.iterdir()} == {"index.html", "predicted_vs_actual.png",
                                                        "error_by_age_band.png", "trials.png", "stage_timings.png"}
    for drop, labelled in (("drop-a", False), ("drop-changed-1", True), ("drop-changed-2", True)):
        pictures = Path(lake.predictions(drop).removeprefix("file://"), "_pictures")
        assert {p.name for p in pictures.iterdir()} == {"index.html", "psi.png", "distributions.png",
                                                        *(["live_mse.png"] if labelled else [])}


SMALL = [f"small-changed-{i}" for i in range(3)]


@pytest.fixture(scope="module")
def pooled(drifted, tmp_path_factory):
    """Three unlabelled drops from the changed world, each too small to be judged alone (700 rows),
    moved into incoming/ at once (inside the cooldown of drop-changed-1's event)."""
    services, lake, _, _ = drifted
    runs_before = {r["run_id"] for r in services.runs("salary_batch_predict")}
    elsewhere = Lake(f"file://{tmp_path_factory.mktemp('small')}/lake", lake.layout)
    for i, name in enumerate(SMALL):
        make_drop(elsewhere, name, 700, 200 + i, "--no-salary", "--ages", "60-80")
    for name in SMALL:
        os.rename(Path(elsewhere.incoming.removeprefix("file://"), name),
                  Path(lake.incoming.removeprefix("file://"), name))
    published = [Path(lake.predictions(name).removeprefix("file://"), SUCCESS) for name in SMALL]
    wait_for(lambda: all(p.exists() for p in published), 600, "the small drops to be published", interval=0.2)
    wait_for(lambda: all(r["state"] in ("success", "failed") for r in services.runs("salary_batch_predict")), 300,
             "their runs to end")
    return services, lake, [r for r in services.runs("salary_batch_predict") if r["run_id"] not in runs_before]


def test_small_drops_of_a_changed_world_drift_together(pooled):
    """None is judged alone; the run's pool of them drifted on age, and each pooled drop's health
    record says so (no second event: drop-changed-1's cooldown)."""
    services, lake, runs = pooled
    assert runs and {r["state"] for r in runs} == {"success"}, runs
    summaries = [read_json(f"{lake.report('predict_drops', r['run_id'])}/summary.json") for r in runs]
    pools = [s["pooled_drift"] for s in summaries if s.get("pooled_drift")]
    assert pools and all(p["drifted"] == ["age"] and p["rows"] >= 1_400 for p in pools), pools
    for name in (drop for pool in pools for drop in pool["drops"]):
        monitoring = read_json(f"{lake.predictions(name)}/monitoring.json")
        assert monitoring["judged"] is False and monitoring["drifted"] == [] and monitoring["psi"]["age"] > 0.25
        record = read_json(lake.health_record(name))
        assert record["healthy"] is False and record["pooled"] is True and record["reasons"][-1].endswith("pooled")
        assert record["event"] is False and record["why"].startswith("cooldown"), record
    print(f"\nsmall drops pooled: {[(p['drops'], p['rows'], p['psi']) for p in pools]}")
    assert len(asset_events(services, "salary_model_health")) == 1


TRICKLE = [f"trickle-{i}" for i in range(2)]


@pytest.fixture(scope="module")
def trickled(pooled):
    """Two more small drops of the changed world (600 rows), the second moved into incoming/
    after the first's run ended: no run holds both."""
    services, lake, _ = pooled
    runs_before = {r["run_id"] for r in services.runs("salary_batch_predict")}
    for i, name in enumerate(TRICKLE):
        make_drop(lake, name, 600, 300 + i, "--no-salary", "--ages", "60-80")
        wait_for(Path(lake.predictions(name).removeprefix("file://"), SUCCESS).exists, 600, f"{name} to be published",
                 interval=0.2)
        wait_for(lambda: all(r["state"] in ("success", "failed") for r in services.runs("salary_batch_predict")),
                 300, f"{name}'s run to end")
    return services, lake, [r for r in services.runs("salary_batch_predict") if r["run_id"] not in runs_before]


def test_small_drops_of_separate_runs_drift_together(trickled):
    """A small drop no pool could judge waits in the lake for a later run's pool: the two runs'
    drops (with a small drop the pooled phase left waiting, if any) are judged as one sample,
    an earlier run's drop marked by the later run; whatever is still waiting was never judged."""
    services, lake, runs = trickled
    assert len(runs) == 2 and {r["state"] for r in runs} == {"success"}, runs
    pools = [p for r in runs if (p := read_json(f"{lake.report('predict_drops', r['run_id'])}/summary.json")
                                 .get("pooled_drift"))]
    (pool,) = [p for p in pools if p["judged"]]
    assert pool["carried"] and set(pool["carried"]) < set(pool["drops"]) and pool["drifted"] == ["age"], pool
    assert set(pool["drops"]) & set(TRICKLE), pool
    for name in pool["drops"]:
        record = read_json(lake.health_record(name))
        assert record["healthy"] is False and record["pooled"] is True, record
        if name in pool["carried"]:
            assert record["pooled_by"] in {r["run_id"] for r in runs}, record
    waiting = Path(lake.drift_pool.removeprefix("file://"))
    left = sorted(p.name.removesuffix(".json") for p in waiting.iterdir()) if waiting.exists() else []
    assert not set(left) & set(pool["drops"]) and set(TRICKLE) <= {*pool["drops"], *left}, (left, pool)
    for name in left:
        assert read_json(lake.health_record(name))["healthy"] is True
