"""
### salary_batch_predict

Scores new data with the champion model as soon as complete drops land in
`<lake>/drops/incoming/` (a Parquet file, or a folder of them with its `_SUCCESS`).

```
asset salary_drops (watcher: DropArrivalTrigger in the triggerer) | asset salary_champion
  -> find_drops -> predict (Ray job) -> publish -> draw
                                        publish -> asset salary_predictions
                                                -> asset salary_model_health (drift or degradation only)
```

Event-driven: the asset watcher lists `drops/incoming/` every few seconds (WebHDFS via
`webhdfs_default`, or the file lake) and each new complete drop fires one asset event, which
starts a run; nothing arriving starts nothing. A newly promoted champion starts a run too, so
drops that landed before any model existed are scored then. Trigger it by hand to process
whatever is waiting.

| task | does |
|---|---|
| find_drops | lists the complete drops waiting in `drops/incoming/` (all of them, not only the event's: a drop an event missed is taken too); skipped when another run took them first; fails with the cause when the watcher reported that listing keeps failing (a NameNode down is not an empty inbox) |
| predict | Ray job `jobs/predict_drops.py` on `ray_default` (deferred: no worker slot while it runs): claims the drops (one rename each: overlapping runs never share a drop), validates, predicts in parallel Ray tasks with the champion (asset `salary_champion`), monitors drift (PSI) and, with true salaries, the live MSE; stages the outputs |
| publish | renames the staged outputs into `predictions/<drop>/` (`_SUCCESS` inside) and `drops/rejected/<drop>/` (with `_REASON.json`), then moves the drop to `drops/processed/`; a drop that drifted (PSI above `[predict] psi_drift` on a feature, judged on drops of `psi_min_rows` rows or more; the run's smaller drops are judged pooled, as one sample, with the earlier runs' small drops no pool could judge yet, which wait in `models/salary/health/_pool/` for `psi_pool_max_age_hours`) or degraded (live MSE above `degraded_mse_over_test` x the model's test MSE) is an event of `salary_model_health` (which starts `salary_training`), with the drop, the PSI per feature and the live MSE in its extra, unless another came less than `[schedule] retrain_cooldown_minutes` before; every predicted drop's verdict goes to `models/salary/health/<drop>.json`, labelled rows to the raw chunk `datasets/parquet_chunks/labelled-<drop>/` (training data from then on) |
| draw | each predicted drop's pictures to `predictions/<drop>/_pictures/` (the log names them); a task of its own so that the predictions and the events above do not wait for them (a burst of hundreds of drops takes minutes to draw) |

A crash anywhere leaves the drop claimed by the run; the task's retry resumes it, and another
run takes it over once the claim's lease (config `[predict]`) has expired.
"""

from __future__ import annotations

import datetime as dt
import shlex
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from salary.config import load_settings
from salary.runtime.ray import job_runtime_env
from salary_airflow.assets.salary import CHAMPION, DROPS, MODEL_HEALTH, MODEL_HEALTH_ALIAS, PREDICTIONS
from salary_airflow.operators.jobs import RayPipelineJobOperator

REPO = Path(__file__).resolve().parents[1]
SETTINGS = load_settings()
P = SETTINGS.predict

with DAG(
    dag_id="salary_batch_predict",
    description="Batch predictions with the champion model on new drops in the lake",
    doc_md=__doc__,
    # New drops, or a new champion (drops that came before any model was promoted wait for it).
    schedule=(DROPS | CHAMPION),
    catchup=False,
    max_active_runs=P.max_active_runs,
    tags=["salary", "ray", "prediction"],
    # str(): tojson returns Markup, whose + would HTML-escape the quotes shlex adds.
    user_defined_filters={"shquote": lambda value: shlex.quote(str(value))},
    default_args=SETTINGS.schedule.task_defaults,
) as dag:

    @task(task_id="find_drops")
    def find_drops(lake_root: str, triggering_asset_events=None) -> list[str]:
        """The complete drops waiting now; the watcher's events only woke the run up."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from salary.drops.listing import list_complete
        from salary.lake import Lake
        from salary_airflow.triggers.drops import listing_failure

        drops = list_complete(Lake(lake_root, SETTINGS.lake).incoming)
        failure = listing_failure([e.extra for events in (triggering_asset_events or {}).values() for e in events])
        if drops:
            return drops
        if failure:
            raise AirflowFailException(failure)
        raise AirflowSkipException("no complete drop is waiting in drops/incoming/ (an earlier run took it)")

    predict = RayPipelineJobOperator(
        task_id="predict",
        entrypoint=(
            "python jobs/predict_drops.py --lake-root '{{ var.value.lake_root }}' --run-id '{{ run_id }}' "
            "--config config/pipeline.toml "
            "--drops {{ ti.xcom_pull(task_ids='find_drops') | tojson | shquote }}"
        ),
        runtime_env=job_runtime_env(REPO),
        wait_in_worker=dt.timedelta(seconds=P.wait_in_worker_seconds),
        inlets=[CHAMPION],
    )

    @task(task_id="publish", outlets=[PREDICTIONS, MODEL_HEALTH_ALIAS], inlets=[MODEL_HEALTH])
    def publish(lake_root: str, run_id: str, job: Any, outlet_events=None, inlet_events=None) -> dict:
        """Make the staged predictions and rejections visible; retire the drops; a drifted or
        degraded drop is an event of the model-health asset (one per cooldown)."""
        from salary.drops.health import carry_pool, judge_drops
        from salary.drops.publish import publish_all
        from salary.lake import open_lake
        from salary.runtime.job import task_summary

        lake = open_lake(lake_root, SETTINGS.lake)
        summary = publish_all(lake, run_id, job["drops"])
        last = inlet_events[MODEL_HEALTH].ascending(False).limit(1)
        now = dt.datetime.now(dt.UTC)
        alerts = judge_drops(lake, run_id, summary["drops"], last[0].timestamp if len(last) else None,
                             dt.timedelta(minutes=SETTINGS.schedule.retrain_cooldown_minutes),
                             P.degraded_mse_over_test, now=now, pooled=job.get("pooled_drift"))
        for alert in (a for a in alerts if a["event"]):
            outlet_events[MODEL_HEALTH_ALIAS].add(MODEL_HEALTH, extra=alert)
        pool = carry_pool(lake, run_id, summary["drops"], job.get("pooled_drift"), job.get("model_version"), now,
                          dt.timedelta(hours=P.psi_pool_max_age_hours))
        task_summary("publish", run_id, {**summary, "health_alerts": alerts, "drift_pool": pool})
        return summary

    @task(task_id="draw")
    def draw(lake_root: str, run_id: str, published: Any) -> dict:
        """Each predicted drop's pictures next to its published predictions."""
        from salary.drops.health import draw_drops
        from salary.lake import open_lake
        from salary.runtime.job import task_summary

        pictures = draw_drops(open_lake(lake_root, SETTINGS.lake), published["drops"], P.degraded_mse_over_test)
        undrawn = sorted(drop for drop, folder in pictures.items() if folder is None)
        task_summary("draw", run_id, {"drawn": len(pictures) - len(undrawn), "undrawn": undrawn})
        return pictures

    find_drops(lake_root="{{ var.value.lake_root }}") >> predict
    published = publish(lake_root="{{ var.value.lake_root }}", run_id="{{ run_id }}", job=predict.output)
    draw(lake_root="{{ var.value.lake_root }}", run_id="{{ run_id }}", published=published)
