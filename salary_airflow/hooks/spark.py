"""Where a browser finds a Spark application in the History Server of a ``spark`` connection."""

from __future__ import annotations

from urllib.parse import quote

from airflow.sdk import BaseHook

HISTORY_URL_EXTRA = "history_url"


class SparkHistoryHook(BaseHook):
    """The History Server of the Spark cluster of a ``spark`` connection (the connection the
    provider's SparkSubmitHook submits with). Its extra ``history_url`` is the server's address
    as a browser reaches it, e.g. ``http://127.0.0.1:18088``; without one there are no links.

    :param conn_id: the ``spark`` connection.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "spark_default"

    def __init__(self, conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.conn_id = conn_id

    def base_url(self) -> str | None:
        extra = self.get_connection(self.conn_id).extra_dejson
        url = extra.get(HISTORY_URL_EXTRA)
        return str(url).rstrip("/") if url else None

    def application_url(self, application_id: str) -> str | None:
        """The application's stages in the History Server, or None without a History Server."""
        base = self.base_url()
        return f"{base}/history/{quote(application_id, safe='')}/stages/" if base else None
