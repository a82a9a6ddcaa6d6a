from __future__ import annotations

import json
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dag():
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.get_dag("salary_batch_predict")


def test_tasks_and_edges(dag):
    edges = {(up, down) for down in dag.task_ids for up in dag.get_task(down).upstream_task_ids}
    assert edges == {("find_drops", "predict"), ("predict", "publish"), ("publish", "draw")}


def test_pictures_are_drawn_after_the_events_by_a_task_without_outlets(dag):
    """publish's asset events are sent when publish ends: drawing is not on their way."""
    assert dag.get_task("draw").outlets == [] and dag.get_task("draw").upstream_task_ids == {"publish"}


def test_runs_on_drop_events_from_a_watcher_on_the_drops_asset(dag, settings):
    asset, champion = dag.timetable.asset_condition.objects  # either one starts a run
    assert type(dag.timetable.asset_condition).__name__ == "AssetAny" and champion.name == "salary_champion"
    assert asset.name == "salary_drops" and asset.uri == "salary-lake://drops/incoming"
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "salary_airflow.triggers.drops.DropArrivalTrigger"
    assert kwargs == {"incoming": "drops/incoming", "lake_root_variable": "lake_root",
                      "webhdfs_conn_id": "webhdfs_default", "poke_interval": settings.predict.poke_interval_seconds,
                      "failures_before_alert": settings.predict.listing_failures_before_alert}
    assert dag.max_active_runs == settings.predict.max_active_runs >= 2 and dag.catchup is False


def test_lineage_champion_in_predictions_out(dag):
    assert [a.name for a in dag.get_task("predict").inlets] == ["salary_champion"]
    assert [a.name for a in dag.get_task("publish").outlets] == ["salary_predictions", "salary_model_health_alerts"]


def test_predict_is_a_deferrable_ray_job_that_waits_in_the_worker_first(dag, settings):
    predict = dag.get_task("predict")
    assert type(predict).__name__ == "RayPipelineJobOperator" and predict.deferrable is True
    assert predict.wait_in_worker.total_seconds() == settings.predict.wait_in_worker_seconds > 0


def test_drop_names_reach_the_ray_job_shell_quoted(dag):
    """The DAG's own entrypoint template, rendered with its own filters: hostile names stay one argument."""
    names = ["a b.parquet", "it's", "$(rm -rf x)&y"]
    predict = dag.get_task("predict")
    rendered = dag.get_template_env().from_string(predict.entrypoint).render(
        var={"value": {"lake_root": "file:///lake"}}, run_id="manual__1",
        ti=SimpleNamespace(xcom_pull=lambda task_ids: names if task_ids == "find_drops" else None))
    argv = shlex.split(rendered)
    assert argv[:2] == ["python", "jobs/predict_drops.py"]
    (drops,) = argv[argv.index("--drops") + 1:]
    assert json.loads(drops) == names
    assert argv[argv.index("--lake-root") + 1] == "file:///lake"
