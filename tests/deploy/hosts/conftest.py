"""Several hosts (devtools.hosts_stack): the head, worker hosts joined as docs/multi-host.md says,
and the runs the tests share. Everything made is gone afterwards, also on failure (asserted)."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from cluster_helpers import FAULT_ROWS, HOSTS_RUN, TRAINING, run_training, wait_until

from devtools import hosts
from devtools.hosts_stack import OUT, HostsStack, WorkerHost, hosts_stack


@pytest.fixture(scope="session")
def cluster():
    with hosts_stack(workers_ahead=2) as c:
        yield c
    left = hosts.leftovers()
    assert left == [], f"left behind by the multi-host test: {left}"


def up(cluster: HostsStack, worker: WorkerHost) -> float:
    """The prepared host's one command, until every engine counts it; returns the seconds taken."""
    t0 = time.monotonic()
    cluster.up(worker)
    n_hosts = 1 + len(cluster.workers)
    wait_until(lambda: cluster.joined(n_hosts), 300, f"{worker.host.name} to join Spark, Ray and HDFS", interval=2)
    seconds = time.monotonic() - t0
    cluster.timer(f"{worker.host.name}: up -> in Spark, Ray and HDFS", seconds)
    return seconds


@pytest.fixture(scope="session")
def two_hosts(cluster):
    """worker-1 (made ready while the head started) joined; worker-2 is being made ready."""
    worker = cluster.prepared(1)
    up(cluster, worker)
    return worker


@pytest.fixture(scope="session")
def training_run(cluster, two_hosts):
    """1M rows on two hosts. A third host joins while generate_dataset runs, so the stages after
    it have three; then worker-1 loses the network for 45 s mid-ETL and again mid-tuning, and each
    time its link comes back it must rejoin by itself. Returns the run id, its task instances,
    when the third host had joined (this machine's clock, as the API's dates) and what happened."""
    third = cluster.prepared(2)  # made ready in the background while the two-host tests ran
    events: dict[str, object] = {}
    worker = cluster.workers[0].host

    def cut_while(run_id: str, task_id: str, states: set[str], settle: float) -> None:
        cluster.head.wait_for_task(TRAINING, run_id, task_id, states, timeout=1500)
        time.sleep(settle)
        events[f"cut while {task_id} was"] = cluster.head.task_instances(TRAINING, run_id)[task_id]["state"]
        hosts.cut(worker)
        time.sleep(45)
        hosts.reconnect(worker)
        t0 = time.monotonic()
        wait_until(lambda: cluster.joined(3), 600, "worker-1 to rejoin", interval=3)
        events[f"rejoined after the cut during {task_id} (s)"] = round(time.monotonic() - t0, 1)

    def during(run_id: str) -> None:
        cluster.head.wait_for_task(TRAINING, run_id, "generate_dataset", {"running"})
        up(cluster, third)
        events["third host joined"] = dt.datetime.now(dt.UTC).isoformat()
        events["generate_dataset when it had joined"] = cluster.head.task_instances(TRAINING, run_id)[
            "generate_dataset"]["state"]
        cut_while(run_id, "etl_benchmark", {"running"}, 20)
        cut_while(run_id, "tune_model", {"deferred"}, 15)

    run_id, tis = run_training(cluster.head, FAULT_ROWS, HOSTS_RUN, during)
    (OUT / "run.json").write_text(json.dumps({"run_id": run_id, "events": events,
                                              "tries": {k: v["try_number"] for k, v in tis.items()}}, indent=2))
    return run_id, tis, events
