"""A lake with a model history and predicted drops, written through the pipeline's own registry
and drop code, for the Salary pages' tests and their load benchmark (no Spark or Ray needed).

    python -m devtools.ui_lake LAKE_ROOT [--versions 50] [--drops 200]

Versions improve now and then (some are promoted, the rest kept out, each decision recorded with
what started its run); every tenth drop comes from an older population (drifted: PSI of age above
the threshold, a model-health event once per cooldown) and every 25th is rejected whole.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import numpy as np

from salary.config import Settings, load_settings
from salary.drops import REASON_FILE
from salary.drops.health import judge_drops
from salary.lake import MANIFEST, SUCCESS, Lake, LakeIO, join, path_segment
from salary.lake.fsspec_store import FsspecStore
from salary.model.features import build_pipeline
from salary.model.pictures import PICTURES, drop_pictures
from salary.model.registry import promote, publish_version

T0 = dt.datetime(2026, 10, 1, 2, 0, tzinfo=dt.UTC)
DROPS_PER_RUN = 10
SMALL = (3, 4)  # in the second run: two drops too small to judge alone, drifted pooled


def training_run_id(i: int) -> str:
    return f"scheduled__{(T0 + dt.timedelta(days=i)).isoformat()}"


def prediction_run_id(i: int) -> str:
    return f"asset_triggered__{(T0 + dt.timedelta(days=i, hours=6)).isoformat()}"


def monitoring_of(drifted: bool, threshold: float) -> dict[str, Any]:
    psi = {"age": 0.9 if drifted else 0.02, "is_active": 0.01, "tenure_years": 0.03}
    return {"psi": psi, "threshold": threshold, "drifted": ["age"] if drifted else [],
            "live": {"rows_with_label": 400, "mse": 26e6, "floor_mse": 25e6, "mse_over_floor": 1.04,
                     "test_mse_over_floor": 1.01},
            "bins": {"age": {"edges": [18, 30, 42, 54, 66, 80], "reference": [0.2] * 5,
                             "drop": [0.0, 0.0, 0.1, 0.3, 0.6] if drifted else [0.2] * 5}}}


def write_versions(lake: LakeIO[FsspecStore], settings: Settings, count: int, picture: bytes) -> list[str]:
    """``count`` published versions, each put through the promotion gate."""
    rng = np.random.default_rng(0)
    X = rng.random((60, 1))
    model = build_pipeline("random_forest", {"n_estimators": 2, "max_depth": 2, "min_samples_split": 2}).fit(
        X, X[:, 0])
    best: tuple[str, float] | None = None
    versions = []
    for i in range(count):
        run_id = training_run_id(i)
        over_floor = 1.0 + 0.2 / (1 + i) + abs(float(rng.normal(0, 0.004)))
        on_split: dict[str, Any] | None = None if best is None else {"version": best[0], "mse": best[1] * 25e6}
        metrics = {"test": {"mse": over_floor * 25e6, "mse_over_floor": over_floor, "r2": 0.9,
                            "mean_baseline_over_floor": 3.0}, "champion_on_test_split": on_split}
        publish_version(lake, run_id, model, {"run_id": run_id, "model": "random_forest", "features": ["age"]},
                        metrics, {f"{PICTURES}/test_predictions.png": picture})
        trigger = {"run_type": "scheduled" if i % 4 else "asset_triggered",
                   "events": [] if i % 4 else [{"asset": "salary_model_health", "timestamp": run_id, "extra": {}}]}
        if promote(lake, run_id, settings.model.promotion_margin, trigger)["promoted"]:
            best = (run_id, over_floor)
        versions.append(path_segment(run_id))
    return versions


def write_drops(lake: LakeIO[FsspecStore], settings: Settings, count: int) -> list[str]:
    """``count`` drops over prediction runs of ``DROPS_PER_RUN``: published predictions with
    monitoring and pictures, health records, rejections, and each run's summary."""
    threshold = settings.predict.psi_drift
    degraded = settings.predict.degraded_mse_over_test
    pictures = {drifted: drop_pictures("drop", monitoring_of(drifted, threshold), degraded)
                for drifted in (False, True)}
    names = []
    for start in range(0, count, DROPS_PER_RUN):
        run_id = prediction_run_id(start // DROPS_PER_RUN)
        results = []
        for j in range(start, min(count, start + DROPS_PER_RUN)):
            drop = f"drop-{j:04d}.parquet"
            names.append(drop)
            if j % 25 == 24:
                lake.store.write_json(join(lake.paths.rejected_drops, drop, REASON_FILE), {
                    "drop": drop, "reason": f"{drop}: not a readable Parquet file", "run": run_id})
                results.append({"drop": drop, "status": "rejected", "reason": "not a readable Parquet file"})
                continue
            drifted = j % 10 == 9
            monitoring = monitoring_of(drifted, threshold)
            result = {"drop": drop, "status": "predicted", "run": run_id, "model_version": "v", "rows_in": 1000,
                      "rows_predicted": 990, "rows_rejected": 10, "rejected_by_reason": {"age_out_of_range": 10},
                      "psi": monitoring["psi"], "drifted": monitoring["drifted"], "live": monitoring["live"]}
            if start // DROPS_PER_RUN == 1 and j % DROPS_PER_RUN in SMALL:  # judged only as a pool
                monitoring = {**monitoring, "psi": {**monitoring["psi"], "age": 0.45}, "rows": 600, "judged": False,
                              "min_rows": 1000, "note": "600 rows, fewer than the 1,000 drift is judged on: "
                                                        "PSI recorded, not judged"}
                result.update(rows_in=600, rows_predicted=600, rows_rejected=0, rejected_by_reason={},
                              psi=monitoring["psi"])
            folder = lake.paths.predictions(drop)
            lake.store.write_json(join(folder, "monitoring.json"), monitoring)
            for name, data in pictures[drifted].items():
                lake.store.write_bytes(join(folder, PICTURES, name), data)
            lake.store.write_json(join(folder, MANIFEST), result)
            lake.store.write_atomic(join(folder, SUCCESS), b"")
            results.append(result)
        small = [r["drop"] for r in results if r.get("rows_in") == 600]
        pooled = {"drops": small, "rows": 600 * len(small), "psi": {"age": 0.45, "is_active": 0.01,
                                                                     "tenure_years": 0.03},
                  "threshold": threshold, "min_rows": 1000, "judged": True, "drifted": ["age"]} if small else None
        judge_drops(lake, run_id, results, None, dt.timedelta(minutes=settings.schedule.retrain_cooldown_minutes),
                    degraded, now=T0 + dt.timedelta(days=start // DROPS_PER_RUN), pooled=pooled)
        lake.store.write_json(join(lake.paths.report("predict_drops", run_id), "summary.json"), {
            "job": "predict_drops", "run_id": run_id, "model_version": "v", "drops": results, "pooled_drift": pooled,
            "seconds": 12.0})
    return names


def populate(root: str, versions: int, drops: int, settings: Settings | None = None) -> dict[str, list[str]]:
    settings = settings or load_settings()
    lake = LakeIO(Lake(root, settings.lake), FsspecStore())
    picture = drop_pictures("v", monitoring_of(False, settings.predict.psi_drift),
                            settings.predict.degraded_mse_over_test)["psi.png"]
    return {"versions": write_versions(lake, settings, versions, picture),
            "drops": write_drops(lake, settings, drops)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake_root")
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--drops", type=int, default=200)
    args = parser.parse_args(argv)
    written = populate(args.lake_root, args.versions, args.drops)
    print(f"{len(written['versions'])} model versions and {len(written['drops'])} drops in {args.lake_root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
