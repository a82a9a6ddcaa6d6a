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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, env.sh sourced or not

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from salary.config import load_settings  # noqa: E402
from salary.lake import SUCCESS, Lake, join  # noqa: E402
from salary.lakefs import filesystem, write_bytes_atomic  # noqa: E402
from salary.synthetic import people  # noqa: E402


def make_drop(lake: Lake, name: str, rows: int, files: int, with_salary: bool, seed: int) -> str:
    """Write the drop and return its URI."""
    settings = load_settings()
    uri = join(lake.incoming, name)
    fs, path = filesystem(uri)
    if fs.exists(path):
        raise SystemExit(f"{uri} already exists")
    df = people(rows, seed, settings.dataset, start_id=seed * 10**9, with_salary=with_salary)
    for i, part in enumerate(np.array_split(np.arange(rows), files)):
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(df.iloc[part], preserve_index=False), buf)
        write_bytes_atomic(join(uri, f"part-{i:05d}.parquet"), buf.getvalue())
    write_bytes_atomic(join(uri, SUCCESS), b"")  # last: now the drop is complete
    return uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("name")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-salary", action="store_true", help="leave out the true salary column")
    parser.add_argument("--lake-root", default=os.environ.get("SALARY_LAKE_ROOT"),
                        help="the lake (file:///... or hdfs://host:8020/...); default $SALARY_LAKE_ROOT")
    args = parser.parse_args(argv)
    if not args.lake_root:
        parser.error("no lake: pass --lake-root or set SALARY_LAKE_ROOT (source scripts/env.sh)")
    lake = Lake(args.lake_root, load_settings().lake)
    uri = make_drop(lake, args.name, args.rows, args.files, not args.no_salary, args.seed)
    print(f"drop of {args.rows:,} rows in {uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
