"""Transactions, with real faults: the ETL's spark-submit killed mid-write, then retried; the
lake's disk full while the ETL writes (a small filesystem of its own), then room made and retried."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from salary.errors import STORAGE_FULL_EXIT_CODE
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


@contextmanager
def small_filesystem(path: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` at ``path``: a disk of its own that the test can fill."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def fill(path: Path, leave_bytes: int) -> Path:
    """A ballast file taking all but ``leave_bytes`` of the filesystem at ``path``."""
    ballast = path / "ballast"
    free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
    with open(ballast, "wb") as out:
        out.truncate(0)
        chunk = b"\0" * (1 << 20)
        for _ in range(max(0, free - leave_bytes) // len(chunk)):
            out.write(chunk)
    return ballast


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small filesystem needs root")
def test_a_full_disk_fails_the_etl_naming_the_cause_and_after_room_is_made_its_retry_publishes(
        lake, settings, tmp_path):
    run = "scheduled__2026-01-03T02:00:00+00:00"
    with small_filesystem(tmp_path / "disk", 256) as disk:
        small = Lake(f"file://{disk}/lake", settings.lake)
        shutil.copytree(local(lake.raw), local(small.raw))
        ballast = fill(disk, leave_bytes=2 << 20)  # the raw data fits; the curated copy of it does not
        proc = subprocess.run(submit_cmd(settings, "etl_benchmark", small.root, run), capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == STORAGE_FULL_EXIT_CODE, proc.stderr[-3000:]
        output = (proc.stderr + proc.stdout).splitlines()
        errors = [line for line in output if " ERROR salary." in line]
        assert errors and "the lake's storage is full (" in errors[-1] and "No space left on device" in errors[-1], \
            output[-40:]
        assert proc.stdout.rstrip().endswith(errors[-1]) or proc.stderr.rstrip().endswith(errors[-1])  # the last word
        # Nothing half-written where a reader looks, and the input is untouched.
        assert not local(small.curated_version(run)).exists()
        assert not (local(small.curated) / CURRENT).exists()
        assert not local(small.rejected_rows(run)).exists()
        assert not local(small.report("etl_benchmark", run)).exists()
        raw_rows = pq.read_table(local(lake.raw)).num_rows
        assert pq.read_table(local(small.raw)).num_rows == raw_rows

        ballast.unlink()  # room made: the task's retry, the same run, publishes everything
        summary = run_job(settings, "etl_benchmark", small.root, run)
        assert summary["rows_in"] == raw_rows
        assert summary["rows_in"] == summary["rows_out"] + summary["rows_rejected"] + summary["duplicates_dropped"]
        assert (local(small.curated) / CURRENT).read_text().strip() == path_segment(run)
        assert not local(small.staging("etl_benchmark", run)).exists()
