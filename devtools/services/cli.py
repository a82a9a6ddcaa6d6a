"""The command line of the local services (``python scripts/services.py``):

    services.py ray    start|stop|status DIR [--port 6379 --dashboard-port 8265 --num-cpus 2]
    services.py spark  start|stop|status DIR [--port 7077 --webui-port 18080 --worker-webui-port 18081
                                              --cores 2 --memory 2g]
    services.py spark-history start|stop|status DIR --log-dir URI [--port 18088]
    services.py hdfs   start|stop|status DIR [--rpc-port 8020 --http-port 50070 ...]
    services.py hdfs   fetch                  # once: Hadoop's jars into the cache
    services.py docker start|stop|status      # start prints the DOCKER_HOST to use

``start`` is idempotent (a running service is left as it is); ``status`` exits 0 when the
service runs, 1 when not.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devtools.services import docker_engine, hdfs, ray, spark

ACTIONS = ("start", "stop", "status")


def _ray(args: argparse.Namespace) -> str:
    pid = ray.start(args.dir, port=args.port, dashboard_port=args.dashboard_port, num_cpus=args.num_cpus)
    return f"Ray head up on http://127.0.0.1:{args.dashboard_port} (pid {pid})"


def _spark(args: argparse.Namespace) -> str:
    url = spark.start(args.dir, port=args.port, webui_port=args.webui_port, worker_webui_port=args.worker_webui_port,
                      cores=args.cores, memory=args.memory)
    return f"Spark master {url} (UI http://127.0.0.1:{args.webui_port}) with one worker"


def _spark_history(args: argparse.Namespace) -> str:
    if not args.log_dir:
        raise SystemExit("spark-history start needs --log-dir URI (the lake's spark-events folder)")
    url = spark.start_history(args.dir, args.log_dir, port=args.port)
    return f"Spark History Server {url} over {args.log_dir}"


def _hdfs_ports(args: argparse.Namespace) -> hdfs.Ports:
    return hdfs.Ports(args.rpc_port, args.http_port, args.datanode_port, args.datanode_http_port,
                      args.datanode_ipc_port)


def _hdfs(args: argparse.Namespace) -> str:
    ports = _hdfs_ports(args)
    t0 = time.monotonic()
    pids = hdfs.start(args.dir, ports)
    took = time.monotonic() - t0
    return f"HDFS up on {ports.uri} (WebHDFS http://127.0.0.1:{ports.http}) in {took:.1f} s, pids {pids}"


# service -> (start with the parsed options -> message, stop(DIR), running(DIR))
SERVICES: dict[str, tuple[Callable[[argparse.Namespace], str], Callable[[Path], None], Callable[[Path], bool]]] = {
    "ray": (_ray, ray.stop, ray.running),
    "spark": (_spark, spark.stop, spark.running),
    "spark-history": (_spark_history, spark.stop_history, spark.history_running),
    "hdfs": (_hdfs, hdfs.stop, hdfs.running),
}


def _service(sub: Any, name: str, help: str, actions: tuple[str, ...] = ACTIONS, **ports: int) -> Any:
    """A service's subcommand: ACTION DIR and a ``--<name>`` option per port."""
    p = sub.add_parser(name, help=help)
    p.add_argument("action", choices=actions)
    p.add_argument("dir", type=Path, nargs="?" if "fetch" in actions else None)
    for option, default in ports.items():
        p.add_argument(f"--{option.replace('_', '-')}", type=int, default=default)
    return p


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="services.py", description="local services on loopback, stopped by PID")
    sub = top.add_subparsers(dest="service", required=True)
    _service(sub, "ray", "a Ray head node with token authentication", port=6379, dashboard_port=8265, num_cpus=2)
    spark_cli = _service(sub, "spark", "a Spark standalone master and one worker", port=7077, webui_port=18080,
                         worker_webui_port=18081, cores=2)
    spark_cli.add_argument("--memory", default="2g")
    history_cli = _service(sub, "spark-history", "a Spark History Server over a folder of event logs", port=18088)
    history_cli.add_argument("--log-dir", default=None, help="the event logs' folder (a lake URI)")
    d = hdfs.Ports()
    _service(sub, "hdfs", "a single-node HDFS (NameNode, DataNode, WebHDFS)", (*ACTIONS, "fetch"), rpc_port=d.rpc,
             http_port=d.http, datanode_port=d.datanode, datanode_http_port=d.datanode_http,
             datanode_ipc_port=d.datanode_ipc)
    sub.add_parser("docker", help="a Docker engine of our own (root)").add_argument("action", choices=ACTIONS)
    return top


def _docker(action: str) -> int:
    if action == "start":
        print(docker_engine.start())
    elif action == "stop":
        docker_engine.stop()
    else:
        return 0 if docker_engine.LOCAL.running() else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    if args.service == "docker":
        return _docker(args.action)
    if args.action == "fetch":
        print(hdfs.fetch())
        return 0
    if args.dir is None:
        cli.error(f"{args.service} {args.action} needs DIR")
    start, stop, running = SERVICES[args.service]
    if args.action == "stop":
        stop(args.dir)
    elif args.action == "status":
        return 0 if running(args.dir) else 1
    elif running(args.dir):
        print(f"{args.service} already running in {args.dir}")
    else:
        print(start(args))
    return 0
