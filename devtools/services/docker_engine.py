"""A Docker engine of our own, stopped by its PID: the cluster test's (this machine's network)
and one per simulated host (inside that host's network namespace, devtools.hosts).

An engine has its own data root (kept in the cache, so built or loaded images are reused by the
next run), exec root, pid file and unix socket. ``start`` installs Debian's ``docker.io`` when it
is missing (as root; a clear message otherwise). On this machine's network the engine runs with
``--ip-masq=false``: containers reach each other and this machine, nothing beyond it. Inside a
namespace of ours it masquerades (so containers on a host's bridge reach the other hosts at that
host's address): the namespace has no route beyond the links we made. ``stop`` sends SIGTERM to
that one PID (dockerd stops its containers and its containerd).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devtools.services import CACHE
from devtools.services.processes import alive, spawn, stop_recorded

PACKAGES = ["docker.io"]


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


@dataclass(frozen=True)
class Engine:
    """One dockerd: ``root`` holds its data, socket and pid file; ``exec_root`` is short (unix
    socket paths are limited to 107 bytes); ``netns`` names the network namespace it runs in."""

    root: Path
    exec_root: Path
    netns: str | None = None

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def pid_file(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def running(self) -> bool:
        return alive(self.pid_file) and answers(self.host)

    def start(self, timeout: float = 120) -> str:
        """The engine, running; returns its DOCKER_HOST."""
        if self.running():
            return self.host
        install()
        if os.geteuid() != 0:
            raise SystemExit("[docker] starting dockerd needs root; or point DOCKER_HOST at a running engine")
        self.root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        cmd = ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.exec_root),
               "--pidfile", str(self.root / "dockerd.daemon-pid"), "-H", self.host, "--userland-proxy=true"]
        if self.netns is None:
            cmd.append("--ip-masq=false")
        else:
            # nsenter, not `ip netns exec`: that remounts /sys and hides the cgroup mounts dockerd needs.
            cmd = ["nsenter", f"--net=/var/run/netns/{self.netns}", *cmd]
        proc = spawn(cmd, self.root / "dockerd.log", self.pid_file)
        deadline = time.monotonic() + timeout
        while not answers(self.host):
            if proc.poll() is not None:
                raise SystemExit(f"[docker] dockerd exited with {proc.returncode}; see {self.root / 'dockerd.log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"[docker] dockerd did not answer in {timeout:.0f} s; see {self.root / 'dockerd.log'}")
            time.sleep(0.5)
        return self.host

    def stop(self, timeout: float = 90) -> None:
        """Stop the engine (by its PID); a dead PID is not an error."""
        stop_recorded(self.pid_file, timeout)


# The cluster test's engine, on this machine's network.
LOCAL = Engine(CACHE / "docker", Path("/tmp/salary-dockerd"))


def start(timeout: float = 120) -> str:
    """An engine that answers: DOCKER_HOST's when it names one, else ours (started if needed)."""
    external = os.environ.get("DOCKER_HOST")
    if external and external != LOCAL.host and answers(external):
        return external
    return LOCAL.start(timeout)


def stop(timeout: float = 90) -> None:
    """Stop our engine; an engine we did not start is left alone."""
    LOCAL.stop(timeout)
