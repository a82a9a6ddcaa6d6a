"""A deferrable sensor for new complete drops in the lake's incoming folder."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from salary_airflow.triggers.drops import DropsTrigger, complete_drops_in


class DropSensor(BaseSensorOperator):
    """Wait for complete drops in ``incoming`` (hdfs:// or file:// URI); return their names.

    Deferrable by default: the waiting happens in the triggerer (DropsTrigger), so no worker
    slot is held. HDFS is reached through the provider's WebHDFS connection
    (``webhdfs_conn_id``: host may list several NameNodes; the hook picks the one that
    answers). When nothing arrives before ``timeout`` the task is skipped (``soft_fail``
    defaults to True: no drop is not a failure) or fails.
    """

    template_fields = ("incoming",)

    def __init__(self, *, incoming: str, webhdfs_conn_id: str = "webhdfs_default", deferrable: bool = True,
                 soft_fail: bool = True, **kwargs: Any) -> None:
        super().__init__(soft_fail=soft_fail, **kwargs)
        self.incoming = incoming
        self.webhdfs_conn_id = webhdfs_conn_id
        self.deferrable = deferrable

    def _webhdfs(self) -> tuple[str | None, str | None]:
        if not self.incoming.startswith("hdfs://"):
            return None, None
        from airflow.providers.apache.hdfs.hooks.webhdfs import WebHDFSHook

        client = WebHDFSHook(self.webhdfs_conn_id).get_conn()
        return client.url, client._session.params.get("user.name")

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        url, user = self._webhdfs()
        self.log.info("waiting for complete drops in %s (WebHDFS %s), up to %.0f s", self.incoming, url, self.timeout)
        self.defer(
            trigger=DropsTrigger(self.incoming, url, user, self.poke_interval, time.time() + float(self.timeout)),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[str]:
        if event["status"] == "ready":
            self.log.info("drops ready: %s", event["drops"])
            return event["drops"]
        if event["status"] == "listing_failed":  # not "no drops": a NameNode or network problem
            raise AirflowException(f"cannot list {self.incoming}: {event['error']}")
        message = f"no complete drop arrived in {self.incoming} within {self.timeout:.0f} s"
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise TimeoutError(message)

    def poke(self, context: Context) -> PokeReturnValue:
        url, user = self._webhdfs()
        drops = asyncio.run(complete_drops_in(self.incoming, url, user))
        return PokeReturnValue(is_done=bool(drops), xcom_value=drops)
