"""The report's topology: a head host and worker hosts joined only by the network, each host a
network namespace with its own Docker engine. Driven as a user drives it: the REST API, `hdfs`,
`docker` on each host, and the engines' own status pages."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shlex
import subprocess
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cluster_helpers import HOSTS_RUN, LAKE, PREDICT, GiB, manifest, path_segment, people, wait_until

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
    for name in ("POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET",
                 "AIRFLOW_SECRET_KEY"):
        assert name not in env and cluster.head.env[name] not in env
    assert not (two_hosts.host.dir / "tls" / "ca.key").exists()  # the CA's key stays on the head


def test_a_host_without_the_secrets_cannot_join(cluster, two_hosts):
    """A container on the worker host with the head's address but wrong secrets and no certificate."""
    host, head = two_hosts.host, cluster.head_host.address
    before_spark = {(w["host"], w["port"]) for w in cluster.spark_master()["workers"]}
    spark = host.docker("run", "--rm", "--network", "host", "-e", f"SPARK_AUTH_SECRET={secrets.token_urlsafe(16)}",
                        IMAGE, "timeout", "30", "spark-class", "org.apache.spark.deploy.worker.Worker",
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


SPARK_PROBE = """
import sys
from pyspark.sql import SparkSession
marker = sys.argv[1]
sc = SparkSession.builder.appName("marker-probe").getOrCreate().sparkContext
rows = sc.parallelize([marker + str(i) for i in range(20000)], 12)
print("GROUPS", rows.map(lambda s: (hash(s) % 7, s)).groupByKey().mapValues(lambda v: sum(map(len, v))).collect())
"""

RAY_PROBE = """
import sys, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init()
marker, node = sys.argv[1], sys.argv[2]
@ray.remote(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
def echo(text):
    return text * 5000
assert ray.get(echo.remote(marker)) == marker * 5000
print("ECHOED")
"""


def ray_job(cluster, entrypoint: str) -> str:
    """Submit through the Jobs API (with the token) and wait for the job's end; returns its status."""
    head = cluster.head
    auth = f"Authorization: Bearer {head.env['RAY_AUTH_TOKEN']}"
    body = json.dumps({"entrypoint": entrypoint})
    out = head.exec("airflow-api-server", "curl", "-fsS", "-H", auth, "-H", "Content-Type: application/json",
                    "-d", body, "http://ray-head:8265/api/jobs/").stdout
    job = json.loads(out)["submission_id"]
    status = ""
    for _ in range(120):
        status = json.loads(head.exec("airflow-api-server", "curl", "-fsS", "-H", auth,
                                      f"http://ray-head:8265/api/jobs/{job}").stdout)["status"]
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            break
        time.sleep(2)
    return status


def test_spark_and_ray_traffic_across_hosts_is_encrypted_and_hdfs_is_not(cluster, two_hosts, tmp_path):
    """tcpdump on worker-1's link while a Spark job shuffles a marker string across hosts and a Ray
    task on worker-1 returns it to the head: the marker never crosses in clear text. A file put
    into HDFS from worker-1 does (HDFS without Kerberos is clear text), which shows the capture
    sees payloads."""
    worker = two_hosts.host
    marker, hdfs_marker = f"SPARKRAY{secrets.token_hex(6)}", f"HDFSDATA{secrets.token_hex(6)}"
    pcap = tmp_path / "link.pcap"
    capture = subprocess.Popen(["ip", "netns", "exec", hosts.LAN, "tcpdump", "-i", worker.link, "-s", "0", "-U",
                                "-w", str(pcap)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        head = cluster.head
        head.exec("airflow-scheduler", "bash", "-c", f"cat > /tmp/probe.py <<'EOF'\n{SPARK_PROBE}\nEOF")
        spark = head.exec("airflow-scheduler", "spark-submit", "--master", "spark://spark-master:7077",
                          "--conf", "spark.ui.enabled=false", "/tmp/probe.py", marker, timeout=600)
        assert "GROUPS" in spark.stdout, spark.stderr[-2000:]
        (node,) = [n["node_id"] for n in cluster.ray_nodes() if n["node_ip"] == worker.address]
        entry = f"python -c {shlex.quote(RAY_PROBE)} {marker} {node}"
        assert ray_job(cluster, entry) == "SUCCEEDED"
        (datanode,) = two_hosts.containers("datanode")
        worker.docker("exec", datanode, "bash", "-c", f"printf '{hdfs_marker}%.0s' $(seq 200) > /tmp/m.txt && "
                      f"hdfs dfs -mkdir -p {LAKE} && hdfs dfs -put -f /tmp/m.txt {LAKE}/m.txt && "
                      f"hdfs dfs -cat {LAKE}/m.txt > /dev/null")
        time.sleep(2)
    finally:
        capture.terminate()
        capture.wait(timeout=30)
    data = pcap.read_bytes()
    assert executor_hosts(cluster, {"marker-probe"}) >= {worker.address}
    assert len(data) > 100_000, len(data)
    assert hdfs_marker.encode() in data  # the capture sees payloads: HDFS data is clear text
    assert marker.encode() not in data  # Spark (AES) and Ray (TLS) are not


def test_training_uses_every_host_and_a_host_joined_mid_run_from_its_next_stage(cluster, training_run):
    run_id, tis, events = training_run
    assert {ti["state"] for ti in tis.values()} == {"success"}
    head, first, second = cluster.head_host.address, *(w.host.address for w in cluster.workers[:2])
    assert executor_hosts(cluster, {"generate_dataset"}) >= {head, first}
    # The third host joined while generate_dataset ran; every Spark stage that started after ran
    # executors on it (and on the head; worker-1 was cut off during the ETL).
    assert events["generate_dataset when it had joined"] == "running"
    joined_at = dt.datetime.fromisoformat(events["third host joined"])
    later = [t for t in ("etl_benchmark", "top_earners", "age_distribution")
             if dt.datetime.fromisoformat(tis[t]["start_date"]) > joined_at]
    assert "etl_benchmark" in later, {t: ti["start_date"] for t, ti in tis.items()}
    for task_id in later:
        assert executor_hosts(cluster, {task_id}) >= {head, second}, task_id
    assert dt.datetime.fromisoformat(tis["tune_model"]["start_date"]) > joined_at
    metrics = json.loads(cluster.head.hdfs_cat(f"{LAKE}/models/salary/{path_segment(run_id)}/metrics.json"))
    nodes = {trial["node_ip"] for trial in metrics["trials"]}
    assert {head, second} <= nodes <= {head, first, second}, metrics["trials"]


def test_the_head_host_runs_1m_rows_in_8_gib(cluster, training_run):
    """The head's containers (Airflow, the drivers, Postgres, the Spark master and a worker, the Ray
    head, HDFS), summed at each `docker stats` sample, through the 1M-row run."""
    peak = cluster.head.sampler.peaks[HOSTS_RUN]["sum_bytes"]
    assert 0 < peak < 8 * GiB, peak / GiB


def test_blocks_have_two_replicas(cluster, training_run):
    """Files written by Spark (the curated data) and by a Ray job through hdfs-native (the model)."""
    run = path_segment(training_run[0])
    for folder in (f"{LAKE}/datasets/curated/{run}", f"{LAKE}/models/salary/{run}"):
        fsck = cluster.head.exec("namenode", "hdfs", "fsck", folder, "-files", "-blocks", "-locations").stdout
        assert "Status: HEALTHY" in fsck
        assert " repl=2" in fsck and " repl=1" not in fsck, fsck[-3000:]


def test_a_drop_put_from_the_worker_host_is_predicted_once(cluster, two_hosts, training_run, tmp_path):
    name = "from-worker-host.parquet"
    pq.write_table(pa.table(people(3_000, 11, 11 * 10**9)).drop_columns(["salary"]), tmp_path / name)
    (datanode,) = two_hosts.containers("datanode")
    two_hosts.host.docker("cp", str(tmp_path / name), f"{datanode}:/tmp/{name}")
    def runs() -> list[dict]:
        return cluster.head.api("GET", f"/dags/{PREDICT}/dagRuns?limit=100")["dag_runs"]

    cluster.head.api("PATCH", f"/dags/{PREDICT}", {"is_paused": False})
    try:
        two_hosts.host.docker("exec", datanode, "bash", "-c", f"hdfs dfs -mkdir -p {LAKE}/drops/incoming && "
                              f"hdfs dfs -put /tmp/{name} {LAKE}/drops/incoming/{name}")
        wait_until(lambda: cluster.head.hdfs("-test", "-e", f"{LAKE}/predictions/{name}/_SUCCESS",
                                             check=False).returncode == 0, 600, f"{name} to be published")
        # Before pausing: the run's draw task comes after publish, and a paused DAG's run gets no
        # further task scheduled (the rehearsal of e531c7e waited 300 s for it).
        wait_until(lambda: all(r["state"] in ("success", "failed") for r in runs()), 300, "prediction runs to end")
    finally:
        cluster.head.api("PATCH", f"/dags/{PREDICT}", {"is_paused": True})
    doc = manifest(cluster.head, name)
    assert (doc["rows_in"], doc["rows_predicted"], doc["rows_rejected"]) == (3_000, 3_000, 0)
    assert cluster.head.hdfs_ls(f"{LAKE}/drops/processed") == [name]
    assert runs() and {r["state"] for r in runs()} == {"success"}, runs()


def test_the_run_survives_the_worker_host_cut_off_twice(cluster, two_hosts, training_run):
    run_id, tis, events = training_run
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
    assert "Status: HEALTHY" in fsck and "MISSING" not in fsck, fsck[-2000:]  # HEALTHY: no missing or corrupt block
    counts = {row.split(":", 1)[0].strip(): row.split(":", 1)[1].split()[0] for row in fsck.splitlines()
              if row.strip().startswith(("Missing blocks:", "Corrupt blocks:"))}  # Hadoop 2.7 prints no Missing blocks
    assert counts.get("Corrupt blocks") == "0" and counts.get("Missing blocks", "0") == "0", counts


def connects(netns: str, address: str, port: int) -> bool:
    """A TCP connection from inside the namespace (a host, as any program on it would)."""
    probe = (f"import socket; s = socket.socket(); s.settimeout(4); "
             f"print(s.connect_ex(({address!r}, {port})))")
    out = subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", probe], capture_output=True, text=True,
                         timeout=30).stdout.strip()
    return out == "0"


def test_between_hosts_only_the_engines_ports_are_open(cluster, two_hosts, training_run):
    """Every host ran behind scripts/host_firewall.sh from before it joined. Nothing the deployment
    did (joins, the run with its cuts, the drop) was refused, apart from Ray's event reports to the
    dashboard, closed on purpose (counted apart); from another host, services that listen on the
    head's address but are not for other hosts (Ray's dashboard and Jobs API, the NameNode's HTTP
    and WebHDFS, the head's Spark worker page) are unreachable, while they answer on the head."""
    machines = [cluster.head_host, *(w.host for w in cluster.workers)]
    assert {m.name: hosts.refused(m) for m in machines} == {m.name: 0 for m in machines}
    head, worker = cluster.head_host, two_hosts.host
    for port in (8265, 9870, 8081):
        assert connects(head.netns, head.address, port), port  # listening, on the head's address
        assert not connects(worker.netns, head.address, port), port
    assert connects(worker.netns, head.address, 8020)  # an engine's port, from another host
    assert hosts.refused(head) >= 2  # 9870 and 8081 just now


def decommission_status(report: str, address: str) -> str:
    """A DataNode's "Decommission Status" in `hdfs dfsadmin -report` (found by its address)."""
    section = report.split(f"Name: {address}:", 1)[1].split("\n\n", 1)[0]
    return section.split("Decommission Status :", 1)[1].splitlines()[0].strip()


def test_a_host_taken_out_as_documented_loses_no_block(cluster, training_run):
    """docs/multi-host.md, "Taking a host out cleanly", on the third host: HDFS decommission until
    its blocks live elsewhere, its Spark and Ray workers stopped, then `down -v`."""
    leaving = cluster.workers[1]
    address, head = leaving.host.address, cluster.head
    t0 = time.monotonic()
    head.compose("exec", "-T", "namenode", "bash", "-c",
                 f"echo {address} >> /data/hdfs/excludes && hdfs dfsadmin -refreshNodes")
    wait_until(lambda: decommission_status(head.exec("namenode", "hdfs", "dfsadmin", "-report").stdout, address)
               == "Decommissioned", 900, f"{address} to be decommissioned", interval=5)
    cluster.timer("worker-2: HDFS decommission", time.monotonic() - t0)
    leaving.compose("stop", "spark-worker")
    leaving.compose("stop", "ray-worker")
    wait_until(lambda: address not in {w["host"] for w in cluster.spark_master()["workers"] if w["state"] == "ALIVE"},
               180, "the Spark master to drop worker-2")
    wait_until(lambda: address not in {n["node_ip"] for n in cluster.ray_nodes()}, 180, "Ray to drop worker-2")
    leaving.compose("down", "-v")
    assert leaving.host.docker("ps", "-aq").stdout.split() == []
    assert leaving.host.docker("volume", "ls", "-q").stdout.split() == []
    fsck = head.exec("namenode", "hdfs", "fsck", "/").stdout
    assert "Status: HEALTHY" in fsck, fsck[-2000:]
    counts = {row.split(":", 1)[0].strip(): row.split(":", 1)[1].split()[0] for row in fsck.splitlines()
              if row.strip().startswith(("Under-replicated blocks:", "Missing blocks:", "Corrupt blocks:"))}
    assert counts.get("Under-replicated blocks") == "0" and counts.get("Corrupt blocks") == "0", counts
    assert counts.get("Missing blocks", "0") == "0", counts
    cluster.workers.remove(leaving)
    run = path_segment(training_run[0])
    assert head.hdfs_cat(f"{LAKE}/datasets/curated/_CURRENT").strip() == run
