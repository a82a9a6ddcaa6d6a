"""The raw dataset of salary.data.generate, row for row, with numpy + pyarrow: the benchmark's
baseline for the Spark generation job. Pure numpy; no Spark.

Every value in salary.data.generate is a function of Spark's ``xxhash64(seed, stream, id)`` (Spark's
XXH64 with seed 42, folded over an int, an int and a long). This module implements the same
hash, vectorised, so the same (rows, seed, spec) gives the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from salary.config import DatasetSpec
from salary.data.generate import (
    NULLABLE_COLUMNS,
    S_ACTIVE,
    S_AGE,
    S_DUPLICATE,
    S_NAME,
    S_NOISE_1,
    S_NOISE_2,
    S_NULL,
    S_NULL_COLUMN,
    S_PAD,
    S_SIGNUP,
)

U64 = np.uint64
P1, P2, P3, P4, P5 = (U64(0x9E3779B185EBCA87), U64(0xC2B2AE3D27D4EB4F), U64(0x165667B19E3779F9),
                      U64(0x85EBCA77C2B2AE63), U64(0x27D4EB2F165667C5))
SPARK_HASH_SEED = 42
_MASK64 = (1 << 64) - 1
_MANTISSA = U64((1 << 53) - 1)


def _rotl(x, r: int):
    return (x << U64(r)) | (x >> U64(64 - r))


def _fmix(h):
    h = h ^ (h >> U64(33))
    h = h * P2
    h = h ^ (h >> U64(29))
    h = h * P3
    return h ^ (h >> U64(32))


def hash_int(value: int, seed: int) -> int:
    """Spark's XXH64.hashInt for one 32-bit value (Python ints, as unsigned 64-bit)."""
    with np.errstate(over="ignore"):
        h = U64((seed + int(P5) + 4) & _MASK64)
        h = h ^ (U64(value & 0xFFFFFFFF) * P1)
        h = _rotl(h, 23) * P2 + P3
        return int(_fmix(h))


def hash_long(values: np.ndarray, seed: int) -> np.ndarray:
    """Spark's XXH64.hashLong over an array of 64-bit values (unsigned results)."""
    with np.errstate(over="ignore"):
        h = np.full(values.shape, U64((seed + int(P5) + 8) & _MASK64), dtype=np.uint64)
        h ^= _rotl(values.astype(np.uint64) * P2, 31) * P1
        h = _rotl(h, 27) * P1 + P4
        return _fmix(h)


def uniform(ids: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """salary.data.generate.uniform: a double in [0, 1) from (seed, stream, id)."""
    prefix = hash_int(stream, hash_int(seed, SPARK_HASH_SEED))
    return (hash_long(ids, prefix) & _MANTISSA).astype(np.float64) / float(1 << 53)


def chunk(start: int, stop: int, seed: int, spec: DatasetSpec) -> pa.Table:
    """The raw rows (dirty data and duplicates included) for ids [start, stop)."""
    t = spec.truth
    ids = np.arange(start, stop, dtype=np.int64)
    age = (t.age_min + np.floor(uniform(ids, seed, S_AGE) * (t.age_max - t.age_min + 1))).astype(np.int32)
    active = uniform(ids, seed, S_ACTIVE) < t.active_probability
    offset = np.floor(uniform(ids, seed, S_SIGNUP) * spec.signup_days).astype(np.int32)
    tenure = offset.astype(np.float64) / 365.25
    expected = t.expected_salary(age.astype(np.float64), active.astype(np.float64), tenure, np.sqrt)
    normal = np.sqrt(-2.0 * np.log(1.0 - uniform(ids, seed, S_NOISE_1))) * np.cos(
        2.0 * math.pi * uniform(ids, seed, S_NOISE_2))
    raw = expected + t.noise_sigma * normal
    salary = np.sign(raw) * np.floor(np.abs(raw) * 100.0 + 0.5) / 100.0  # Spark's round(x, 2): half up
    names = np.array(spec.names, dtype=object)[np.floor(uniform(ids, seed, S_NAME) * len(spec.names)).astype(int)]
    padded = uniform(ids, seed, S_PAD) < spec.dirty.padded_name_fraction
    names = np.where(padded, "  " + names.astype(str).astype(object) + " ", names)
    epoch_days = (np.datetime64(spec.as_of, "D") - offset.astype("timedelta64[D]"))
    signup = epoch_days.astype("datetime64[us]")

    has_null = uniform(ids, seed, S_NULL) < spec.dirty.null_fraction
    pick = np.floor(uniform(ids, seed, S_NULL_COLUMN) * len(NULLABLE_COLUMNS)).astype(int)
    columns = {"id": pa.array(ids), "name": names, "age": age, "salary": salary, "signup_date": signup,
               "is_active": active}
    arrays = {}
    for name in ("id", "name", "age", "salary", "signup_date", "is_active"):
        mask = has_null & (pick == NULLABLE_COLUMNS.index(name)) if name in NULLABLE_COLUMNS else None
        values = columns[name]
        if name == "signup_date":
            arrays[name] = pa.array(values, pa.timestamp("us"), mask=mask)
        elif name == "id":
            arrays[name] = values
        else:
            arrays[name] = pa.array(values, mask=mask)
    table = pa.table(arrays)
    copies = 1 + (uniform(ids, seed, S_DUPLICATE) < spec.dirty.duplicate_fraction).astype(np.int64)
    return table.take(pa.array(np.repeat(np.arange(len(ids)), copies)))  # a duplicate follows its row


def chunks(rows: int, seed: int, spec: DatasetSpec) -> Iterator[pa.Table]:
    """One table per file, split like Spark's range() over ceil(rows / rows_per_file) partitions."""
    parts = max(1, math.ceil(rows / spec.rows_per_file))
    bounds = [rows * i // parts for i in range(parts + 1)]
    for start, stop in zip(bounds, bounds[1:], strict=False):
        yield chunk(start, stop, seed, spec)
