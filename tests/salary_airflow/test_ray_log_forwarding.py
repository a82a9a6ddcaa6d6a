"""JobLog: each line of a Ray job's output reaches the task log once, at its level,
however the output is cut into chunks and however often the stream restarts."""

from __future__ import annotations

import logging

from salary_airflow.hooks.ray import TAIL_LINES, JobLog

OUTPUT = ("2026-11-25 10:00:00,001\tINFO packaging.py:1 -- Creating a file package\n"
          "starting\n"
          "2026-11-25 10:00:01,002 WARNING predict_drops: drop d1 rejected: no rows\n"
          "Traceback (most recent call last):\n"
          '  File "x.py", line 1\n'
          'JOB_SUMMARY {"job": "x", "rows_out": 3}\n'
          "last line without newline")


def forwarded(chunks_per_stream: list[list[str]]) -> tuple[list[tuple[int, str]], JobLog]:
    records: list[tuple[int, str]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelno, record.getMessage()))

    log = logging.getLogger("test_ray_log_forwarding")
    log.propagate, log.level = False, logging.DEBUG
    log.handlers = [Capture()]
    out = JobLog(log, result_marker="JOB_SUMMARY ")
    for chunks in chunks_per_stream:
        out.restart()
        for chunk in chunks:
            out.feed(chunk)
        out.feed("", final=True)
    return records, out


def test_lines_are_forwarded_once_at_their_own_level_however_chunked():
    records, out = forwarded([[OUTPUT[i:i + 7] for i in range(0, len(OUTPUT), 7)]])
    assert [message for _, message in records] == [f"[ray] {line}" for line in OUTPUT.split("\n")]
    assert [level for level, _ in records] == [logging.INFO, logging.INFO, logging.WARNING, logging.WARNING,
                                               logging.WARNING, logging.INFO, logging.INFO]
    assert out.result == {"job": "x", "rows_out": 3}


def test_a_reconnected_stream_replaying_from_the_start_forwards_only_new_lines():
    cut = OUTPUT.index("Traceback")
    records, _ = forwarded([[OUTPUT[:cut]], [OUTPUT]])  # the second stream starts over
    assert [message for _, message in records] == [f"[ray] {line}" for line in OUTPUT.split("\n")]


def test_the_tail_keeps_the_last_lines_only():
    _, out = forwarded([["".join(f"line {n}\n" for n in range(100))]])
    assert list(out.tail) == [f"line {n}" for n in range(100 - TAIL_LINES, 100)]
