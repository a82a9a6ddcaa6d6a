"""What the Salary pages read: names checked before they touch the lake, the model history and
a prediction run's verdicts, from a lake written by the pipeline's own registry and drop code."""

from __future__ import annotations

import pytest

from devtools.ui_lake import populate, prediction_run_id, training_run_id
from salary.lake import Lake, path_segment
from salary_airflow.ui import catalog
from salary_airflow.ui.catalog import NotFound
from tests.helpers import lake_io


@pytest.fixture(scope="module")
def lake(tmp_path_factory, settings):
    root = f"file://{tmp_path_factory.mktemp('ui')}/lake"
    populate(root, versions=6, drops=30, settings=settings)
    return lake_io(Lake(root, settings.lake))


@pytest.mark.parametrize("name", ["..", "../x", "a/../b", "/etc/passwd", "a/b", "a\x00b", ".hidden", "a b", "", "~root",
                                  "a%2Fb", "x" * 201, "a\\b"])
def test_names_that_could_reach_outside_one_entry_are_not_found(name):
    with pytest.raises(NotFound):
        catalog.checked_name(name, "drop")


@pytest.mark.parametrize("name", ["manual__2026-01-01T00:00:00+00:00", "drop-1.parquet", "v1"])
def test_run_ids_and_drop_names_pass(name):
    assert catalog.checked_name(name, "run") == name


def test_a_picture_outside_the_folder_or_of_another_kind_is_not_found(lake):
    version = path_segment(training_run_id(0))
    assert catalog.picture_uri(lake, "model", version, "test_predictions.png").endswith(
        f"{version}/_pictures/test_predictions.png")
    for kind, name, file in [("model", version, "index.html"), ("model", version, "missing.png"),
                             ("model", "..", "test_predictions.png"), ("curated", version, "test_predictions.png"),
                             ("drop", "drop-0000.parquet", "../../champion.png")]:
        with pytest.raises(NotFound):
            catalog.picture_uri(lake, kind, name, file)


def test_history_lists_every_version_oldest_first_with_its_decision(lake):
    history = catalog.history(lake)
    assert [v.version for v in history] == [path_segment(training_run_id(i)) for i in range(6)]
    assert history[0].promoted is True and history[0].reason == "no champion yet"
    assert [v.champion for v in history].count(True) == 1
    champion = next(v for v in history if v.champion)
    assert champion.promoted and champion.version == path_segment(catalog.champion(lake)["version"])
    assert history[0].trigger == "asset_triggered (salary_model_health)" and history[1].trigger == "scheduled"


def test_a_prediction_run_shows_each_drop_verdict_and_rejection(lake):
    run = catalog.prediction_run(lake, prediction_run_id(0))
    by_drop = {d["drop"]: d for d in run["drops"]}
    assert len(by_drop) == 10
    drifted = by_drop["drop-0009.parquet"]
    assert drifted["health"]["healthy"] is False and drifted["health"]["event"] is True
    assert drifted["health"]["reasons"] == ["PSI of age 0.900 above the threshold"]
    assert drifted["monitoring"]["drifted"] == ["age"] and "bins" not in drifted["monitoring"]
    assert drifted["pictures"] == ["distributions.png", "live_mse.png", "psi.png"]
    assert by_drop["drop-0000.parquet"]["health"]["healthy"] is True
    rejected = catalog.prediction_run(lake, prediction_run_id(2))["drops"][-6]
    assert rejected["drop"] == "drop-0024.parquet" and "not a readable Parquet file" in rejected["rejection"]["reason"]


def test_a_runs_small_drops_show_their_pooled_drift(lake):
    run = catalog.prediction_run(lake, prediction_run_id(1))
    assert run["pooled_drift"]["drops"] == ["drop-0013.parquet", "drop-0014.parquet"]
    small = next(d for d in run["drops"] if d["drop"] == "drop-0013.parquet")
    assert small["monitoring"]["note"].startswith("600 rows, fewer than the 1,000")
    assert small["health"]["healthy"] is False and small["health"]["pooled"] is True
    assert small["health"]["reasons"] == ["PSI of age 0.450 above the threshold on the 1,200 rows of 2 drops too "
                                          "small to judge alone, pooled"]
    assert catalog.prediction_run(lake, prediction_run_id(0))["pooled_drift"] is None


def test_an_unknown_run_shows_nothing_rather_than_failing(lake):
    assert catalog.prediction_run(lake, "manual__nothing")["drops"] == []
    assert catalog.training_run(lake, "manual__nothing") == {"run_id": "manual__nothing", "jobs": {}, "model": None}
