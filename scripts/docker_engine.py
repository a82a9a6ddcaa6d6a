"""A Docker engine of our own for the cluster test, stopped by its PID.

    python scripts/docker_engine.py start     # prints the DOCKER_HOST to use
    python scripts/docker_engine.py stop
    python scripts/docker_engine.py status    # exit 0 when our engine answers

When ``DOCKER_HOST`` already names an engine that answers, that engine is used and nothing is
started or stopped. Otherwise ``start`` installs Debian's ``docker.io`` when it is missing (as
root; a clear message otherwise) and starts ``dockerd`` with its own data root (kept in the
cache, so built images are reused by the next run), exec root, pid file and unix socket, and
``--ip-masq=false``: containers reach each other and this machine, nothing beyond it. ``stop``
sends SIGTERM to that one PID (dockerd stops its containers and its containerd).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from devtools.processes import alive, stop_recorded

CACHE = Path(os.environ.get("SALARY_CACHE", Path.home() / ".cache" / "salary-pipeline"))
ROOT = CACHE / "docker"
# Unix socket paths are limited to 107 bytes: the exec root (containerd's sockets) stays short.
EXEC_ROOT = Path("/tmp/salary-dockerd")
SOCKET = ROOT / "docker.sock"
PID_FILE = ROOT / "dockerd.pid"
PACKAGES = ["docker.io"]


def host() -> str:
    return f"unix://{SOCKET}"


def answers(docker_host: str) -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    proc = subprocess.run([docker, "version", "--format", "{{.Server.Version}}"], capture_output=True,
                          env={**os.environ, "DOCKER_HOST": docker_host}, timeout=30)
    return proc.returncode == 0


def install() -> None:
    if shutil.which("dockerd"):
        return
    if os.geteuid() != 0:
        raise SystemExit("[docker] no Docker engine: run as root (set-up installs Debian's docker.io), "
                         "or `sudo apt-get install -y docker.io`, or point DOCKER_HOST at a running engine")
    print("[docker] installing Debian's docker.io", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True, env=env, stdout=subprocess.DEVNULL)


def start(timeout: float = 120) -> str:
    """Our engine, running; returns its DOCKER_HOST. Reuses an engine that already answers."""
    external = os.environ.get("DOCKER_HOST")
    if external and external != host() and answers(external):
        return external
    if alive(PID_FILE) and answers(host()):
        return host()
    install()
    if os.geteuid() != 0:
        raise SystemExit("[docker] starting dockerd needs root; or point DOCKER_HOST at a running engine")
    ROOT.mkdir(parents=True, exist_ok=True)
    EXEC_ROOT.mkdir(parents=True, exist_ok=True)
    SOCKET.unlink(missing_ok=True)
    pid_arg = ROOT / "dockerd.daemon-pid"  # dockerd's own pid file; ours is written below
    cmd = ["dockerd", "--data-root", str(ROOT / "data"), "--exec-root", str(EXEC_ROOT),
           "--pidfile", str(pid_arg), "-H", host(), "--ip-masq=false", "--userland-proxy=true"]
    log = open(ROOT / "dockerd.log", "ab")  # noqa: SIM115 - stays open for the daemon's lifetime
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    PID_FILE.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while not answers(host()):
        if proc.poll() is not None:
            raise SystemExit(f"[docker] dockerd exited with {proc.returncode}; see {ROOT / 'dockerd.log'}")
        if time.monotonic() > deadline:
            stop()
            raise SystemExit(f"[docker] dockerd did not answer in {timeout:.0f} s; see {ROOT / 'dockerd.log'}")
        time.sleep(0.5)
    return host()


def stop(timeout: float = 90) -> None:
    """Stop the engine we started (by its PID); an engine we did not start is left alone."""
    stop_recorded(PID_FILE, timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a Docker engine of our own, stopped by its PID")
    parser.add_argument("action", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    if args.action == "start":
        print(start())
    elif args.action == "stop":
        stop()
    else:
        return 0 if alive(PID_FILE) and answers(host()) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
