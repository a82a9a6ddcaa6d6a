"""Baseline for the ETL benchmark: etl_benchmark, top_earners and age_distribution in DuckDB
over the same raw files, with the same rules (reject reasons, trimmed names, DATE signup,
duplicates dropped, conflicting ids rejected), writing the same outputs as Parquet.

    python bench/duckdb_etl.py --raw DIR --out DIR [--threads 2]

Prints one JSON line with per-job work seconds and the results the benchmark compares with
Spark's (counts, top earners, youngest/oldest, histogram).
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
    parser.add_argument("--raw", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import duckdb

    from salary.config import load_settings

    s = load_settings()
    t, q = s.dataset.truth, s.queries
    args.out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"set threads = {args.threads}; set preserve_insertion_order = false")
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    reason = f"""case when id is null then 'null_id' when name is null then 'null_name'
        when age is null then 'null_age' when salary is null then 'null_salary'
        when signup_date is null then 'null_signup_date' when is_active is null then 'null_is_active'
        when length(trim(name)) = 0 then 'blank_name'
        when age not between {t.age_min} and {t.age_max} then 'age_out_of_range' end"""
    con.execute(f"""
        create temp table staged as
        select id, trim(name) as name, age::integer as age, salary::double as salary,
               cast(signup_date as date) as signup_date, is_active, {reason} as reject_reason
        from read_parquet('{args.raw}/*.parquet');
        create temp table distinct_valid as
        select distinct id, name, age, salary, signup_date, is_active from staged where reject_reason is null;
        create temp table curated as
        select * from distinct_valid qualify count(*) over (partition by id) = 1;
        copy curated to '{args.out}/curated' (format parquet, per_thread_output true);
        copy (select * from staged where reject_reason is not null
              union all
              select *, 'conflicting_id' from distinct_valid anti join curated using (id))
          to '{args.out}/rejected' (format parquet, partition_by (reject_reason));
    """)
    counts = con.sql("""select (select count(*) from staged) as rows_in, (select count(*) from curated) as rows_out,
        (select count(*) from staged where reject_reason is not null)
          + (select count(*) from distinct_valid anti join curated using (id)) as rows_rejected""").fetchone()
    assert counts is not None  # an aggregate always has one row
    seconds["etl_benchmark"] = time.perf_counter() - start
    con.execute(f"create view cur as select * from read_parquet('{args.out}/curated/*.parquet')")

    start = time.perf_counter()
    top = con.sql(f"select id, name, age, salary from cur order by salary desc, id limit {q.top_n}").fetchall()
    starts = list(q.age_band_starts)
    ends = [x - 1 for x in starts[1:]] + [t.age_max]
    band = " ".join(f"when age between {a} and {b} then '{a}-{b}'" for a, b in zip(starts, ends, strict=True))
    bands = con.sql(f"""select case {band} end as age_band, count(*) as people, round(avg(salary), 2),
        round(stddev_samp(salary), 2), min(salary), max(salary) from cur group by 1 order by min(age)""").fetchall()
    seconds["top_earners"] = time.perf_counter() - start

    start = time.perf_counter()
    k = q.extreme_k
    young = con.sql(f"select id, name, age, salary from cur where is_active order by age, id limit {k}").fetchall()
    old = con.sql(f"select id, name, age, salary from cur where is_active order by age desc, id limit {k}").fetchall()
    hist = con.sql("select age, count(*) from cur where is_active group by age order by age").fetchall()
    seconds["age_distribution"] = time.perf_counter() - start

    print(json.dumps({"seconds": seconds, "rows_in": counts[0], "rows_out": counts[1], "rows_rejected": counts[2],
                      "top_earners": top, "bands": bands, "youngest": young, "oldest": old, "histogram": hist},
                     default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
