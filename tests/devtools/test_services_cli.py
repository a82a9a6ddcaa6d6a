"""devtools.services: a service is started in its own session and stopped by the PID it
recorded, never by name; the command line's status and usage errors."""

from __future__ import annotations

import os
import sys

import pytest

from devtools.services import cli, free_port
from devtools.services.processes import alive, spawn, stop_recorded


def test_a_spawned_process_is_recorded_and_stopped_by_its_pid_alone(tmp_path):
    proc = spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log", tmp_path / "s.pid")
    twin = spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "t.log", tmp_path / "t.pid")
    try:
        assert int((tmp_path / "s.pid").read_text()) == proc.pid and alive(tmp_path / "s.pid")
        assert os.getpgid(proc.pid) == proc.pid  # its own session: a SIGKILL to its group stays in it
        stop_recorded(tmp_path / "s.pid", timeout=10)
        assert proc.poll() is not None and not (tmp_path / "s.pid").exists()
        assert twin.poll() is None  # the same command line, left alone
    finally:
        stop_recorded(tmp_path / "t.pid", timeout=10)
    stop_recorded(tmp_path / "s.pid", timeout=10)  # a second stop is not an error


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path):
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True);"
            " time.sleep(60)")
    proc = spawn([sys.executable, "-c", code], tmp_path / "s.log", tmp_path / "s.pid")
    while b"ready" not in (tmp_path / "s.log").read_bytes():
        assert proc.poll() is None
    stop_recorded(tmp_path / "s.pid", timeout=0.5)  # reaps it: gone although it ignored SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


@pytest.mark.parametrize("service", ["ray", "spark", "hdfs"])
def test_status_of_a_service_never_started_is_1_and_stop_is_a_no_op(service, tmp_path):
    assert cli.main([service, "status", str(tmp_path)]) == 1
    assert cli.main([service, "stop", str(tmp_path)]) == 0


def test_hdfs_start_without_a_folder_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["hdfs", "start"])
    assert exc.value.code == 2 and "hdfs start needs DIR" in capsys.readouterr().err


def test_free_port_is_free_to_bind():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
