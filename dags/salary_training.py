"""
### salary_training

Nightly: generate the synthetic salary dataset, clean it, and run the report's two queries,
each step a `spark-submit` of a job in `jobs/` on the `spark_default` connection.

```
generate_dataset -> etl_benchmark -> [top_earners, age_distribution]
```

| task | writes (below the lake root, Variable `lake_root`) |
|---|---|
| generate_dataset | `datasets/parquet_chunks/generated/` (skipped when identical) |
| etl_benchmark | `datasets/curated/<run>/`, `datasets/rejected/<run>/`, `reports/etl_benchmark/<run>/metrics.json` |
| top_earners | `reports/top_earners/<run>/` |
| age_distribution | `reports/age_distribution/<run>/` |

Trigger with params to change the dataset (`rows`, `seed`) or the queries (`top_n`, `k`).
Each task's log ends with the job's `JOB_SUMMARY {...}` line.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from airflow.sdk import DAG, Param
from operators.spark import SparkJobSubmitOperator

from salary.config import load_settings

REPO = Path(__file__).resolve().parents[1]
# Static settings only (a local TOML file): no connection, Variable or network at parse time.
SETTINGS = load_settings()
PY_FILES = str(REPO / "build" / "salary.zip")
RUN_ARGS = ["--lake-root", "{{ var.value.lake_root }}", "--run-id", "{{ run_id }}",
            "--config", str(SETTINGS.config_dir / "pipeline.toml")]


def spark_job(task_id: str, *args: str) -> SparkJobSubmitOperator:
    """A task that spark-submits ``jobs/<task_id>.py`` with this run's lake and id."""
    return SparkJobSubmitOperator(
        task_id=task_id,
        application=str(REPO / "jobs" / f"{task_id}.py"),
        py_files=PY_FILES,
        conn_id="spark_default",
        conf=SETTINGS.spark.conf,
        driver_memory=SETTINGS.spark.driver_memory,
        name=f"salary-{task_id}",
        application_args=[*RUN_ARGS, *args],
    )


with DAG(
    dag_id="salary_training",
    description="Spark data generation, ETL and queries for the salary model",
    doc_md=__doc__,
    schedule=SETTINGS.schedule.training,
    start_date=dt.datetime.combine(SETTINGS.schedule.start_date, dt.time(), tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["salary", "spark", "training"],
    default_args={
        "owner": "data-eng",
        "retries": SETTINGS.schedule.retries,
        "retry_delay": dt.timedelta(seconds=SETTINGS.schedule.retry_delay_seconds),
    },
    params={
        "rows": Param(SETTINGS.default_rows, type="integer", minimum=1000,
                      description="Distinct people to generate (raw rows add ~1% duplicates)"),
        "seed": Param(SETTINGS.default_seed, type="integer", minimum=0),
        "top_n": Param(SETTINGS.queries.top_n, type="integer", minimum=1),
        "k": Param(SETTINGS.queries.extreme_k, type="integer", minimum=1,
                   description="How many youngest and oldest active people to report"),
    },
) as dag:
    generate_dataset = spark_job("generate_dataset", "--rows", "{{ params.rows }}", "--seed", "{{ params.seed }}")
    etl_benchmark = spark_job("etl_benchmark")
    top_earners = spark_job("top_earners", "--top-n", "{{ params.top_n }}")
    age_distribution = spark_job("age_distribution", "--k", "{{ params.k }}")

    generate_dataset >> etl_benchmark >> [top_earners, age_distribution]
