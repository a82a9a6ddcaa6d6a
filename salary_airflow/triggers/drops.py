"""Async triggers (they run in the triggerer) that watch the lake's drops/incoming/ folder.

DropArrivalTrigger drives event-driven scheduling: an AssetWatcher on the drops asset runs
it for as long as the DAG is deployed, and each complete drop it has not seen fires one
asset event. DropsTrigger serves the deferrable DropSensor (wait once, with a deadline).

HDFS is listed through WebHDFS over aiohttp (LISTSTATUS, non-blocking in the triggerer's
event loop), a file lake with salary.drops.list_complete in a thread. Only complete drops count (see
salary.drops.listing.drop_state): no hidden or ``._COPYING_`` names, no folder without _SUCCESS.

DAG files import this module (through the sensor and the asset watcher): aiohttp and the
lake I/O layer (pandas, pyarrow, fsspec) are imported where they are used, in the
triggerer, not at parse time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlparse

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from salary.drops.listing import complete_drops


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
        from salary.drops.listing import list_complete

        return await asyncio.to_thread(list_complete, incoming)  # blocking fsspec calls: off the loop
    raise ValueError(f"unsupported lake scheme in {incoming}")


def listing_errors() -> tuple[type[BaseException], ...]:
    """What a listing may fail with: a NameNode down or restarting, a network blip, a refusal."""
    import aiohttp

    return (TimeoutError, OSError, aiohttp.ClientError, WebHdfsError)


async def webhdfs_of(conn_id: str) -> tuple[str, str | None]:
    """WebHDFS base URL and user of an Airflow ``webhdfs`` connection (its first NameNode;
    the trigger tries the others of a comma-separated host list when one fails)."""
    from airflow.sdk import BaseHook

    conn = await BaseHook.aget_connection(conn_id)
    scheme = "https" if conn.extra_dejson.get("use_ssl") else "http"
    hosts = [h.strip() for h in (conn.host or "").split(",") if h.strip()]
    return ",".join(f"{scheme}://{h}:{conn.port or 9870}" for h in hosts), conn.login


async def complete_drops_ha(incoming: str, webhdfs_urls: str | None, user: str | None) -> list[str]:
    """complete_drops_in with a comma-separated list of NameNodes: the first that answers."""
    *others, last = (webhdfs_urls or "").split(",")
    for url in others:
        try:
            return await complete_drops_in(incoming, url, user)
        except listing_errors():
            continue
    return await complete_drops_in(incoming, last or None, user)


class FailureStreak:
    """Failed listings in a row: each is logged with its cause; the ``alert_after``-th gives
    the ``listing_failed`` payload to fire (a listing error is not "no drops")."""

    def __init__(self, alert_after: int, log: Any) -> None:
        self.alert_after = alert_after
        self.log = log
        self.count = 0

    def failed(self, exc: BaseException, incoming: str | None) -> dict[str, Any] | None:
        self.count += 1
        self.log.warning("listing %s failed (%d in a row): %s: %s", incoming or "drops", self.count,
                         type(exc).__name__, exc)
        if self.count != self.alert_after:
            return None
        return {"status": "listing_failed", "incoming": incoming, "failures": self.count,
                "error": f"{type(exc).__name__}: {exc}"}

    def succeeded(self, incoming: str) -> None:
        if self.count:
            self.log.info("listing %s works again after %d failures", incoming, self.count)
        self.count = 0


class DropArrivalTrigger(BaseEventTrigger):
    """Fires ``{"status": "ready", "drops": [...]}`` for complete drops in ``<lake root>/<incoming>``
    that it has not fired for yet; runs until the watcher is removed.

    The lake root is the Airflow Variable ``lake_root_variable`` and HDFS is listed through the
    WebHDFS connection ``webhdfs_conn_id``, both read in the triggerer (nothing at parse time).
    What was seen is kept in the asset state store (key ``seen``: the complete drops of the last
    listing), so a triggerer restart does not fire again for drops still waiting; a drop that
    leaves incoming/ (claimed) and comes back under the same name fires again. An event fired
    twice anyway is harmless: each drop is claimed by exactly one run.

    A listing that fails is not "no drops": each failure is logged with its cause, and the
    ``failures_before_alert``-th in a row fires ``{"status": "listing_failed", ...}`` so that a
    run starts and fails where a user sees it; the next success is logged as a recovery.
    """

    def __init__(self, incoming: str = "drops/incoming", lake_root_variable: str = "lake_root",
                 webhdfs_conn_id: str = "webhdfs_default", poke_interval: float = 5.0,
                 failures_before_alert: int = 3) -> None:
        super().__init__()
        self.incoming = incoming
        self.lake_root_variable = lake_root_variable
        self.webhdfs_conn_id = webhdfs_conn_id
        self.poke_interval = poke_interval
        self.failures_before_alert = failures_before_alert
        self._memory: dict[str, Any] = {}  # stands in for the state store outside a watcher

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("salary_airflow.triggers.drops.DropArrivalTrigger", {
            "incoming": self.incoming, "lake_root_variable": self.lake_root_variable,
            "webhdfs_conn_id": self.webhdfs_conn_id, "poke_interval": self.poke_interval,
            "failures_before_alert": self.failures_before_alert})

    async def _state(self, key: str, default: Any) -> Any:
        if self.asset_state_store is None:
            return self._memory.get(key, default)
        return await self.asset_state_store.aget(key, default)

    async def _set_state(self, key: str, value: Any) -> None:
        if self.asset_state_store is None:
            self._memory[key] = value
        else:
            await self.asset_state_store.aset(key, value)

    async def _list(self) -> tuple[str, list[str]]:
        from airflow.sdk import Variable
        from asgiref.sync import sync_to_async

        root = await sync_to_async(Variable.get)(self.lake_root_variable)
        incoming = f"{root.rstrip('/')}/{self.incoming.strip('/')}"
        url, user = (await webhdfs_of(self.webhdfs_conn_id)) if incoming.startswith("hdfs://") else (None, None)
        return incoming, await complete_drops_ha(incoming, url, user)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        streak, started, incoming = FailureStreak(self.failures_before_alert, self.log), False, None
        while True:
            try:
                incoming, drops = await self._list()
                if not started:
                    started = True
                    self.log.info("watching %s for complete drops every %.0f s", incoming, self.poke_interval)
            except listing_errors() as exc:
                if alert := streak.failed(exc, incoming):
                    yield TriggerEvent(alert)
            else:
                streak.succeeded(incoming)
                seen = set(await self._state("seen", []))
                new = [drop for drop in drops if drop not in seen]
                if new:
                    self.log.info("new complete drops in %s: %s", incoming, new)
                    yield TriggerEvent({"status": "ready", "incoming": incoming, "drops": new})
                if set(drops) != seen:
                    await self._set_state("seen", drops)
            await asyncio.sleep(self.poke_interval)


class DropsTrigger(BaseTrigger):
    """Fires ``{"status": "ready", "drops": [...]}`` once complete drops are in ``incoming``,
    ``{"status": "timeout"}`` at ``deadline`` (epoch seconds) when none came, or
    ``{"status": "listing_failed"}`` after ``failures_before_alert`` failed listings in a row."""

    def __init__(self, incoming: str, webhdfs_url: str | None, webhdfs_user: str | None,
                 poke_interval: float, deadline: float, failures_before_alert: int = 3) -> None:
        super().__init__()
        self.failures_before_alert = failures_before_alert
        self.incoming = incoming
        self.webhdfs_url = webhdfs_url
        self.webhdfs_user = webhdfs_user
        self.poke_interval = poke_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("salary_airflow.triggers.drops.DropsTrigger", {
            "incoming": self.incoming, "webhdfs_url": self.webhdfs_url, "webhdfs_user": self.webhdfs_user,
            "poke_interval": self.poke_interval, "deadline": self.deadline,
            "failures_before_alert": self.failures_before_alert})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        streak = FailureStreak(self.failures_before_alert, self.log)
        while True:
            try:
                drops = await complete_drops_ha(self.incoming, self.webhdfs_url, self.webhdfs_user)
                streak.succeeded(self.incoming)
            except listing_errors() as exc:
                # A NameNode restart or a network blip: keep waiting, up to a few failures in a row.
                if alert := streak.failed(exc, self.incoming):
                    yield TriggerEvent(alert)
                    return
                drops = []
            if drops:
                self.log.info("complete drops in %s: %s", self.incoming, drops)
                yield TriggerEvent({"status": "ready", "drops": drops})
                return
            if time.time() >= self.deadline:
                yield TriggerEvent({"status": "timeout", "incoming": self.incoming})
                return
            await asyncio.sleep(min(self.poke_interval, max(0.0, self.deadline - time.time())))
