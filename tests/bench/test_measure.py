"""The benchmark's memory accounting: a command's own tree, and the stack's sum without the
baselines (real processes holding real memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from bench.measure import MemorySampler, process_kind, run_measured, same_memory

HOLD = "import time; x = bytearray({mb} * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep({s})"
# A baseline whose memory is in a child of the process the benchmark started (excluded too).
NESTED = ("import subprocess, sys; subprocess.run([sys.executable, '-c', " + repr(HOLD.format(mb=400, s=1.5)) + "])")
MB = 2**20
# A process holding 300 MB that starts a child sharing its address space (clone(CLONE_VM), the
# child pausing), as a JVM's posix_spawn does until the child execs; /proc shows 300 MB in both.
CLONED = """
import ctypes, os, signal, time
x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096])
libc = ctypes.CDLL(None, use_errno=True)
stack = ctypes.create_string_buffer(1 << 20)
fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
libc.clone.argtypes = [fn, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
pid = libc.clone(ctypes.cast(libc.pause, fn), ctypes.addressof(stack) + (1 << 20) - 64, 0x100 | signal.SIGCHLD, None)
assert pid > 0, ctypes.get_errno()
time.sleep(1.5)
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
"""


def test_run_measured_reports_the_peak_of_its_tree():
    out = run_measured([sys.executable, "-c", HOLD.format(mb=300, s=1.5)])
    assert out["peak_rss_bytes"] >= 300 * MB and out["wall"] >= 1.5


def test_the_stack_counts_its_processes_per_phase_and_leaves_baselines_out():
    with MemorySampler(interval=0.05, pss_every=2) as sampler:
        before = sampler.stack_rss()  # this test process's other children (a Spark JVM of other tests...)
        with sampler.phase("baseline"):
            run_measured([sys.executable, "-c", HOLD.format(mb=400, s=1.5)], sampler=sampler, baseline=True)
            run_measured([sys.executable, "-c", NESTED], sampler=sampler, baseline=True)
        with sampler.phase("ours"):
            proc = subprocess.Popen([sys.executable, "-c", HOLD.format(mb=300, s=1.5)])
            time.sleep(1.0)
            proc.wait()
    assert sampler.peaks["ours"] >= before + 300 * MB
    assert sampler.peaks["baseline"] < before + 100 * MB  # the 400 MB baseline is left out
    assert sampler.pss_peaks["ours"] >= 250 * MB  # its own pages: PSS ~ RSS
    assert sampler.pss_peaks["baseline"] < sampler.peaks["baseline"] + 100 * MB


def test_the_peak_of_a_phase_is_broken_down_by_kind_of_process():
    with MemorySampler(interval=0.05, pss_every=2) as sampler:
        with sampler.phase("ours"):
            procs = [subprocess.Popen([sys.executable, "-c", HOLD.format(mb=200, s=1.5)]) for _ in range(2)]
            time.sleep(1.0)
            for proc in procs:
                proc.wait()
    kinds = sampler.peak_makeup["ours"]
    assert kinds["python -c"]["count"] >= 2 and kinds["python -c"]["rss"] >= 400 * MB
    assert sum(k["rss"] for k in kinds.values()) == sampler.peaks["ours"]
    assert list(kinds)[0] == "python -c"  # largest first


@pytest.mark.parametrize(("cmdline", "kind"), [
    (["/opt/java-home/bin/java", "-XX:AOTCache=/x", "-cp", "/spark/conf:/spark/jars/*", "-Xmx1g",
      "org.apache.spark.deploy.SparkSubmit", "--master", "local[2]", "jobs/top_earners.py"], "java SparkSubmit"),
    (["/venv/bin/python3.11", "-u", "jobs/predict_drops.py", "--lake-root", "file:///l"], "python predict_drops.py"),
    (["/venv/bin/python", "-m", "ray.dashboard.agent", "--x"], "python -m ray.dashboard.agent"),
    (["ray::IDLE"], "ray::IDLE"),
    (["airflow worker -- LocalExecutor: <idle>   ", "", ""], "airflow worker"),
    (["/venv/bin/python3.11", "/venv/bin/airflow", "dags", "list-runs", "salary_training", "-o", "json"],
     "airflow dags list-runs"),
    (["/venv/bin/python3.11", "/venv/bin/airflow", "scheduler", "--skip-serve-logs"], "airflow scheduler"),
    (["/venv/lib/python3.11/site-packages/ray/core/src/ray/raylet/raylet", "--node_ip_address=127.0.0.1"], "raylet"),
])
def test_a_process_is_named_by_its_kind(cmdline, kind):
    assert process_kind(cmdline) == kind


def test_a_child_sharing_its_parents_address_space_is_counted_once():
    with MemorySampler(interval=0.05, pss_every=2) as sampler:
        before = sampler.stack_rss()
        with sampler.phase("cloned"):
            proc = subprocess.Popen([sys.executable, "-c", CLONED])
            time.sleep(1.0)
            assert len(psutil.Process(proc.pid).children()) == 1  # the clone, alive
            proc.wait()
    assert proc.returncode == 0
    assert before + 300 * MB <= sampler.peaks["cloned"] < before + 450 * MB  # 600 MB if counted twice


def test_same_memory_tells_a_shared_address_space_from_a_forked_copy():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert same_memory(os.getpid(), os.getpid())
        assert not same_memory(child.pid, os.getpid())
    finally:
        child.kill()
        child.wait()
