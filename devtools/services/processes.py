"""Stopping the local services our scripts start (Ray, HDFS, Spark standalone) by their PIDs.

Each service process is started in its own session (``start_new_session=True``) and its PID
written to ``<dir>/<name>.pid``; it is stopped by SIGTERM to that PID, and SIGKILL to its own
process group only if it has not exited in time. Never by name: other processes on the
machine with the same name are left alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn(cmd: Sequence[str], log: Path, pid_file: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start ``cmd`` in its own session, its output appended to ``log``, its PID written to
    ``pid_file`` (what ``stop_recorded`` stops it by)."""
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=dict(env) if env else None,
                                start_new_session=True)
    pid_file.write_text(str(proc.pid))
    return proc


def exited(pid: int) -> bool:
    """Whether ``pid`` has ended; reaps it when it is our own child (else it stays a zombie)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:  # started by another process (e.g. an earlier `make demo`)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def alive(pid_file: Path) -> bool:
    """Whether the process recorded in ``pid_file`` runs."""
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text()), 0)
        return True
    except ProcessLookupError:
        return False


def stop_recorded(pid_file: Path, timeout: float) -> None:
    """Stop the process recorded in ``pid_file`` and remove the file; a dead PID is not an error."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink()
        return
    deadline = time.monotonic() + timeout
    while not exited(pid):
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)  # its own session: only this service's processes
            except ProcessLookupError:
                pass
            deadline = float("inf")
        time.sleep(0.1)
    pid_file.unlink()
