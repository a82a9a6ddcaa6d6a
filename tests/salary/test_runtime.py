from __future__ import annotations

import logging

from salary.errors import BAD_INPUT_EXIT_CODE, BadInputError
from salary.runtime import Stages, parse_summaries, run_job, summary_line


def test_summary_round_trips_through_decorated_log_lines():
    line = summary_line({"job": "etl", "rows_out": 3})
    log = "\n".join([
        "2026-01-01T00:00:00Z [info     ] something else",
        f"2026-01-01T00:00:01Z [info     ] 2026 INFO salary.summary: {line} [airflow.task.hooks.SparkSubmitHook] loc=x",
        summary_line({"job": "top", "rows_out": 100}),
    ])
    assert parse_summaries(log) == [{"job": "etl", "rows_out": 3}, {"job": "top", "rows_out": 100}]
    assert parse_summaries("no summary here") == []


def test_stages_record_each_named_stage():
    stages = Stages()
    with stages.stage("a"):
        pass
    try:
        with stages.stage("b"):
            raise RuntimeError
    except RuntimeError:
        pass
    assert list(stages.seconds) == ["a", "b"] and stages.total >= 0


def test_run_job_maps_bad_input_to_its_exit_code(caplog):
    def bad() -> int:
        raise BadInputError("column 'age' has type string")

    with caplog.at_level(logging.ERROR):
        assert run_job(bad) == BAD_INPUT_EXIT_CODE
    assert "bad input: column 'age' has type string" in caplog.text
    assert run_job(lambda: 0) == 0
