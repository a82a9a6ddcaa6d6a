"""The burst benchmark's clock: a drop counts as published when its folder appears."""

from __future__ import annotations

import threading
import time

import pytest

from bench.bursts import watch_publications


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
