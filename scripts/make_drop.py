"""Put a drop of new people into <lake>/drops/incoming/ the way producers should: a folder of
Parquet files whose _SUCCESS marker is written last (salary_batch_predict ignores it until then).

    python scripts/make_drop.py NAME --rows 1000000 [--files 4] [--no-salary] [--lake-root URI]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

try:
    from devtools.synthetic import write_drop
    from salary.config import load_settings
    from salary.lake import Lake
except ModuleNotFoundError as err:  # run by a Python without the project's venv
    sys.exit(f"{err}: run it in the project's venv: `make drop NAME=...` or `.venv/bin/python {sys.argv[0]} ...`"
             " (make setup creates .venv)")

EMBEDDED_LAKE = f"file://{Path(__file__).resolve().parents[1]}/.local/lake"


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
    try:
        uri = write_drop(lake, args.name, args.rows, args.files, not args.no_salary, args.seed)
    except FileExistsError as err:
        parser.error(f"{err}: pick another NAME (a drop's name is its identity)")
    print(f"drop of {args.rows:,} rows in {uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
