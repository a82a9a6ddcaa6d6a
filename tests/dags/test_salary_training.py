from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models import DagBag

    # Airflow 3.3 dropped include_examples: examples follow [core] load_examples (off in our env).
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.get_dag("salary_training")


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "salary_training" in dagbag.dag_ids


def test_tasks_and_edges(dag):
    assert set(dag.task_ids) == {"generate_dataset", "etl_benchmark", "top_earners", "age_distribution"}
    edges = {(up, down) for down in dag.task_ids for up in dag.get_task(down).upstream_task_ids}
    assert edges == {("generate_dataset", "etl_benchmark"), ("etl_benchmark", "top_earners"),
                     ("etl_benchmark", "age_distribution")}


def test_schedule_and_run_policy(dag, settings):
    assert dag.schedule == settings.schedule.training == "0 2 * * *"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert {"salary", "spark"} <= set(dag.tags)
    assert "generate_dataset" in dag.doc_md


def test_every_task_retries_and_spark_submits_its_job(dag, settings):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    for task in dag.tasks:
        assert isinstance(task, SparkSubmitOperator)
        assert task.retries == settings.schedule.retries
        assert task.application.endswith(f"jobs/{task.task_id}.py")
        assert task.py_files.endswith("build/salary.zip")
        assert task._conn_id == "spark_default"
        args = task.application_args
        assert args[:4] == ["--lake-root", "{{ var.value.lake_root }}", "--run-id", "{{ run_id }}"]
        assert args[4] == "--config" and args[5] == str(settings.config_dir / "pipeline.toml")


def test_params_let_a_manual_trigger_change_the_run(dag, settings):
    params = dag.params
    assert params["rows"] == settings.default_rows
    assert params["seed"] == settings.default_seed
    assert set(params.keys()) == {"rows", "seed", "top_n", "k"}
    gen_args = dag.get_task("generate_dataset").application_args
    assert gen_args[6:] == ["--rows", "{{ params.rows }}", "--seed", "{{ params.seed }}"]
