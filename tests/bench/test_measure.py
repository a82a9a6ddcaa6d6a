"""The benchmark's memory accounting: a command's own tree, and the stack's sum without the
baselines (real processes holding real memory)."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.measure import MemorySampler, run_measured

HOLD = "import time; x = bytearray({mb} * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep({s})"
# A baseline whose memory is in a child of the process the benchmark started (excluded too).
NESTED = ("import subprocess, sys; subprocess.run([sys.executable, '-c', " + repr(HOLD.format(mb=400, s=1.5)) + "])")
MB = 2**20


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
