"""salary_drops_window: a daily window in which the day's drops are awaited; its sensor's
success is an event of the drops asset (which starts salary_batch_predict)."""

from __future__ import annotations

from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_the_window_dag_waits_for_the_configured_window_and_emits_the_drops_asset(settings):
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS / "salary_drops_window.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag("salary_drops_window")
    (wait,) = dag.tasks
    assert type(wait).__name__ == "DropSensor" and wait.deferrable
    assert wait.timeout == settings.schedule.drops_window_minutes * 60
    assert wait.incoming == "{{ var.value.lake_root }}/drops/incoming"
    assert [a.name for a in wait.outlets] == ["salary_drops"]
    assert dag.is_paused_upon_creation is True
