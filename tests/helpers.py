"""Helpers shared by the test modules: the Airflow CLI, waiting, lake files, free ports."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from salary.lake.fsspec_store import FsspecStore

STORE = FsspecStore()
T = TypeVar("T")


def airflow(env: dict[str, str], *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the Airflow CLI as a user would, in ``env``."""
    return subprocess.run(["airflow", *args], env=env, capture_output=True, text=True, check=check, timeout=timeout)


def json_rows(proc: subprocess.CompletedProcess) -> list[dict[str, Any]]:
    """The JSON table an `airflow ... -o json` command printed (Airflow may log lines before it)."""
    line = next((line for line in proc.stdout.splitlines() if line.startswith("[")), "[]")
    return json.loads(line)


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """The first truthy value of ``predicate()``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def put(uri: str, data: pa.Table | bytes = b"") -> None:
    """A lake file with these bytes, or this table as Parquet (parents created)."""
    if isinstance(data, pa.Table):
        buf = io.BytesIO()
        pq.write_table(data, buf)
        data = buf.getvalue()
    STORE.write_bytes(uri, data)


def local(uri: str) -> str:
    """The local path of a file:// lake URI."""
    return uri.removeprefix("file://")


def drop_table(n: int, start_id: int = 1, **overrides) -> pa.Table:
    """``n`` people with a drop's columns (ids from ``start_id``), columns replaced by ``overrides``."""
    rng = np.random.default_rng(start_id)
    data = {
        "id": np.arange(start_id, start_id + n, dtype=np.int64),
        "age": rng.integers(18, 81, n).astype(np.int32),
        "is_active": rng.random(n) < 0.6,
        "signup_date": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D"),
    }
    data.update(overrides)
    df = pd.DataFrame(data)
    df["signup_date"] = df["signup_date"].dt.date if hasattr(df["signup_date"], "dt") else df["signup_date"]
    return pa.Table.from_pandas(df, preserve_index=False)
