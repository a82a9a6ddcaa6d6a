"""The lake from a Spark driver, through Hadoop's FileSystem API over py4j.

Spark already carries the Hadoop client for file://, hdfs:// and the object stores, so the
jobs use it for what Spark's writer does not do: listing chunks, small JSON files, publishing
a staged folder by rename.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

from salary.lake.store import Store


class HadoopStore(Store):
    """A ``Store`` over ``org.apache.hadoop.fs.FileSystem`` for the file system of one root."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None, "the Spark session has no JVM gateway"
        self._jvm = jvm
        self._gateway: Any = spark.sparkContext._gateway
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = jvm.org.apache.hadoop.fs.Path(root).getFileSystem(self._conf)

    def _path(self, uri: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def exists(self, uri: str) -> bool:
        return bool(self._fs.exists(self._path(uri)))

    def isdir(self, uri: str) -> bool:
        return bool(self._fs.isDirectory(self._path(uri)))

    def names(self, uri: str) -> list[str]:
        if not self.isdir(uri):
            return []
        return sorted(str(s.getPath().getName()) for s in self._fs.listStatus(self._path(uri)))

    def size(self, uri: str) -> int:
        return int(self._fs.getFileStatus(self._path(uri)).getLen())

    def mtime(self, uri: str) -> float:
        return int(self._fs.getFileStatus(self._path(uri)).getModificationTime()) / 1000

    def read_bytes(self, uri: str) -> bytes:
        if not self.exists(uri):
            raise FileNotFoundError(uri)
        stream = self._fs.open(self._path(uri))
        try:
            out = self._jvm.java.io.ByteArrayOutputStream()
            self._jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, out, 65536, False)
            return bytes(out.toByteArray())
        finally:
            stream.close()

    def write_bytes(self, uri: str, data: bytes) -> None:
        stream = self._fs.create(self._path(uri), True)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()

    def mkdirs(self, uri: str) -> None:
        self._fs.mkdirs(self._path(uri))

    def delete(self, uri: str) -> None:
        self._fs.delete(self._path(uri), True)

    def _rename(self, src: str, dst: str) -> None:
        # FileContext.rename without OVERWRITE: fails when dst exists (FileSystem.rename would
        # move src *into* an existing folder instead).
        try:
            self._context().rename(self._path(src), self._path(dst), self._rename_options())
        except Exception as err:  # py4j.protocol.Py4JJavaError
            text = str(err)
            if "FileAlreadyExistsException" in text:
                raise FileExistsError(f"rename destination {dst} already exists") from err
            if "FileNotFoundException" in text:
                raise FileNotFoundError(f"rename source {src} does not exist") from err
            raise

    def _replace_file(self, src: str, dst: str) -> None:
        # FileContext rename with OVERWRITE: on HDFS readers never see ``dst`` missing.
        options = self._jvm.org.apache.hadoop.fs.Options.Rename
        self._context().rename(self._path(src), self._path(dst), self._rename_options(options.OVERWRITE))

    def _context(self) -> Any:
        return self._jvm.org.apache.hadoop.fs.FileContext.getFileContext(self._fs.getUri(), self._conf)

    def _rename_options(self, *items: Any) -> Any:
        array = self._gateway.new_array(self._jvm.org.apache.hadoop.fs.Options.Rename, len(items))
        for i, item in enumerate(items):
            array[i] = item
        return array
