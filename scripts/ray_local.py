"""Start or stop a local Ray node on loopback for the embedded default; stopped by its PID.

    python scripts/ray_local.py start DIR [--port 6379 --dashboard-port 8265 ...]
    python scripts/ray_local.py stop DIR

`ray start --block` stays in the foreground as the parent of every process it starts, and
stops them all on SIGTERM, so the node is stopped by that one PID (never `ray stop`, which
stops every Ray process on the machine). Each node gets its own --temp-dir, explicit memory
limits and RAY_AUTH_MODE=disabled (loopback only; Ray 2.59+ would otherwise turn token auth
on when ~/.ray/auth_token exists).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from salary.processes import alive, stop_recorded

GiB = 1024**3


def ray_env() -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


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
    log = open(root / "ray.log", "ab")  # noqa: SIM115 - stays open for the node's lifetime
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ray_env(), start_new_session=True)
    (root / "ray.pid").write_text(str(proc.pid))
    if not head_address:
        wait_for_jobs_api(f"http://127.0.0.1:{dashboard_port}", proc, timeout)
    return proc.pid


def wait_for_jobs_api(address: str, proc: subprocess.Popen | None, timeout: float) -> None:
    """Block until the head's Jobs API answers (the job agent starts after the dashboard)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}; see its ray.log")
        try:
            with urllib.request.urlopen(f"{address}/api/jobs/", timeout=2) as resp:
                json.loads(resp.read())
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"Ray Jobs API at {address} not up after {timeout:.0f} s")


def stop(root: Path, timeout: float = 60) -> None:
    """Stop the node started in ``root``, by the PID recorded there."""
    stop_recorded(root / "ray.pid", timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="local Ray node on loopback")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--dashboard-port", type=int, default=8265)
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parser.parse_args(argv)
    if args.action == "start":
        if alive(args.dir / "ray.pid"):
            print(f"Ray already running (pid {(args.dir / 'ray.pid').read_text()})")
            return 0
        pid = start(args.dir, port=args.port, dashboard_port=args.dashboard_port, num_cpus=args.num_cpus)
        print(f"Ray head up on http://127.0.0.1:{args.dashboard_port} (pid {pid})")
    else:
        stop(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
