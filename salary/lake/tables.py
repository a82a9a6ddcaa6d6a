"""Small and medium tables written by a driver (not Spark): encoded in memory by Arrow, then
one buffered write through the store (HDFS clients are slow with many small writes)."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from salary.lake.store import Store


def _arrow(data: pd.DataFrame | pa.Table) -> pa.Table:
    return data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)


def write_parquet(store: Store, uri: str, data: pd.DataFrame | pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(_arrow(data), buf)
    store.write_bytes(uri, buf.getvalue())


def write_csv(store: Store, uri: str, data: pd.DataFrame | pa.Table) -> None:
    buf = io.BytesIO()
    pacsv.write_csv(_arrow(data), buf, pacsv.WriteOptions(batch_size=65_536))
    store.write_bytes(uri, buf.getvalue())
