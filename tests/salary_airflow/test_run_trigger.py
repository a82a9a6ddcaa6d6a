"""What started a run, as promote_model records it in the decision."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from airflow.utils.types import DagRunType

from salary_airflow.assets.salary import run_trigger


def event(name: str, minute: int, **extra) -> SimpleNamespace:
    return SimpleNamespace(asset=SimpleNamespace(name=name), extra=extra,
                           timestamp=dt.datetime(2026, 11, 26, 6, minute, tzinfo=dt.UTC))


def test_a_manual_run_has_no_events():
    assert run_trigger(DagRunType.MANUAL, None) == {"run_type": "manual", "events": []}
    assert run_trigger("scheduled", {}) == {"run_type": "scheduled", "events": []}


def test_each_triggering_event_is_recorded_once_although_listed_under_several_keys():
    first, second = event("salary_model_health", 1, drop="d1"), event("salary_model_health", 2, drop="d2")
    by_key = {"salary_model_health": [first, second], "salary-lake://models/health": [first, second]}
    trigger = run_trigger(DagRunType.ASSET_TRIGGERED, by_key)
    assert trigger["run_type"] == "asset_triggered"
    assert trigger["events"] == [
        {"asset": "salary_model_health", "timestamp": "2026-11-26T06:01:00+00:00", "extra": {"drop": "d1"}},
        {"asset": "salary_model_health", "timestamp": "2026-11-26T06:02:00+00:00", "extra": {"drop": "d2"}}]
