"""SparkSubmitOperator for our jobs: bad input fails the task at once instead of retrying, and
each try links its Spark application in the History Server."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from salary.lake.paths import application_record, failure_record
from salary.runtime.job import APPLICATION_RECORD_ENV
from salary.runtime.version import CODE_VERSION_ENV, code_version
from salary_airflow.hooks.spark import SparkHistoryHook


class SparkApplicationLink(BaseOperatorLink):
    """The try's Spark application in the History Server (stored when the try ends)."""

    name = "Spark application"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(ti_key=ti_key, key=self.xcom_key) or ""


class SparkJobSubmitOperator(SparkSubmitOperator):
    """Submit one of ``jobs/`` with spark-submit.

    A job that finds its input unusable (a missing column, a wrong type) writes a failure
    record into the lake (``lake_root``/_failures/<task>/<run>-try<n>.json, the path is passed
    as ``--failure-record``) and exits with the bad-input status. Retrying cannot help, so the
    task then fails without using its retries, with the job's own message. The record holds
    in any deploy mode (the driver may run on a cluster node, where the provider cannot see
    its exit status); any other failure keeps the usual retry behaviour. A job that ran out of
    room in the lake says so in its record when it still can (kind ``storage_full``): the task
    fails with that cause and keeps its retries.

    The job records its Spark application id in the lake as well (``_spark_apps/<task>/<run>-try<n>.json``,
    named by ``SALARY_SPARK_APPLICATION_RECORD``); when the try ends, failed or not, the task log
    names the application and the "Spark application" extra link opens it in the History Server
    of the connection (extra ``history_url``). When the conf enables event logging, the event
    log directory is created first (Spark refuses to start without it).

    :param lake_root: the lake's root URI (templated), where the failure record is written.
    :param kwargs: everything ``SparkSubmitOperator`` takes (``application``,
        ``application_args``, ``conn_id``, ``py_files``, ...).

    Templated fields: those of ``SparkSubmitOperator`` and ``lake_root``.
    """

    template_fields: Sequence[str] = (*SparkSubmitOperator.template_fields, "lake_root")
    operator_extra_links = (SparkApplicationLink(),)
    ui_color = "#fde2c4"

    def __init__(self, *, lake_root: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lake_root = lake_root

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        from salary.lake import open_store

        record = failure_record(self.lake_root, self.task_id, ti.run_id, ti.try_number)
        app_record = application_record(self.lake_root, self.task_id, ti.run_id, ti.try_number)
        self.application_args = [*(self.application_args or []), "--failure-record", record]
        # The job's copy of the code (--py-files) has no .git: its version is taken here.
        self.env_vars = {CODE_VERSION_ENV: code_version(Path(self.application).resolve().parents[1]),
                         **(self.env_vars or {}), APPLICATION_RECORD_ENV: app_record}
        conf = self.conf or {}
        event_log = conf.get("spark.eventLog.dir")
        if event_log and str(conf.get("spark.eventLog.enabled")).lower() == "true":
            open_store(event_log).mkdirs(event_log)
        try:
            super().execute(context)
        except AirflowException as err:
            failure = open_store(record).read_json(record)
            if failure and failure.get("kind") == "bad_input":
                raise AirflowFailException(
                    f"{self.task_id}: the job rejected its input: {failure['message']} (not retrying)") from err
            if failure and failure.get("kind") == "storage_full":
                raise AirflowException(f"{self.task_id}: the lake's storage is full: {failure['message']} "
                                       "(a retry can succeed once room is made)") from err
            raise
        finally:
            self.link_application(ti, app_record)

    def link_application(self, ti: Any, app_record: str) -> None:
        """Name the try's Spark application in the log and store its History Server link."""
        from salary.lake import open_store

        try:
            recorded = open_store(app_record).read_json(app_record)
        except Exception:  # noqa: BLE001 - the task's outcome is the job's, not its link's
            self.log.warning("could not read the Spark application record %s", app_record, exc_info=True)
            return
        if not recorded:
            self.log.warning("the job recorded no Spark application (it ended before its session started)")
            return
        app_id = recorded["application_id"]
        url = SparkHistoryHook(self._conn_id).application_url(app_id)
        self.log.info("Spark application %s: %s", app_id,
                      url or f"no History Server (no 'history_url' in the {self._conn_id} connection's extra)")
        if url:
            ti.xcom_push(key=SparkApplicationLink().xcom_key, value=url)
