"""A Spark standalone cluster on loopback (a master and a worker from the pip pyspark), and a
Spark History Server on loopback, stopped by their PIDs
(``python scripts/services.py spark|spark-history start|stop DIR``).

The master's web UI moves off 8080 (Airflow's). Each daemon is `spark-class` in its own
session; its PID is recorded in DIR and SIGTERM to it stops it (and the worker's executors).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

from devtools.services.processes import alive, spawn, stop_recorded

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
HISTORY_SERVER = "org.apache.spark.deploy.history.HistoryServer"
HISTORY_PROPERTIES = Path(__file__).resolve().parents[2] / "config" / "spark" / "history.properties"


def master_state(webui_port: int) -> dict:
    """The master's JSON status (workers, running and completed applications)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json/", timeout=5) as resp:
        return json.loads(resp.read())


def start(root: Path, *, port: int = 7077, webui_port: int = 18080, worker_webui_port: int = 18081,
          cores: int = 2, memory: str = "2g", timeout: float = 120) -> str:
    """Start a master and one worker; wait until the worker is ALIVE; return the master URL."""
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(root / "logs"),
           "SPARK_WORKER_DIR": str(root / "work"), "SPARK_NO_DAEMONIZE": "1"}
    url = f"spark://127.0.0.1:{port}"
    daemons = {
        "master": [MASTER, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(webui_port)],
        "worker": [WORKER, "--host", "127.0.0.1", "--webui-port", str(worker_webui_port), "--cores", str(cores),
                   "--memory", memory, "--work-dir", str(root / "work"), url],
    }
    for name, args in daemons.items():
        spawn(["spark-class", *args], root / f"{name}.log", root / f"{name}.pid", env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(w.get("state") == "ALIVE" for w in master_state(webui_port).get("workers", [])):
                return url
        except (OSError, ValueError):  # not listening yet, or its UI answers before its JSON is ready
            pass
        time.sleep(0.5)
    stop(root)
    raise TimeoutError(f"Spark master {url} has no live worker after {timeout:.0f} s; see {root}/*.log")


def stop(root: Path, timeout: float = 30) -> None:
    """Stop the worker, then the master, by their recorded PIDs."""
    for name in ("worker", "master"):
        stop_recorded(root / f"{name}.pid", timeout)


def running(root: Path) -> bool:
    """Whether the master started in ``root`` runs."""
    return alive(root / "master.pid")


def history_applications(port: int) -> list[dict]:
    """The applications a History Server lists (its REST API)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/applications", timeout=5) as resp:
        return json.loads(resp.read())


def start_history(root: Path, log_dir: str, *, port: int = 18088, timeout: float = 120) -> str:
    """Start a History Server on 127.0.0.1:``port`` over the event logs in ``log_dir`` (a lake
    URI, file:///... or hdfs://..., created when missing: the server refuses to start without
    it), with config/spark/history.properties; wait until its REST API answers; return its URL."""
    from salary.lake import open_store

    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    open_store(log_dir).mkdirs(log_dir)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1",
           "SPARK_HISTORY_OPTS": f"-Dspark.history.fs.logDirectory={log_dir} -Dspark.history.ui.port={port}"}
    proc = spawn(["spark-class", HISTORY_SERVER, "--properties-file", str(HISTORY_PROPERTIES)],
                 root / "history.log", root / "history.pid", env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            history_applications(port)
            return f"http://127.0.0.1:{port}"
        except (OSError, ValueError):  # not listening yet
            if proc.poll() is not None:
                break
        time.sleep(0.5)
    stop_history(root)
    raise TimeoutError(f"the Spark History Server on port {port} did not answer; see {root}/history.log")


def stop_history(root: Path, timeout: float = 30) -> None:
    stop_recorded(root / "history.pid", timeout)


def history_running(root: Path) -> bool:
    return alive(root / "history.pid")
