"""The burst benchmark's clocks: a drop counts as published when its folder appears; a training
run is timed from its trigger, its time in the queue and the runs in its way included."""

from __future__ import annotations

import threading
import time

import pytest

import bench.bursts
from bench.bursts import training_seconds, watch_publications


def test_each_drop_is_timed_when_its_folder_appears_not_by_its_files_times(tmp_path):
    predictions = tmp_path / "predictions"
    start = time.time()

    def publish() -> None:
        time.sleep(0.3)
        (tmp_path / "staged").mkdir()
        (tmp_path / "staged" / "_SUCCESS").touch()  # written early, in staging
        predictions.mkdir()
        (predictions / "other").mkdir()  # not one of the burst's
        (predictions / "a").mkdir()
        time.sleep(0.5)
        (tmp_path / "staged").rename(predictions / "b")  # a rename keeps _SUCCESS's early time

    thread = threading.Thread(target=publish)
    thread.start()
    seen = watch_publications(predictions, ["a", "b"], start, timeout=30)
    thread.join()
    assert set(seen) == {"a", "b"}
    assert 0.3 <= seen["a"] < seen["b"] and seen["b"] - seen["a"] >= 0.4


def test_drops_never_published_end_the_wait_with_how_many(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(TimeoutError, match="1 of 2 drops not published"):
        watch_publications(tmp_path, ["a", "b"], time.time(), timeout=0.5)


def test_a_training_run_is_timed_from_its_trigger_and_names_the_run_it_queued_behind(monkeypatch):
    mine = {"run_id": "mine", "run_type": "manual", "state": "success", "queued_at": "2026-12-05T02:03:20+00:00",
            "start_date": "2026-12-05T02:07:00+00:00", "end_date": "2026-12-05T02:08:17+00:00"}
    retrain = {"run_id": "asset_triggered__x", "run_type": "asset_triggered", "state": "success",
               "start_date": "2026-12-05T02:03:12+00:00", "end_date": "2026-12-05T02:06:59+00:00"}
    before = {"run_id": "alone", "run_type": "manual", "state": "success",
              "start_date": "2026-12-05T02:00:00+00:00", "end_date": "2026-12-05T02:01:00+00:00"}
    monkeypatch.setattr(bench.bursts, "runs", lambda stack, dag_id: [mine, retrain, before])
    timed = training_seconds(None, "mine")  # type: ignore[arg-type]
    assert (timed["seconds"], timed["queued_seconds"]) == (297.0, 220.0)
    assert [r["run_id"] for r in timed["runs_beside"]] == ["asset_triggered__x"]
