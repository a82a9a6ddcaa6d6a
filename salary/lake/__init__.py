"""The lake: where each dataset lives (``paths``) and the one way to read, write and publish
files there (``store``)."""

from salary.lake.paths import (
    CURRENT,
    GENERATED_CHUNK,
    LABELLED_PREFIX,
    MANIFEST,
    SUCCESS,
    Lake,
    failure_record,
    is_visible,
    join,
    path_segment,
)
from salary.lake.store import Store

__all__ = ["CURRENT", "GENERATED_CHUNK", "LABELLED_PREFIX", "MANIFEST", "SUCCESS", "Lake", "Store", "failure_record",
           "is_visible", "join", "open_store", "path_segment"]


def open_store(uri: str) -> Store:
    """The store for ``uri`` outside a Spark driver: fsspec, for local files (``file://`` or a
    plain path) and HDFS (``hdfs://``, hdfs-native). Spark drivers use ``HadoopStore``."""
    scheme = uri.split("://", 1)[0] if "://" in uri else "file"
    if scheme not in ("file", "hdfs"):
        raise ValueError(f"no lake store for {uri!r}: the lake is file:// or hdfs://")
    from salary.lake.fsspec_store import FsspecStore  # fsspec: imported by the callers that need it

    return FsspecStore()
