"""Helpers shared by the test modules: the Airflow CLI, waiting, lake files, free ports."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from devtools.airflow_services import airflow, json_rows, wait_for
from devtools.services import free_port
from devtools.synthetic import people
from salary.config import load_settings
from salary.lake import Lake, LakeIO
from salary.lake.fsspec_store import FsspecStore

__all__ = ["STORE", "airflow", "drop_table", "free_port", "json_rows", "lake_io", "local", "put", "short_tmp",
           "wait_for"]

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


def lake_io(lake: Lake) -> LakeIO[FsspecStore]:
    """The lake at these paths through the test's fsspec store."""
    return LakeIO(lake, STORE)


def local(uri: str) -> str:
    """The local path of a file:// lake URI."""
    return uri.removeprefix("file://")


def drop_table(n: int, start_id: int = 1, **overrides: object) -> pa.Table:
    """``n`` people with a drop's columns (ids from ``start_id``; the generator ``make drop``
    uses), columns replaced by ``overrides``."""
    df = people(n, start_id, load_settings().dataset, start_id=start_id, with_salary=False)
    for column, values in overrides.items():
        df[column] = values
    return pa.Table.from_pandas(df, preserve_index=False)
