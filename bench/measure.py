"""Wall time and memory of what the benchmark runs.

``MemorySampler`` sums, every 0.1 s, the RSS of every process this benchmark started (the
embedded stack: Ray head and workers, Airflow's components and their task processes, Spark
drivers), except the baselines' processes, and keeps the peak per phase. ``run_measured``
runs one command and reports the peak of its own process tree as well.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil


def tree_rss(root: psutil.Process) -> int:
    """Summed RSS of ``root`` and its descendants (processes that vanish meanwhile count 0)."""
    try:
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:  # the root has exited
        return 0
    total = 0
    for proc in tree:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


class MemorySampler:
    """Peak summed RSS of this process's descendants, minus the excluded trees, per phase."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peaks: dict[str, int] = {}
        self.phase_name = "idle"
        self.excluded: set[int] = set()
        self._me = psutil.Process()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def stack_rss(self) -> int:
        """Summed RSS of the stack now: every descendant not in an excluded tree."""
        skip: set[int] = set()
        for pid in list(self.excluded):
            try:
                root = psutil.Process(pid)
                skip |= {pid, *(p.pid for p in root.children(recursive=True))}
            except psutil.Error:
                pass
        total = 0
        for proc in self._me.children(recursive=True):
            if proc.pid in skip:
                continue
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._done.is_set():
            rss = self.stack_rss()
            self.peaks[self.phase_name] = max(self.peaks.get(self.phase_name, 0), rss)
            self._done.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        previous, self.phase_name = self.phase_name, name
        try:
            yield
        finally:
            self.phase_name = previous

    @property
    def peak(self) -> int:
        return max(self.peaks.values(), default=0)


def run_measured(cmd: list[str], env: dict[str, str] | None = None, sampler: MemorySampler | None = None,
                 baseline: bool = False) -> dict[str, Any]:
    """Run ``cmd``; its wall seconds, output and the peak summed RSS of its process tree. A
    ``baseline`` command is left out of ``sampler``'s stack (it is not part of the pipeline)."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or os.environ)
    if baseline and sampler is not None:
        sampler.excluded.add(proc.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc))
            done.wait(0.1)

    sampler_thread = threading.Thread(target=sample, daemon=True)
    sampler_thread.start()
    out, err = proc.communicate()
    done.set()
    sampler_thread.join()
    wall = time.perf_counter() - start
    if sampler is not None:
        sampler.excluded.discard(proc.pid)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall": wall, "stdout": out, "stderr": err, "peak_rss_bytes": peak}
