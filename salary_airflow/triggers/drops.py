"""Async triggers (they run in the triggerer) that watch the lake's drops/incoming/ folder.

DropArrivalTrigger drives event-driven scheduling: an AssetWatcher on the drops asset runs
it for as long as the DAG is deployed, and each complete drop it has not seen fires one
asset event. DropsTrigger serves the deferrable DropSensor (wait once; the sensor's timeout
ends the wait).

Both only await ``LakeHook`` (WebHDFS with NameNode failover, or the file lake) and yield
events ``{"status": "success" | "error", "message": ..., ...}``. Only complete drops count (see
salary.drops.listing.drop_state): no hidden or ``._COPYING_`` names, no folder without _SUCCESS.
A listing that fails is not "no drops": ``failures_before_alert`` failures in a row are an
``error`` event, and ``listing_failure`` reads such events back where a run starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from salary_airflow.hooks.lake import LakeHook


def listing_failure(event_extras: Iterable[Mapping[str, Any] | None]) -> str | None:
    """What the drop watcher reported about failed listings in a run's triggering asset events,
    if anything (an asset event's extra carries the trigger's payload)."""
    payloads = [(extra or {}).get("payload") for extra in event_extras]
    failures = [p for p in payloads if isinstance(p, dict) and p.get("status") == "error"]
    if not failures:
        return None
    return (f"the drop watcher could not list drops/incoming/: {failures[-1].get('message')}; "
            "check the NameNode / WebHDFS connection (webhdfs_default)")


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
        return {"status": "error", "incoming": incoming, "failures": self.count,
                "message": f"{self.count} listings of {incoming or 'drops'} failed in a row, the last with "
                           f"{type(exc).__name__}: {exc}"}

    def succeeded(self, incoming: str) -> None:
        if self.count:
            self.log.info("listing %s works again after %d failures", incoming, self.count)
        self.count = 0


class DropArrivalTrigger(BaseEventTrigger):
    """Fires ``{"status": "success", "drops": [...]}`` for complete drops in ``<lake root>/<incoming>``
    that it has not fired for yet; runs until the watcher is removed.

    The lake root is the Airflow Variable ``lake_root_variable`` and HDFS is listed through the
    WebHDFS connection ``webhdfs_conn_id``, both read in the triggerer (nothing at parse time).
    What was seen is kept in the asset state store (key ``seen``: the complete drops of the last
    listing), so a triggerer restart does not fire again for drops still waiting; a drop that
    leaves incoming/ (claimed) and comes back under the same name fires again. An event fired
    twice anyway is harmless: each drop is claimed by exactly one run.

    A listing that fails is not "no drops": each failure is logged with its cause, and the
    ``failures_before_alert``-th in a row fires ``{"status": "error", "message": ...}`` so that a
    run starts and fails where a user sees it; the next success is logged as a recovery.

    :param incoming: the folder below the lake root.
    :param lake_root_variable: the Airflow Variable holding the lake root (hdfs:// or file://).
    :param webhdfs_conn_id: the ``webhdfs`` connection (LakeHook) of an HDFS lake.
    :param poke_interval: seconds between listings.
    :param failures_before_alert: failed listings in a row that make an ``error`` event.
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

    async def _list(self, hook: LakeHook) -> tuple[str, list[str]]:
        from airflow.sdk import Variable
        from asgiref.sync import sync_to_async

        root = await sync_to_async(Variable.get)(self.lake_root_variable)
        incoming = f"{root.rstrip('/')}/{self.incoming.strip('/')}"
        return incoming, await hook.acomplete_drops(incoming)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = LakeHook(self.webhdfs_conn_id)
        streak, started, incoming = FailureStreak(self.failures_before_alert, self.log), False, None
        while True:
            try:
                incoming, drops = await self._list(hook)
                if not started:
                    started = True
                    self.log.info("watching %s for complete drops every %.0f s", incoming, self.poke_interval)
            except LakeHook.errors() as exc:
                if alert := streak.failed(exc, incoming):
                    yield TriggerEvent(alert)
            else:
                streak.succeeded(incoming)
                seen = set(await self._state("seen", []))
                new = [drop for drop in drops if drop not in seen]
                if new:
                    self.log.info("new complete drops in %s: %s", incoming, new)
                    yield TriggerEvent({"status": "success", "message": f"new complete drops in {incoming}: {new}",
                                        "incoming": incoming, "drops": new})
                if set(drops) != seen:
                    await self._set_state("seen", drops)
            await asyncio.sleep(self.poke_interval)


class DropsTrigger(BaseTrigger):
    """Fires ``{"status": "success", "drops": [...]}`` once complete drops are in ``incoming``,
    or ``{"status": "error", "message": ...}`` after ``failures_before_alert`` failed listings
    in a row. It has no deadline of its own: the deferring sensor's ``timeout`` ends the wait.

    :param incoming: the folder to watch (hdfs:// or file:// URI).
    :param webhdfs_conn_id: the ``webhdfs`` connection (LakeHook) of an HDFS lake.
    :param poke_interval: seconds between listings.
    :param failures_before_alert: failed listings in a row that make an ``error`` event.
    """

    def __init__(self, incoming: str, webhdfs_conn_id: str = LakeHook.default_conn_name, poke_interval: float = 30,
                 failures_before_alert: int = 3) -> None:
        super().__init__()
        self.incoming = incoming
        self.webhdfs_conn_id = webhdfs_conn_id
        self.poke_interval = poke_interval
        self.failures_before_alert = failures_before_alert

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("salary_airflow.triggers.drops.DropsTrigger", {
            "incoming": self.incoming, "webhdfs_conn_id": self.webhdfs_conn_id, "poke_interval": self.poke_interval,
            "failures_before_alert": self.failures_before_alert})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook, streak = LakeHook(self.webhdfs_conn_id), FailureStreak(self.failures_before_alert, self.log)
        while True:
            try:
                drops = await hook.acomplete_drops(self.incoming)
            except LakeHook.errors() as exc:
                # A NameNode restart or a network blip: keep waiting, up to a few failures in a row.
                if alert := streak.failed(exc, self.incoming):
                    yield TriggerEvent(alert)
                    return
            else:
                streak.succeeded(self.incoming)
                if drops:
                    yield TriggerEvent({"status": "success", "message": f"complete drops in {self.incoming}: {drops}",
                                        "drops": drops})
                    return
            await asyncio.sleep(self.poke_interval)
