"""
### salary_training

Nightly, or on an event of `salary_model_health` (a drifted or degraded drop, at most one per
cooldown): generate the synthetic salary dataset, clean it with the labelled drops, run the report's two queries
(each a `spark-submit` of a job in `jobs/` on the `spark_default` connection), then tune and
train the salary model with Ray Tune on the `ray_default` cluster (Ray Jobs API) and promote
it if it beats the champion on the same test rows.

```
generate_dataset -> etl_benchmark -> [top_earners, age_distribution]
                                  -> tune_model -> promote_model
```

The Spark tasks run in the pool `spark_jobs` (Admin > Pools; one slot by default), so the two
queries run one after the other while tune_model runs: one Spark driver at a time.

| task | writes (below the lake root, Variable `lake_root`) |
|---|---|
| generate_dataset | `datasets/parquet_chunks/generated/` (skipped when identical; a run started by a model-health event keeps the one there) |
| etl_benchmark | curates `parquet_chunks/generated/` and the labelled drops' `parquet_chunks/labelled-<drop>/` into `datasets/curated/<run>/`, `datasets/rejected/<run>/`, `reports/etl_benchmark/<run>/metrics.json`; asset `salary_curated` |
| top_earners | `reports/top_earners/<run>/` |
| age_distribution | `reports/age_distribution/<run>/` |
| tune_model | `models/salary/<run>/` (model.joblib, ml_model.pkl, scaler.pkl, metrics, manifest, `_pictures/`); labelled rows weigh `[model] labelled_share` of the fit |
| promote_model | `models/salary/champion` (only if better), `models/salary/decisions/<run>.json` (with what started the run); asset `salary_champion` when it promotes (which starts `salary_batch_predict` for drops waiting) |

Trigger with params to change the dataset (`rows`, `seed`), the queries (`top_n`, `k`) or
the search (`preset`: `default`, or `paper` for the report's own grid search).
Each task's log ends with the job's `JOB_SUMMARY {...}` line; each Spark task's log names its
application, and its "Spark application" link opens it in the Spark History Server. tune_model defers while its Ray
job runs (no worker slot held); its "Ray job" link opens the job in the Ray dashboard.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, task

from salary.config import load_settings
from salary.runtime.ray import job_runtime_env
from salary_airflow.assets.salary import CHAMPION, CHAMPION_ALIAS, CURATED, MODEL_HEALTH, run_trigger
from salary_airflow.operators.jobs import RayPipelineJobOperator
from salary_airflow.operators.spark import SparkJobSubmitOperator

REPO = Path(__file__).resolve().parents[1]
# Static settings only (a local TOML file): no connection, Variable or network at parse time.
SETTINGS = load_settings()
PY_FILES = str(REPO / "build" / "salary.zip")
RAY_RUNTIME_ENV = job_runtime_env(REPO)
RUN_ARGS = ["--lake-root", "{{ var.value.lake_root }}", "--run-id", "{{ run_id }}",
            "--config", str(SETTINGS.config_dir / "pipeline.toml")]
# Every application's event log goes to the lake (the History Server's log directory).
SPARK_CONF = {**SETTINGS.spark.conf, **SETTINGS.spark.event_log,
              "spark.eventLog.dir": f"{{{{ var.value.lake_root }}}}/{SETTINGS.lake.spark_events}"}


def spark_job(task_id: str, *args: str, **kwargs: Any) -> SparkJobSubmitOperator:
    """A task that spark-submits ``jobs/<task_id>.py`` with this run's lake and id, in the Spark
    pool (one application at a time by default)."""
    return SparkJobSubmitOperator(
        **kwargs,
        task_id=task_id,
        pool=SETTINGS.spark.pool,
        application=str(REPO / "jobs" / f"{task_id}.py"),
        py_files=PY_FILES,
        conn_id="spark_default",
        conf=SPARK_CONF,
        driver_memory=SETTINGS.spark.driver_memory,
        name=f"salary-{task_id}",
        application_args=[*RUN_ARGS, *args],
        lake_root="{{ var.value.lake_root }}",
    )


with DAG(
    dag_id="salary_training",
    description="Spark data generation, ETL and queries for the salary model",
    doc_md=__doc__,
    # No start_date, and run_immediately=timedelta(0): unpausing waits for the next cron time
    # instead of starting the most recent missed one at once (run_immediately=False still runs
    # it when it was missed by less than a tenth of the period, e.g. 2.4 h for a nightly cron).
    # Nightly, or on an event of salary_model_health (a drifted or degraded drop; at most one per
    # cooldown): a retrain on the data including the labelled drops.
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(SETTINGS.schedule.training, timezone="UTC", run_immediately=dt.timedelta(0)),
        assets=MODEL_HEALTH,
    ),
    catchup=False,
    max_active_runs=1,
    tags=["salary", "spark", "training"],
    default_args=SETTINGS.schedule.task_defaults,
    params={
        "rows": Param(SETTINGS.default_rows, type="integer", minimum=1000,
                      description="Distinct people to generate (raw rows add ~1% duplicates)"),
        "seed": Param(SETTINGS.default_seed, type="integer", minimum=0),
        "top_n": Param(SETTINGS.queries.top_n, type="integer", minimum=1),
        "k": Param(SETTINGS.queries.extreme_k, type="integer", minimum=1,
                   description="How many youngest and oldest active people to report"),
        "preset": Param("default", type="string", enum=sorted(SETTINGS.presets),
                        description="Hyperparameter search preset (config/search_spaces.toml)"),
    },
) as dag:
    # A retrain on a model-health event learns from the labelled drops: it keeps the generated
    # dataset there is (its params are the defaults, which may differ from what was generated).
    generate_dataset = spark_job("generate_dataset", "--rows", "{{ params.rows }}", "--seed", "{{ params.seed }}",
                                 "--keep-existing", "{{ 'yes' if dag_run.run_type == 'asset_triggered' else 'no' }}")
    etl_benchmark = spark_job("etl_benchmark", outlets=[CURATED])
    top_earners = spark_job("top_earners", "--top-n", "{{ params.top_n }}")
    age_distribution = spark_job("age_distribution", "--k", "{{ params.k }}")

    tune_model = RayPipelineJobOperator(
        task_id="tune_model",
        entrypoint=(
            "python jobs/tune_model.py --lake-root '{{ var.value.lake_root }}' --run-id '{{ run_id }}' "
            "--config config/pipeline.toml --preset '{{ params.preset }}'"
        ),
        runtime_env=RAY_RUNTIME_ENV,
        inlets=[CURATED],
    )

    @task(task_id="promote_model", outlets=[CHAMPION_ALIAS])
    def promote_model(lake_root: str, run_id: str, outlet_events=None, dag_run=None,
                      triggering_asset_events=None) -> dict:
        """Make this run's model the champion if it beats the current one on the same test rows;
        a promotion (only) is an event of the salary_champion asset. The decision records what
        started the run (schedule, a user, or the model-health events it answers)."""
        from salary.lake import open_lake
        from salary.model.registry import promote
        from salary.runtime.job import task_summary

        decision = promote(open_lake(lake_root, SETTINGS.lake), run_id,
                           SETTINGS.model.promotion_margin, run_trigger(dag_run.run_type, triggering_asset_events))
        if decision["promoted"]:
            outlet_events[CHAMPION_ALIAS].add(CHAMPION, extra=decision)
        task_summary("promote_model", run_id, decision)
        return decision

    generate_dataset >> etl_benchmark >> [top_earners, age_distribution]
    etl_benchmark >> tune_model >> promote_model(lake_root="{{ var.value.lake_root }}", run_id="{{ run_id }}")
