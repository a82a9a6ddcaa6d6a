from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from pathlib import Path

import pytest

from devtools.build import pyfiles
from devtools.services import free_port
from devtools.services import hdfs as local_hdfs
from devtools.services import ray as local_ray
from devtools.services import spark as local_spark
from devtools.services.supervise import answers
from salary.config import Settings, load_settings
from tests.helpers import short_tmp

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def pyfiles_zip() -> None:
    """Jobs import the package from build/salary.zip: rebuild it from this checkout."""
    pyfiles.build(REPO)


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


def _ray_ports(**named: int) -> tuple[str, ...]:
    """``ray start`` options for ports of its own (each free now), apart from any other node's."""
    return tuple(f"--{name.replace('_', '-')}={port}" for name, port in named.items())


RAY_HEAD: dict[str, str] = {}  # ray_cluster's folder, GCS address and dashboard port


def ray_head_post_mortem(root: Path, lines: int = 30) -> str:
    """Why a test Ray node stopped: the tail of its ray.log (`ray start --block` and its
    supervisor, across restarts), and of Ray's record of its processes' exits and its raylet's
    and GCS's logs in its last two sessions (the one that died and, if any, its restart's)."""
    sessions = sorted((root / "tmp").glob("session_2*"))[-2:]
    logs = [root / "ray.log"] + [session / "logs" / name for session in sessions
                                 for name in ("ray_process_exit.log", "raylet.out", "gcs_server.out")]
    parts = []
    for log in logs:
        text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else ["(none)"]
        parts.append(f"--- {log}\n" + "\n".join(text))
    return "\n".join(parts)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before a test that needs the session's Ray head: if the head has died, wait for its
    supervisor to bring it back (a warning with why it died), or error saying why, before any
    fixture of the test runs; never a run of tests failing on refused connections."""
    if RAY_HEAD and {"ray_cluster", "ray_gcs_address"} & set(getattr(item, "fixturenames", ())):
        root, dashboard = Path(RAY_HEAD["root"]), int(RAY_HEAD["dashboard_port"])
        if local_ray.running(root) and answers(f"http://127.0.0.1:{dashboard}/api/version"):
            return
        post_mortem = ray_head_post_mortem(root)
        try:
            local_ray.wait_for_jobs_api(f"http://127.0.0.1:{dashboard}", None, timeout=180)
        except TimeoutError:
            pytest.fail(f"the session's Ray head ({root}) has stopped:\n{post_mortem}", pytrace=False)
        warnings.warn(f"the session's Ray head died and was restarted by its supervisor:\n{post_mortem}",
                      stacklevel=1)


@pytest.fixture(scope="session")
def ray_cluster():
    """A real Ray head on loopback (its own ports and temp dir), stopped by PID afterwards.

    Yields the Jobs API address; AIRFLOW_CONN_RAY_DEFAULT for it is set for the session.
    """
    root = short_tmp("ray")
    dashboard, gcs = free_port(), free_port()
    RAY_HEAD.update(root=str(root), gcs_address=f"127.0.0.2:{gcs}", dashboard_port=str(dashboard))
    local_ray.start(root, port=gcs, dashboard_port=dashboard, num_cpus=2, memory_gib=4, object_store_gib=1,
              extra=_ray_ports(ray_client_server_port=free_port(), dashboard_agent_listen_port=free_port(),
                               min_worker_port=20100, max_worker_port=20999))
    previous = os.environ.get("AIRFLOW_CONN_RAY_DEFAULT")
    os.environ["AIRFLOW_CONN_RAY_DEFAULT"] = json.dumps({"conn_type": "ray", "host": "127.0.0.1", "port": dashboard})
    try:
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_RAY_DEFAULT", None)
        else:
            os.environ["AIRFLOW_CONN_RAY_DEFAULT"] = previous
        local_ray.stop(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_gcs_address(ray_cluster) -> str:
    """The address ``ray.init`` joins ray_cluster's head by (its GCS)."""
    return RAY_HEAD["gcs_address"]


@pytest.fixture(scope="session")
def hdfs(tmp_path_factory):
    """A real NameNode + DataNode (+ WebHDFS) on loopback, on ports of its own, stopped by PID
    afterwards. Yields the ``hdfs://`` URI of the file system's root; the session's
    HADOOP_CONF_DIR and AIRFLOW_CONN_WEBHDFS_DEFAULT point at it."""
    ports = local_hdfs.Ports(free_port(), free_port(), free_port(), free_port(), free_port())
    root = tmp_path_factory.mktemp("hdfs")
    local_hdfs.start(root, ports)
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
        local_hdfs.stop(root)


@pytest.fixture(scope="session")
def spark_standalone(tmp_path_factory):
    """A Spark standalone master + one worker (2 cores) on loopback, stopped by PID.

    Yields (master URL, master web UI port)."""
    root = tmp_path_factory.mktemp("spark")
    webui = free_port()
    url = local_spark.start(root, port=free_port(), webui_port=webui, worker_webui_port=free_port(), cores=2,
                            memory="2g")
    try:
        yield url, webui
    finally:
        local_spark.stop(root)


@pytest.fixture(scope="session")
def ray_two_nodes():
    """A Ray cluster of two nodes on distinct loopback addresses (head 127.0.0.2, worker
    127.0.0.3, one CPU each), on ports apart from the other test head. Yields the Jobs API
    address; both nodes are stopped by PID."""
    from ray.util.state import list_nodes

    head_root, worker_root = short_tmp("rayh"), short_tmp("rayw")
    dashboard, gcs = free_port(), free_port()
    address = f"http://127.0.0.1:{dashboard}"
    local_ray.start(head_root, port=gcs, dashboard_port=dashboard, num_cpus=1, memory_gib=3, object_store_gib=1,
              extra=_ray_ports(ray_client_server_port=free_port(), dashboard_agent_listen_port=free_port(),
                               min_worker_port=22000, max_worker_port=22999))
    try:
        local_ray.start(worker_root, node_ip="127.0.0.3", head_address=f"127.0.0.2:{gcs}", num_cpus=1, memory_gib=3,
                  object_store_gib=1, extra=_ray_ports(dashboard_agent_listen_port=free_port(),
                                                       min_worker_port=23000, max_worker_port=23999))
        deadline = time.monotonic() + 120
        while len([n for n in list_nodes(address=address) if n.state == "ALIVE"]) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("the second Ray node did not join")
            time.sleep(1)
        yield address
    finally:
        local_ray.stop(worker_root)
        local_ray.stop(head_root)
        shutil.rmtree(worker_root, ignore_errors=True)
        shutil.rmtree(head_root, ignore_errors=True)
