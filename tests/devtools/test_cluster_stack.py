"""The cluster test's helpers (``devtools.cluster_stack``): reading a task log from the REST
API, sampling `docker stats`, the env file and the UI's address."""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any, cast

from devtools.cluster_stack import Stack, StatsSampler, log_lines


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


def test_a_value_set_in_the_env_file_is_what_compose_reads_and_where_the_ui_is_called(tmp_path):
    """The hosts test publishes the head's UI on 8080 after the env file was written with a free
    port (CI of 2026-12-06: the UI's address kept the first port, and every API call timed out)."""
    env_file = tmp_path / ".env"
    env_file.write_text("AIRFLOW_UI_PORT=40123\n")
    stack = Stack(env_file, ["docker-compose.yaml"], {"AIRFLOW_UI_PORT": "40123"}, ui_address="10.231.0.10")
    assert stack.ui == "http://10.231.0.10:40123"
    stack.set_env(AIRFLOW_UI_PORT="8080", HEAD_ADDRESS="10.231.0.10")
    assert stack.ui == "http://10.231.0.10:8080"
    assert env_file.read_text() == "AIRFLOW_UI_PORT=8080\nHEAD_ADDRESS=10.231.0.10\n"


class _Engine:
    """Stands in for `docker ps` / `docker stats`: a fake, since the race is in the file, not the engine."""

    def docker(self, *args: str, **_: object) -> subprocess.CompletedProcess:
        if args[0] == "ps":
            return subprocess.CompletedProcess(args, 0, stdout="a\nb\n")
        rows = [{"Name": f"salary-{name}", "MemUsage": f"{100 + i}MiB / 2GiB"} for i, name in enumerate("ab" * 40)]
        return subprocess.CompletedProcess(args, 0, stdout="\n".join(json.dumps(r) for r in rows))


def test_the_stats_file_is_whole_while_the_sampler_and_a_test_both_sample(tmp_path):
    """The cluster test samples once more before reading the file, beside the sampler's thread
    (CI of 2026-12-06 read an empty file: one writer had truncated it)."""
    sampler = StatsSampler(cast(Any, _Engine()), path=tmp_path / "docker-stats.json")
    sampler.sample()
    done = threading.Event()
    errors: list[BaseException] = []

    def keep_sampling() -> None:
        try:
            while not done.is_set():
                sampler.sample()
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            errors.append(error)

    threads = [threading.Thread(target=keep_sampling) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(2000):
            doc = json.loads(sampler.path.read_text())
            assert doc["start"]["sum_bytes"] > 0
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert sampler.peaks["start"]["containers"]["salary-a"] == 178 * 1024**2  # the largest of its 40 rows
