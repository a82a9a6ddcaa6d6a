"""Keep a local service's foreground command running, as compose's ``restart: unless-stopped``
keeps its container (``python -m devtools.services.supervise [--probe-url URL] -- CMD...``).

The supervisor is the process whose PID the service records: it starts ``CMD``, and when
``CMD`` exits with an error, or the HTTP server at ``--probe-url`` has not answered (20 s
each) three checks in a row, it stops what is left of it and starts it again (at most
``--max-restarts`` times; each restart is printed to the service's log with the exit code).
A command that fails before it came up (before the probe first answered; without a probe,
within 30 s) is not restarted: that is a bad configuration, not a crash.
SIGTERM stops ``CMD`` (SIGTERM, then SIGKILL to its process group after 45 s: it runs in a
session of its own) and ends the supervisor with it, sooner than ``processes.stop_recorded``
falls back on SIGKILL to the supervisor's group.

Used for the Ray nodes: ``ray start --block`` ends all its processes when one of them exits
with an error, and keeps running without one that exited by SIGTERM (its dashboard, which
the probe asks for its version).
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime


def answers(url: str, timeout: float = 20) -> bool:
    """Whether an HTTP server answers ``url`` within ``timeout`` (any status, 401 included: a
    listening socket alone is not enough, the processes that inherited it may not serve it)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, http.client.HTTPException):
        return False


def say(message: str) -> None:
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')} [supervise] {message}", flush=True)


class Supervisor:
    """Runs ``cmd`` until stopped, restarting it as the module docstring says."""

    def __init__(self, cmd: Sequence[str], *, probe: Callable[[], bool] | None = None, max_restarts: int = 5,
                 restart_delay: float = 5.0, probe_interval: float = 5.0, probe_failures: int = 3,
                 stop_timeout: float = 45.0, min_uptime: float = 30.0) -> None:
        self.cmd = list(cmd)
        self.probe = probe  # True while the service answers
        self.max_restarts = max_restarts
        self.restart_delay = restart_delay
        self.probe_interval = probe_interval
        self.probe_failures = probe_failures
        self.stop_timeout = stop_timeout
        self.min_uptime = min_uptime  # without a probe: how long it must have run to count as up
        self.came_up = False  # with a probe: whether the service has answered it
        self.stopping = False
        self.child: subprocess.Popen | None = None
        self.restarts = 0

    def on_sigterm(self, *_: object) -> None:
        self.stopping = True  # watch() stops the child

    def run(self) -> int:
        """Supervise until SIGTERM or until ``cmd`` fails more often than allowed; the exit code."""
        while True:
            self.child = subprocess.Popen(self.cmd, start_new_session=True)
            started = time.monotonic()
            code = self.watch(self.child)
            if self.stopping or code == 0:
                return code
            if not self.came_up and time.monotonic() - started < self.min_uptime:
                say(f"{self.cmd[0]} exited with {code} before it came up: not restarted")
                return code
            if self.restarts >= self.max_restarts:
                say(f"{self.cmd[0]} exited with {code}; {self.max_restarts} restarts used, giving up")
                return code
            self.restarts += 1
            say(f"{self.cmd[0]} exited with {code}; restart {self.restarts} of {self.max_restarts} "
                f"in {self.restart_delay:.0f} s")
            deadline = time.monotonic() + self.restart_delay
            while time.monotonic() < deadline and not self.stopping:
                time.sleep(0.2)
            if self.stopping:
                return code

    def watch(self, child: subprocess.Popen) -> int:
        """Wait for ``child`` to exit; stop it on SIGTERM, or when the probe has failed
        ``probe_failures`` times in a row after the service first answered it."""
        failures, self.came_up = 0, False
        next_probe = time.monotonic() + self.probe_interval
        while True:
            try:
                return child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
            if self.stopping:
                return self.stop(child)
            if self.probe is None or time.monotonic() < next_probe:
                continue
            next_probe = time.monotonic() + self.probe_interval
            if self.probe():
                if not self.came_up:
                    say(f"{self.cmd[0]} answers its probe: up")
                failures, self.came_up = 0, True
            elif self.came_up:
                failures += 1
                if failures >= self.probe_failures:
                    say(f"the probe failed {failures} times in a row: stopping {self.cmd[0]} to restart it")
                    return self.stop(child) or 1

    def stop(self, child: subprocess.Popen) -> int:
        """SIGTERM ``child``; SIGKILL to its process group (its own session) after
        ``stop_timeout``; its exit code."""
        child.send_signal(signal.SIGTERM)
        try:
            return child.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # not reaped yet: the group is still its own
            return child.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe-url", help="restart when the HTTP server at this URL stops answering")
    parser.add_argument("--max-restarts", type=int, default=5)
    parser.add_argument("--restart-delay", type=float, default=5.0)
    parser.add_argument("--probe-interval", type=float, default=5.0)
    parser.add_argument("--min-uptime", type=float, default=30.0, help="without a probe: seconds up before a "
                        "failure counts as a crash (restarted) rather than a failed start (not restarted)")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the service's foreground command")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command to supervise")
    url = args.probe_url
    supervisor = Supervisor(cmd, probe=(lambda: answers(url)) if url else None,
                            max_restarts=args.max_restarts, restart_delay=args.restart_delay,
                            probe_interval=args.probe_interval, min_uptime=args.min_uptime)
    signal.signal(signal.SIGTERM, supervisor.on_sigterm)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
