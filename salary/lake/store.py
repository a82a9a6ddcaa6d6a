"""The one way our code touches lake files: a ``Store`` of URIs, with one publish rule.

Backends implement a few primitives (exists, list, read, write, rename without replace, rename
over a file, delete); everything above them is written once here:

* **atomic small files**: a hidden temporary sibling, then one rename over the target, so a
  reader sees the old or the new JSON, never a part of it;
* **staging**: a task attempt writes below its own folder (``Lake.staging``), which it empties
  first, so what an earlier attempt left never mixes in;
* **publication**: a staged folder becomes visible by one rename that never replaces anything.
  The output of a run (a curated version, a report, a model version, a drop's predictions) is
  immutable once published: a retry that finds it published keeps it and drops its own copy.
  Readers never find a version missing or half-written. A pointer (``_CURRENT``, ``champion``)
  names the current version and is replaced atomically as a file.

Backends: ``FsspecStore`` (fsspec: the local file system with renameat2, hdfs-native's Rust
client for ``hdfs://``) everywhere outside a Spark driver, ``HadoopStore`` (Hadoop's FileSystem
over py4j) in Spark drivers, which already carry the Hadoop client.
"""

from __future__ import annotations

import json
import logging
import uuid
from abc import ABC, abstractmethod
from typing import Any

from salary.lake.paths import is_visible, join

log = logging.getLogger(__name__)


def _split(uri: str) -> tuple[str, str]:
    parent, name = uri.rstrip("/").rsplit("/", 1)
    return parent, name


class Store(ABC):
    """Lake files by URI. Subclasses provide the primitives; the rules live here."""

    # ------------------------------------------------------------------ primitives

    @abstractmethod
    def exists(self, uri: str) -> bool: ...

    @abstractmethod
    def isdir(self, uri: str) -> bool: ...

    @abstractmethod
    def names(self, uri: str) -> list[str]:
        """Names directly below ``uri``, sorted; [] when it does not exist."""

    @abstractmethod
    def size(self, uri: str) -> int: ...

    @abstractmethod
    def mtime(self, uri: str) -> float:
        """Modification time in epoch seconds."""

    @abstractmethod
    def read_bytes(self, uri: str) -> bytes: ...

    @abstractmethod
    def write_bytes(self, uri: str, data: bytes) -> None:
        """One buffered write (parent created). Not atomic: for files inside a staging folder."""

    @abstractmethod
    def mkdirs(self, uri: str) -> None: ...

    @abstractmethod
    def delete(self, uri: str) -> None:
        """Delete a file or a folder recursively; a missing path is not an error."""

    @abstractmethod
    def _rename(self, src: str, dst: str) -> None:
        """Rename without replacing: FileExistsError when ``dst`` exists, FileNotFoundError when
        ``src`` does not. Of two callers renaming the same source, exactly one wins."""

    @abstractmethod
    def _replace_file(self, src: str, dst: str) -> None:
        """Rename the file ``src`` over ``dst`` in one step."""

    # ------------------------------------------------------------------ built on them

    def rename(self, src: str, dst: str) -> None:
        """Rename without replacing (see ``_rename``); the destination's parent is created."""
        self.mkdirs(_split(dst)[0])
        self._rename(src, dst)

    def dirs(self, uri: str) -> list[str]:
        """Visible folders directly below ``uri``, sorted."""
        return [n for n in self.names(uri) if is_visible(n) and self.isdir(join(uri, n))]

    def entries(self, uri: str) -> dict[str, list[str] | None]:
        """Each entry of a folder with its children's names (None for a file). An entry another
        process renames away while we list is skipped, not an error."""
        out: dict[str, list[str] | None] = {}
        for name in self.names(uri):
            path = join(uri, name)
            try:
                out[name] = self.names(path) if self.isdir(path) else None
            except FileNotFoundError:
                continue
        return out

    def files(self, uri: str) -> list[str]:
        """``uri`` itself when it is a file, else every visible file below it, sorted."""
        if not self.isdir(uri):
            return [uri]
        out: list[str] = []
        for name in self.names(uri):
            if is_visible(name):
                out.extend(self.files(join(uri, name)))
        return sorted(out)

    def read_json(self, uri: str) -> dict[str, Any] | None:
        """The JSON document at ``uri``, or None when there is none."""
        try:
            return json.loads(self.read_bytes(uri))
        except FileNotFoundError:
            return None

    def write_atomic(self, uri: str, data: bytes) -> None:
        """Write a file so readers see the old or the new content, never a part of it."""
        parent, name = _split(uri)
        tmp = join(parent, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
        self.write_bytes(tmp, data)
        self._replace_file(tmp, uri)

    def write_json(self, uri: str, doc: dict[str, Any]) -> None:
        """Write a JSON document atomically (sorted keys, dates as strings)."""
        self.write_atomic(uri, (json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n").encode())

    def stage(self, uri: str) -> str:
        """An empty staging folder at ``uri`` (what an earlier attempt left there is removed)."""
        self.delete(uri)
        self.mkdirs(uri)
        return uri

    def publish(self, staged: str, target: str) -> bool:
        """Make a complete staged folder (or file) visible at ``target`` by one rename.

        Never replaces: when ``target`` was published before (by an earlier attempt of the same
        run), that publication stays and the staged copy is deleted. Returns whether this call
        published. A missing ``staged`` (published by an earlier attempt) returns False.
        """
        if not self.exists(staged):
            return False
        try:
            self.rename(staged, target)
        except FileExistsError:
            log.info("%s was already published (an earlier attempt): kept; staged copy dropped", target)
            self.delete(staged)
            return False
        log.info("published %s", target)
        return True

    def republish(self, staged: str, target: str) -> None:
        """Replace a published folder with a staged one: the old folder is renamed aside first,
        so there is a moment (one rename) with no folder at ``target``. Only for a dataset whose
        readers run after its writer (the generated raw chunk: etl_benchmark follows
        generate_dataset in the same DAG, one run at a time); outputs of runs use ``publish``."""
        aside = f"{target.rstrip('/')}.replaced-{uuid.uuid4().hex[:8]}"
        had_old = self.exists(target)
        if had_old:
            self.rename(target, aside)
        self.rename(staged, target)
        if had_old:
            self.delete(aside)
