"""The multi-host deployment measured: salary_training at 1M rows with the head host alone, then
again after a worker host joined as docs/multi-host.md says; each task's seconds (Airflow's task
instances) and their ratio, in one run. The simulated hosts (devtools.hosts: network namespaces,
an engine each) share this machine's cores, so the ratio shows what the second host's engines
cost and buy here, not what a second machine's cores would.

    python -m bench.hosts [--rows 1000000]

As root, with the Docker engine set-up provides; writes bench/results/hosts.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench.compose import GB, print_ratios, save, training_run
from devtools.hosts_stack import hosts_stack

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "hosts.json")
    args = parser.parse_args(argv)
    runs: dict[str, Any] = {}
    with hosts_stack(workers_ahead=1) as cluster:
        runs["head alone"] = training_run(cluster.head, args.rows, "head alone")
        worker = cluster.prepared(1)
        t0 = time.monotonic()
        cluster.up(worker)
        while not cluster.joined(2):
            if time.monotonic() - t0 > 300:
                raise RuntimeError("worker-1 did not join Spark, Ray and HDFS in 300 s")
            time.sleep(2)
        join_s = time.monotonic() - t0
        runs["head + worker-1"] = training_run(cluster.head, args.rows, "head + worker-1")
        peaks = {phase: p["sum_bytes"] for phase, p in cluster.head.sampler.peaks.items()}
    print_ratios(args.rows, ("one host s", runs["head alone"]), ("two hosts s", runs["head + worker-1"]))
    print(f"worker-1: up -> counted by Spark, Ray and HDFS in {join_s:.1f} s")
    print("head host's peak summed container memory: " + ", ".join(f"{k} {v / GB:.2f} GB" for k, v in peaks.items()))
    save(args.out, args.rows, {"join_seconds": join_s, "runs": runs, "head_peak_container_memory_bytes": peaks})
    return 0


if __name__ == "__main__":
    sys.exit(main())
