"""Batch-prediction drops in the lake: completeness, claims, validation, staging and publication.

A drop is a Parquet file or a folder of them placed in ``<lake>/drops/incoming/``. Its life:

    incoming/<drop> --claim (one rename)--> claimed/<owner>/<drop>
        --> predictions/<drop>/ (+ rows it rejected in drops/rejected/<drop>/), then processed/<drop>
        --> or, when the drop as a whole is unusable, drops/rejected/<drop>/ with _REASON.json

Every step is a rename, atomic on HDFS (one NameNode operation) and on a local lake
(renameat2), and fails rather than overwrite. So of two runs claiming the same drop exactly
one wins; outputs are written to a staging folder and appear all at once with their
_SUCCESS marker inside; and a retry after a crash finds each step either done or not done.
A run's own unfinished claims are resumed by its retries; another run's claims are taken
over only after a lease expires.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from salary.columns import snake_case
from salary.errors import BadInputError
from salary.incoming import complete_drops
from salary.lake import SUCCESS, Lake, is_visible, join, path_segment
from salary.lakefs import filesystem, read_json, rename, write_json_atomic

log = logging.getLogger(__name__)

CLAIM_RECORD = "_CLAIM.json"
REASON_FILE = "_REASON.json"
MANIFEST_FILE = "_MANIFEST.json"

# Columns a drop must have, with the Arrow types accepted for each.
REQUIRED = {
    "id": (pa.types.is_integer, "an integer type"),
    "age": (pa.types.is_integer, "an integer type"),
    "is_active": (pa.types.is_boolean, "boolean"),
    "signup_date": (lambda t: pa.types.is_date(t) or pa.types.is_timestamp(t), "date or timestamp"),
}
# Optional: when present (and numeric) the true salary gives a live MSE.
LABEL = "salary"
PREDICTION = "prediction"
REJECT_REASON = "reject_reason"


class DropRejected(BadInputError):
    """A drop that cannot be used as a whole (unreadable, wrong schema, no rows)."""


# ---------------------------------------------------------------- which drops are complete


def _entries(fs: AbstractFileSystem, path: str) -> dict[str, list[str] | None]:
    """Entries of a folder (children names for folders, None for files). Entries that another
    run renames away while we list are skipped, not an error."""
    try:
        names = fs.ls(path, detail=False)
    except FileNotFoundError:
        return {}
    out: dict[str, list[str] | None] = {}
    for full in names:
        name = full.rstrip("/").rsplit("/", 1)[-1]
        try:
            if fs.isdir(full):
                out[name] = [c.rstrip("/").rsplit("/", 1)[-1] for c in fs.ls(full, detail=False)]
            elif fs.exists(full):
                out[name] = None
        except FileNotFoundError:
            continue
    return out


def list_complete(uri: str) -> list[str]:
    """Complete drops in the folder ``uri`` (any lake filesystem)."""
    fs, path = filesystem(uri)
    return complete_drops(_entries(fs, path))


# ---------------------------------------------------------------- claims


def _mtime(fs: AbstractFileSystem, path: str) -> float:
    """Modification time in epoch seconds (local: ``mtime``; hdfs-native: milliseconds)."""
    info = fs.info(path)
    if "mtime" in info:
        return float(info["mtime"])
    return float(info["modification_time"]) / 1000


@dataclass(frozen=True)
class Claim:
    drop: str
    how: str  # "new", "resumed" (this run's own earlier claim) or "taken over" (lease expired)


def claim_drops(lake: Lake, owner: str, wanted: Sequence[str], lease_seconds: float,
                now: float | None = None) -> list[Claim]:
    """Claim ``wanted`` drops for ``owner``; resume its own claims; take over expired ones.

    A drop another run claimed first is skipped (its rename fails: exactly one run wins).
    """
    fs, claimed_root = filesystem(join(lake.drops, "claimed"))
    _, mine = filesystem(lake.claimed(owner))
    _, incoming = filesystem(lake.incoming)
    now = time.time() if now is None else now
    claims = [Claim(d, "resumed") for d in sorted(_entries(fs, mine)) if is_visible(d)]

    ready = set(complete_drops(_entries(fs, incoming)))
    for drop in wanted:
        if drop not in ready:
            log.info("drop %s is no longer complete in incoming/ (claimed by another run?): skipped", drop)
            continue
        try:
            rename(fs, f"{incoming}/{drop}", f"{mine}/{drop}")
            claims.append(Claim(drop, "new"))
        except FileNotFoundError:
            log.info("drop %s was claimed by another run first: skipped", drop)
        except FileExistsError:
            log.warning("a drop named %s is already claimed by this run; the new one waits in incoming/", drop)

    for other in _entries(fs, claimed_root):
        if other == path_segment(owner):
            continue
        record = read_json(join(lake.drops, "claimed", other, CLAIM_RECORD)) or {}
        claimed_at = record.get("claimed_at") or _mtime(fs, f"{claimed_root}/{other}")
        age = now - float(claimed_at)
        if age < lease_seconds:
            continue
        for drop in sorted(_entries(fs, f"{claimed_root}/{other}")):
            if not is_visible(drop):
                continue
            try:
                rename(fs, f"{claimed_root}/{other}/{drop}", f"{mine}/{drop}")
                log.warning("took over drop %s from run %s (claimed %.0f s ago, lease %.0f s)",
                            drop, other, age, lease_seconds)
                claims.append(Claim(drop, "taken over"))
            except (FileNotFoundError, FileExistsError):
                pass

    if claims:
        write_json_atomic(join(lake.claimed(owner), CLAIM_RECORD),
                          {"owner": owner, "claimed_at": now, "drops": [c.drop for c in claims]})
    return claims


# ---------------------------------------------------------------- reading and validating


def data_files(fs: AbstractFileSystem, path: str) -> list[str]:
    """The drop's files: itself, or a folder's visible files (recursively), sorted."""
    if not fs.isdir(path):
        return [path]
    return sorted(f for f in fs.find(path) if all(is_visible(p) for p in f[len(path):].split("/") if p))


def read_drop(fs: AbstractFileSystem, path: str, drop: str) -> tuple[pa.Table, list[str]]:
    """All rows of a drop as one table; DropRejected names the file and what is wrong with it."""
    files = data_files(fs, path)
    if not files:
        raise DropRejected(f"{drop}: a folder without data files")
    tables = []
    for f in files:
        name = f[len(path):].lstrip("/") or drop
        size = fs.info(f)["size"]
        if size == 0:
            raise DropRejected(f"{name}: empty file (0 bytes)")
        try:
            with fs.open(f, "rb") as fh:
                table = pq.read_table(io.BytesIO(fh.read()))
        except (pa.ArrowInvalid, OSError) as exc:
            raise DropRejected(f"{name}: not a readable Parquet file ({exc})") from exc
        tables.append((name, table))
    normalised = [(name, _normalise_schema(t, name)) for name, t in tables]
    has_label = all(LABEL in t.column_names for _, t in normalised)
    columns = [*REQUIRED, *([LABEL] if has_label else [])]
    table = pa.concat_tables([t.select(columns) for _, t in normalised], promote_options="permissive")
    if table.num_rows == 0:
        raise DropRejected(f"{drop}: no rows")
    return table, [name for name, _ in tables]


def _normalise_schema(table: pa.Table, name: str) -> pa.Table:
    """snake_case column names, required columns checked and cast to canonical types."""
    table = table.rename_columns([snake_case(c) for c in table.column_names])
    problems = []
    for column, (accepts, text) in REQUIRED.items():
        if column not in table.column_names:
            problems.append(f"missing column '{column}' (expected {text})")
        elif not accepts(table.schema.field(column).type):
            problems.append(f"column '{column}' has type {table.schema.field(column).type}, expected {text}")
    if LABEL in table.column_names and not (pa.types.is_integer(table.schema.field(LABEL).type)
                                            or pa.types.is_floating(table.schema.field(LABEL).type)
                                            or pa.types.is_decimal(table.schema.field(LABEL).type)):
        problems.append(f"column '{LABEL}' has type {table.schema.field(LABEL).type}, expected a numeric type")
    if problems:
        raise DropRejected(f"{name}: " + "; ".join(problems))
    casts = {"id": pa.int64(), "age": pa.int32(), "is_active": pa.bool_(), "signup_date": pa.date32()}
    if LABEL in table.column_names:
        casts[LABEL] = pa.float64()
    for column, target in casts.items():
        i = table.column_names.index(column)
        table = table.set_column(i, column, pc.cast(table[column], target))
    return table


def validate_rows(table: pa.Table, age_min: int, age_max: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into usable ones and rejected ones with a reason (the first null column in
    schema order, else an age outside [age_min, age_max], else an id an earlier usable row of the
    drop already has: ``duplicate_id`` when the whole row repeats it, ``conflicting_id`` when it
    differs). Each id is predicted once per drop. A missing label is not a reason."""
    df = table.to_pandas()
    reason = pd.Series(pd.NA, index=df.index, dtype="string")
    age = df["age"]
    reason = reason.mask(age.notna() & ((age < age_min) | (age > age_max)), "age_out_of_range")
    for column in reversed(REQUIRED):
        reason = reason.mask(df[column].isna(), f"null_{column}")
    reason = reason.fillna(_repeated_ids(df, reason.isna().to_numpy()))
    bad = reason.notna().to_numpy()
    rejected = df.loc[bad].copy()
    rejected[REJECT_REASON] = reason[bad].astype(str)
    valid = df.loc[~bad].reset_index(drop=True)
    valid["age"] = valid["age"].astype(np.int32)
    valid["is_active"] = valid["is_active"].astype(bool)
    return valid, rejected.reset_index(drop=True)


def _repeated_ids(df: pd.DataFrame, usable: np.ndarray) -> pd.Series:
    """For the usable rows whose id an earlier usable row has: ``duplicate_id`` (the same row
    again) or ``conflicting_id`` (other values); NA elsewhere."""
    out = pd.Series(pd.NA, index=df.index, dtype="string")
    rows = df.loc[usable]
    repeat = rows["id"].duplicated(keep="first")
    if not repeat.any():
        return out
    row_hash = pd.util.hash_pandas_object(rows, index=False)  # equal rows, equal hashes (nulls too)
    first_hash = pd.Series(row_hash[~repeat].to_numpy(), index=rows.loc[~repeat, "id"].to_numpy())
    again = rows.index[repeat.to_numpy()]
    same = row_hash[again].to_numpy() == first_hash[rows.loc[again, "id"].to_numpy()].to_numpy()
    out[again] = np.where(same, "duplicate_id", "conflicting_id")
    return out


# ---------------------------------------------------------------- staging and publication


def staging_dir(lake: Lake, owner: str, drop: str) -> str:
    return join(lake.root, lake.layout.staging, "predict", path_segment(owner), drop)


def _write_whole(uri: str, data: bytes) -> None:
    """One buffered write: HDFS clients are slow with many small writes."""
    fs, path = filesystem(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as fh:
        fh.write(data)


def _arrow(data: pd.DataFrame | pa.Table) -> pa.Table:
    return data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)


def write_parquet(uri: str, data: pd.DataFrame | pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(_arrow(data), buf)
    _write_whole(uri, buf.getvalue())


def write_csv(uri: str, data: pd.DataFrame | pa.Table) -> None:
    import pyarrow.csv as pacsv

    buf = io.BytesIO()
    pacsv.write_csv(_arrow(data), buf, pacsv.WriteOptions(batch_size=65_536))
    _write_whole(uri, buf.getvalue())


def stage_rejected(uri: str, drop: str, reason: str, counts: Mapping[str, int], rows: pd.DataFrame | None,
                   owner: str) -> None:
    """A rejected-drop folder in staging: the bad rows (if any) and _REASON.json."""
    fs, path = filesystem(uri)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    fs.makedirs(path, exist_ok=True)
    if rows is not None and len(rows):
        write_parquet(join(uri, "rows.parquet"), rows)
    write_json_atomic(join(uri, REASON_FILE), {
        "drop": drop, "reason": reason, "rejected_rows_by_reason": dict(counts),
        "rejected_at": dt.datetime.now(dt.UTC).isoformat(), "run": owner})


def _publish_dir(fs: AbstractFileSystem, staged: str, target: str) -> bool:
    """Rename a staged folder into place; False when ``target`` was published before."""
    if not fs.exists(staged):
        return False
    try:
        rename(fs, staged, target)
        return True
    except FileExistsError:
        log.info("%s already published (an earlier attempt): kept, staged copy dropped", target)
        fs.rm(staged, recursive=True)
        return False


def rejected_folder(lake: Lake, drop: str, owner: str) -> str:
    """drops/rejected/<drop>, or <drop>.<run> when an earlier drop of that name (another run's)
    already has one: a reused name never overwrites or hides an earlier rejection."""
    folder = join(lake.rejected_drops, drop)
    earlier = read_json(join(folder, REASON_FILE))
    if earlier is not None and earlier.get("run") != owner:
        return join(lake.rejected_drops, f"{drop}.{path_segment(owner)}")
    return folder


def already_published(lake: Lake, drop: str) -> dict[str, Any] | None:
    """The manifest of predictions/<drop> when it is published (its _SUCCESS exists)."""
    fs, marker = filesystem(join(lake.predictions(drop), SUCCESS))
    return read_json(join(lake.predictions(drop), MANIFEST_FILE)) if fs.exists(marker) else None


def publish(lake: Lake, owner: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """Make one staged drop result visible, then retire the drop from claimed/.

    Order: rejected rows, predictions (the _SUCCESS marker is inside, so the folder appears
    complete), then the drop's own move to processed/ (or, when rejected whole, into its
    rejected folder). Each step is skipped when a previous attempt already did it.
    """
    drop = result["drop"]
    fs, claimed = filesystem(join(lake.claimed(owner), drop))
    staged = staging_dir(lake, owner, drop)
    _, staged_path = filesystem(staged)
    _, rejected_target = filesystem(rejected_folder(lake, drop, owner))
    _publish_dir(fs, f"{staged_path}/rejected", rejected_target)
    if result["status"] == "rejected":
        destination = f"{rejected_target}/{drop}"
    else:
        _, predictions = filesystem(lake.predictions(drop))
        _publish_dir(fs, f"{staged_path}/predictions", predictions)
        _, processed = filesystem(lake.processed)
        destination = f"{processed}/{drop}"
    if fs.exists(claimed):
        try:
            rename(fs, claimed, destination)
        except FileExistsError:
            destination = f"{destination}.{uuid.uuid4().hex[:8]}"
            rename(fs, claimed, destination)
    if fs.exists(staged_path):
        fs.rm(staged_path, recursive=True)
    if result.get("rows_in") is None:  # rejected whole: unreadable, so no rows were counted
        log.info("drop %s: rejected whole (%s) -> %s", drop, result.get("reason"), destination)
    else:
        log.info("drop %s: %s, %d rows in, %d predicted, %d rejected -> %s", drop, result["status"],
                 result["rows_in"], result["rows_predicted"], result["rows_rejected"], destination)
    return {**result, "moved_to": destination}


def publish_all(lake: Lake, owner: str, results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Publish every staged result of one prediction job; release the run's claim record."""
    published = [publish(lake, owner, r) for r in results]
    fs, mine = filesystem(lake.claimed(owner))
    if fs.exists(mine) and not [n for n in _entries(fs, mine) if is_visible(n)]:
        fs.rm(mine, recursive=True)
    totals = {k: sum(int(r.get(k) or 0) for r in published) for k in ("rows_in", "rows_predicted", "rows_rejected")}
    return {"drops": published, **totals,
            "published": [r["drop"] for r in published if r["status"] != "rejected"],
            "rejected": [r["drop"] for r in published if r["status"] == "rejected"]}

