"""Reading a drop and splitting its rows into usable and rejected ones (Arrow and pandas),
by the schema rules every dataset of ours follows (``salary.schema``)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from salary import schema
from salary.columns import snake_case
from salary.drops import REJECT_REASON, DropRejected
from salary.lake import Store
from salary.schema import DROP_COLUMNS, LABEL

_TARGETS = {"long": pa.int64(), "int": pa.int32(), "double": pa.float64(), "date": pa.date32(),
            "boolean": pa.bool_(), "string": pa.string()}


def found_type(data_type: pa.DataType) -> schema.FoundType:
    """What an Arrow type satisfies of the schema rules' kinds."""
    kinds: set[str] = set()
    if pa.types.is_integer(data_type):
        kinds |= {schema.INTEGER, schema.NUMERIC}
    elif pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        kinds.add(schema.NUMERIC)
    elif pa.types.is_date(data_type) or pa.types.is_timestamp(data_type):
        kinds.add(schema.DATELIKE)
    elif pa.types.is_boolean(data_type):
        kinds.add(schema.BOOLEAN)
    elif pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        kinds.add(schema.STRING)
    return schema.FoundType(frozenset(kinds), str(data_type))


def normalise_schema(table: pa.Table, name: str) -> pa.Table:
    """snake_case column names; the drop's columns checked and cast to their canonical types."""
    table = table.rename_columns([snake_case(c) for c in table.column_names])
    found = {c: found_type(table.schema.field(c).type) for c in table.column_names}
    problems = schema.problems(found, DROP_COLUMNS, optional=(LABEL,))
    if problems:
        raise DropRejected(f"{name}: " + "; ".join(problems))
    for column in (c for c in (*DROP_COLUMNS, LABEL) if c in table.column_names):
        target = _TARGETS[schema.RULES[column].target]
        table = table.set_column(table.column_names.index(column), column, pc.cast(table[column], target))
    return table


def read_drop(store: Store, uri: str, drop: str) -> tuple[pa.Table, list[str]]:
    """All rows of a drop as one table; DropRejected names the file and what is wrong with it."""
    files = store.files(uri)
    if not files:
        raise DropRejected(f"{drop}: a folder without data files")
    tables = []
    for f in files:
        name = f[len(uri):].lstrip("/") or drop
        if store.size(f) == 0:
            raise DropRejected(f"{name}: empty file (0 bytes)")
        try:
            table = pq.read_table(io.BytesIO(store.read_bytes(f)))
        except (pa.ArrowInvalid, OSError) as exc:
            raise DropRejected(f"{name}: not a readable Parquet file ({exc})") from exc
        tables.append((name, normalise_schema(table, name)))
    has_label = all(LABEL in t.column_names for _, t in tables)
    columns = [*DROP_COLUMNS, *([LABEL] if has_label else [])]
    table = pa.concat_tables([t.select(columns) for _, t in tables], promote_options="permissive")
    if table.num_rows == 0:
        raise DropRejected(f"{drop}: no rows")
    return table, [name for name, _ in tables]


def validate_rows(table: pa.Table, age_min: int, age_max: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into usable ones and rejected ones with a reason (the first null column in
    schema order, else an age outside [age_min, age_max], else an id an earlier usable row of the
    drop already has: ``duplicate_id`` when the whole row repeats it, ``conflicting_id`` when it
    differs). Each id is predicted once per drop. A missing label is not a reason."""
    df = table.to_pandas()
    reason = pd.Series(pd.NA, index=df.index, dtype="string")
    age = df["age"]
    reason = reason.mask(age.notna() & ((age < age_min) | (age > age_max)), "age_out_of_range")
    for column in reversed(DROP_COLUMNS):
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
