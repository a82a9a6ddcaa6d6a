from __future__ import annotations

import json
import logging
import os
import runpy
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from salary.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def pyfiles_zip() -> None:
    """Jobs import the package from build/salary.zip: rebuild it from this checkout."""
    runpy.run_path(str(REPO / "scripts" / "build_pyfiles.py"))["build"](REPO)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session", autouse=True)
def _spark_before_threads(request):
    """Start the Spark session first when any collected test uses it, else never.

    PySpark launches its JVM with fork + preexec_fn; once other tests have started threads in
    this process (hdfs-native's runtime, aiohttp, Ray's gRPC), that fork can deadlock in the
    child. Starting the JVM before any test runs, while the process has one thread, avoids it;
    a run without Spark tests starts no JVM.
    """
    if any("spark" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("spark")


@pytest.fixture(scope="session")
def spark():
    """One local Spark session (local[1]) for the test session."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("salary-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    yield session
    session.stop()

    # py4j logs from __del__ at interpreter exit, after pytest closed the captured streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)


RAY_TEST_DASHBOARD_PORT = 8275


def short_tmp(prefix: str) -> Path:
    """A temp dir with a short path: Ray puts Unix sockets below its --temp-dir and a socket
    path may not exceed 107 bytes (pytest's own tmp paths grow too long)."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir="/tmp"))


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A real Ray head on loopback (its own ports and temp dir), stopped by PID afterwards.

    Yields the Jobs API address; AIRFLOW_CONN_RAY_DEFAULT for it is set for the session.
    """
    ray_local = runpy.run_path(str(REPO / "scripts" / "ray_local.py"))
    root = short_tmp("ray")
    # Ports apart from a default head's (make demo / make ui may run one at the same time).
    ports = ("--ray-client-server-port=10091", "--min-worker-port=20100", "--max-worker-port=20999",
             "--dashboard-agent-listen-port=52375")
    ray_local["start"](root, port=6389, dashboard_port=RAY_TEST_DASHBOARD_PORT, num_cpus=2, memory_gib=4,
                       object_store_gib=1, extra=ports)
    address = f"http://127.0.0.1:{RAY_TEST_DASHBOARD_PORT}"
    previous = os.environ.get("AIRFLOW_CONN_RAY_DEFAULT")
    os.environ["AIRFLOW_CONN_RAY_DEFAULT"] = (
        f'{{"conn_type": "ray", "host": "127.0.0.1", "port": {RAY_TEST_DASHBOARD_PORT}}}'
    )
    try:
        yield address
    finally:
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_RAY_DEFAULT", None)
        else:
            os.environ["AIRFLOW_CONN_RAY_DEFAULT"] = previous
        ray_local["stop"](root)
        shutil.rmtree(root, ignore_errors=True)


HDFS_TEST_PORTS = {"rpc": 18020, "http": 15070, "datanode": 15010, "datanode_http": 15075, "datanode_ipc": 15020}


@pytest.fixture(scope="session")
def hdfs(tmp_path_factory):
    """A real NameNode + DataNode (+ WebHDFS) on loopback, on ports apart from a default one,
    stopped by PID afterwards. Yields the ``hdfs://`` URI of the file system's root; the
    session's HADOOP_CONF_DIR and AIRFLOW_CONN_WEBHDFS_DEFAULT point at it."""
    hdfs_local = runpy.run_path(str(REPO / "scripts" / "hdfs_local.py"))
    ports = hdfs_local["Ports"](**HDFS_TEST_PORTS)
    root = tmp_path_factory.mktemp("hdfs")
    hdfs_local["start"](root, ports)
    env = {
        "HADOOP_CONF_DIR": str(root / "conf"),
        "AIRFLOW_CONN_WEBHDFS_DEFAULT": json.dumps(
            {"conn_type": "webhdfs", "host": "127.0.0.1", "port": ports.http, "login": "root"}),
    }
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield ports.uri
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        hdfs_local["stop"](root)


@pytest.fixture(scope="session")
def spark_standalone(tmp_path_factory):
    """A Spark standalone master + one worker (2 cores) on loopback, stopped by PID.

    Yields (master URL, master web UI port)."""
    spark_local = runpy.run_path(str(REPO / "scripts" / "spark_local.py"))
    root = tmp_path_factory.mktemp("spark")
    url = spark_local["start"](root, port=7178, webui_port=18190, worker_webui_port=18191, cores=2, memory="2g")
    try:
        yield url, 18190
    finally:
        spark_local["stop"](root)


RAY_MULTINODE_DASHBOARD_PORT = 8295


@pytest.fixture(scope="session")
def ray_two_nodes(tmp_path_factory):
    """A Ray cluster of two nodes on distinct loopback addresses (head 127.0.0.2, worker
    127.0.0.3, one CPU each), on ports apart from the other test head. Yields the Jobs API
    address; both nodes are stopped by PID."""
    from ray.util.state import list_nodes

    ray_local = runpy.run_path(str(REPO / "scripts" / "ray_local.py"))
    head_root, worker_root = short_tmp("rayh"), short_tmp("rayw")
    address = f"http://127.0.0.1:{RAY_MULTINODE_DASHBOARD_PORT}"
    ray_local["start"](head_root, port=6399, dashboard_port=RAY_MULTINODE_DASHBOARD_PORT, num_cpus=1, memory_gib=3,
                       object_store_gib=1, extra=("--ray-client-server-port=10093", "--min-worker-port=22000",
                                                  "--max-worker-port=22999", "--dashboard-agent-listen-port=52395"))
    try:
        ray_local["start"](worker_root, node_ip="127.0.0.3", head_address="127.0.0.2:6399", num_cpus=1,
                           memory_gib=3, object_store_gib=1,
                           extra=("--min-worker-port=23000", "--max-worker-port=23999",
                                  "--dashboard-agent-listen-port=52396"))
        deadline = time.monotonic() + 120
        while len([n for n in list_nodes(address=address) if n.state == "ALIVE"]) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("the second Ray node did not join")
            time.sleep(1)
        yield address
    finally:
        ray_local["stop"](worker_root)
        ray_local["stop"](head_root)
        shutil.rmtree(worker_root, ignore_errors=True)
        shutil.rmtree(head_root, ignore_errors=True)
