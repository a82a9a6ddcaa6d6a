"""Helpers shared by the test modules: the Airflow CLI, waiting, lake files, free ports."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from devtools.airflow_services import airflow, json_rows, wait_for
from devtools.services import free_port
from salary.lake.fsspec_store import FsspecStore

__all__ = ["STORE", "airflow", "drop_table", "free_port", "json_rows", "local", "put", "short_tmp", "wait_for"]

STORE = FsspecStore()


def short_tmp(prefix: str) -> Path:
    """A temp dir with a short path: Ray puts Unix sockets below its --temp-dir and a socket
    path may not exceed 107 bytes (pytest's own tmp paths grow too long)."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir="/tmp"))


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
