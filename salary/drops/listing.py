"""Which entries of ``drops/incoming/`` are complete drops. Pure and light: the triggerer and
DAG parsing import it, so it imports no pandas, numpy, pyarrow or fsspec at module level."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from salary.lake.paths import SUCCESS, is_visible

READY, PENDING, IGNORED = "ready", "pending", "ignored"
TEMPORARY_SUFFIXES = ("._COPYING_", ".tmp", ".temp", ".inprogress", ".part", ".crc")


def drop_state(name: str, is_dir: bool, children: Iterable[str] = ()) -> str:
    """READY, PENDING (still being written) or IGNORED for one entry of incoming/.

    Hidden and temporary names (``.x``, ``_x``, ``x._COPYING_`` from ``hdfs dfs -put``, ...)
    are never drops; a folder is complete once its ``_SUCCESS`` marker exists (written last by
    Spark, Hadoop and our own writers). A visible file is complete: writers are expected to
    write under a temporary name and rename, as ``hdfs dfs -put`` does.
    """
    if not is_visible(name) or name.endswith(TEMPORARY_SUFFIXES):
        return IGNORED
    if is_dir:
        return READY if SUCCESS in set(children) else PENDING
    return READY


def complete_drops(entries: Mapping[str, list[str] | None]) -> list[str]:
    """Names of complete drops, given each entry's children (None for a file), sorted."""
    return sorted(name for name, children in entries.items()
                  if drop_state(name, children is not None, children or ()) == READY)


def list_complete(uri: str) -> list[str]:
    """Complete drops in the folder ``uri`` (any lake file system; blocking calls)."""
    from salary.lake import open_store

    return complete_drops(open_store(uri).entries(uri))
