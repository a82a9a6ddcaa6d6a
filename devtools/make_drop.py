"""Put a drop of new people into <lake>/drops/incoming/ the way producers should: a folder of
Parquet files whose _SUCCESS marker is written last (salary_batch_predict ignores it until then).

    python scripts/make_drop.py NAME --rows 1000000 [--files 4] [--no-salary] [--lake-root URI]
        [--ages 50-80] [--pay-rise 50-80:20]      # a changed world: drift, degradation
"""

from __future__ import annotations

import argparse
import os
import sys

from devtools.services import REPO
from devtools.synthetic import World, write_drop
from salary.config import load_settings
from salary.lake import Lake

EMBEDDED_LAKE = f"file://{REPO}/.local/lake"


def _band(text: str) -> tuple[int, int]:
    low, high = (int(x) for x in text.split("-"))
    if low > high:
        raise ValueError(text)
    return low, high


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
    parser.add_argument("--ages", default=None, metavar="LOW-HIGH",
                        help="a shifted population: ages drawn from LOW..HIGH only (drift)")
    parser.add_argument("--pay-rise", default=None, metavar="LOW-HIGH:PERCENT",
                        help="a changed salary relation: people aged LOW..HIGH earn PERCENT more")
    args = parser.parse_args(argv)
    try:
        world = World(ages=_band(args.ages) if args.ages else None,
                      pay_rise=(*_band(args.pay_rise.split(":")[0]), float(args.pay_rise.split(":")[1]))
                      if args.pay_rise else None)
    except (ValueError, IndexError):
        parser.error(f"--ages takes LOW-HIGH and --pay-rise LOW-HIGH:PERCENT (got {args.ages!r}, {args.pay_rise!r})")
    if args.rows < 1 or args.files < 1 or args.files > args.rows:
        parser.error(f"need 1 <= --files <= --rows (got --rows {args.rows}, --files {args.files})")
    lake = Lake(args.lake_root, load_settings().lake)
    try:
        uri = write_drop(lake, args.name, args.rows, args.files, not args.no_salary, args.seed, world)
    except FileExistsError as err:
        parser.error(f"{err}: pick another NAME (a drop's name is its identity)")
    print(f"drop of {args.rows:,} rows in {uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
