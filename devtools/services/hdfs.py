"""A real single-node HDFS on loopback (NameNode + DataNode + WebHDFS), stopped by its PIDs
(``python scripts/services.py hdfs fetch|start|stop|status DIR``).

No Hadoop distribution is packaged in Debian and only PyPI is reachable, so the Hadoop 2.7.3
jars come from the pyspark 2.4.8 sdist on PyPI (pinned by sha256); WebHDFS's Jersey 1 comes
from Debian (libjersey1-*-java). The NameNode and DataNode are the real daemons
(org.apache.hadoop.hdfs.server.*), each a JVM started in its own session; ``stop`` sends
SIGTERM to those PIDs only. ``DIR/conf`` is also a client configuration directory
(HADOOP_CONF_DIR) for Spark and hdfs-native.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devtools.services import CACHE
from devtools.services.processes import alive, spawn, stop_recorded

SDIST_URL = ("https://files.pythonhosted.org/packages/13/29/1a5d7c60609dfc8fd79c86965e95ea7e9e181385d839bc43913d277effa2/"
             "pyspark-2.4.8.tar.gz")
SDIST_SHA256 = "3a19b71b8dc8dd91ebc943604a05e1ab01bce052456d42937035632d852d78dc"
JARS = CACHE / "hadoop-2.7.3" / "jars"
# WebHDFS in Hadoop 2.7 is Jersey 1; the sdist's Jersey 2 jars (for Spark) must not be on the path.
JERSEY1 = [f"/usr/share/java/jersey1-{m}-1.19.3.jar" for m in ("core", "server", "servlet", "json")] + [
    "/usr/share/java/jsr311-api-1.1.1.jar"]
JERSEY1_PACKAGES = ["libjersey1-core-java", "libjersey1-server-java", "libjersey1-servlet-java",
                    "libjersey1-json-java"]
NAMENODE = "org.apache.hadoop.hdfs.server.namenode.NameNode"
DATANODE = "org.apache.hadoop.hdfs.server.datanode.DataNode"


@dataclass(frozen=True)
class Ports:
    rpc: int = 8020
    http: int = 50070          # NameNode UI + WebHDFS
    datanode: int = 50010      # data transfer
    datanode_http: int = 50075  # WebHDFS redirects reads and writes here
    datanode_ipc: int = 50020

    @property
    def uri(self) -> str:
        return f"hdfs://127.0.0.1:{self.rpc}"


def _skip(name: str) -> bool:
    return name.startswith(("spark-", "jersey-", "javax.ws.rs-api"))


def fetch() -> Path:
    """Hadoop's jars in the cache (idempotent); Debian's Jersey 1 installed when missing."""
    missing = [j for j in JERSEY1 if not Path(j).exists()]
    if missing:
        if os.geteuid() != 0:
            raise SystemExit(f"missing {missing}: sudo apt-get install -y {' '.join(JERSEY1_PACKAGES)}")
        subprocess.run(["apt-get", "install", "-y", "-qq", *JERSEY1_PACKAGES], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
    if (JARS / ".complete").exists():
        return JARS
    tmp = JARS.parent / f".download-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    archive = tmp / "pyspark-2.4.8.tar.gz"
    urllib.request.urlretrieve(SDIST_URL, archive)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{SDIST_URL}: sha256 {digest}, expected {SDIST_SHA256}")
    out = tmp / "jars"
    out.mkdir()
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parent, _, name = member.name.rpartition("/")
            if parent.endswith("deps/jars") and name.endswith(".jar") and not _skip(name):
                member.name = name
                tar.extract(member, out, filter="data")
    (out / ".complete").touch()
    shutil.rmtree(JARS, ignore_errors=True)
    out.rename(JARS)
    shutil.rmtree(tmp)
    return JARS


def _props(values: dict[str, str]) -> str:
    rows = "".join(f"  <property><name>{k}</name><value>{v}</value></property>\n" for k, v in values.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{rows}</configuration>\n'


def write_conf(root: Path, ports: Ports) -> Path:
    conf = root / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "core-site.xml").write_text(_props({"fs.defaultFS": ports.uri}))
    (conf / "hdfs-site.xml").write_text(_props({
        "dfs.namenode.name.dir": f"file://{root / 'name'}",
        "dfs.datanode.data.dir": f"file://{root / 'data'}",
        "dfs.replication": "1",
        "dfs.permissions.enabled": "false",
        "dfs.webhdfs.enabled": "true",
        "dfs.namenode.rpc-address": f"127.0.0.1:{ports.rpc}",
        "dfs.namenode.http-address": f"127.0.0.1:{ports.http}",
        "dfs.namenode.secondary.http-address": "127.0.0.1:0",
        "dfs.datanode.address": f"127.0.0.1:{ports.datanode}",
        "dfs.datanode.http.address": f"127.0.0.1:{ports.datanode_http}",
        "dfs.datanode.ipc.address": f"127.0.0.1:{ports.datanode_ipc}",
        "dfs.datanode.hostname": "127.0.0.1",
        "dfs.namenode.datanode.registration.ip-hostname-check": "false",
        "dfs.namenode.safemode.extension": "0",
        "dfs.datanode.du.reserved": "0",
        "dfs.namenode.fs-limits.min-block-size": "1024",
    }))
    (conf / "log4j.properties").write_text(
        "log4j.rootLogger=INFO, console\n"
        "log4j.appender.console=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.console.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n"
        "log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR\n")
    for app in ("hdfs", "datanode", "secondary"):  # Jetty 6 wants these on the classpath
        (root / "webapps" / "webapps" / app).mkdir(parents=True, exist_ok=True)
    return conf


def _java(root: Path, main_class: str, *args: str) -> list[str]:
    classpath = os.pathsep.join([str(root / "conf"), str(root / "webapps"), f"{JARS}/*", *JERSEY1])
    return ["java", "-Xmx512m", "-Djava.net.preferIPv4Stack=true", "-Dhadoop.log.dir=" + str(root / "logs"),
            "-Dproc_" + main_class.rsplit(".", 1)[1].lower(), "-cp", classpath, main_class, *args]


def start(root: Path, ports: Ports = Ports(), timeout: float = 90) -> dict[str, int]:
    """Format on first use, start NameNode and DataNode, wait until WebHDFS accepts writes."""
    root = root.resolve()
    fetch()
    write_conf(root, ports)
    (root / "logs").mkdir(exist_ok=True)
    env = {**os.environ, "HADOOP_USER_NAME": os.environ.get("HADOOP_USER_NAME", "root")}
    if not (root / "name" / "current").exists():
        subprocess.run(_java(root, NAMENODE, "-format", "-nonInteractive", "-force"), check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=open(root / "logs" / "format.log", "wb"))  # noqa: SIM115
    pids = {}
    for name, main_class in (("namenode", NAMENODE), ("datanode", DATANODE)):
        pids[name] = spawn(_java(root, main_class), root / "logs" / f"{name}.log", root / f"{name}.pid", env).pid
    try:
        wait_ready(ports, timeout)
    except Exception:
        stop(root)
        raise
    return pids


def wait_ready(ports: Ports, timeout: float) -> None:
    """Until a WebHDFS write through the DataNode redirect succeeds (NameNode out of safe mode,
    DataNode registered): what the pipeline's first write needs."""
    deadline = time.monotonic() + timeout
    base = f"http://127.0.0.1:{ports.http}/webhdfs/v1/tmp/.hdfs_local_ready?user.name=root"
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            _request("PUT", f"{base}&op=CREATE&overwrite=true", b"ok")  # NameNode -> DataNode
            _request("DELETE", f"{base}&op=DELETE")
            return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline, the last one reported
            last = exc
            time.sleep(0.5)
    raise TimeoutError(f"HDFS on {ports.uri} not ready after {timeout:.0f} s: {last}")


def _request(method: str, url: str, data: bytes | None = None) -> None:
    """One WebHDFS call, following the NameNode's 307 redirect to the DataNode by hand
    (urllib does not re-send a PUT body on a redirect)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, data=data), timeout=5):
            return
    except urllib.error.HTTPError as exc:
        if exc.code != 307:
            raise
        location = exc.headers["Location"]
    with urllib.request.urlopen(urllib.request.Request(location, method=method, data=data), timeout=5):
        return


def stop(root: Path, timeout: float = 30) -> None:
    """Stop the daemons started in ``root`` by their recorded PIDs (DataNode first)."""
    for name in ("datanode", "namenode"):
        stop_recorded(root / f"{name}.pid", timeout)


def running(root: Path) -> bool:
    return alive(root / "namenode.pid")
