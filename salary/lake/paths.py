"""Paths in the lake. Pure string functions: the same code serves file:// and hdfs:// roots."""

from __future__ import annotations

import re
from dataclasses import dataclass

from salary.config import LakeLayout

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

GENERATED_CHUNK = "generated"
# Raw chunks made of a labelled drop's rows (published with its predictions) are named so.
LABELLED_PREFIX = "labelled-"
MANIFEST = "_MANIFEST.json"
SUCCESS = "_SUCCESS"
CURRENT = "_CURRENT"


def path_segment(value: str) -> str:
    """Turn a run id (``manual__2026-01-01T00:00:00+00:00``) into one safe path segment.

    Hadoop paths reject ``:`` in a segment, so every character outside ``[A-Za-z0-9._-]``
    becomes ``_``. Distinct Airflow run ids stay distinct in practice (they differ in digits).
    """
    segment = _UNSAFE.sub("_", value).strip("._")
    if not segment:
        raise ValueError(f"run id {value!r} has no usable characters for a path")
    return segment


def join(root: str, *parts: str) -> str:
    """Join a lake root URI and relative parts with single slashes."""
    out = root.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def is_visible(name: str) -> bool:
    """Hadoop and Spark treat names starting with ``_`` or ``.`` as hidden."""
    return not name.startswith(("_", "."))


def failure_record(root: str, job: str, run_id: str, try_number: int) -> str:
    """Where a job attempt that rejected its input says why (read by the Airflow operator: an
    exit status alone does not survive every deploy mode, a file in the lake does)."""
    return join(root, "_failures", job, f"{path_segment(run_id)}-try{try_number}.json")


def application_record(root: str, job: str, run_id: str, try_number: int) -> str:
    """Where a Spark job attempt records its application id (read by the Airflow operator for
    the task's History Server link; a file in the lake outlives the attempt and any deploy mode)."""
    return join(root, "_spark_apps", job, f"{path_segment(run_id)}-try{try_number}.json")


@dataclass(frozen=True)
class Lake:
    """Where each dataset and report lives below one lake root."""

    root: str
    layout: LakeLayout

    @property
    def raw(self) -> str:
        return join(self.root, self.layout.raw)

    @property
    def generated_chunk(self) -> str:
        return join(self.raw, GENERATED_CHUNK)

    def labelled_chunk(self, drop: str) -> str:
        """The raw chunk holding a predicted drop's labelled rows (training data from then on)."""
        return join(self.raw, LABELLED_PREFIX + drop)

    @property
    def curated(self) -> str:
        return join(self.root, self.layout.curated)

    def curated_version(self, run_id: str) -> str:
        return join(self.curated, path_segment(run_id))

    def rejected_rows(self, run_id: str) -> str:
        return join(self.root, self.layout.rejected, path_segment(run_id))

    def report(self, job: str, run_id: str) -> str:
        return join(self.root, self.layout.reports, job, path_segment(run_id))

    @property
    def models(self) -> str:
        return join(self.root, self.layout.models)

    def health_record(self, drop: str) -> str:
        """The model-health verdict on one predicted drop, and whether it was an event."""
        return join(self.models, "health", f"{drop}.json")

    @property
    def drift_pool(self) -> str:
        """Drift reports of drops too small to be judged, waiting for a later run's pool."""
        return join(self.models, "health", "_pool")

    def model_version(self, version: str) -> str:
        return join(self.models, path_segment(version))

    def decision_record(self, version: str) -> str:
        """The promotion gate's decision on one version, with what started its run."""
        return join(self.models, "decisions", f"{path_segment(version)}.json")

    def staging(self, job: str, run_id: str) -> str:
        """A private scratch folder for one task attempt's output before it is published."""
        return join(self.root, self.layout.staging, job, path_segment(run_id))

    # Batch prediction drops: incoming -> claimed/<owner> -> processed | rejected.
    @property
    def drops(self) -> str:
        return join(self.root, self.layout.drops)

    @property
    def incoming(self) -> str:
        return join(self.drops, "incoming")

    def claimed(self, owner: str) -> str:
        """Drops claimed by one run (``owner`` = its path-safe run id)."""
        return join(self.drops, "claimed", path_segment(owner))

    @property
    def processed(self) -> str:
        return join(self.drops, "processed")

    @property
    def rejected_drops(self) -> str:
        return join(self.drops, "rejected")

    def predictions(self, drop: str) -> str:
        return join(self.root, self.layout.predictions, drop)

    @property
    def spark_events(self) -> str:
        """Spark's event logs, one per application (the History Server's log directory)."""
        return join(self.root, self.layout.spark_events)
