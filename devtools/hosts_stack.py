"""The deployment on several hosts, done the way docs/multi-host.md tells a user to do it, on hosts
simulated by devtools.hosts: the head's stack (docker-compose.yaml + docker-compose.hosts.yaml),
then each worker host joined with docker-compose.worker.yaml. Each host gets its own copy of the
files it needs (nothing is shared but the network), the images by ``docker save | docker load``,
and a worker host only its part of .env and its own TLS certificate.

``hosts_stack()`` yields a ``HostsStack``: ``head`` is a ``cluster_stack.Stack`` (the REST API, the
head's compose project) and ``join()`` adds a worker host. Everything made is removed at the end,
also on failure or interruption (SIGTERM is turned into an exception so the teardown runs).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devtools import hosts
from devtools.cluster_stack import (
    PROJECT,
    REPO,
    Stack,
    StatsSampler,
    Timer,
    build_images,
    compose_binary,
    write_env_file,
)
from devtools.services import docker_engine

OUT = hosts.OUT
IMAGE = "salary-pipeline:latest"
HEAD_FILES = ["docker-compose.yaml", "docker-compose.hosts.yaml"]
# The part of the head's .env a worker host gets: the engines' secrets, never Airflow's or Postgres's.
WORKER_SECRETS = ("RAY_AUTH_TOKEN", "SPARK_AUTH_SECRET")


def copy_deployment(dest: Path, files: list[str]) -> None:
    """What a user copies to a host: the compose files named, docker/hadoop/ (HDFS settings) and
    the firewall script."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in [*files, "scripts/host_firewall.sh"]:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name)
    shutil.rmtree(dest / "docker", ignore_errors=True)
    shutil.copytree(REPO / "docker" / "hadoop", dest / "docker" / "hadoop", symlinks=True)


def issue_certificate(head_dir: Path, name: str, address: str) -> Path:
    """scripts/cluster_tls.sh on the head: the host's certificate under the head's tls/."""
    subprocess.run(["bash", str(REPO / "scripts" / "cluster_tls.sh"), str(head_dir / "tls"), name, address],
                   check=True, capture_output=True, timeout=120)
    return head_dir / "tls" / name


@dataclass
class WorkerHost:
    host: hosts.Host
    env: dict[str, str]
    files: list[str] = field(default_factory=lambda: ["docker-compose.worker.yaml"])

    def compose(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        cmd = [compose_binary(), "-p", PROJECT, "--project-directory", str(self.host.dir),
               "--env-file", str(self.host.dir / ".env")]
        for f in self.files:
            cmd += ["-f", str(self.host.dir / f)]
        proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "DOCKER_HOST": self.host.engine.host})
        if check and proc.returncode != 0:
            raise AssertionError(f"[{self.host.name}] docker compose {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).stdout.split()


class HostsStack:
    def __init__(self, head_host: hosts.Host, head: Stack, worker_images: list[str]) -> None:
        self.head_host, self.head, self.worker_images = head_host, head, worker_images
        self.workers: list[WorkerHost] = []
        self.timer = head.timer
        # Hosts made ready in the background, one at a time (moving an image is the long part).
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="prepare")
        self._preparing: dict[int, Future[WorkerHost]] = {}

    def prepare_soon(self, index: int) -> None:
        """Start making host ``index`` ready in the background (what ``prepare`` does)."""
        if index not in self._preparing:
            self._preparing[index] = self._pool.submit(self.prepare, index)

    def prepared(self, index: int) -> WorkerHost:
        """Host ``index`` made ready: waits for its background preparation, or prepares it now."""
        self.prepare_soon(index)
        return self._preparing[index].result()

    def close(self) -> None:
        """No preparation left running (before the teardown removes what it works on)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def prepare(self, index: int, env_overrides: dict[str, str] | None = None) -> WorkerHost:
        """A new host made ready as docs/multi-host.md says: the images loaded, its files and its part
        of .env copied, its certificate issued by the head. Nothing runs on it yet."""
        host = hosts.host_up(hosts.Host(f"worker-{index}", index))
        t0 = time.monotonic()
        hosts.move_image(self.head_host, host, self.worker_images)
        self.timer(f"{host.name}: images moved (docker save | docker load)", time.monotonic() - t0)
        copy_deployment(host.dir, ["docker-compose.worker.yaml"])
        hosts.firewall(host, "worker", self.head_host)
        certificate = issue_certificate(self.head_host.dir, host.name, host.address)
        shutil.rmtree(host.dir / "tls", ignore_errors=True)
        shutil.copytree(certificate, host.dir / "tls")
        env = {"HEAD_ADDRESS": self.head_host.address, "HOST_ADDRESS": host.address,
               **{k: self.head.env[k] for k in WORKER_SECRETS}}
        if self.head.mode == "offline":
            env["HADOOP_IMAGE"] = "salary-offline/hadoop:2.7.3"
        env.update(env_overrides or {})
        (host.dir / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        (host.dir / ".env").chmod(0o600)
        return WorkerHost(host, env)

    def up(self, worker: WorkerHost) -> None:
        """The one command that joins a prepared host."""
        t0 = time.monotonic()
        worker.compose("up", "-d", "--wait", "--wait-timeout", "300", timeout=420)
        self.timer(f"{worker.host.name}: up --wait", time.monotonic() - t0)
        self.workers.append(worker)

    # -- what the engines report, read as an operator reads it --------------------------------
    def spark_master(self) -> dict:
        port = self.head.env["SPARK_UI_PORT"]
        return json.loads(self.head.exec("spark-master", "curl", "-fsS", f"http://127.0.0.1:{port}/json/").stdout)

    def ray_nodes(self) -> list[dict]:
        """Alive Ray nodes, from the head (the state API through the dashboard, with the token)."""
        url = ("http://ray-head:8265/api/v0/nodes?limit=1000&filter_keys=state&filter_predicates=%3D"
               "&filter_values=ALIVE")
        out = self.head.exec("airflow-api-server", "curl", "-fsS", "-H",
                             f"Authorization: Bearer {self.head.env['RAY_AUTH_TOKEN']}", url).stdout
        return json.loads(out)["data"]["result"]["result"]

    def joined(self, n_hosts: int) -> bool:
        """Every host counted by Spark (alive workers), Ray (alive nodes) and HDFS (live DataNodes)."""
        workers = [w for w in self.spark_master()["workers"] if w["state"] == "ALIVE"]
        return (len({w["host"] for w in workers}) == n_hosts and len(self.ray_nodes()) == n_hosts
                and len(self.datanodes()) == n_hosts)

    def datanodes(self) -> list[str]:
        """Addresses of the live DataNodes (dfsadmin -report)."""
        report = self.head.exec("namenode", "hdfs", "dfsadmin", "-report", "-live").stdout
        return sorted(line.split(":", 1)[1].strip().split(":")[0]
                      for line in report.splitlines() if line.startswith("Name:"))


def _raise_on_sigterm(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def hosts_stack(workers_ahead: int = 0) -> Iterator[HostsStack]:
    """The head host (the whole stack, host-networked where other hosts reach it) with nothing joined
    yet; ``prepared(i)`` then ``up()`` add worker hosts. Worker hosts 1..``workers_ahead`` are made
    ready in the background from the moment the head starts, as an operator may prepare machines
    while the head comes up. Torn down whole afterwards: containers, engines, links, namespaces."""
    hosts.teardown()  # what an interrupted run left
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    OUT.mkdir(parents=True, exist_ok=True)
    head_host = hosts.Host("head", 0)
    head: Stack | None = None
    stack: HostsStack | None = None
    made_local = not docker_engine.LOCAL.running() and not os.environ.get("DOCKER_HOST")
    try:
        # Images are built where the registries are reachable: this machine's engine.
        os.environ["DOCKER_HOST"] = docker_engine.start()
        local = Stack(OUT / "build.env", ["docker-compose.yaml"], write_env_file(OUT / "build.env"))
        local.timer = Timer(OUT / "timings.json")
        build_images(local)
        images = [IMAGE, *_images_of(local)]
        worker_images = [IMAGE, "salary-offline/hadoop:2.7.3" if local.mode == "offline" else "apache/hadoop:3"]
        hosts.host_up(head_host)
        t0 = time.monotonic()
        hosts.move_image(None, head_host, images)
        local.timer("head: images moved (docker save | docker load)", time.monotonic() - t0)
        if made_local:
            docker_engine.stop()  # built and moved: this machine's engine is not part of the cluster
        copy_deployment(head_host.dir, [*HEAD_FILES, "docker-compose.offline.yaml"])
        hosts.firewall(head_host, "head", head_host)
        issue_certificate(head_host.dir, "head", head_host.address)
        files = [*HEAD_FILES, *(["docker-compose.offline.yaml"] if local.mode == "offline" else [])]
        head = Stack(head_host.dir / ".env", files, write_env_file(head_host.dir / ".env"),
                     project_dir=head_host.dir, docker_host=head_host.engine.host, ui_address=head_host.address)
        head.set_env(HEAD_ADDRESS=head_host.address, AIRFLOW_UI_PORT="8080", SPARK_UI_PORT="18080",
                     RAY_DASHBOARD_PORT="8265", HDFS_UI_PORT="9870")
        head.mode, head.timer = local.mode, local.timer
        head.sampler = StatsSampler(head, path=OUT / "docker-stats-head.json")  # the head host's containers
        stack = HostsStack(head_host, head, worker_images)
        for index in range(1, workers_ahead + 1):
            stack.prepare_soon(index)
        t0 = time.monotonic()
        head.sampler.start()
        head.compose("up", "-d", "--wait", "--wait-timeout", "600", timeout=900)
        head.timer("head: up --wait (every service healthy)", time.monotonic() - t0)
        yield stack
    finally:
        try:
            if stack is not None:
                stack.close()
            if head is not None:
                head.sampler.stop()
            for name, proc in _logs().items():
                (OUT / f"logs-{name}.txt").write_text(proc)
        except Exception as exc:  # noqa: BLE001 - never in the way of the teardown
            print(f"could not save the hosts' logs: {exc!r}")
        if os.environ.get("SALARY_CLUSTER_KEEP") == "1":
            print(f"hosts kept: {hosts.MADE}; remove with python -c 'from devtools import hosts; hosts.teardown()'")
        else:
            hosts.teardown()
        signal.signal(signal.SIGTERM, previous)


def _images_of(local: Stack) -> list[str]:
    if local.mode == "offline":
        return ["salary-offline/postgres:15", "salary-offline/hadoop:2.7.3"]
    return ["postgres:16-bookworm", "apache/hadoop:3"]


def _logs() -> dict[str, str]:
    """Every container's log on every host we made, for a failed run's diagnosis."""
    logs: dict[str, str] = {}
    made = json.loads(hosts.MADE.read_text()) if hosts.MADE.exists() else {}
    for root in made.get("engine", []):
        engine = docker_engine.Engine(Path(root), Path("/nonexistent"))
        if not engine.running():
            continue
        env = {**os.environ, "DOCKER_HOST": engine.host}
        names = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                               env=env, timeout=60).stdout.split()
        text = []
        for name in names:
            proc = subprocess.run(["docker", "logs", "--timestamps", "--tail", "3000", name], capture_output=True,
                                  text=True, env=env, timeout=120)
            text.append(f"===== {name}\n{proc.stdout}{proc.stderr}")
        logs[Path(root).name] = "\n".join(text)
    return logs
