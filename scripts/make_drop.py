"""Put a drop of new people into <lake>/drops/incoming/ the way producers should: a folder of
Parquet files whose _SUCCESS marker is written last (salary_batch_predict ignores it until then).

    python scripts/make_drop.py NAME --rows 1000000 [--files 4] [--no-salary] [--lake-root URI]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

try:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from devtools.synthetic import people
    from salary.config import load_settings
    from salary.lake import SUCCESS, Lake, join, open_store
except ModuleNotFoundError as err:  # run by a Python without the project's venv
    sys.exit(f"{err}: run it in the project's venv: `make drop NAME=...` or `.venv/bin/python {sys.argv[0]} ...`"
             " (make setup creates .venv)")

EMBEDDED_LAKE = f"file://{Path(__file__).resolve().parents[1]}/.local/lake"


def make_drop(lake: Lake, name: str, rows: int, files: int, with_salary: bool, seed: int) -> str:
    """Write the drop and return its URI."""
    settings = load_settings()
    uri = join(lake.incoming, name)
    store = open_store(uri)
    if store.exists(uri):
        raise SystemExit(f"{uri} already exists")
    df = people(rows, seed, settings.dataset, start_id=seed * 10**9, with_salary=with_salary)
    for i, part in enumerate(np.array_split(np.arange(rows), files)):
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(df.iloc[part], preserve_index=False), buf)
        store.write_atomic(join(uri, f"part-{i:05d}.parquet"), buf.getvalue())
    store.write_atomic(join(uri, SUCCESS), b"")  # last: now the drop is complete
    return uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("name")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-salary", action="store_true", help="leave out the true salary column")
    parser.add_argument("--lake-root", default=os.environ.get("SALARY_LAKE_ROOT") or EMBEDDED_LAKE,
                        help="the lake (file:///... or hdfs://host:8020/...); default $SALARY_LAKE_ROOT, "
                             "else the embedded default's lake in .local/lake")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.files < 1 or args.files > args.rows:
        parser.error(f"need 1 <= --files <= --rows (got --rows {args.rows}, --files {args.files})")
    lake = Lake(args.lake_root, load_settings().lake)
    uri = make_drop(lake, args.name, args.rows, args.files, not args.no_salary, args.seed)
    print(f"drop of {args.rows:,} rows in {uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
