"""devtools.services.supervise, run as the services run it (``python -m``, a real child, real
signals): a crash after start-up is restarted, a failed start is not, a port that stops
answering restarts the command, SIGTERM stops both; then a real Ray head whose dashboard or
raylet dies comes back on its ports."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.services import free_port
from devtools.services.supervise import answers
from tests.helpers import wait_for

# Each run appends a line to the file in argv[1]; a run fails with 3 after 0.5 s while fewer
# than argv[2] lines are there, else it stays up until SIGTERM (then writes "stopped").
CHILD = """
import pathlib, signal, sys, time
runs = pathlib.Path(sys.argv[1])
with runs.open("a") as fh:
    fh.write("run\\n")
signal.signal(signal.SIGTERM, lambda *_: (runs.open("a").write("stopped\\n"), sys.exit(0)))
time.sleep(0.5)
if len(runs.read_text().splitlines()) < int(sys.argv[2]):
    sys.exit(3)
while True:
    time.sleep(0.1)
"""


def supervise(tmp_path: Path, *options: str, crashes: int, child: str = CHILD) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "devtools.services.supervise", "--restart-delay", "0.1",
                             *options, "--", sys.executable, "-c", child, str(tmp_path / "runs"), str(crashes + 1)],
                            stdout=open(tmp_path / "out.log", "w"), stderr=subprocess.STDOUT)


def runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "runs"
    return path.read_text().splitlines() if path.exists() else []


def test_a_crash_after_start_up_is_restarted_and_sigterm_stops_both(tmp_path):
    proc = supervise(tmp_path, "--min-uptime", "0.2", crashes=2)
    try:
        wait_for(lambda: len(runs(tmp_path)) == 3, 30, "two restarts")
        time.sleep(1)
        assert proc.poll() is None and runs(tmp_path) == ["run"] * 3  # the third run stays up
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert runs(tmp_path)[-1] == "stopped"  # the child got the SIGTERM, then the supervisor ended
    finally:
        proc.kill()
    out = (tmp_path / "out.log").read_text()
    assert "exited with 3; restart 1 of 5" in out and "exited with 3; restart 2 of 5" in out


def test_a_command_failing_before_it_came_up_is_not_restarted(tmp_path):
    proc = supervise(tmp_path, "--min-uptime", "30", crashes=1)
    assert proc.wait(timeout=30) == 3 and runs(tmp_path) == ["run"]
    assert "before it came up: not restarted" in (tmp_path / "out.log").read_text()


def test_restarts_end_after_the_limit(tmp_path):
    proc = supervise(tmp_path, "--min-uptime", "0.2", "--max-restarts", "2", crashes=10)
    assert proc.wait(timeout=30) == 3 and runs(tmp_path) == ["run"] * 3
    assert "2 restarts used, giving up" in (tmp_path / "out.log").read_text()


# An HTTP server on argv[3] whose first run answers twice, then closes its socket and stays up
# (a dashboard gone while `ray start --block` runs on); a later run answers and stays.
LISTENER = """
import pathlib, socket, sys, time
runs = pathlib.Path(sys.argv[1])
with runs.open("a") as fh:
    fh.write("run\\n")
first = len(runs.read_text().splitlines()) == 1
server = socket.create_server(("127.0.0.1", int(sys.argv[3])))
answered = 0
while not first or answered < 2:
    conn = server.accept()[0]
    conn.recv(4096)
    conn.sendall(b"HTTP/1.0 401 Unauthorized\\r\\nContent-Length: 0\\r\\n\\r\\n")
    conn.close()
    answered += 1
server.close()
while True:
    time.sleep(0.1)
"""


def test_a_server_that_stops_answering_restarts_the_command(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/version"
    proc = subprocess.Popen([sys.executable, "-m", "devtools.services.supervise", "--restart-delay", "0.1",
                             "--probe-url", url, "--probe-interval", "0.3", "--", sys.executable, "-c",
                             LISTENER, str(tmp_path / "runs"), "1", str(port)],
                            stdout=open(tmp_path / "out.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(runs(tmp_path)) == 2, 60, "the restart")
        assert "answers its probe: up" in (tmp_path / "out.log").read_text()
        wait_for(lambda: answers(url), 30, "the second run to answer")
        assert proc.poll() is None
        assert "the probe failed 3 times in a row" in (tmp_path / "out.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_answers_needs_an_http_answer_not_only_a_listening_socket():
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts (the kernel does), never answers
        assert not answers(f"http://127.0.0.1:{server.getsockname()[1]}/", timeout=1)
    assert not answers(f"http://127.0.0.1:{free_port()}/", timeout=1)  # refused


@pytest.mark.slow
def test_a_ray_head_whose_dashboard_or_raylet_dies_comes_back_on_its_ports():
    import psutil

    from devtools.services import ray as local_ray
    from tests.helpers import short_tmp

    root = short_tmp("raysup")
    dashboard = free_port()
    address = f"http://127.0.0.1:{dashboard}"
    pid = local_ray.start(root, port=free_port(), dashboard_port=dashboard, num_cpus=1, memory_gib=1,
                          object_store_gib=0.5, extra=(f"--ray-client-server-port={free_port()}",
                                                       f"--dashboard-agent-listen-port={free_port()}",
                                                       "--min-worker-port=24000", "--max-worker-port=24999"))

    def node(name: str) -> psutil.Process:
        (proc,) = [p for p in psutil.Process(pid).children(recursive=True) if name in " ".join(p.cmdline())]
        return proc

    try:
        wait_for(lambda: "answers its probe: up" in (root / "ray.log").read_text(), 60, "the supervisor's probe")
        dashboard_proc = node("dashboard/dashboard.py")
        dashboard_proc.terminate()  # SIGTERM: `ray start --block` counts it graceful and runs on
        wait_for(lambda: "restart 1 of 5" in (root / "ray.log").read_text(), 120, "the probe's restart")
        local_ray.wait_for_jobs_api(address, None, timeout=180)
        raylet = node("raylet/raylet")
        raylet.kill()  # SIGKILL: `ray start --block` stops the node and exits 1
        wait_for(lambda: "restart 2 of 5" in (root / "ray.log").read_text(), 60, "the second restart")
        local_ray.wait_for_jobs_api(address, None, timeout=180)
        log = (root / "ray.log").read_text()
        assert "the probe failed 3 times in a row" in log and "exited with 1; restart 2 of 5" in log
        assert local_ray.running(root) and int((root / "ray.pid").read_text()) == pid
        tree = psutil.Process(pid).children(recursive=True)
    finally:
        local_ray.stop(root)
    assert not (root / "ray.pid").exists()
    def ended(proc: psutil.Process) -> bool:  # a zombie has ended, whoever reaps it
        try:
            return proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(lambda: all(ended(p) for p in tree), 60, "every process of the node to end")
    shutil.rmtree(root, ignore_errors=True)
