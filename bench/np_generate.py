"""Baseline writer for the generation benchmark: devtools.generate_np's rows (the same rows as
the Spark job) written with pyarrow, one snappy Parquet file per chunk, like Spark's.

    python bench/np_generate.py --rows N --seed S --out DIR

Prints one JSON line: {"rows": ..., "work_seconds": ...} (work = generate + write, after imports).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    import pyarrow.parquet as pq

    from devtools.generate_np import chunks
    from salary.config import load_settings

    spec = load_settings().dataset
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = 0
    for i, table in enumerate(chunks(args.rows, args.seed, spec)):
        pq.write_table(table, args.out / f"part-{i:05d}.parquet", compression="snappy")
        rows += table.num_rows
    print(json.dumps({"rows": rows, "work_seconds": time.perf_counter() - start}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
