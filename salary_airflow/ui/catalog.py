"""What the Salary pages show, read from the lake (read-only, through ``salary.lake``).

Every name that comes from a request (a model version, a run id, a drop, a picture file) is
checked here before it becomes part of a path (``checked_name``): the pages name things by run
id and drop name only, never by path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from salary.drops import REASON_FILE
from salary.lake import MANIFEST, LakeIO, join, path_segment
from salary.lake.fsspec_store import FsspecStore
from salary.model.pictures import PICTURES
from salary.model.registry import CHAMPION

TRAINING, PREDICT = "salary_training", "salary_batch_predict"
TRAINING_JOBS = ("generate_dataset", "etl_benchmark", "top_earners", "age_distribution", "tune_model")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,199}")
_PICTURE = re.compile(r"[a-z0-9_-]{1,80}\.png")
_READERS = 8  # lake reads in flight per page (HDFS round trips dominate with many versions)

T = TypeVar("T")
Lake = LakeIO[FsspecStore]


class NotFound(LookupError):
    """What a request named is not in the lake (or is not a name the pages use)."""


def checked_name(value: str, what: str) -> str:
    """``value`` when it can only name one lake entry: letters, digits and ``._:+-``, not
    starting with a dot, no ``..``; anything else (``/``, ``%2F`` decoded, ``..``, an absolute
    path, a NUL, spaces) is NotFound, before the lake is touched."""
    if not _NAME.fullmatch(value) or ".." in value:
        raise NotFound(f"no {what} named {value!r}")
    return value


def picture_name(value: str) -> str:
    """A picture file name as the drawing code writes them (``psi.png``)."""
    if not _PICTURE.fullmatch(value):
        raise NotFound(f"no picture named {value!r}")
    return value


def _parallel(call: Callable[[str], T], names: Iterable[str]) -> list[T]:
    with ThreadPoolExecutor(_READERS) as pool:
        return list(pool.map(call, names))


@dataclass(frozen=True)
class Version:
    """One model version as the model page lists it."""

    version: str
    at: float  # when it was published (epoch seconds)
    test_mse_over_floor: float | None
    promoted: bool | None  # None: no decision recorded (promote_model did not run)
    reason: str | None
    trigger: str | None
    champion: bool = False
    metrics: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    decision: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def trigger_text(trigger: Mapping[str, Any] | None) -> str | None:
    """What started a run, in a few words: its run type and the assets whose events did."""
    if not trigger:
        return None
    events = trigger.get("events") or []
    assets = sorted({str(e.get("asset")) for e in events})
    return str(trigger.get("run_type")) + (f" ({', '.join(assets)})" if assets else "")


def champion(lake: Lake) -> dict[str, Any] | None:
    return lake.store.read_json(join(lake.paths.models, CHAMPION))


def champion_folder(pointer: Mapping[str, Any] | None) -> str | None:
    """The folder name (the pages' version name) of the version a champion pointer names."""
    return str((pointer or {}).get("path", "")).rstrip("/").rsplit("/", 1)[-1] or None


def version_names(lake: Lake) -> list[str]:
    """The published model versions (folders with a manifest), any order."""
    return [n for n in lake.store.dirs(lake.paths.models) if n not in ("decisions", "health")
            and not n.startswith(("_", "."))]


def version(lake: Lake, name: str, champion_version: str | None = None) -> Version:
    """One published version with its test score and its promotion decision."""
    folder = lake.paths.model_version(checked_name(name, "model version"))
    metrics = lake.store.read_json(join(folder, "metrics.json"))
    if metrics is None:
        raise NotFound(f"no model version {name!r}")
    decision = lake.store.read_json(lake.paths.decision_record(name)) or {}
    return Version(name, lake.store.mtime(join(folder, "metrics.json")),
                   (metrics.get("test") or {}).get("mse_over_floor"), decision.get("promoted"),
                   decision.get("reason"), trigger_text(decision.get("trigger")), name == champion_version, metrics,
                   decision)


def history(lake: Lake, pointer: Mapping[str, Any] | None = None) -> list[Version]:
    """Every published version, oldest first, the champion (``pointer``, read when not given)
    marked."""
    current = champion_folder(pointer if pointer is not None else champion(lake))

    def one(name: str) -> Version | None:
        try:
            return version(lake, name, current)
        except NotFound:
            return None  # a folder being written, or not a version

    return sorted((v for v in _parallel(one, version_names(lake)) if v is not None), key=lambda v: (v.at, v.version))


def pictures(lake: Lake, folder: str) -> list[str]:
    """The PNGs in a pictures folder, sorted."""
    return [n for n in lake.store.names(join(folder, PICTURES)) if _PICTURE.fullmatch(n)]


def version_detail(lake: Lake, name: str) -> dict[str, Any]:
    """A version's score, decision, manifest facts and pictures."""
    v = version(lake, name, champion_folder(champion(lake)))
    folder = lake.paths.model_version(name)
    manifest = lake.store.read_json(join(folder, "manifest.json")) or {}
    return {"version": v, "manifest": {k: manifest.get(k) for k in (
                "run_id", "model", "preset", "features", "best_params", "train_rows", "as_of", "code_version")},
            "dataset": manifest.get("dataset") or {}, "pictures": pictures(lake, folder)}


def training_run(lake: Lake, run_id: str) -> dict[str, Any]:
    """A salary_training run: each job's stage seconds, its model version (if published)."""
    checked_name(run_id, "run")
    stages = {}
    for job in TRAINING_JOBS:
        report = lake.paths.report(job, run_id)
        summary = lake.store.read_json(join(report, "summary.json")) or lake.store.read_json(
            join(report, "metrics.json"))
        if summary is not None:
            stages[job] = {"seconds": summary.get("seconds"), "stage_seconds": summary.get("stage_seconds") or {}}
    try:
        detail: dict[str, Any] | None = version_detail(lake, path_segment(run_id))
    except NotFound:
        detail = None
    return {"run_id": run_id, "jobs": stages, "model": detail}


def rejection(lake: Lake, drop: str, run_id: str) -> dict[str, Any] | None:
    """The reason record of ``drop`` as ``run_id`` rejected it, in the folder publishing chose
    (``drops.publish.rejected_folder``)."""
    from salary.drops.publish import rejected_folder  # pandas and pyarrow: not at the api-server's start

    record = lake.store.read_json(join(rejected_folder(lake, drop, run_id), REASON_FILE))
    return record if record is not None and record.get("run") == run_id else None


def drop_verdict(lake: Lake, run_id: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """One drop of a prediction run: its result, its health verdict and event decision, its
    monitoring (PSI per feature, live MSE) and pictures, or its rejection reason."""
    drop = checked_name(str(result["drop"]), "drop")
    out: dict[str, Any] = {"drop": drop, "result": dict(result)}
    if result.get("status") == "rejected":
        out["rejection"] = rejection(lake, drop, run_id)
        return out
    predictions = lake.paths.predictions(drop)
    out["health"] = lake.store.read_json(lake.paths.health_record(drop))
    out["monitoring"] = {k: v for k, v in (lake.store.read_json(join(predictions, "monitoring.json")) or {}).items()
                         if k != "bins"}
    out["pictures"] = pictures(lake, predictions)
    return out


def prediction_run(lake: Lake, run_id: str) -> dict[str, Any]:
    """A salary_batch_predict run: every drop it claimed and what became of it, and the drift
    of its drops too small to be judged alone, pooled."""
    checked_name(run_id, "run")
    summary = lake.store.read_json(join(lake.paths.report("predict_drops", run_id), "summary.json"))
    if summary is None:
        return {"run_id": run_id, "model_version": None, "drops": [], "pooled_drift": None, "seconds": None}
    published = {r["drop"]: r for r in _published_results(lake, [r["drop"] for r in summary.get("drops") or []])}
    drops = [drop_verdict(lake, run_id, {**r, **published.get(r["drop"], {})}) for r in summary.get("drops") or []]
    return {"run_id": run_id, "model_version": summary.get("model_version"), "drops": drops,
            "pooled_drift": summary.get("pooled_drift"), "seconds": summary.get("seconds")}


def _published_results(lake: Lake, drops: list[str]) -> list[dict[str, Any]]:
    def one(drop: str) -> dict[str, Any] | None:
        return lake.store.read_json(join(lake.paths.predictions(checked_name(drop, "drop")), MANIFEST))

    return [r for r in _parallel(one, drops) if r and r.get("drop")]


def recent_drops(lake: Lake, limit: int = 200) -> list[dict[str, Any]]:
    """The health records of predicted drops, newest first (at most ``limit``)."""
    folder = join(lake.paths.models, "health")
    names = [n.removesuffix(".json") for n in lake.store.names(folder) if n.endswith(".json")]
    records = [r for r in _parallel(lambda n: lake.store.read_json(lake.paths.health_record(n)), names) if r]
    return sorted(records, key=lambda r: str(r.get("decided_at")), reverse=True)[:limit]


def picture_uri(lake: Lake, kind: str, name: str, file: str) -> str:
    """The lake file of one picture: ``kind`` ``model`` (a version) or ``drop``; NotFound for
    any other kind, an unchecked name or a file the folder does not hold."""
    if kind == "model":
        folder = lake.paths.model_version(checked_name(name, "model version"))
    elif kind == "drop":
        folder = lake.paths.predictions(checked_name(name, "drop"))
    else:
        raise NotFound(f"no pictures of {kind!r}")
    file = picture_name(file)
    if file not in pictures(lake, folder):
        raise NotFound(f"no picture {file} of {kind} {name}")
    return join(folder, PICTURES, file)
