"""A sensor for new complete drops in the lake's incoming folder: the time-window alternative to
the event-driven drops asset (docs/pipeline.md, "Waiting for drops in a time window")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException

from salary_airflow.hooks.lake import LakeHook
from salary_airflow.triggers.drops import DropsTrigger


class DropSensor(BaseSensorOperator):
    """Wait for complete drops in ``incoming`` and return their names (sorted).

    Deferrable (``DropsTrigger`` waits in the triggerer; no worker slot is held) when
    ``[operators] default_deferrable`` is on, as in our deployments. HDFS is listed through
    ``LakeHook`` (WebHDFS, NameNode failover). When nothing arrives within ``timeout`` the task
    fails with ``AirflowSensorTimeout`` (not retried; ``soft_fail=True`` skips it instead). A
    NameNode that cannot be listed ``failures_before_alert`` times in a row fails the task at
    once, with the cause: an unreachable lake is not an empty one.

    :param incoming: the folder to watch, an hdfs:// or file:// URI (templated).
    :param webhdfs_conn_id: the ``webhdfs`` connection of an HDFS lake.
    :param failures_before_alert: failed listings in a row that fail a deferred wait.
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("incoming",)

    def __init__(self, *, incoming: str, webhdfs_conn_id: str = LakeHook.default_conn_name,
                 failures_before_alert: int = 3,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.incoming = incoming
        self.webhdfs_conn_id = webhdfs_conn_id
        self.failures_before_alert = failures_before_alert
        self.deferrable = deferrable

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        self.log.info("waiting for complete drops in %s, up to %.0f s", self.incoming, self.timeout)
        self.defer(trigger=DropsTrigger(self.incoming, self.webhdfs_conn_id, self.poke_interval,
                                        self.failures_before_alert),
                   method_name="execute_complete", timeout=dt.timedelta(seconds=self.timeout))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[str]:
        if event["status"] != "success":
            raise AirflowException(f"cannot list {self.incoming}: {event['message']}")
        self.log.info("%s", event["message"])
        return event["drops"]

    def poke(self, context: Context) -> PokeReturnValue:
        drops = LakeHook(self.webhdfs_conn_id).complete_drops(self.incoming)
        return PokeReturnValue(is_done=bool(drops), xcom_value=drops)
