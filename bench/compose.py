"""The benchmark on the docker compose stack: a salary_training run of 1M rows through the REST
API with one Spark worker and one Ray worker, then again after `docker compose up --scale
spark-worker=2 --scale ray-worker=2`, as a user scales it; each task's seconds (from Airflow's
task instances) and the containers' peak memory (docker stats) of each.

    python -m bench.compose [--rows 1000000]

Needs the Docker engine set-up provides (scripts/services.py docker; the stack is started and
torn down as in the cluster tests: devtools.cluster_stack.compose_stack). Writes
bench/results/compose.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from devtools.cluster_stack import Stack, compose_stack

REPO = Path(__file__).resolve().parents[1]
TRAINING = "salary_training"
GB = 1024**3


def training_run(stack: Stack, rows: int, label: str) -> dict[str, Any]:
    """One salary_training run through the REST API: its wall and each task's seconds."""
    stack.sampler.phase = label
    t0 = time.monotonic()
    run_id = stack.trigger(TRAINING, {"rows": rows, "seed": 11})
    state = stack.wait_for_run(TRAINING, run_id, timeout=3600)
    wall = time.monotonic() - t0
    tis = stack.task_instances(TRAINING, run_id)
    if state != "success":
        raise RuntimeError(f"{run_id}: {state} { {k: v['state'] for k, v in tis.items()} }")
    tasks = {k: float(v["duration"]) for k, v in tis.items() if v.get("duration") is not None}
    stack.sampler.phase = "between runs"
    return {"run_id": run_id, "wall": wall, "tasks": tasks}


def print_ratios(rows: int, baseline: tuple[str, dict[str, Any]], other: tuple[str, dict[str, Any]]) -> None:
    """Each task's seconds of two ``training_run``s and other/baseline, and the whole run's."""
    (a_name, a_run), (b_name, b_run) = baseline, other
    print(f"{'salary_training, ' + f'{rows:,} rows':<32}{a_name:>16}{b_name:>16}{'ratio':>8}")
    for task in [*a_run["tasks"], "run (trigger -> success)"]:
        a = a_run["wall"] if task.startswith("run") else a_run["tasks"][task]
        b = b_run["wall"] if task.startswith("run") else b_run["tasks"].get(task, float("nan"))
        print(f"{task:<32}{a:>16.1f}{b:>16.1f}{b / a:>8.2f}")


def save(out: Path, rows: int, measured: dict[str, Any]) -> None:
    """The run's figures, stamped with when and at how many rows, as JSON in ``out``."""
    result = {"measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "rows": rows, **measured}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {out}")


def workers(stack: Stack) -> dict[str, int]:
    return {service: len(stack.containers(service)) for service in ("spark-worker", "ray-worker")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "compose.json")
    args = parser.parse_args(argv)
    runs: dict[str, Any] = {}
    with compose_stack() as stack:
        runs["one worker each"] = {"workers": workers(stack), **training_run(stack, args.rows, "one worker each")}
        t0 = time.monotonic()
        stack.compose("up", "-d", "--wait", "--scale", "spark-worker=2", "--scale", "ray-worker=2", timeout=900)
        scale_s = time.monotonic() - t0
        runs["two workers each"] = {"workers": workers(stack), **training_run(stack, args.rows, "two workers each")}
        peaks = {phase: p["sum_bytes"] for phase, p in stack.sampler.peaks.items()}
        mode = stack.mode
    one, two = runs["one worker each"], runs["two workers each"]
    print_ratios(args.rows, ("1+1 workers s", one), ("2+2 workers s", two))
    print("peak summed container memory: " + ", ".join(f"{k} {v / GB:.2f} GB" for k, v in peaks.items()))
    save(args.out, args.rows, {"images": mode, "scale_up_seconds": scale_s, "runs": runs,
                               "peak_container_memory_bytes": peaks})
    return 0


if __name__ == "__main__":
    sys.exit(main())
