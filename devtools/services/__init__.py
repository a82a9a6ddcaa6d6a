"""The local services the embedded default, the tests and the benchmarks run on this machine,
each started in its own session and stopped by its recorded PID (never by name):

- ``ray``: a Ray head (or worker) node on loopback with token authentication;
- ``hdfs``: a real single-node HDFS (NameNode + DataNode + WebHDFS) on loopback;
- ``spark``: a Spark standalone master and worker on loopback;
- ``docker_engine``: a Docker engine of our own (own data root and socket).

``python scripts/services.py`` is their command line (``cli``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Downloads and engines' data roots outlive a clone (set-up reuses them).
CACHE = Path(os.environ.get("SALARY_CACHE", Path.home() / ".cache" / "salary-pipeline"))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS's pick), for a service started next."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
