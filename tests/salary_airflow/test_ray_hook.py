"""RayHook: the Jobs API address and, for a token-authenticated cluster, the bearer header;
AsyncRayJobs.follow: a job is over when its status says so, each output line logged once."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest

from salary_airflow.hooks.ray import AsyncRayJobs, JobLog, RayHook


@pytest.fixture
def conn(monkeypatch):
    def make(**fields) -> RayHook:
        monkeypatch.setenv("AIRFLOW_CONN_RAY_HOOK_TEST", json.dumps({"conn_type": "ray", **fields}))
        return RayHook("ray_hook_test")

    return make


def test_token_from_the_connection_password_is_sent_as_a_bearer_header(conn):
    hook = conn(host="ray-head", port=8265, password="s3cr3t")
    assert hook.address == "http://ray-head:8265"
    assert hook.headers == {"Authorization": "Bearer s3cr3t"}


def test_no_password_and_no_ray_token_sends_no_authorization_header(conn, monkeypatch):
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        monkeypatch.delenv(var, raising=False)
    hook = conn(host="127.0.0.1", schema="https")
    assert hook.address == "https://127.0.0.1:8265"
    assert hook.headers == {}


def test_no_password_falls_back_to_the_token_file_ray_clients_use(conn, monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    (tmp_path / "token").write_text("from-file\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "token"))
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert conn(host="127.0.0.1").headers == {"Authorization": "Bearer from-file"}
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert conn(host="127.0.0.1").headers == {}


def test_job_link_prefers_the_dashboard_url_a_browser_reaches(conn):
    assert conn(host="ray-head").job_url("a b") == "http://ray-head:8265/#/jobs/a%20b"
    hook = conn(host="ray-head", extra=json.dumps({"dashboard_url": "http://127.0.0.1:18265/"}))
    assert hook.job_url("j1") == "http://127.0.0.1:18265/#/jobs/j1"


class ScriptedJob(AsyncRayJobs):
    """A job's Jobs API as Ray's dashboard behaves: the job ends right after the output streamed
    so far, and the dashboard closes the log stream (with the last lines) ``close_after`` s later."""

    def __init__(self, streamed: str, everything: str, close_after: float) -> None:
        super().__init__("http://ray.invalid:8265", {})
        self.streamed, self.everything, self.close_after = streamed, everything, close_after
        self.status, self.stream_cancelled, self.infos = "RUNNING", False, 0

    async def tail(self, job_id: str) -> AsyncIterator[str]:
        yield self.streamed
        self.status = "SUCCEEDED"
        try:
            await asyncio.sleep(self.close_after)
        except asyncio.CancelledError:
            self.stream_cancelled = True
            raise
        yield self.everything[len(self.streamed):]

    async def info(self, job_id: str) -> dict:
        self.infos += 1
        return {"status": self.status, "message": "done"}

    async def logs(self, job_id: str) -> str:
        return self.everything


def followed(job: ScriptedJob) -> tuple[dict, list[str], JobLog]:
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    log = logging.getLogger("test_ray_hook_follow")
    log.propagate, log.level, log.handlers = False, logging.DEBUG, [Capture()]
    output = JobLog(log, result_marker="JOB_SUMMARY ")
    info = asyncio.run(job.follow("job-1", output, poll_interval=0.1))
    return info, lines, output


RESULT = 'starting\nJOB_SUMMARY {"rows_out": 3}\n'


def test_a_job_that_printed_its_result_is_over_when_its_status_says_so_not_when_its_stream_closes():
    job = ScriptedJob(RESULT + "shutting", RESULT + "shutting down\nbye\n", close_after=30)
    info, lines, output = followed(job)
    assert info["status"] == "SUCCEEDED"
    assert job.stream_cancelled  # not waited for: Ray closes it seconds after the job's end
    # the rest of the output (the streamed line's end included) from one read, each line once
    assert lines == ["[ray] starting", '[ray] JOB_SUMMARY {"rows_out": 3}', "[ray] shutting down", "[ray] bye"]
    assert output.result == {"rows_out": 3}


def test_without_a_result_line_the_stream_closing_ends_the_job_and_its_status_is_read_once():
    job = ScriptedJob("starting\n", "starting\nfailed\n", close_after=0.5)
    info, lines, _ = followed(job)
    assert (info["status"], job.stream_cancelled, job.infos) == ("SUCCEEDED", False, 1)
    assert lines == ["[ray] starting", "[ray] failed"]
