from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

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


def job_flags(task, run_type: str = "manual") -> dict[str, str]:
    """The job's command line as spark-submit will pass it: the templates rendered, then read as
    ``--flag value`` pairs (every job argument is one)."""
    import jinja2
    from airflow.utils.types import DagRunType

    context = {"var": {"value": {"lake_root": "file:///lake"}}, "run_id": "manual__1",
               "params": {"rows": 1000, "seed": 7, "top_n": 5, "k": 3, "preset": "small"},
               "dag_run": SimpleNamespace(run_type=DagRunType(run_type))}
    args = [jinja2.Template(a).render(**context) for a in task.application_args]
    flags, values = args[::2], args[1::2]
    assert all(f.startswith("--") for f in flags) and len(flags) == len(values), args
    return dict(zip(flags, values, strict=True))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "salary_training" in dagbag.dag_ids


def test_tasks_and_edges(dag):
    assert set(dag.task_ids) == {"generate_dataset", "etl_benchmark", "top_earners", "age_distribution",
                                 "tune_model", "promote_model"}
    edges = {(up, down) for down in dag.task_ids for up in dag.get_task(down).upstream_task_ids}
    assert edges == {("generate_dataset", "etl_benchmark"), ("etl_benchmark", "top_earners"),
                     ("etl_benchmark", "age_distribution"), ("etl_benchmark", "tune_model"),
                     ("tune_model", "promote_model")}


def test_schedule_and_run_policy(dag, settings):
    assert dag.timetable.timetable.expression == settings.schedule.training == "0 2 * * *"
    # ... or on an event of the model-health asset (a drifted or degraded drop)
    assert dag.timetable.asset_condition.name == "salary_model_health"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert {"salary", "spark"} <= set(dag.tags)
    assert "generate_dataset" in dag.doc_md


def test_every_task_retries(dag, settings):
    assert {task.retries for task in dag.tasks} == {settings.schedule.retries}


def test_spark_tasks_submit_their_jobs(dag, settings):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    spark_tasks = [t for t in dag.tasks if isinstance(t, SparkSubmitOperator)]
    assert {t.task_id for t in spark_tasks} == {"generate_dataset", "etl_benchmark", "top_earners",
                                                "age_distribution"}
    for task in spark_tasks:
        assert task.application.endswith(f"jobs/{task.task_id}.py")
        assert task.py_files.endswith("build/salary.zip")
        flags = job_flags(task)
        assert flags["--lake-root"] == "file:///lake" and flags["--run-id"] == "manual__1"
        assert flags["--config"] == str(settings.config_dir / "pipeline.toml")


def test_spark_tasks_share_a_pool_the_deployment_creates(dag, settings):
    """Every Spark task runs in the Spark pool, which config/airflow_pools.json declares (a task
    in a pool that does not exist is never scheduled); the others stay in the default pool."""
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    from salary_airflow.pools import read_pools

    pools = read_pools(settings.config_dir / "airflow_pools.json")
    assert settings.spark.pool in pools
    for task in dag.tasks:
        expected = settings.spark.pool if isinstance(task, SparkSubmitOperator) else "default_pool"
        assert task.pool == expected, task.task_id


def test_params_let_a_manual_trigger_change_the_run(dag, settings):
    params = dag.params
    assert params["rows"] == settings.default_rows
    assert params["seed"] == settings.default_seed
    assert set(params.keys()) == {"rows", "seed", "top_n", "k", "preset"}
    assert params["preset"] == "default"
    flags = job_flags(dag.get_task("generate_dataset"))
    assert (flags["--rows"], flags["--seed"]) == ("1000", "7")
    assert job_flags(dag.get_task("top_earners"))["--top-n"] == "5"
    assert job_flags(dag.get_task("age_distribution"))["--k"] == "3"


@pytest.mark.parametrize(("run_type", "keep"), [("manual", "no"), ("scheduled", "no"), ("asset_triggered", "yes")])
def test_a_retrain_on_a_model_health_event_keeps_the_generated_dataset(dag, run_type, keep):
    assert job_flags(dag.get_task("generate_dataset"), run_type)["--keep-existing"] == keep


def test_tune_model_runs_the_ray_job_with_our_code(dag):
    from salary_airflow.operators.jobs import RayPipelineJobOperator

    task = dag.get_task("tune_model")
    assert isinstance(task, RayPipelineJobOperator) and task.deferrable
    assert task.ray_conn_id == "ray_default"
    assert task.entrypoint.startswith("python jobs/tune_model.py --lake-root '{{ var.value.lake_root }}'")
    assert "--preset '{{ params.preset }}'" in task.entrypoint
    env = task.runtime_env
    assert Path(env["working_dir"]) == DAGS.parent
    assert {".local", ".git", "tests"} <= set(env["excludes"])
