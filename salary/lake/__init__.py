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
from salary.lake.store import Store, open_store

__all__ = ["CURRENT", "GENERATED_CHUNK", "LABELLED_PREFIX", "MANIFEST", "SUCCESS", "Lake", "Store", "failure_record",
           "is_visible", "join", "open_store", "path_segment"]
