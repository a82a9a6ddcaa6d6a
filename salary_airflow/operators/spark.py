"""SparkSubmitOperator for our jobs: bad input fails the task at once instead of retrying."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from salary.lake.paths import failure_record
from salary.runtime.version import CODE_VERSION_ENV, code_version


class SparkJobSubmitOperator(SparkSubmitOperator):
    """Submit one of ``jobs/`` with spark-submit.

    A job that finds its input unusable (a missing column, a wrong type) writes a failure
    record into the lake (``lake_root``/_failures/<task>/<run>-try<n>.json, the path is passed
    as ``--failure-record``) and exits with the bad-input status. Retrying cannot help, so the
    task then fails without using its retries, with the job's own message. The record holds
    in any deploy mode (the driver may run on a cluster node, where the provider cannot see
    its exit status); any other failure keeps the usual retry behaviour.

    :param lake_root: the lake's root URI (templated), where the failure record is written.
    :param kwargs: everything ``SparkSubmitOperator`` takes (``application``,
        ``application_args``, ``conn_id``, ``py_files``, ...).

    Templated fields: those of ``SparkSubmitOperator`` and ``lake_root``.
    """

    template_fields: Sequence[str] = (*SparkSubmitOperator.template_fields, "lake_root")
    ui_color = "#fde2c4"

    def __init__(self, *, lake_root: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lake_root = lake_root

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        record = failure_record(self.lake_root, self.task_id, ti.run_id, ti.try_number)
        self.application_args = [*(self.application_args or []), "--failure-record", record]
        # The job's copy of the code (--py-files) has no .git: its version is taken here.
        self.env_vars = {CODE_VERSION_ENV: code_version(Path(self.application).resolve().parents[1]),
                         **(self.env_vars or {})}
        try:
            super().execute(context)
        except AirflowException as err:
            from salary.lake import open_store

            failure = open_store(record).read_json(record)
            if failure and failure.get("kind") == "bad_input":
                raise AirflowFailException(
                    f"{self.task_id}: the job rejected its input: {failure['message']} (not retrying)") from err
            raise
