"""`make ui` (scripts/ui.sh) stops everything it started when it is told to stop: SIGTERM (as a
service manager or `kill` sends it) or Ctrl-C, with no process of it left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port, short_tmp, wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc: children of children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_make_ui_stops_every_process_it_started(tmp_path, sig):
    home, ray_dir, port = tmp_path / "airflow", short_tmp("rayui"), free_port()
    history_dir, history_port = tmp_path / "history", free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW_UI_PORT": str(port), "SALARY_RAY_DIR": str(ray_dir),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "SALARY_SPARK_HISTORY_DIR": str(history_dir),
           "SALARY_SPARK_HISTORY_PORT": str(history_port), "SALARY_LAKE_ROOT": f"file://{tmp_path / 'lake'}"}
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    started: set[int] = set()
    ui = subprocess.Popen(["bash", str(REPO / "scripts" / "ui.sh")], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: healthy(port) or ui.poll() is not None, 240, "the api-server")
        assert ui.poll() is None, "ui.sh exited before the UI was up"
        time.sleep(5)  # the scheduler, dag-processor and triggerer have started their workers
        ray_head = int((ray_dir / "ray.pid").read_text())  # the supervisor of `ray start --block`, its own session
        history = int((history_dir / "history.pid").read_text())  # the Spark History Server, likewise
        with urllib.request.urlopen(f"http://127.0.0.1:{history_port}/api/v1/applications", timeout=10) as resp:
            assert resp.status == 200
        started = descendants(ui.pid) | {ray_head, history} | descendants(ray_head) | descendants(history)
        names = {(Path("/proc") / str(p) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                 for p in started if alive(p)}
        for component in ("api_server", "scheduler", "dag-processor", "triggerer", "LocalExecutor", "ray",
                          "HistoryServer"):
            assert any(component in n for n in names), (component, sorted(n.strip()[:80] for n in names))
        ui.send_signal(sig)  # to ui.sh only, as `kill <pid>` would
        ui.wait(timeout=120)
        wait_for(lambda: not [p for p in started if alive(p)], 30, "every process ui.sh started to end", interval=0.5)
        assert not healthy(port)
    finally:  # whatever happened above, nothing of this test keeps running
        leftovers = started | descendants(ui.pid)  # ui.sh's children are in sessions of their own
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
        for pid in leftovers:
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["python", str(REPO / "scripts" / "services.py"), "ray", "stop", str(ray_dir)], env=env,
                       capture_output=True, timeout=120)
        subprocess.run(["python", str(REPO / "scripts" / "services.py"), "spark-history", "stop", str(history_dir)],
                       env=env, capture_output=True, timeout=120)
        shutil.rmtree(ray_dir, ignore_errors=True)
