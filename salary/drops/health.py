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


def judge_drops(lake: LakeIO, run_id: str, drops: Sequence[Mapping[str, Any]],
                last_event_at: dt.datetime | None, cooldown: dt.timedelta, degraded_mse_over_test: float,
                now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Record the health of every predicted drop; return the unhealthy ones with their event decision."""
    now = now or dt.datetime.now(dt.UTC)
    predicted = [r for r in drops if r["status"] == "predicted"]
    verdicts = {r["drop"]: health_verdict(r, degraded_mse_over_test) for r in predicted}
    decided = {d["drop"]: d for d in cooldown_decisions([v for v in verdicts.values() if v], last_event_at, now,
                                                        cooldown)}
    for drop, verdict in verdicts.items():
        record = decided.get(drop) or {"drop": drop, "healthy": True, "event": False}
        lake.store.write_json(lake.paths.health_record(drop), {**record, "healthy": verdict is None, "run": run_id,
                                                    "decided_at": now.isoformat()})
        if verdict:
            log.warning("drop %s: %s; %s", drop, "; ".join(verdict["reasons"]),
                        "a model-health event" if record["event"] else record["why"])
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
