"""A local Ray node on loopback for the embedded default, the tests and the benchmarks; stopped
by its PID (``python scripts/services.py ray start|stop DIR``).

`ray start --block` stays in the foreground as the parent of every process it starts, and stops
them all on SIGTERM; it runs under devtools.services.supervise, which starts it again when it
dies (as compose's `restart: unless-stopped` does for the ray-head container; each restart is a
line in the node's ray.log) and passes SIGTERM on: the node is stopped by the supervisor's PID
(never `ray stop`, which stops every Ray process on the machine). Each node gets its own
--temp-dir and explicit memory limits. Token authentication is on (RAY_AUTH_MODE=token): Ray
2.60 binds its GCS, raylet and agents on every interface whatever the node address, so every
client must present the token in RAY_AUTH_TOKEN_PATH (scripts/env.sh; created here, mode 600,
on first start). Ray's own clients (JobSubmissionClient, ray.init) read it from that
environment.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devtools.services import REPO
from devtools.services.processes import alive, spawn, stop_recorded

GiB = 1024**3


DEFAULT_TOKEN = REPO / ".local" / "ray-auth-token"


def ray_env() -> dict[str, str]:
    """The environment of a node: token auth with the embedded default's token file."""
    token = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or DEFAULT_TOKEN)
    ensure_token(token)
    return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
            "RAY_USAGE_STATS_ENABLED": "0"}


def ensure_token(path: Path) -> Path:
    """A 256-bit token in ``path`` (readable by this user only), created once."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path


def start(root: Path, *, node_ip: str = "127.0.0.2", port: int = 6379, dashboard_port: int = 8265,
          head_address: str | None = None, num_cpus: int = 2, memory_gib: float = 6,
          object_store_gib: float = 2, extra: tuple[str, ...] = (), timeout: float = 120) -> int:
    """Start a head (or, with ``head_address``, a worker) node; return the PID to stop it by.

    ``extra`` adds ray start options, e.g. distinct --ray-client-server-port and
    --dashboard-agent-listen-port so a second head can run beside the default one.
    """
    root = root.resolve()  # ray start wants an absolute --temp-dir
    root.mkdir(parents=True, exist_ok=True)
    cmd = ["ray", "start", "--block", f"--node-ip-address={node_ip}", f"--num-cpus={num_cpus}",
           f"--memory={int(memory_gib * GiB)}", f"--object-store-memory={int(object_store_gib * GiB)}",
           f"--temp-dir={root / 'tmp'}", "--disable-usage-stats", *extra]
    if head_address:
        cmd.append(f"--address={head_address}")
    else:
        cmd += ["--head", f"--port={port}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
                "--include-dashboard=true"]
    # supervised: restarted (the same ports and token) when it dies, as compose restarts ray-head
    probe = () if head_address else ("--probe-url", f"http://127.0.0.1:{dashboard_port}/api/version")
    proc = spawn([sys.executable, "-m", "devtools.services.supervise", *probe, "--", *cmd], root / "ray.log",
                 root / "ray.pid", ray_env())
    if not head_address:
        wait_for_jobs_api(f"http://127.0.0.1:{dashboard_port}", proc, timeout)
    return proc.pid


def wait_for_jobs_api(address: str, proc: subprocess.Popen | None, timeout: float) -> None:
    """Block until the head's Jobs API answers (the job agent starts after the dashboard)."""
    deadline = time.monotonic() + timeout
    token = Path(ray_env()["RAY_AUTH_TOKEN_PATH"]).read_text().strip()
    request = urllib.request.Request(f"{address}/api/jobs/", headers={"Authorization": f"Bearer {token}"})
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}; see its ray.log")
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                json.loads(resp.read())
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"Ray Jobs API at {address} not up after {timeout:.0f} s")


def stop(root: Path, timeout: float = 60) -> None:
    """Stop the node started in ``root``, by the PID recorded there."""
    stop_recorded(root / "ray.pid", timeout)


def running(root: Path) -> bool:
    """Whether the node started in ``root`` runs."""
    return alive(root / "ray.pid")
