"""Spark job: top earners and salary by age band -> <lake>/reports/top_earners/<run>/."""

from __future__ import annotations

import argparse

from pyspark.sql import DataFrame, Row

from salary.config import Settings
from salary.data.queries import salary_by_age_band, top_earners
from salary.data.reports import Collect, Table, run_report_job
from salary.runtime.job import run_job


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top-n", type=int, default=None, help="default: config queries.top_n")


def run_queries(curated: DataFrame, settings: Settings, args: argparse.Namespace, collect: Collect) -> dict[str, Table]:
    top_n = args.top_n or settings.queries.top_n
    bands = salary_by_age_band(curated, settings.queries.age_band_starts, settings.dataset.truth.age_max)
    return {"top_earners": collect("top_earners", top_earners(curated, top_n)),
            "salary_by_age_band": collect("salary_by_age_band", bands)}


def summarize(collected: dict[str, list[Row]]) -> dict[str, int]:
    return {"rows_out": len(collected["top_earners"])}


def main(argv: list[str] | None = None) -> int:
    return run_report_job("top_earners", __doc__, argv, add_arguments, run_queries, summarize)


if __name__ == "__main__":
    raise SystemExit(run_job(main))
