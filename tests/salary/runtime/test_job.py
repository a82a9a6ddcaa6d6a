from __future__ import annotations

import json
import logging

import pytest

from salary.errors import BAD_INPUT_EXIT_CODE, STORAGE_FULL_EXIT_CODE, BadInputError
from salary.runtime.job import Stages, parse_summaries, run_job, summarize, summary_line


def test_summary_round_trips_through_decorated_log_lines():
    line = summary_line({"job": "etl", "rows_out": 3})
    log = "\n".join([
        "2026-01-01T00:00:00Z [info     ] something else",
        f"2026-01-01T00:00:01Z [info     ] 2026 INFO salary.summary: {line} [airflow.task.hooks.SparkSubmitHook] loc=x",
        summary_line({"job": "top", "rows_out": 100}),
    ])
    assert parse_summaries(log) == [{"job": "etl", "rows_out": 3}, {"job": "top", "rows_out": 100}]
    assert parse_summaries("no summary here") == []


def test_stages_time_each_named_stage_even_when_it_fails(monkeypatch):
    clock = iter([100.0, 101.0, 103.5, 104.0, 110.25, 111.0])  # start, a: 101-103.5, b: 104-110.25, total
    monkeypatch.setattr("salary.runtime.job.time.perf_counter", lambda: next(clock))
    stages = Stages()
    with stages.stage("a"):
        pass
    with pytest.raises(RuntimeError), stages.stage("b"):
        raise RuntimeError
    assert stages.seconds == {"a": 2.5, "b": 6.25}
    assert stages.total == 11.0


def test_summaries_carry_the_code_version_and_the_stages(monkeypatch):
    monkeypatch.setenv("SALARY_CODE_VERSION", "abc123 sha256:0011")
    stages = Stages()
    with stages.stage("work"):
        pass
    summary = summarize("etl", "run1", stages, {"rows_out": 3})
    assert summary["code_version"] == "abc123 sha256:0011"
    assert summary["job"] == "etl" and summary["run_id"] == "run1" and summary["rows_out"] == 3
    assert list(summary["stage_seconds"]) == ["work"]


def test_run_job_maps_bad_input_to_its_exit_code(caplog):
    def bad() -> int:
        raise BadInputError("column 'age' has type string")

    with caplog.at_level(logging.ERROR):
        assert run_job(bad) == BAD_INPUT_EXIT_CODE
    assert "bad input: column 'age' has type string" in caplog.text
    assert run_job(lambda: 0) == 0


def test_bad_input_leaves_a_failure_record_where_the_command_line_says(tmp_path):
    def bad() -> int:
        raise BadInputError("missing column 'signup_date'")

    uri = f"file://{tmp_path}/_failures/job/run-try1.json"
    assert run_job(bad, ["--lake-root", "file:///x", "--failure-record", uri]) == BAD_INPUT_EXIT_CODE
    record = json.loads((tmp_path / "_failures" / "job" / "run-try1.json").read_text())
    assert record["kind"] == "bad_input" and record["message"] == "missing column 'signup_date'"
    assert run_job(bad, ["--lake-root", "file:///x"]) == BAD_INPUT_EXIT_CODE  # no record asked for: none


def test_a_full_disk_under_another_error_gets_its_own_exit_status_and_a_last_line_naming_it(tmp_path, caplog):
    def full() -> int:
        try:
            raise OSError(28, "No space left on device", "/lake/_staging/x/part-0.parquet")
        except OSError as err:
            raise RuntimeError("writing the predictions failed") from err

    uri = f"file://{tmp_path}/r.json"
    with caplog.at_level(logging.INFO):
        assert run_job(full, ["--failure-record", uri]) == STORAGE_FULL_EXIT_CODE
    last = caplog.records[-1]
    assert last.levelname == "ERROR" and last.getMessage().startswith(
        "the lake's storage is full (No space left on device: /lake/_staging/x/part-0.parquet)")
    assert json.loads((tmp_path / "r.json").read_text())["kind"] == "storage_full"


def test_any_other_failure_is_raised_as_it_is():
    def broken() -> int:
        raise KeyError("age")

    with pytest.raises(KeyError):
        run_job(broken)


def test_a_failure_record_that_cannot_be_written_does_not_hide_the_exit_status(caplog):
    def bad() -> int:
        raise BadInputError("x")

    with caplog.at_level(logging.ERROR):
        assert run_job(bad, ["--failure-record", "nosuchscheme://nowhere/r.json"]) == BAD_INPUT_EXIT_CODE
    assert "could not write the failure record" in caplog.text


def test_every_job_ends_with_its_summary_in_the_lake_and_as_its_last_log_line(tmp_path, caplog, settings):
    from salary.lake import Lake, LakeIO
    from salary.lake.fsspec_store import FsspecStore
    from salary.runtime.job import JobContext, finish_job

    caplog.set_level(logging.INFO)
    stages = Stages()
    with stages.stage("work"):
        pass
    ctx = JobContext(LakeIO(Lake(f"file://{tmp_path}", settings.lake), FsspecStore()), settings, "r1", stages)
    summary = finish_job(ctx, "job", {"rows_out": 3})
    assert json.loads((tmp_path / "reports/job/r1/summary.json").read_text()) == summary
    assert summary["rows_out"] == 3 and set(summary["stage_seconds"]) == {"work"} and "code_version" in summary
    assert parse_summaries(caplog.records[-1].getMessage()) == [summary]
