from __future__ import annotations

import json
import shlex
from pathlib import Path

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
    assert edges == {("wait_for_drops", "predict"), ("predict", "publish")}


def test_sensor_is_deferrable_and_skips_when_nothing_arrives(dag, settings):
    sensor = dag.get_task("wait_for_drops")
    assert type(sensor).__name__ == "DropSensor"
    assert sensor.deferrable is True and sensor.soft_fail is True
    assert sensor.timeout == settings.predict.wait_timeout_seconds
    assert sensor.poke_interval == settings.predict.poke_interval_seconds
    assert sensor.incoming == "{{ var.value.lake_root }}/drops/incoming"


def test_schedule_allows_overlapping_runs(dag, settings):
    assert dag.timetable.summary == settings.predict.schedule
    assert dag.max_active_runs == settings.predict.max_active_runs >= 2
    assert dag.catchup is False


def test_drop_names_reach_the_ray_job_shell_quoted(dag):
    env = dag.get_template_env()
    names = ["a b.parquet", "it's", "$(rm -rf x)&y"]
    rendered = env.from_string("--drops {{ drops | tojson | shquote }}").render(drops=names)
    argv = shlex.split(rendered)
    assert argv[0] == "--drops" and len(argv) == 2 and json.loads(argv[1]) == names
