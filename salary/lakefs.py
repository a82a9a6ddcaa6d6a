"""Lake file access outside Spark (Ray jobs, Airflow tasks) through fsspec.

``file://`` roots use the local filesystem; ``hdfs://`` roots use hdfs-native's fsspec
implementation (pure Rust client, no JVM). The same calls serve both.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import uuid
from typing import Any

import fsspec
from fsspec import AbstractFileSystem


def filesystem(uri: str) -> tuple[AbstractFileSystem, str]:
    """The filesystem serving ``uri`` and the path within it."""
    fs, path = fsspec.core.url_to_fs(uri)
    return fs, path


def is_local(fs: AbstractFileSystem) -> bool:
    return "file" in fs.protocol if isinstance(fs.protocol, tuple) else fs.protocol == "file"


_RENAME_NOREPLACE = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _rename_noreplace(src: str, dst: str) -> None:
    """Linux renameat2(RENAME_NOREPLACE): atomic, and fails if ``dst`` exists (even a folder)."""
    at_fdcwd = -100
    if _libc.renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), _RENAME_NOREPLACE) != 0:
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, f"rename destination {dst} already exists")
        raise OSError(err, f"rename {src} -> {dst}: {os.strerror(err)}")


def rename(fs: AbstractFileSystem, src: str, dst: str, *, overwrite: bool = False) -> None:
    """Atomically rename a file or folder; the destination's parent is created.

    Without ``overwrite`` the rename fails with FileExistsError when ``dst`` exists and with
    FileNotFoundError when ``src`` does not: of two processes renaming the same source, exactly
    one wins. That is what claims and publications rely on, on HDFS (one NameNode rename) and
    on a local lake alike. With ``overwrite`` a file replaces ``dst`` in one step.
    """
    fs.makedirs(dst.rsplit("/", 1)[0], exist_ok=True)
    if is_local(fs):
        if overwrite:
            os.replace(src, dst)
        else:
            _rename_noreplace(src, dst)
    else:
        fs.mv(src, dst, overwrite=overwrite)  # hdfs-native: one rename2 RPC (OVERWRITE if asked)


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
    rename(fs, tmp, path, overwrite=True)


def write_json_atomic(uri: str, doc: dict[str, Any]) -> None:
    write_bytes_atomic(uri, (json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n").encode())
