"""The report's topology: a head host and worker hosts joined only by the network, each host a
network namespace with its own Docker engine. Driven as a user drives it: the REST API, `hdfs`,
`docker` on each host, and the engines' own status pages."""

from __future__ import annotations

import json
import secrets

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cluster_helpers import LAKE, PREDICT, SPARK_TASKS, manifest, path_segment, people, wait_until

from devtools import hosts
from devtools.hosts_stack import IMAGE

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.hosts]


def executor_hosts(cluster, app_names: set[str]) -> set[str]:
    """Hosts whose Spark worker ran executors of the named applications: the master's JSON lists the
    workers, each worker's JSON (its UI on its host's address) lists its executors."""
    found = set()
    for worker in cluster.spark_master()["workers"]:
        if worker["state"] != "ALIVE":
            continue
        state = json.loads(cluster.head.exec("airflow-api-server", "curl", "-fsS",
                                             f"{worker['webuiaddress']}/json/").stdout)
        apps = {e["appdesc"]["name"] for e in state["finishedexecutors"] + state["executors"]}
        if apps & app_names:
            found.add(worker["host"])
    return found


def test_the_worker_host_joins_spark_ray_and_hdfs(cluster, two_hosts):
    addresses = {cluster.head_host.address, two_hosts.host.address}
    assert {w["host"] for w in cluster.spark_master()["workers"] if w["state"] == "ALIVE"} == addresses
    assert {n["node_ip"] for n in cluster.ray_nodes()} == addresses
    assert set(cluster.datanodes()) == addresses


def test_a_worker_host_holds_only_the_engines_secrets(cluster, two_hosts):
    env = (two_hosts.host.dir / ".env").read_text()
    for name in ("POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET"):
        assert name not in env and cluster.head.env[name] not in env
    assert not (two_hosts.host.dir / "tls" / "ca.key").exists()  # the CA's key stays on the head


def test_training_uses_executors_and_ray_nodes_on_both_hosts(cluster, two_hosts, training_two_hosts):
    run_id, tis = training_two_hosts
    assert {ti["state"] for ti in tis.values()} == {"success"}
    addresses = {cluster.head_host.address, two_hosts.host.address}
    assert executor_hosts(cluster, {"etl_benchmark"}) == addresses
    metrics = json.loads(cluster.head.hdfs_cat(f"{LAKE}/models/salary/{path_segment(run_id)}/metrics.json"))
    assert {trial["node_ip"] for trial in metrics["trials"]} == addresses, metrics["trials"]


def test_blocks_have_two_replicas_one_per_host(cluster, training_two_hosts):
    run = path_segment(training_two_hosts[0])
    fsck = cluster.head.exec("namenode", "hdfs", "fsck", f"{LAKE}/datasets/curated/{run}", "-files", "-blocks",
                             "-locations").stdout
    assert "Status: HEALTHY" in fsck
    assert " repl=2" in fsck and " repl=1" not in fsck, fsck[-3000:]


def test_a_drop_put_from_the_worker_host_is_predicted_once(cluster, two_hosts, training_two_hosts, tmp_path):
    name = "from-worker-host.parquet"
    pq.write_table(pa.table(people(3_000, 11, 11 * 10**9)).drop_columns(["salary"]), tmp_path / name)
    (datanode,) = two_hosts.containers("datanode")
    two_hosts.host.docker("cp", str(tmp_path / name), f"{datanode}:/tmp/{name}")
    cluster.head.api("PATCH", f"/dags/{PREDICT}", {"is_paused": False})
    try:
        two_hosts.host.docker("exec", datanode, "hdfs", "dfs", "-put", f"/tmp/{name}", f"{LAKE}/drops/incoming/{name}")
        wait_until(lambda: cluster.head.hdfs("-test", "-e", f"{LAKE}/predictions/{name}/_SUCCESS",
                                             check=False).returncode == 0, 600, f"{name} to be published")
    finally:
        cluster.head.api("PATCH", f"/dags/{PREDICT}", {"is_paused": True})
    doc = manifest(cluster.head, name)
    assert (doc["rows_in"], doc["rows_predicted"], doc["rows_rejected"]) == (3_000, 3_000, 0)
    assert cluster.head.hdfs_ls(f"{LAKE}/drops/processed") == [name]
    runs = cluster.head.api("GET", f"/dags/{PREDICT}/dagRuns?limit=100")["dag_runs"]
    wait_until(lambda: all(r["state"] in ("success", "failed") for r in
                           cluster.head.api("GET", f"/dags/{PREDICT}/dagRuns?limit=100")["dag_runs"]), 300,
               "prediction runs to end")
    assert runs and all(r["state"] != "failed" for r in runs)


def test_the_run_survives_the_worker_host_cut_off_twice(cluster, two_hosts, cut_run):
    run_id, tis, events = cut_run
    assert events["cut while etl_benchmark was"] == "running" and events["cut while tune_model was"] == "deferred"
    assert {ti["state"] for ti in tis.values()} == {"success"}
    run = path_segment(run_id)
    head = cluster.head
    assert head.hdfs_cat(f"{LAKE}/datasets/curated/_CURRENT").strip() == run
    assert head.hdfs_ls(f"{LAKE}/datasets/curated").count(run) == 1
    etl = json.loads(head.hdfs_cat(f"{LAKE}/reports/etl_benchmark/{run}/metrics.json"))
    assert etl["rows_in"] == etl["rows_rejected"] + etl["duplicates_dropped"] + etl["rows_out"]
    assert head.hdfs_ls(f"{LAKE}/_staging/etl_benchmark") == []
    assert "metrics.json" in head.hdfs_ls(f"{LAKE}/models/salary/{run}")
    fsck = head.exec("namenode", "hdfs", "fsck", "/").stdout
    assert "Status: HEALTHY" in fsck, fsck[-2000:]
    for line in ("Missing blocks:", "Corrupt blocks:"):
        (value,) = [row.split(":", 1)[1].strip() for row in fsck.splitlines() if row.strip().startswith(line)]
        assert value.split()[0] == "0", (line, value)


def test_a_host_without_the_secrets_cannot_join(cluster, two_hosts):
    """A container on the worker host with the head's address but wrong secrets and no certificate."""
    host, head = two_hosts.host, cluster.head_host.address
    before_spark = {(w["host"], w["port"]) for w in cluster.spark_master()["workers"]}
    spark = host.docker("run", "--rm", "--network", "host", "-e", f"SPARK_AUTH_SECRET={secrets.token_urlsafe(16)}",
                        IMAGE, "timeout", "60", "spark-class", "org.apache.spark.deploy.worker.Worker",
                        "--host", host.address, "--port", "7079", "--webui-port", "8082",
                        f"spark://{head}:7077", check=False, timeout=180)
    assert {(w["host"], w["port"]) for w in cluster.spark_master()["workers"]} == before_spark
    assert "Successfully registered with master" not in spark.stdout + spark.stderr
    nodes = len(cluster.ray_nodes())
    ray = host.docker("run", "--rm", "--network", "host", "-e", "RAY_AUTH_MODE=token",
                      "-e", f"RAY_AUTH_TOKEN={secrets.token_urlsafe(16)}", IMAGE, "timeout", "90", "ray", "start",
                      "--block", f"--address={head}:6379", f"--node-ip-address={host.address}", "--num-cpus=1",
                      "--temp-dir=/tmp/ray-probe", check=False, timeout=180)
    assert ray.returncode != 0, ray.stdout[-2000:]
    assert len(cluster.ray_nodes()) == nodes


def test_spark_work_lands_on_every_host_of_the_run(cluster, two_hosts, cut_run):
    addresses = {cluster.head_host.address, two_hosts.host.address}
    assert executor_hosts(cluster, set(SPARK_TASKS)) == addresses


def test_nothing_of_ours_is_left_when_torn_down_is_checked_by_the_fixture():
    """The session fixture asserts hosts.leftovers() == [] after the teardown; here: the check itself
    sees a namespace of ours."""
    assert hosts.PREFIX + "lan" in hosts.leftovers() or not hosts.MADE.exists()
