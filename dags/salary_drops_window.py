"""
### salary_drops_window

For producers that deliver in a time window: every day from `[schedule] drops_window` (06:00
UTC), wait up to `drops_window_minutes` (2 h) for complete drops in `<lake>/drops/incoming/`.
Drops that arrive are an event of asset `salary_drops`, which starts `salary_batch_predict`;
**none by the end of the window fails this run** (`AirflowSensorTimeout`, not retried), so a
missing delivery is visible and can alert. The wait is deferred (`DropSensor` ->
`DropsTrigger` in the triggerer, WebHDFS through `webhdfs_default`): no worker slot is held.

Paused by default: `salary_batch_predict`'s drop watcher already starts a run for every drop,
at any hour. Unpause this DAG when missing deliveries should fail a run, or use it instead of
the watcher (recipe: docs/pipeline.md, "Waiting for drops in a time window").

```
wait_for_drops (DropSensor, outlets: asset salary_drops)
```
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, CronTriggerTimetable

from salary.config import load_settings
from salary_airflow.assets.salary import DROPS
from salary_airflow.sensors.drops import DropSensor

SETTINGS = load_settings()
S = SETTINGS.schedule

with DAG(
    dag_id="salary_drops_window",
    description="Wait for the day's drops within a time window; none is a failed run",
    doc_md=__doc__,
    # Unpausing starts nothing at once: the first window is the next one.
    schedule=CronTriggerTimetable(S.drops_window, timezone="UTC", run_immediately=dt.timedelta(0)),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    tags=["salary", "prediction"],
    default_args=S.task_defaults,
) as dag:
    DropSensor(
        task_id="wait_for_drops",
        incoming="{{ var.value.lake_root }}/drops/incoming",
        timeout=dt.timedelta(minutes=S.drops_window_minutes).total_seconds(),
        poke_interval=SETTINGS.predict.poke_interval_seconds,
        failures_before_alert=SETTINGS.predict.listing_failures_before_alert,
        outlets=[DROPS],
    )
