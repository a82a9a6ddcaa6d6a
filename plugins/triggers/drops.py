"""An async trigger (runs in the triggerer) that fires when complete drops are in a folder.

HDFS is listed through WebHDFS over aiohttp (LISTSTATUS, non-blocking in the triggerer's
event loop), a file lake with salary.drops.list_complete in a thread. Only complete drops count (see
salary.incoming.drop_state): no hidden or ``._COPYING_`` names, no folder without _SUCCESS.

DAG files import this module (through the sensor): aiohttp and the lake I/O layer (pandas,
pyarrow, fsspec) are imported where they are used, in the triggerer, not at parse time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlparse

from airflow.triggers.base import BaseTrigger, TriggerEvent

from salary.incoming import complete_drops

log = logging.getLogger(__name__)


class WebHdfsError(RuntimeError):
    pass


async def _liststatus(session: Any, base_url: str, user: str | None,
                      path: str) -> list[dict[str, Any]] | None:
    """FileStatus entries of ``path`` or None when it does not exist."""
    params = {"op": "LISTSTATUS", **({"user.name": user} if user else {})}
    async with session.get(f"{base_url.rstrip('/')}/webhdfs/v1{quote(path)}", params=params) as resp:
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise WebHdfsError(f"LISTSTATUS {path}: HTTP {resp.status}: {(await resp.text())[:300]}")
        return (await resp.json())["FileStatuses"]["FileStatus"]


async def list_webhdfs(base_url: str, user: str | None, path: str) -> dict[str, list[str] | None]:
    """Entries of an HDFS folder (children names for folders, None for files)."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        statuses = await _liststatus(session, base_url, user, path)
        if statuses is None:
            return {}
        dirs = [s["pathSuffix"] for s in statuses if s["type"] == "DIRECTORY"]
        children = await asyncio.gather(*(_liststatus(session, base_url, user, f"{path}/{d}") for d in dirs))
        out: dict[str, list[str] | None] = {s["pathSuffix"]: None for s in statuses if s["type"] != "DIRECTORY"}
        for name, kids in zip(dirs, children, strict=True):
            out[name] = [k["pathSuffix"] for k in kids or []]
        return out


async def complete_drops_in(incoming: str, webhdfs_url: str | None, webhdfs_user: str | None) -> list[str]:
    """Complete drops in the folder ``incoming`` (an hdfs:// or file:// URI)."""
    url = urlparse(incoming)
    if url.scheme == "hdfs":
        if not webhdfs_url:
            raise ValueError(f"{incoming} is on HDFS: a WebHDFS address is needed")
        return complete_drops(await list_webhdfs(webhdfs_url, webhdfs_user, url.path or "/"))
    if url.scheme in ("file", ""):
        from salary.drops import list_complete

        return await asyncio.to_thread(list_complete, incoming)  # blocking fsspec calls: off the loop
    raise ValueError(f"unsupported lake scheme in {incoming}")


class DropsTrigger(BaseTrigger):
    """Fires ``{"status": "ready", "drops": [...]}`` once complete drops are in ``incoming``,
    or ``{"status": "timeout"}`` at ``deadline`` (epoch seconds) when none came."""

    def __init__(self, incoming: str, webhdfs_url: str | None, webhdfs_user: str | None,
                 poke_interval: float, deadline: float) -> None:
        super().__init__()
        self.incoming = incoming
        self.webhdfs_url = webhdfs_url
        self.webhdfs_user = webhdfs_user
        self.poke_interval = poke_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("triggers.drops.DropsTrigger", {
            "incoming": self.incoming, "webhdfs_url": self.webhdfs_url, "webhdfs_user": self.webhdfs_user,
            "poke_interval": self.poke_interval, "deadline": self.deadline})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import aiohttp

        while True:
            try:
                drops = await complete_drops_in(self.incoming, self.webhdfs_url, self.webhdfs_user)
            except (TimeoutError, aiohttp.ClientError, WebHdfsError) as exc:
                # A NameNode restart or a network blip: keep waiting until the deadline.
                self.log.warning("listing %s failed (%s); retrying in %.0f s", self.incoming, exc, self.poke_interval)
                drops = []
            if drops:
                self.log.info("complete drops in %s: %s", self.incoming, drops)
                yield TriggerEvent({"status": "ready", "drops": drops})
                return
            if time.time() >= self.deadline:
                yield TriggerEvent({"status": "timeout", "incoming": self.incoming})
                return
            await asyncio.sleep(min(self.poke_interval, max(0.0, self.deadline - time.time())))
