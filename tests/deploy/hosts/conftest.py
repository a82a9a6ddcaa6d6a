"""Several hosts (devtools.hosts_stack): the head, a worker host joined as docs/multi-host.md says,
and the runs the tests share. Everything made is gone afterwards, also on failure (asserted)."""

from __future__ import annotations

import json
import time

import pytest
from cluster_helpers import FAULT_ROWS, TRAINING, run_training, wait_until

from devtools import hosts
from devtools.hosts_stack import OUT, HostsStack, hosts_stack


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


@pytest.fixture(scope="session")
def two_hosts(cluster):
    t0 = time.monotonic()
    worker = cluster.join(1)
    wait_until(lambda: joined(cluster, 2), 300, "the worker host to join Spark, Ray and HDFS", interval=3)
    cluster.timer("worker-1 joined: files copied -> in Spark, Ray and HDFS", time.monotonic() - t0)
    return worker


@pytest.fixture(scope="session")
def training_two_hosts(cluster, two_hosts):
    return run_training(cluster.head, FAULT_ROWS, "1M rows on two hosts")


@pytest.fixture(scope="session")
def cut_run(cluster, two_hosts, training_two_hosts):
    """A run during which the worker host loses the network mid-ETL and again mid-tuning; each time
    its link comes back, it must rejoin by itself."""
    events: dict[str, object] = {}
    worker = two_hosts.host

    def cut_while(run_id: str, task_id: str, states: set[str], settle: float) -> None:
        cluster.head.wait_for_task(TRAINING, run_id, task_id, states, timeout=1500)
        time.sleep(settle)
        events[f"cut while {task_id} was"] = cluster.head.task_instances(TRAINING, run_id)[task_id]["state"]
        hosts.cut(worker)
        time.sleep(45)
        hosts.reconnect(worker)
        t0 = time.monotonic()
        wait_until(lambda: joined(cluster, 2), 600, "the worker host to rejoin", interval=3)
        events[f"rejoined after the cut during {task_id} (s)"] = round(time.monotonic() - t0, 1)

    def during(run_id: str) -> None:
        cut_while(run_id, "etl_benchmark", {"running"}, 20)
        cut_while(run_id, "tune_model", {"deferred"}, 15)

    run_id, tis = run_training(cluster.head, FAULT_ROWS, "1M rows, worker host cut off twice", during)
    (OUT / "cut.json").write_text(json.dumps({"run_id": run_id, "events": events,
                                              "tries": {k: v["try_number"] for k, v in tis.items()}}, indent=2))
    return run_id, tis, events
