"""Transactions, with a real crash: the ETL's spark-submit is killed mid-write, then retried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from salary.lake import CURRENT, Lake, path_segment
from salary.runtime.job import parse_summaries

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ROWS = 600_000


def submit_cmd(settings, job: str, lake_root: str, run_id: str, *args: str) -> list[str]:
    """The spark-submit command line the DAG's operator builds for ``job``."""
    conf = [item for key, value in settings.spark.conf.items() for item in ("--conf", f"{key}={value}")]
    return ["spark-submit", "--master", "local[2]", *conf, "--driver-memory", settings.spark.driver_memory,
            "--py-files", str(REPO / "build" / "salary.zip"), str(REPO / "jobs" / f"{job}.py"),
            "--lake-root", lake_root, "--run-id", run_id, "--config", str(settings.config_dir / "pipeline.toml"),
            *args]


def run_job(settings, job: str, lake_root: str, run_id: str, *args: str) -> dict:
    proc = subprocess.run(submit_cmd(settings, job, lake_root, run_id, *args), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return parse_summaries(proc.stderr + proc.stdout)[-1]


@pytest.fixture(scope="module")
def lake(tmp_path_factory, settings):
    root = tmp_path_factory.mktemp("crashlake")
    lake = Lake(f"file://{root}", settings.lake)
    run_job(settings, "generate_dataset", lake.root, "gen", "--rows", str(ROWS), "--seed", "3")
    return lake


def local(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def test_killed_etl_leaves_nothing_visible_and_its_retry_publishes(lake, settings):
    run_a, run_b = "scheduled__2026-01-01T02:00:00+00:00", "scheduled__2026-01-02T02:00:00+00:00"
    staging = local(lake.staging("etl_benchmark", run_a))
    proc = subprocess.Popen(submit_cmd(settings, "etl_benchmark", lake.root, run_a), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        # Kill as soon as the first part file is being written (under the committer's _temporary/).
        while not any(staging.rglob("*.parquet")):
            assert proc.poll() is None, "the ETL finished before it could be interrupted"
            assert time.monotonic() < deadline, "the ETL never started writing"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # our own process group: spark-submit, its JVM, its Python
        proc.wait(timeout=60)
    assert any(staging.rglob("*.parquet")), "the crash should leave partial output in staging"

    # Nothing half-written where a reader looks.
    assert not local(lake.curated_version(run_a)).exists()
    assert not (local(lake.curated) / CURRENT).exists()
    assert not local(lake.rejected_rows(run_a)).exists()
    assert not local(lake.report("etl_benchmark", run_a)).exists()

    # The retry of the same run cleans up after the crash and publishes everything.
    first = run_job(settings, "etl_benchmark", lake.root, run_a)
    assert first["rows_in"] == first["rows_out"] + first["rows_rejected"] + first["duplicates_dropped"]
    assert first["rows_out"] == pq.read_table(local(first["output"])).num_rows
    assert not staging.exists()
    assert (local(lake.curated) / CURRENT).read_text().strip() == path_segment(run_a)

    # A later run publishes its own version and leaves run A's in place.
    a_files = sorted(p.name for p in local(first["output"]).iterdir())
    second = run_job(settings, "etl_benchmark", lake.root, run_b)
    assert second["rows_out"] == first["rows_out"]
    assert sorted(p.name for p in local(first["output"]).iterdir()) == a_files
    assert (local(lake.curated) / CURRENT).read_text().strip() == path_segment(run_b)
    assert not list(local(lake.curated).glob("*.replaced-*"))
    metrics = json.loads((local(lake.report("etl_benchmark", run_b)) / "metrics.json").read_text())
    assert metrics["output"] == second["output"]
