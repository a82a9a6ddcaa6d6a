"""What the published drops say about the champion: a health record per predicted drop in
``models/salary/health/<drop>.json``, which of them become model-health events (a drifted or
degraded drop, at most one event per cooldown), and each drop's pictures."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from salary.lake import LakeIO, join
from salary.model.monitoring import health_verdict
from salary.model.pictures import PICTURES, drop_pictures, save_pictures

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
    the pool drifted; only its drops that were predicted count. Pure."""
    drops = sorted(set((pooled or {}).get("drops") or []) & set(predicted))
    if not pooled or not pooled.get("drifted") or not drops:
        return None
    rows = f"the {pooled['rows']:,} rows of {len(pooled['drops'])} drops too small to judge alone, pooled"
    label = f"a pool of {len(drops)} small drop{'s' * (len(drops) != 1)}"
    return {"drop": label, "pooled_drops": drops, "model_version": model_version,
            "reasons": [f"PSI of {name} {pooled['psi'][name]:.3f} above the threshold on {rows}"
                        for name in pooled["drifted"]],
            "drifted_features": list(pooled["drifted"]), "psi": pooled["psi"], "live_mse": None,
            "live_mse_over_test": None}


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
            own = record.get("reasons") or []
            record = {**record, "reasons": own + pool_decided["reasons"], "pooled": True,
                      "event": bool(record.get("event")) or pool_decided["event"],
                      "why": record.get("why") or pool_decided["why"]}
        healthy = verdict is None and "pooled" not in record
        lake.store.write_json(lake.paths.health_record(drop), {**record, "healthy": healthy, "run": run_id,
                                                    "decided_at": now.isoformat()})
        if verdict:
            log.warning("drop %s: %s; %s", drop, "; ".join(verdict["reasons"]),
                        "a model-health event" if record["event"] else record["why"])
    if pool_decided:
        log.warning("%s: %s; %s", pool_decided["drop"], "; ".join(pool_decided["reasons"]),
                    "a model-health event" if pool_decided["event"] else pool_decided["why"])
    return list(decided.values())


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
