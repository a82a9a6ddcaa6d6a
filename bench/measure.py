"""Wall time and memory of what the benchmark runs.

``MemorySampler`` sums, every 0.1 s, the RSS of every process this benchmark started (the
embedded stack: Ray head and workers, Airflow's components and their task processes, Spark
drivers), except the baselines' processes, and keeps the peak per phase. It sums their PSS
too: RSS counts a shared page once in every process that maps it (Ray's object store in the
raylet and in each worker reading from it, the pages LocalExecutor's forked workers share
with the scheduler), PSS splits it among them, so the PSS sum is the memory the stack takes.
A process that shares its parent's address space is counted once: a JVM starts every
subprocess (Hadoop's local file system runs ``chmod`` and ``readlink`` for the files a job
writes, 60-125 of them per job) with a vfork-like ``posix_spawn``, and until the child execs it
*is* the JVM's memory, which ``/proc`` shows in both (kernel's ``kcmp(KCMP_VM)`` tells). At each
phase's peak it keeps the peak's makeup: the summed RSS per kind of process
(``process_kind``: a Spark driver, a Ray worker, an Airflow task process...), largest first.
``run_measured`` runs one command and reports the peak RSS of its own process tree as well.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
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


_SYS_KCMP = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
_KCMP_VM = 1
_libc = ctypes.CDLL(None, use_errno=True)


def same_memory(pid: int, other: int) -> bool:
    """Whether the two processes share one address space (``kcmp(2)``, KCMP_VM); False when the
    kernel cannot tell (no such process, no permission, another architecture)."""
    if _SYS_KCMP is None:
        return False
    return _libc.syscall(_SYS_KCMP, pid, other, _KCMP_VM, 0, 0) == 0


def _words(args: list[str], n: int) -> str:
    """The program's name and its first ``n`` arguments that are words (a subcommand), not
    options, paths or settings."""
    words = [os.path.basename(args[0]), *(a for a in args[1:n + 1] if re.fullmatch(r"[\w:.-]+", a)
                                          and not a.startswith("-"))]
    return " ".join(words)[:48]


def process_kind(cmdline: list[str]) -> str:
    """A short name for what a process of the stack is, from its command line: a JVM by its main
    class (``java SparkSubmit``), a Python program by its script or module (a console script
    with its subcommand: ``airflow dags list-runs``), a process that renamed itself
    (``ray::IDLE``, ``airflow worker -- LocalExecutor``) by its first words."""
    args = [a for a in cmdline if a]
    if len(args) == 1:  # a title set with setproctitle
        args = args[0].split()
    if not args:
        return "?"
    prog = os.path.basename(args[0])
    rest = iter(args[1:])
    if prog == "java":
        for arg in rest:
            if arg in ("-cp", "-classpath", "--class-path"):
                next(rest, None)
            elif not arg.startswith("-"):
                return f"java {arg.rsplit('.', 1)[-1]}"
        return "java"
    if re.fullmatch(r"python[\d.]*", prog):
        for i, arg in enumerate(rest, start=1):
            if arg == "-m":
                return f"python -m {next(rest, '')}"
            if arg == "-c":
                return "python -c"
            if not arg.startswith("-"):
                return f"python {os.path.basename(arg)}" if arg.endswith(".py") else _words(args[i:], 2)
        return "python"
    return _words(args, 2)


class MemorySampler:
    """Peak summed RSS of this process's descendants, minus the excluded trees, per phase."""

    def __init__(self, interval: float = 0.1, pss_every: int = 10) -> None:
        self.interval = interval
        self.pss_every = pss_every  # PSS walks every page table: every 10th sample (1 s), not to load the cores
        self.peaks: dict[str, int] = {}  # summed RSS
        self.pss_peaks: dict[str, int] = {}  # summed PSS
        self.peak_makeup: dict[str, dict[str, dict[str, int]]] = {}  # phase -> kind -> {count, rss}
        self.phase_name = "idle"
        self.excluded: set[int] = set()
        self._me = psutil.Process()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def stack_memory(self, pss: bool = True) -> tuple[int, int | None]:
        """Summed (RSS, PSS) of the stack now: every descendant outside the excluded trees (a
        process is outside when no process on its way up to this one is excluded). PSS is
        None when not asked for."""
        rss_sum, pss_sum, _ = self._sample(pss)
        return rss_sum, pss_sum

    def _sample(self, pss: bool) -> tuple[int, int | None, list[tuple[psutil.Process, int]]]:
        """``stack_memory`` with each counted process and its RSS."""
        procs = self._me.children(recursive=True)
        parent: dict[int, int] = {}
        for proc in procs:
            try:
                parent[proc.pid] = proc.ppid()
            except psutil.Error:
                pass
        excluded = set(self.excluded)

        def in_excluded_tree(pid: int) -> bool:
            while pid in parent:
                if pid in excluded:
                    return True
                pid = parent[pid]
            return pid in excluded

        rss_sum, pss_sum = 0, 0
        members: list[tuple[psutil.Process, int]] = []
        for proc in procs:
            if in_excluded_tree(proc.pid) or (proc.pid in parent and same_memory(proc.pid, parent[proc.pid])):
                continue
            try:
                if pss:
                    info = proc.memory_full_info()
                    rss, pss_sum = info.rss, pss_sum + info.pss
                else:
                    rss = proc.memory_info().rss
            except psutil.Error:
                continue
            rss_sum += rss
            members.append((proc, rss))
        return rss_sum, pss_sum if pss else None, members

    @staticmethod
    def makeup(members: list[tuple[psutil.Process, int]]) -> dict[str, dict[str, int]]:
        """Summed RSS and count per ``process_kind``, largest first."""
        kinds: dict[str, dict[str, int]] = {}
        for proc, rss in members:
            try:
                kind = process_kind(proc.cmdline())
            except psutil.Error:
                kind = "?"
            entry = kinds.setdefault(kind, {"count": 0, "rss": 0})
            entry["count"] += 1
            entry["rss"] += rss
        return dict(sorted(kinds.items(), key=lambda kv: -kv[1]["rss"]))

    def stack_rss(self) -> int:
        return self.stack_memory(pss=False)[0]

    def _run(self) -> None:
        n = 0
        while not self._done.is_set():
            rss, pss, members = self._sample(pss=n % self.pss_every == 0)
            phase = self.phase_name
            if phase not in self.peaks or rss > self.peaks[phase]:
                self.peaks[phase] = rss
                self.peak_makeup[phase] = self.makeup(members)
            if pss is not None:
                self.pss_peaks[phase] = max(self.pss_peaks.get(phase, 0), pss)
            n += 1
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

    @property
    def pss_peak(self) -> int:
        return max(self.pss_peaks.values(), default=0)


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
