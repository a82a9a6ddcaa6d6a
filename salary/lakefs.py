"""Lake file access outside Spark (Ray jobs, Airflow tasks) through fsspec.

``file://`` roots use the local filesystem; ``hdfs://`` roots use hdfs-native's fsspec
implementation (pure Rust client, no JVM). The same calls serve both.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import fsspec
from fsspec import AbstractFileSystem


def filesystem(uri: str) -> tuple[AbstractFileSystem, str]:
    """The filesystem serving ``uri`` and the path within it."""
    fs, path = fsspec.core.url_to_fs(uri)
    return fs, path


def read_json(uri: str) -> dict[str, Any] | None:
    fs, path = filesystem(uri)
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as fh:
        return json.loads(fh.read())


def write_bytes_atomic(uri: str, data: bytes) -> None:
    """Write a file so readers see the old or the new content, never a part of it."""
    fs, path = filesystem(uri)
    parent, name = path.rsplit("/", 1)
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open(tmp, "wb") as fh:
        fh.write(data)
    fs.mv(tmp, path)  # local: os.replace; HDFS: rename (the old file is replaced)


def write_json_atomic(uri: str, doc: dict[str, Any]) -> None:
    write_bytes_atomic(uri, (json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n").encode())
