"""The pipeline's data as Airflow assets: what each DAG reads and writes, for the UI's lineage
(curated dataset -> champion model -> predictions) and for event-driven scheduling (drops).

URIs name places in the lake (``salary-lake://<layout path>``) independently of the lake
root, which differs between deployments. Light: DAG files import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import Asset, AssetAlias, AssetWatcher

from salary.config import load_settings
from salary_airflow.triggers.drops import DropArrivalTrigger

SETTINGS = load_settings()
LAKE = SETTINGS.lake
GROUP = "salary"


def lake_asset(name: str, path: str) -> Asset:
    return Asset(name=name, uri=f"salary-lake://{path}", group=GROUP)


CURATED = lake_asset("salary_curated", LAKE.curated)
# A new champion is an event only when promote_model promotes: it emits through this alias.
CHAMPION_ALIAS = AssetAlias(name="salary_champion_promotions", group=GROUP)
CHAMPION = lake_asset("salary_champion", f"{LAKE.models}/champion")
PREDICTIONS = lake_asset("salary_predictions", LAKE.predictions)
# A predicted drop that drifted from the champion's training data, or on which it predicts
# worse than on its test split, is an event of the model-health asset (through this alias:
# healthy drops emit nothing). Its extra names the drop, the PSI per feature, the live MSE.
MODEL_HEALTH_ALIAS = AssetAlias(name="salary_model_health_alerts", group=GROUP)
MODEL_HEALTH = lake_asset("salary_model_health", f"{LAKE.models}/health")

DROPS = Asset(
    name="salary_drops",
    uri=f"salary-lake://{LAKE.drops}/incoming",
    group=GROUP,
    watchers=[AssetWatcher(
        name="salary_drop_arrival",
        trigger=DropArrivalTrigger(
            incoming=f"{LAKE.drops}/incoming",
            lake_root_variable="lake_root",
            webhdfs_conn_id="webhdfs_default",
            poke_interval=SETTINGS.predict.poke_interval_seconds,
            failures_before_alert=SETTINGS.predict.listing_failures_before_alert,
        ),
    )],
)


def run_trigger(run_type: object, triggering_asset_events: Mapping[Any, Iterable[Any]] | None) -> dict[str, Any]:
    """What started a DAG run, for the records it writes: the run type (``manual``,
    ``scheduled``, ``asset_triggered``...) and each asset event that triggered it, once (the
    accessor lists an event under each of its keys, so events are keyed by asset and time)."""
    events = {(e.asset.name, e.timestamp.isoformat()): e.extra
              for listed in (triggering_asset_events or {}).values() for e in listed}
    return {"run_type": getattr(run_type, "value", str(run_type)),
            "events": [{"asset": name, "timestamp": at, "extra": extra} for (name, at), extra in events.items()]}
