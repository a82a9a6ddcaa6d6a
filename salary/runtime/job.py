"""What every job's thin ``main()`` shares: arguments, logging, stage timing, the summary line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from salary.config import Settings, load_settings
from salary.lake import Lake, LakeIO, Store, join
from salary.runtime.version import current as code_version

S = TypeVar("S", bound=Store)

SUMMARY_MARKER = "JOB_SUMMARY "
# Set by the Airflow operator: where a Spark job records its application id (the task's link to
# the History Server).
APPLICATION_RECORD_ENV = "SALARY_SPARK_APPLICATION_RECORD"

log = logging.getLogger(__name__)


def job_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the arguments every job takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lake-root", required=True, help="file:///... or hdfs://host:port")
    parser.add_argument("--run-id", required=True, help="Airflow run id; names this run's outputs")
    parser.add_argument("--config", default=None, help="pipeline.toml (default: the repository's)")
    parser.add_argument("--failure-record", default=None,
                        help="URI of a JSON record to write when the input is rejected (bad input)")
    return parser


def configure_logging() -> None:
    """One format for every job, on stderr, which spark-submit and Ray hand to Airflow's log."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)


class Stages:
    """Wall seconds per named stage of a job, in the order they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 3)
            log.info("stage %s took %.2f s", name, self.seconds[name])

    @property
    def total(self) -> float:
        return round(time.perf_counter() - self._start, 3)


@dataclass(frozen=True)
class JobContext(Generic[S]):
    """What a job's domain code works with: the lake (paths and store), the settings, the run
    it is part of and the clock of its stages."""

    lake: LakeIO[S]
    settings: Settings
    run_id: str
    stages: Stages


@dataclass(frozen=True)
class JobStart:
    """What a job's main() has once its arguments are parsed."""

    args: argparse.Namespace
    settings: Settings
    lake: Lake
    stages: Stages

    def context(self, store: S) -> JobContext[S]:
        """The job's context once its store is open (a Spark job's needs the session)."""
        return JobContext(LakeIO(self.lake, store), self.settings, self.args.run_id, self.stages)


def start_job(parser: argparse.ArgumentParser, argv: list[str] | None) -> JobStart:
    """Parse the arguments, set up logging, load the settings and start the stage clock."""
    args = parser.parse_args(argv)
    configure_logging()
    settings = load_settings(args.config)
    return JobStart(args, settings, Lake(args.lake_root, settings.lake), Stages())


def summary_line(summary: dict[str, Any]) -> str:
    """The one-line JSON summary a job ends with; ``parse_summary`` reads it back."""
    return SUMMARY_MARKER + json.dumps(summary, sort_keys=True, default=str)


def parse_summaries(log_text: str) -> list[dict[str, Any]]:
    """Every job summary in a log, in order. Log handlers may add text around the line
    (Airflow's console format appends the logger name), so only the JSON object is read."""
    decoder = json.JSONDecoder()
    return [
        decoder.raw_decode(line.split(SUMMARY_MARKER, 1)[1])[0]
        for line in log_text.splitlines()
        if SUMMARY_MARKER in line
    ]


def task_summary(job: str, run_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """Log the summary of a task that runs in Airflow itself (no stages), as a job does."""
    summary = {"job": job, "run_id": run_id, **result, "code_version": code_version()}
    emit_summary(summary)
    return summary


def summarize(job: str, run_id: str, stages: Stages, result: dict[str, Any]) -> dict[str, Any]:
    """A job's summary: what it did, its stage timings and the code version it ran."""
    return {"job": job, "run_id": run_id, **result, "stage_seconds": stages.seconds, "seconds": stages.total,
            "code_version": code_version()}


def finish_job(ctx: JobContext[Any], job: str, result: dict[str, Any], report: str = "summary.json") -> dict[str, Any]:
    """Every job's end: its summary (``summarize``) written to the lake as
    ``reports/<job>/<run>/<report>`` and logged as the job's last line; returned."""
    summary = summarize(job, ctx.run_id, ctx.stages, result)
    ctx.lake.store.write_json(join(ctx.lake.paths.report(job, ctx.run_id), report), summary)
    emit_summary(summary)
    return summary


def emit_summary(summary: dict[str, Any]) -> None:
    """Log the summary as the job's final line."""
    logging.getLogger("salary.summary").info("%s", summary_line(summary))


def failure_record_uri(argv: list[str]) -> str | None:
    """The ``--failure-record`` argument of a job's command line, if given."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--failure-record", default=None)
    return parser.parse_known_args(argv)[0].failure_record


def write_failure_record(uri: str, kind: str, message: str) -> None:
    """The machine-readable reason of a failed attempt; writing it never hides the failure."""
    try:
        from salary.lake import open_store

        open_store(uri).write_json(uri, {"kind": kind, "message": message, "at": time.time()})
    except Exception:  # noqa: BLE001 - the exit status still says "bad input"
        log.exception("could not write the failure record %s", uri)


def _record_failure(argv: list[str] | None, kind: str, message: str) -> None:
    """The failure record, when the job's command line (``argv``, else sys.argv) names one."""
    record = failure_record_uri(sys.argv[1:] if argv is None else argv)
    if record:
        write_failure_record(record, kind, message)


def run_job(main: Callable[[], int], argv: list[str] | None = None) -> int:
    """Run a job's ``main`` and map bad input to its own exit status (no retry can fix it) and,
    when the command line names one, a failure record in the lake saying why. Storage that
    ran out of room gets its own status and a one-line cause (a retry can succeed once room
    is made); nothing the attempt wrote is visible: jobs publish by renaming staged output."""
    from salary.errors import BAD_INPUT_EXIT_CODE, STORAGE_FULL_EXIT_CODE, BadInputError, storage_full

    try:
        return main()
    except BadInputError as err:
        log.error("bad input: %s", err)
        _record_failure(argv, "bad_input", str(err))
        return BAD_INPUT_EXIT_CODE
    except Exception as err:
        cause = storage_full(err)
        if cause is None:
            raise
        log.info("the failure in full", exc_info=err)
        log.error("the lake's storage is full (%s): nothing this attempt wrote was published; make room "
                  "(or raise the quota) and retry", cause)  # last: the line a job's failure message ends with
        _record_failure(argv, "storage_full", cause)  # on the full storage itself this may fail too (logged)
        return STORAGE_FULL_EXIT_CODE
