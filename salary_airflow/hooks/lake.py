"""Listing the lake's folders from Airflow: HDFS through WebHDFS, a file lake directly.

The hook owns every call Airflow components make to list the lake (the drops watcher's
trigger in the triggerer, the drops sensor in a worker): the connection's parsing, WebHDFS's
LISTSTATUS (sync over ``requests``, async over ``aiohttp``) and the failover between the
NameNodes a connection lists. Spark and Ray jobs read and write the lake through
``salary.lake``; nothing here writes.

DAG files import this module (through the asset watcher and the sensor): ``requests``,
``aiohttp`` and the lake I/O layer are imported where they are used, not at parse time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote, urlparse

from airflow.sdk import BaseHook

from salary.drops.listing import complete_drops

T = TypeVar("T")
Entries = dict[str, list[str] | None]  # name -> children's names for a folder, None for a file


class WebHdfsError(RuntimeError):
    """WebHDFS answered with an error other than "no such path"."""


class LakeHook(BaseHook):
    """The lake's folders, listed: hdfs:// through WebHDFS, file:// on this machine.

    Connection (type ``webhdfs``, the Apache HDFS provider's): ``host`` is the NameNode, or
    several comma-separated (an HA pair: the first that answers is used), ``port`` its HTTP
    port (9870 when empty), ``login`` the HDFS user (``user.name``, simple authentication),
    extra ``{"use_ssl": true}`` for HTTPS. A file lake needs no connection.

    :param webhdfs_conn_id: the ``webhdfs`` connection of the lake's NameNodes.
    :param timeout: seconds a WebHDFS call may take.
    """

    conn_name_attr = "webhdfs_conn_id"
    default_conn_name = "webhdfs_default"
    conn_type = "webhdfs"
    hook_name = "WebHDFS (salary lake listing)"

    def __init__(self, webhdfs_conn_id: str = default_conn_name, timeout: float = 30) -> None:
        super().__init__()
        self.webhdfs_conn_id = webhdfs_conn_id
        self.timeout = timeout

    # -- the connection -------------------------------------------------------------------

    @cached_property
    def namenodes(self) -> tuple[list[str], str | None]:
        """(WebHDFS base URL of each NameNode, user) of the connection."""
        return namenodes_of(self.get_connection(self.webhdfs_conn_id))

    async def anamenodes(self) -> tuple[list[str], str | None]:
        """``namenodes``, the connection fetched without blocking the triggerer's loop."""
        return namenodes_of(await self.aget_connection(self.webhdfs_conn_id))

    @staticmethod
    def errors() -> tuple[type[BaseException], ...]:
        """What a listing may fail with: a NameNode down or restarting, a network blip, a refusal."""
        import aiohttp
        import requests

        return (TimeoutError, OSError, aiohttp.ClientError, requests.RequestException, WebHdfsError)

    # -- sync (a worker) ------------------------------------------------------------------

    def entries(self, uri: str) -> Entries:
        """The entries of the folder ``uri`` (empty when it does not exist)."""
        url = urlparse(uri)
        if url.scheme in ("file", ""):
            from salary.lake import open_store

            return open_store(uri).entries(uri)
        _require_hdfs(uri)
        urls, user = self.namenodes
        return _failover(urls, lambda base: self._entries(base, user, url.path or "/"), self.errors())

    def complete_drops(self, incoming: str) -> list[str]:
        """The complete drops in the folder ``incoming`` (salary.drops.listing rules), sorted."""
        return complete_drops(self.entries(incoming))

    def _entries(self, base: str, user: str | None, path: str) -> Entries:
        import requests

        with requests.Session() as session:
            def liststatus(p: str) -> list[dict[str, Any]] | None:
                resp = session.get(_liststatus_url(base, p), params=_params(user), timeout=self.timeout)
                return _statuses(p, resp.status_code, lambda: resp.text, lambda: resp.json())

            statuses = liststatus(path)
            return _entries_of(statuses, [liststatus(f"{path}/{d}") for d in _folders(statuses)])

    # -- async (the triggerer) ------------------------------------------------------------

    async def aentries(self, uri: str) -> Entries:
        """``entries`` without blocking the event loop (aiohttp; a file lake in a thread)."""
        url = urlparse(uri)
        if url.scheme in ("file", ""):
            from salary.lake import open_store

            return await asyncio.to_thread(lambda: open_store(uri).entries(uri))
        _require_hdfs(uri)
        urls, user = await self.anamenodes()
        return await _afailover(urls, lambda base: self._aentries(base, user, url.path or "/"), self.errors())

    async def acomplete_drops(self, incoming: str) -> list[str]:
        """``complete_drops`` without blocking the event loop."""
        return complete_drops(await self.aentries(incoming))

    async def _aentries(self, base: str, user: str | None, path: str) -> Entries:
        import aiohttp

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            async def liststatus(p: str) -> list[dict[str, Any]] | None:
                async with session.get(_liststatus_url(base, p), params=_params(user)) as resp:
                    text = await resp.text()
                    return _statuses(p, resp.status, lambda: text, lambda: _json(text))

            statuses = await liststatus(path)
            children = await asyncio.gather(*(liststatus(f"{path}/{d}") for d in _folders(statuses)))
            return _entries_of(statuses, list(children))


def namenodes_of(conn: Any) -> tuple[list[str], str | None]:
    """(WebHDFS base URLs, user) of a ``webhdfs`` connection: one URL per comma-separated host."""
    scheme = "https" if conn.extra_dejson.get("use_ssl") else "http"
    hosts = [h.strip() for h in (conn.host or "").split(",") if h.strip()]
    if not hosts:
        raise ValueError(f"connection {conn.conn_id!r} names no NameNode host")
    return [f"{scheme}://{h}:{conn.port or 9870}" for h in hosts], conn.login


def _require_hdfs(uri: str) -> None:
    if not uri.startswith("hdfs://"):
        raise ValueError(f"unsupported lake scheme in {uri} (hdfs:// or file://)")


def _failover(urls: Sequence[str], call: Callable[[str], T], errors: tuple[type[BaseException], ...]) -> T:
    """``call`` on the first NameNode that answers; the last one's error when none does."""
    for url in urls[:-1]:
        try:
            return call(url)
        except errors:
            continue
    return call(urls[-1])


async def _afailover(urls: Sequence[str], call: Callable[[str], Awaitable[T]],
                     errors: tuple[type[BaseException], ...]) -> T:
    for url in urls[:-1]:
        try:
            return await call(url)
        except errors:
            continue
    return await call(urls[-1])


def _liststatus_url(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/webhdfs/v1{quote(path)}"


def _params(user: str | None) -> dict[str, str]:
    return {"op": "LISTSTATUS", **({"user.name": user} if user else {})}


def _json(text: str) -> Any:
    import json

    return json.loads(text)


def _statuses(path: str, status: int, text: Callable[[], str],
              body: Callable[[], Any]) -> list[dict[str, Any]] | None:
    """FileStatus entries of a LISTSTATUS answer; None for a path that does not exist."""
    if status == 404:
        return None
    if status != 200:
        raise WebHdfsError(f"LISTSTATUS {path}: HTTP {status}: {text()[:300]}")
    return body()["FileStatuses"]["FileStatus"]


def _folders(statuses: list[dict[str, Any]] | None) -> list[str]:
    return [s["pathSuffix"] for s in statuses or [] if s["type"] == "DIRECTORY"]


def _entries_of(statuses: list[dict[str, Any]] | None, children: list[list[dict[str, Any]] | None]) -> Entries:
    out: Entries = {s["pathSuffix"]: None for s in statuses or [] if s["type"] != "DIRECTORY"}
    for name, kids in zip(_folders(statuses), children, strict=True):
        out[name] = [k["pathSuffix"] for k in kids or []]
    return out
