"""Staging a drop's results and publishing them: rejected rows, predictions, then the drop's
own move to processed/ (or into its rejected folder). Each step is skipped when an earlier
attempt already did it."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from salary.drops import REASON_FILE
from salary.lake import MANIFEST, SUCCESS, Lake, LakeIO, Store, is_visible, join, path_segment
from salary.lake.tables import write_parquet

log = logging.getLogger(__name__)


def staging_dir(lake: Lake, owner: str, drop: str) -> str:
    return join(lake.staging("predict", owner), drop)


def stage_rejected(store: Store, uri: str, drop: str, reason: str, counts: Mapping[str, int],
                   rows: pd.DataFrame | None, owner: str) -> None:
    """A rejected-drop folder in staging: the bad rows (if any) and _REASON.json."""
    store.stage(uri)
    if rows is not None and len(rows):
        write_parquet(store, join(uri, "rows.parquet"), rows)
    store.write_json(join(uri, REASON_FILE), {
        "drop": drop, "reason": reason, "rejected_rows_by_reason": dict(counts),
        "rejected_at": dt.datetime.now(dt.UTC).isoformat(), "run": owner})


def rejected_folder(lake: LakeIO, drop: str, owner: str) -> str:
    """drops/rejected/<drop>, or <drop>.<run> when an earlier drop of that name (another run's)
    already has one: a reused name never overwrites or hides an earlier rejection."""
    folder = join(lake.paths.rejected_drops, drop)
    earlier = lake.store.read_json(join(folder, REASON_FILE))
    if earlier is not None and earlier.get("run") != owner:
        return join(lake.paths.rejected_drops, f"{drop}.{path_segment(owner)}")
    return folder


def already_published(lake: LakeIO, drop: str) -> dict[str, Any] | None:
    """The manifest of predictions/<drop> when it is published (its _SUCCESS exists)."""
    if not lake.store.exists(join(lake.paths.predictions(drop), SUCCESS)):
        return None
    return lake.store.read_json(join(lake.paths.predictions(drop), MANIFEST))


def publish(lake: LakeIO, owner: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """Make one staged drop result visible, then retire the drop from claimed/."""
    drop = result["drop"]
    claimed, staged = join(lake.paths.claimed(owner), drop), staging_dir(lake.paths, owner, drop)
    rejected_target = rejected_folder(lake, drop, owner)
    lake.store.publish(join(staged, "rejected"), rejected_target)
    if result["status"] == "rejected":
        destination = join(rejected_target, drop)
    else:
        # The labelled rows first: once the predictions are visible, the drop counts as done.
        lake.store.publish(join(staged, "labelled"), lake.paths.labelled_chunk(drop))
        lake.store.publish(join(staged, "predictions"), lake.paths.predictions(drop))
        destination = join(lake.paths.processed, drop)
    if lake.store.exists(claimed):
        try:
            lake.store.rename(claimed, destination)
        except FileExistsError:
            destination = f"{destination}.{uuid.uuid4().hex[:8]}"
            lake.store.rename(claimed, destination)
    lake.store.delete(staged)
    if result.get("rows_in") is None:  # rejected whole: unreadable, so no rows were counted
        log.info("drop %s: rejected whole (%s) -> %s", drop, result.get("reason"), destination)
    else:
        log.info("drop %s: %s, %d rows in, %d predicted, %d rejected -> %s", drop, result["status"],
                 result["rows_in"], result["rows_predicted"], result["rows_rejected"], destination)
    return {**result, "moved_to": destination}


def publish_all(lake: LakeIO, owner: str, results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Publish every staged result of one prediction job; release the run's claim record."""
    published = [publish(lake, owner, r) for r in results]
    mine = lake.paths.claimed(owner)
    if lake.store.exists(mine) and not [n for n in lake.store.names(mine) if is_visible(n)]:
        lake.store.delete(mine)
    totals = {k: sum(int(r.get(k) or 0) for r in published) for k in ("rows_in", "rows_predicted", "rows_rejected")}
    return {"drops": published, **totals,
            "published": [r["drop"] for r in published if r["status"] != "rejected"],
            "rejected": [r["drop"] for r in published if r["status"] == "rejected"]}
