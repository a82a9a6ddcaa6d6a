"""Unpausing a DAG never starts a run by surprise: the first scheduled run is the next cron time
in the future, not the most recent one missed (which would start a nightly 30M-row run at once),
however soon after that cron time the DAG is unpaused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pendulum
import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


class Scheduled:
    """The DAGs as the scheduler sees them (serialized: core timetables that compute run times)."""

    def __init__(self, dagbag):
        self.dagbag = dagbag

    def get_dag(self, dag_id: str):
        from airflow.serialization.serialized_objects import DagSerialization

        return DagSerialization.from_dict(DagSerialization.to_dict(self.dagbag.get_dag(dag_id)))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models import DagBag

    return Scheduled(DagBag(dag_folder=str(DAGS)))


def first_run(dag, now: dt.datetime, monkeypatch) -> dt.datetime:
    """When the scheduler would start the first run of ``dag`` if it were unpaused at ``now``."""
    import airflow.timetables.trigger as trigger
    from airflow.timetables.base import TimeRestriction

    monkeypatch.setattr(trigger, "utcnow", lambda: pendulum.instance(now))
    info = dag.timetable.next_dagrun_info(last_automated_data_interval=None,
                                          restriction=TimeRestriction(dag.start_date, dag.end_date, dag.catchup))
    return info.run_after


@pytest.mark.parametrize("unpaused_at", ["02:00:30", "02:30:00", "04:00:00", "12:00:00", "01:59:00"])
def test_unpausing_training_waits_for_the_next_nightly_time(dagbag, settings, monkeypatch, unpaused_at):
    dag = dagbag.get_dag("salary_training")
    assert dag.timetable.timetable.summary == settings.schedule.training == "0 2 * * *" and dag.catchup is False
    assert dag.timetable.summary == "Asset or 0 2 * * *"  # ... or a model-health event
    now = dt.datetime.fromisoformat(f"2026-11-25T{unpaused_at}+00:00")
    run_after = first_run(dag, now, monkeypatch)
    assert run_after > now and (run_after.hour, run_after.minute) == (2, 0)
    assert run_after - now <= dt.timedelta(days=1)


def test_batch_predict_has_no_time_schedule_only_the_drops_asset(dagbag):
    """Unpausing it starts nothing by itself: only a drop event does."""
    dag = dagbag.get_dag("salary_batch_predict")
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    assert [asset.name for asset in dag.timetable.asset_condition.objects] == ["salary_drops", "salary_champion"]


def test_nightly_training_runs_at_its_cron_time_after_a_run(dagbag):
    from airflow.timetables.base import DataInterval, TimeRestriction

    dag = dagbag.get_dag("salary_training")
    last = dt.datetime.now(dt.UTC).replace(hour=2, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    info = dag.timetable.next_dagrun_info(last_automated_data_interval=DataInterval(last, last),
                                          restriction=TimeRestriction(dag.start_date, dag.end_date, dag.catchup))
    assert (info.run_after.hour, info.run_after.minute) == (2, 0) and info.run_after > last


def test_the_drops_window_opens_daily_at_its_configured_time(dagbag, settings, monkeypatch):
    dag = dagbag.get_dag("salary_drops_window")
    assert dag.timetable.summary == settings.schedule.drops_window == "0 6 * * *" and dag.catchup is False
    now = dt.datetime.fromisoformat("2026-11-25T07:00:00+00:00")
    assert first_run(dag, now, monkeypatch) == dt.datetime.fromisoformat("2026-11-26T06:00:00+00:00")
