"""The lake through fsspec: the local file system for ``file://`` roots, hdfs-native's fsspec
implementation (a Rust client, no JVM) for ``hdfs://`` roots. Used by Ray jobs, Airflow tasks
and scripts: everything that is not a Spark driver."""

from __future__ import annotations

import ctypes
import errno
import os
import weakref
from collections.abc import Iterator
from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from salary.lake.store import Store

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)


def _rename_noreplace(src: str, dst: str) -> None:
    """Linux renameat2(RENAME_NOREPLACE): atomic, and fails if ``dst`` exists (even a folder)."""
    if _libc.renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) != 0:
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, f"rename destination {dst} already exists")
        if err == errno.ENOENT:
            raise FileNotFoundError(err, f"rename source {src} does not exist")
        raise OSError(err, f"rename {src} -> {dst}: {os.strerror(err)}")


def _is_local(fs: AbstractFileSystem) -> bool:
    return "file" in fs.protocol if isinstance(fs.protocol, tuple) else fs.protocol == "file"


# A forked child must never drop an hdfs-native client it inherited: the client's Tokio runtime
# waits, when dropped, for worker threads that a forked child does not have (tokio-rs/tokio#4301),
# forever. fsspec empties its file-system cache in every forked child (os.register_at_fork), which
# dropped the last reference: pyspark's gateway launch forks that way (Popen with preexec_fn runs
# the at-fork hooks) and its child hung before exec. So the parent hands its remote file systems
# to the child, which holds them until it execs or exits; the parent lets go after the fork.
_REMOTE: weakref.WeakSet[AbstractFileSystem] = weakref.WeakSet()
_HELD_ACROSS_FORK: list[AbstractFileSystem] = []


def _hold_before_fork() -> None:
    _HELD_ACROSS_FORK[:] = list(_REMOTE)


os.register_at_fork(before=_hold_before_fork, after_in_parent=_HELD_ACROSS_FORK.clear)


class FsspecStore(Store):
    """A ``Store`` over fsspec; one instance serves any URI (file systems are cached by fsspec)."""

    @staticmethod
    def filesystem(uri: str) -> tuple[AbstractFileSystem, str]:
        """The fsspec file system serving ``uri`` and the path within it (also for readers such
        as ``pyarrow.parquet.read_table(path, filesystem=fs)``)."""
        fs, path = fsspec.core.url_to_fs(uri)
        if not _is_local(fs):
            _REMOTE.add(fs)
        return fs, path

    def exists(self, uri: str) -> bool:
        fs, path = self.filesystem(uri)
        return bool(fs.exists(path))

    def isdir(self, uri: str) -> bool:
        fs, path = self.filesystem(uri)
        return bool(fs.isdir(path))

    def names(self, uri: str) -> list[str]:
        fs, path = self.filesystem(uri)
        try:
            listed = fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        if len(listed) == 1 and listed[0].rstrip("/") == path.rstrip("/") and not fs.isdir(path):
            return []  # ls of a file lists the file itself
        return sorted(str(p).rstrip("/").rsplit("/", 1)[-1] for p in listed)

    def size(self, uri: str) -> int:
        fs, path = self.filesystem(uri)
        return int(fs.info(path)["size"])

    def mtime(self, uri: str) -> float:
        fs, path = self.filesystem(uri)
        info: dict[str, Any] = fs.info(path)
        if "mtime" in info:
            return float(info["mtime"])
        return float(info["modification_time"]) / 1000  # hdfs-native: milliseconds

    def read_bytes(self, uri: str) -> bytes:
        fs, path = self.filesystem(uri)
        with fs.open(path, "rb") as fh:
            return bytes(fh.read())

    def stream(self, uri: str, chunk_bytes: int = 256 * 1024) -> Iterator[bytes]:
        """The file's bytes in chunks of at most ``chunk_bytes`` (never the whole file in memory);
        FileNotFoundError before the first chunk when it does not exist."""
        fs, path = self.filesystem(uri)
        fh = fs.open(path, "rb")

        def chunks() -> Iterator[bytes]:
            with fh:
                while chunk := fh.read(chunk_bytes):
                    yield bytes(chunk)

        return chunks()

    def write_bytes(self, uri: str, data: bytes) -> None:
        # One buffered write: HDFS clients are slow with many small writes.
        fs, path = self.filesystem(uri)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "wb") as fh:
            fh.write(data)

    def mkdirs(self, uri: str) -> None:
        fs, path = self.filesystem(uri)
        fs.makedirs(path, exist_ok=True)

    def delete(self, uri: str) -> None:
        fs, path = self.filesystem(uri)
        if fs.exists(path):
            try:
                fs.rm(path, recursive=True)
            except FileNotFoundError:
                pass

    def _rename(self, src: str, dst: str) -> None:
        fs, src_path = self.filesystem(src)
        _, dst_path = self.filesystem(dst)
        if _is_local(fs):
            _rename_noreplace(src_path, dst_path)
        else:
            fs.mv(src_path, dst_path, overwrite=False)  # hdfs-native: one rename2 RPC

    def _replace_file(self, src: str, dst: str) -> None:
        fs, src_path = self.filesystem(src)
        _, dst_path = self.filesystem(dst)
        if _is_local(fs):
            os.replace(src_path, dst_path)
        else:
            fs.mv(src_path, dst_path, overwrite=True)  # rename2 with OVERWRITE
