"""The cluster test's reading of a task log from the REST API (``devtools.cluster_stack``)."""

from __future__ import annotations

from devtools.cluster_stack import log_lines


def test_a_failed_tasks_log_carries_its_exception_message():
    """The REST API returns the failure as an event without the message; the message is in
    error_detail (the shape Airflow 3 returned in the NameNode-restart test of 2026-12-05)."""
    content = [
        {"timestamp": "2026-12-05T05:30:59Z", "event": "::group::Pre Execute"},
        "a plain line",
        {"timestamp": "2026-12-05T05:30:59Z", "event": "Task failed with exception", "level": "error",
         "error_detail": [{"exc_type": "AirflowFailException", "exc_notes": [], "is_cause": False, "frames": [],
                           "exc_value": "the drop watcher could not list drops/incoming/: 3 listings failed"}]},
        {"event": "::endgroup::"},
    ]
    assert log_lines(content) == [
        "::group::Pre Execute", "a plain line", "Task failed with exception",
        "AirflowFailException: the drop watcher could not list drops/incoming/: 3 listings failed", "::endgroup::"]
