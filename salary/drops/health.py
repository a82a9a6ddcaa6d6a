"""What the published drops say about the champion: a health record per predicted drop in
``models/salary/health/<drop>.json``, which of them become model-health events (a drifted or
degraded drop, at most one event per cooldown), the small drops waiting for a later run's pool
(``models/salary/health/_pool/<drop>.json``), and each drop's pictures."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from salary.config import PredictSettings
from salary.lake import LakeIO, join
from salary.model.monitoring import health_verdict, pooled_drift
from salary.model.pictures import PICTURES, drop_pictures, save_pictures
from salary.model.registry import champion

log = logging.getLogger(__name__)


def cooldown_decisions(verdicts: Sequence[Mapping[str, Any]], last_event_at: dt.datetime | None,
                       now: dt.datetime, cooldown: dt.timedelta) -> list[dict[str, Any]]:
    """Each unhealthy verdict with ``event``: True when it becomes a model-health event (none in
    the ``cooldown`` before it, counting the ones decided here), and why. Pure."""
    out, last = [], last_event_at
    for verdict in verdicts:
        if last is not None and now - last < cooldown:
            out.append({**verdict, "event": False,
                        "why": f"cooldown: a model-health event at {last.isoformat()}, less than {cooldown} before"})
        else:
            out.append({**verdict, "event": True, "why": "no model-health event in the cooldown before it"})
            last = now
    return out


def pooled_verdict(pooled: Mapping[str, Any] | None, predicted: Sequence[str],
                   model_version: str | None) -> dict[str, Any] | None:
    """The verdict of the drops too small to be judged alone, pooled (``pooled_drift``), when
    the pool drifted; only its drops that were predicted, or carried from earlier runs, count. Pure."""
    drops = sorted(set((pooled or {}).get("drops") or []) & {*predicted, *((pooled or {}).get("carried") or [])})
    if not pooled or not pooled.get("drifted") or not drops:
        return None
    rows = f"the {pooled['rows']:,} rows of {len(pooled['drops'])} drops too small to judge alone, pooled"
    label = f"a pool of {len(drops)} small drop{'s' * (len(drops) != 1)}"
    return {"drop": label, "pooled_drops": drops, "model_version": model_version,
            "reasons": [f"PSI of {name} {pooled['psi'][name]:.3f} above the threshold on {rows}"
                        for name in pooled["drifted"]],
            "drifted_features": list(pooled["drifted"]), "psi": pooled["psi"], "live_mse": None,
            "live_mse_over_test": None}


def with_pool(record: Mapping[str, Any], pool: Mapping[str, Any]) -> dict[str, Any]:
    """A drop's health record with its drifted pool's decided verdict added. Pure."""
    return {**record, "reasons": (record.get("reasons") or []) + pool["reasons"], "pooled": True,
            "event": bool(record.get("event")) or pool["event"], "why": record.get("why") or pool["why"]}


def judge_drops(lake: LakeIO, run_id: str, drops: Sequence[Mapping[str, Any]],
                last_event_at: dt.datetime | None, cooldown: dt.timedelta, degraded_mse_over_test: float,
                now: dt.datetime | None = None, pooled: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Record the health of every predicted drop; return the unhealthy ones with their event
    decision, and the pool of small drops (``pooled``) when it drifted: one verdict and at most
    one event for the pool, its reasons in the health record of each of its drops."""
    now = now or dt.datetime.now(dt.UTC)
    predicted = [r for r in drops if r["status"] == "predicted"]
    verdicts = {r["drop"]: health_verdict(r, degraded_mse_over_test) for r in predicted}
    pool = pooled_verdict(pooled, list(verdicts), predicted[0].get("model_version") if predicted else None)
    decided = {d["drop"]: d for d in cooldown_decisions([v for v in verdicts.values() if v] + ([pool] if pool else []),
                                                        last_event_at, now, cooldown)}
    pool_decided = decided.get(pool["drop"]) if pool else None
    for drop, verdict in verdicts.items():
        record = decided.get(drop) or {"drop": drop, "healthy": True, "event": False}
        if pool_decided and drop in pool_decided["pooled_drops"]:
            record = with_pool(record, pool_decided)
        healthy = verdict is None and "pooled" not in record
        lake.store.write_json(lake.paths.health_record(drop), {**record, "healthy": healthy, "run": run_id,
                                                    "decided_at": now.isoformat()})
        if verdict:
            log.warning("drop %s: %s; %s", drop, "; ".join(verdict["reasons"]),
                        "a model-health event" if record["event"] else record["why"])
    if pool_decided:
        for drop in (d for d in pool_decided["pooled_drops"] if d not in verdicts):  # carried from earlier runs
            record = with_pool(lake.store.read_json(lake.paths.health_record(drop)) or {"drop": drop}, pool_decided)
            lake.store.write_json(lake.paths.health_record(drop), {
                **record, "healthy": False, "pooled_by": run_id, "decided_at": now.isoformat()})
        log.warning("%s: %s; %s", pool_decided["drop"], "; ".join(pool_decided["reasons"]),
                    "a model-health event" if pool_decided["event"] else pool_decided["why"])
    return list(decided.values())


def may_wait(entry: Mapping[str, Any], model_version: str | None, now: dt.datetime, max_age: dt.timedelta) -> bool:
    """Whether a waiting drop (an entry of ``_pool/``) may still join a pool: scored by
    ``model_version`` and younger than ``max_age``. Pure."""
    return (entry.get("model_version") == model_version and "at" in entry
            and now - dt.datetime.fromisoformat(entry["at"]) <= max_age)


def pool_small_drops(lake: LakeIO, unjudged: Mapping[str, Mapping[str, Any]], model_version: str,
                     now: dt.datetime, settings: PredictSettings) -> dict[str, Any] | None:
    """A run's drops too small to be judged alone (their drift reports by drop, ``unjudged``)
    pooled with those that wait in ``_pool/`` (scored by ``model_version``, younger than
    ``psi_pool_max_age_hours``; a drop scored now counts once, by its report of now):
    ``pooled_drift`` of them all, ``carried`` naming the waiting ones. A drop this run already
    published on an earlier try waits there too, and is carried like an earlier run's. None for
    fewer than two drops."""
    folder, max_age = lake.paths.drift_pool, dt.timedelta(hours=settings.psi_pool_max_age_hours)
    docs = [lake.store.read_json(join(folder, name)) for name in lake.store.names(folder) if name.endswith(".json")]
    carried = {doc["drop"]: doc["report"] for doc in docs
               if doc and may_wait(doc, model_version, now, max_age) and doc["drop"] not in unjudged}
    pooled = pooled_drift({**carried, **unjudged}, settings.psi_drift, settings.psi_min_rows)
    if pooled is None:
        return None
    pooled["carried"] = sorted(set(carried) & set(pooled["drops"]))
    log.info("%d drops too small to judge alone (%d from earlier runs), pooled (%d rows): PSI %s, %s",
             len(pooled["drops"]), len(pooled["carried"]), pooled["rows"], pooled["psi"],
             f"drifted {pooled['drifted'] or 'none'}" if pooled["judged"] else "too few rows to judge yet")
    return pooled


def carry_pool(lake: LakeIO, run_id: str, drops: Sequence[Mapping[str, Any]], pooled: Mapping[str, Any] | None,
               model_version: str | None, now: dt.datetime, max_age: dt.timedelta) -> dict[str, list[str]]:
    """After publishing: the run's predicted drops too small to be judged, whose pool was not
    judged either, wait in ``_pool/`` for a later run's pool (their published drift report,
    with the model that scored them); a judged pool's members, and waiting drops older than
    ``max_age`` or scored by a model that is no longer the champion, leave it. The champion is
    read now, not taken from the run: a run that scored with the champion it replaced (promoted
    while the run was predicting) leaves the new champion's waiting drops alone. Returns the
    drops now waiting and those removed."""
    folder = lake.paths.drift_pool
    current = (champion(lake) or {}).get("version", model_version)
    judged = set(pooled["drops"]) if pooled and pooled.get("judged") else set()
    small = [r["drop"] for r in drops if r["status"] == "predicted" and r.get("judged") is False]
    for drop in (d for d in small if d not in judged):
        report = lake.store.read_json(join(lake.paths.predictions(drop), "monitoring.json"))
        if report:
            lake.store.write_json(join(folder, f"{drop}.json"), {
                "drop": drop, "model_version": model_version, "run": run_id, "at": now.isoformat(), "report": report})
    removed, waiting = [], []
    for name in (n for n in lake.store.names(folder) if n.endswith(".json")):
        doc = lake.store.read_json(join(folder, name)) or {}
        if doc.get("drop") in judged or not may_wait(doc, current, now, max_age):
            lake.store.delete(join(folder, name))
            removed.append(name.removesuffix(".json"))
        else:
            waiting.append(name.removesuffix(".json"))
    if waiting or removed:
        log.info("drops waiting for a drift pool: %s; left it: %s", waiting or "none", removed or "none")
    return {"waiting": waiting, "removed": removed}


def draw_drops(lake: LakeIO, drops: Sequence[Mapping[str, Any]],
               degraded_mse_over_test: float) -> dict[str, str | None]:
    """Each predicted drop's pictures next to its predictions (after they are published: drawing
    is not on the way to them). Returns where each landed (None: could not draw, logged)."""
    out = {}
    for result in (r for r in drops if r["status"] == "predicted"):
        folder = lake.paths.predictions(result["drop"])
        monitoring = lake.store.read_json(join(folder, "monitoring.json")) or {}
        out[result["drop"]] = save_pictures(lake.store, join(folder, PICTURES), f"drop {result['drop']}", drop_pictures,
                                            result["drop"], monitoring, degraded_mse_over_test)
    return out
