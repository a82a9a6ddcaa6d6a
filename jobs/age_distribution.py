"""Spark job: youngest, oldest and age histogram of active users -> <lake>/reports/age_distribution/<run>/."""

from __future__ import annotations

import argparse

from pyspark.sql import DataFrame, Row

from salary.config import Settings
from salary.queries import age_histogram, oldest, youngest
from salary.reports import run_report_job
from salary.runtime import run_job


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, default=None, help="default: config queries.extreme_k")


def build_tables(curated: DataFrame, settings: Settings, args: argparse.Namespace) -> dict[str, DataFrame]:
    k = args.k or settings.queries.extreme_k
    return {"youngest": youngest(curated, k), "oldest": oldest(curated, k), "age_histogram": age_histogram(curated)}


def summarize(collected: dict[str, list[Row]]) -> dict[str, int]:
    return {
        "active_people": sum(r["people"] for r in collected["age_histogram"]),
        "rows_out": len(collected["youngest"]) + len(collected["oldest"]),
    }


def main(argv: list[str] | None = None) -> int:
    return run_report_job("age_distribution", __doc__, argv, add_arguments, build_tables, summarize)


if __name__ == "__main__":
    raise SystemExit(run_job(main))
