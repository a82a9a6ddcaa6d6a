"""File operations on the lake from a Spark driver, through Hadoop's FileSystem API.

Spark already carries the Hadoop client for file://, hdfs:// and the object stores, so the
jobs use it for the few metadata operations Spark's writer does not do: listing chunks,
publishing a staged folder by rename, and writing small JSON files atomically.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


class HadoopFS:
    """A thin typed wrapper over ``org.apache.hadoop.fs.FileSystem`` for one lake root."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm = spark.sparkContext._jvm
        self._jvm = jvm
        self._gateway = spark.sparkContext._gateway
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = jvm.org.apache.hadoop.fs.Path(root).getFileSystem(self._conf)

    def _path(self, path: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def delete(self, path: str) -> None:
        """Delete a file or a folder recursively; a missing path is not an error."""
        self._fs.delete(self._path(path), True)

    def mkdirs(self, path: str) -> None:
        self._fs.mkdirs(self._path(path))

    def list_names(self, path: str, *, dirs_only: bool = False) -> list[str]:
        """Names directly below ``path`` (sorted), or [] when it does not exist."""
        if not self.exists(path):
            return []
        statuses = self._fs.listStatus(self._path(path))
        names = [s.getPath().getName() for s in statuses if s.isDirectory() or not dirs_only]
        return sorted(names)

    def modification_time(self, path: str) -> int:
        return int(self._fs.getFileStatus(self._path(path)).getModificationTime())

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` (whose parent is created); raise when the rename fails."""
        self.mkdirs(dst.rsplit("/", 1)[0])
        if not self._fs.rename(self._path(src), self._path(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def replace_dir(self, staged: str, dst: str) -> None:
        """Publish a fully written folder at ``dst``, replacing what a failed attempt left.

        Readers see either the old folder, no folder, or the complete new one; never a
        half-written one.
        """
        if self.exists(dst):
            trash = f"{dst}.replaced-{uuid.uuid4().hex[:8]}"
            self.rename(dst, trash)
            self.rename(staged, dst)
            self.delete(trash)
        else:
            self.rename(staged, dst)

    def read_text(self, path: str) -> str:
        stream = self._fs.open(self._path(path))
        try:
            reader = self._jvm.java.io.BufferedReader(
                self._jvm.java.io.InputStreamReader(stream, "UTF-8")
            )
            lines = []
            line = reader.readLine()
            while line is not None:
                lines.append(line)
                line = reader.readLine()
            return "\n".join(lines)
        finally:
            stream.close()

    def read_json(self, path: str) -> dict[str, Any] | None:
        """The JSON document at ``path``, or None when there is none."""
        if not self.exists(path):
            return None
        return json.loads(self.read_text(path))

    def write_text(self, path: str, text: str) -> None:
        """Write a small file atomically: a hidden temporary sibling, then a rename over it."""
        parent, name = path.rsplit("/", 1)
        tmp = f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:8]}"
        stream = self._fs.create(self._path(tmp), True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()
        self.replace_file(tmp, path)
        log.debug("wrote %s", path)

    def replace_file(self, src: str, dst: str) -> None:
        """Rename ``src`` over ``dst`` in one step (FileContext rename with OVERWRITE): on HDFS
        readers never see ``dst`` missing, unlike delete + rename."""
        jvm = self._jvm
        rename_options = jvm.org.apache.hadoop.fs.Options.Rename
        overwrite = self._jvm_array(rename_options, [rename_options.OVERWRITE])
        context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(self._fs.getUri(), self._conf)
        context.rename(self._path(src), self._path(dst), overwrite)

    def _jvm_array(self, java_class: Any, items: list[Any]) -> Any:
        array = self._gateway.new_array(java_class, len(items))
        for i, item in enumerate(items):
            array[i] = item
        return array

    def write_json(self, path: str, doc: dict[str, Any]) -> None:
        self.write_text(path, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
