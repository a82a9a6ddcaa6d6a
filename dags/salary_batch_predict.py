"""
### salary_batch_predict

Scores new data with the champion model whenever complete drops land in
`<lake>/drops/incoming/` (a Parquet file, or a folder of them with its `_SUCCESS`).

```
wait_for_drops (deferrable: DropsTrigger in the triggerer) -> predict (Ray job) -> publish
```

| task | does |
|---|---|
| wait_for_drops | lists `drops/incoming/` (WebHDFS via `webhdfs_default`, or the file lake) until complete drops appear; XCom: their names. Skipped when none arrives in time. |
| predict | Ray job `jobs/predict_drops.py` on `ray_default`: claims the drops (one rename each: overlapping runs never share a drop), validates, predicts in parallel Ray tasks, monitors drift (PSI) and, with true salaries, the live MSE; stages the outputs |
| publish | renames the staged outputs into `predictions/<drop>/` (`_SUCCESS` inside) and `drops/rejected/<drop>/` (with `_REASON.json`), then moves the drop to `drops/processed/` |

A crash anywhere leaves the drop claimed by the run; the task's retry resumes it, and another
run takes it over once the claim's lease (config `[predict]`) has expired.
"""

from __future__ import annotations

import datetime as dt
import shlex
from pathlib import Path

from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable
from operators.ray import RayJobOperator
from sensors.drops import DropSensor

from salary.config import load_settings
from salary.ray_runtime import job_runtime_env

REPO = Path(__file__).resolve().parents[1]
SETTINGS = load_settings()
P = SETTINGS.predict

with DAG(
    dag_id="salary_batch_predict",
    description="Batch predictions with the champion model on new drops in the lake",
    doc_md=__doc__,
    # No start_date, and run_immediately=timedelta(0): unpausing waits for the next cron time
    # instead of starting the most recent missed one at once (run_immediately=False still runs
    # it when it was missed by less than a tenth of the period, e.g. 2.4 h for a nightly cron).
    schedule=CronTriggerTimetable(P.schedule, timezone="UTC", run_immediately=dt.timedelta(0)),
    catchup=False,
    max_active_runs=P.max_active_runs,
    tags=["salary", "ray", "prediction"],
    # str(): tojson returns Markup, whose + would HTML-escape the quotes shlex adds.
    user_defined_filters={"shquote": lambda value: shlex.quote(str(value))},
    default_args={
        "owner": "data-eng",
        "retries": SETTINGS.schedule.retries,
        "retry_delay": dt.timedelta(seconds=SETTINGS.schedule.retry_delay_seconds),
    },
) as dag:
    wait_for_drops = DropSensor(
        task_id="wait_for_drops",
        incoming=f"{{{{ var.value.lake_root }}}}/{SETTINGS.lake.drops}/incoming",
        poke_interval=P.poke_interval_seconds,
        timeout=P.wait_timeout_seconds,
    )

    predict = RayJobOperator(
        task_id="predict",
        entrypoint=(
            "python jobs/predict_drops.py --lake-root '{{ var.value.lake_root }}' --run-id '{{ run_id }}' "
            "--config config/pipeline.toml "
            "--drops {{ ti.xcom_pull(task_ids='wait_for_drops') | tojson | shquote }}"
        ),
        runtime_env=job_runtime_env(REPO),
    )

    @task(task_id="publish")
    def publish(lake_root: str, run_id: str, job: dict) -> dict:
        """Make the staged predictions and rejections visible; retire the drops."""
        from salary.drops import publish_all
        from salary.lake import Lake
        from salary.runtime import emit_summary

        summary = publish_all(Lake(lake_root, SETTINGS.lake), run_id, job["drops"])
        emit_summary({"job": "publish", "run_id": run_id, **summary})
        return summary

    wait_for_drops >> predict
    publish(lake_root="{{ var.value.lake_root }}", run_id="{{ run_id }}", job=predict.output)
