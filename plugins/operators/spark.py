"""SparkSubmitOperator for our jobs: bad input fails the task at once instead of retrying."""

from __future__ import annotations

import re
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from salary.errors import BAD_INPUT_EXIT_CODE

_EXIT_CODE = re.compile(r"Error code is: (-?\d+)")


class SparkJobSubmitOperator(SparkSubmitOperator):
    """Submit one of ``jobs/`` with spark-submit.

    A job exits with ``BAD_INPUT_EXIT_CODE`` when its input is unusable (a missing column, a
    wrong type): retrying cannot help, so the task fails without using its retries and the
    job's own error message, already in the task log, names the problem. Any other failure
    keeps the usual retry behaviour.
    """

    ui_color = "#fde2c4"

    def execute(self, context: Any) -> None:
        try:
            super().execute(context)
        except AirflowException as err:
            match = _EXIT_CODE.search(str(err))
            if match and int(match.group(1)) == BAD_INPUT_EXIT_CODE:
                raise AirflowFailException(
                    f"{self.task_id}: the job rejected its input (see the 'bad input' line above); not retrying"
                ) from err
            raise
