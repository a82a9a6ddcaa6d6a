"""Several hosts (devtools.hosts_stack): the head, worker hosts joined as docs/multi-host.md says,
and the runs the tests share. Everything made is gone afterwards, also on failure (asserted)."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from cluster_helpers import FAULT_ROWS, TRAINING, run_training, wait_until

from devtools import hosts
from devtools.hosts_stack import OUT, HostsStack, WorkerHost, hosts_stack


@pytest.fixture(scope="session")
def cluster():
    with hosts_stack() as c:
        yield c
    left = hosts.leftovers()
    assert left == [], f"left behind by the multi-host test: {left}"


def joined(cluster: HostsStack, n_hosts: int) -> bool:
    """Every host in Spark (alive workers), Ray (alive nodes) and HDFS (live DataNodes)."""
    workers = [w for w in cluster.spark_master()["workers"] if w["state"] == "ALIVE"]
    return (len({w["host"] for w in workers}) == n_hosts and len(cluster.ray_nodes()) == n_hosts
            and len(cluster.datanodes()) == n_hosts)


def up(cluster: HostsStack, worker: WorkerHost) -> float:
    """The prepared host's one command, until every engine counts it; returns the seconds taken."""
    t0 = time.monotonic()
    cluster.up(worker)
    n_hosts = 1 + len(cluster.workers)
    wait_until(lambda: joined(cluster, n_hosts), 300, f"{worker.host.name} to join Spark, Ray and HDFS", interval=2)
    seconds = time.monotonic() - t0
    cluster.timer(f"{worker.host.name}: up -> in Spark, Ray and HDFS", seconds)
    return seconds


@pytest.fixture(scope="session")
def two_hosts(cluster):
    worker = cluster.prepare(1)
    up(cluster, worker)
    return worker


@pytest.fixture(scope="session")
def growing_run(cluster, two_hosts):
    """1M rows on two hosts; a third host (made ready before) joins while generate_dataset runs, so
    the stages that start after it have three. Returns the run id, its task instances and when the
    third host had joined (an ISO time of this machine's clock, as the API's dates)."""
    third = cluster.prepare(2)
    joined_at: dict[str, dt.datetime] = {}

    def during(run_id: str) -> None:
        cluster.head.wait_for_task(TRAINING, run_id, "generate_dataset", {"running"})
        up(cluster, third)
        joined_at["third"] = dt.datetime.now(dt.UTC)

    run_id, tis = run_training(cluster.head, FAULT_ROWS, "1M rows, two hosts then three", during)
    return run_id, tis, joined_at["third"]


@pytest.fixture(scope="session")
def cut_run(cluster, growing_run):
    """A run during which worker-1 loses the network mid-ETL and again mid-tuning; each time its
    link comes back, it must rejoin by itself."""
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
        wait_until(lambda: joined(cluster, 3), 600, "worker-1 to rejoin", interval=3)
        events[f"rejoined after the cut during {task_id} (s)"] = round(time.monotonic() - t0, 1)

    def during(run_id: str) -> None:
        cut_while(run_id, "etl_benchmark", {"running"}, 20)
        cut_while(run_id, "tune_model", {"deferred"}, 15)

    run_id, tis = run_training(cluster.head, FAULT_ROWS, "1M rows, worker-1 cut off twice", during)
    (OUT / "cut.json").write_text(json.dumps({"run_id": run_id, "events": events,
                                              "tries": {k: v["try_number"] for k, v in tis.items()}}, indent=2))
    return run_id, tis, events
