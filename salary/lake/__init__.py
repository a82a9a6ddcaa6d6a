"""The lake: where each dataset lives (``paths``) and the one way to read, write and publish
files there (``store``)."""

from dataclasses import dataclass
from typing import Generic, TypeVar

from salary.config import LakeLayout
from salary.lake.paths import (
    CURRENT,
    GENERATED_CHUNK,
    LABELLED_PREFIX,
    MANIFEST,
    SUCCESS,
    Lake,
    application_record,
    failure_record,
    is_visible,
    join,
    path_segment,
)
from salary.lake.store import Store

__all__ = ["CURRENT", "GENERATED_CHUNK", "LABELLED_PREFIX", "MANIFEST", "SUCCESS", "Lake", "LakeIO", "Store",
           "application_record", "failure_record", "is_visible", "join", "open_lake", "open_store", "path_segment"]

S = TypeVar("S", bound=Store)


@dataclass(frozen=True)
class LakeIO(Generic[S]):
    """One lake as code uses it: where each dataset lives (``paths``) and the store that reads,
    writes and publishes there (``store``: fsspec outside Spark, Hadoop's FileSystem in a driver)."""

    paths: Lake
    store: S


def open_lake(root: str, layout: LakeLayout) -> LakeIO[Store]:
    """The lake at ``root`` outside a Spark driver (``open_store``)."""
    return LakeIO(Lake(root, layout), open_store(root))


def open_store(uri: str) -> Store:
    """The store for ``uri`` outside a Spark driver: fsspec, for local files (``file://`` or a
    plain path) and HDFS (``hdfs://``, hdfs-native). Spark drivers use ``HadoopStore``."""
    scheme = uri.split("://", 1)[0] if "://" in uri else "file"
    if scheme not in ("file", "hdfs"):
        raise ValueError(f"no lake store for {uri!r}: the lake is file:// or hdfs://")
    from salary.lake.fsspec_store import FsspecStore  # fsspec: imported by the callers that need it

    return FsspecStore()
