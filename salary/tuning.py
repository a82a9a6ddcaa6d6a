"""Distributed hyperparameter search with Ray Tune over the presets in config/search_spaces.toml.

Trials get the training data through Ray's object store (``tune.with_parameters`` puts it
there once); each trial takes one CPU and single-threaded estimators, so trials, not threads,
share the cluster's cores. The ``default`` preset runs ASHA with training rows as the
resource; the ``paper`` preset is the report's 3-fold grid search.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from salary.model import asha_rungs, build_pipeline, mse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchData:
    """Arrays the trials need; shipped to the object store once."""

    X_fit: np.ndarray
    y_fit: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    # Sample weights (salary.model.sample_weights) of the fit and validation rows; None: equal.
    w_fit: np.ndarray | None = None
    w_val: np.ndarray | None = None

    def fit_weights(self, n: int) -> dict[str, Any]:
        """The fit arguments of a pipeline fitted on the first ``n`` fit rows."""
        return {} if self.w_fit is None else {"model__sample_weight": self.w_fit[:n]}


def param_space(preset: dict[str, Any]) -> dict[str, Any]:
    """The preset's search space as Ray Tune domains."""
    from ray import tune

    if "grid" in preset:
        return {name: tune.grid_search(values) for name, values in preset["grid"].items()}
    space: dict[str, Any] = {}
    for name, spec in preset["space"].items():
        (kind, args), = spec.items()
        if kind == "loguniform":
            space[name] = tune.loguniform(*args)
        elif kind == "uniform":
            space[name] = tune.uniform(*args)
        elif kind == "choice":
            space[name] = tune.choice(args)
        else:
            raise ValueError(f"unknown search domain {kind!r} for {name}")
    return space


def asha_trial(config: dict[str, Any], model: str, rungs: list[int], data: SearchData) -> None:
    """Fit on growing prefixes of the (shuffled) fit rows; report validation MSE at each rung.

    ASHA stops the trial at a rung when it is not among the best 1/reduction_factor there.
    """
    from ray import tune
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        for rows in rungs:
            n = min(rows, len(data.y_fit))
            pipeline = build_pipeline(model, config, threads=1).fit(data.X_fit[:n], data.y_fit[:n],
                                                                      **data.fit_weights(n))
            tune.report({"mse": mse(data.y_val, pipeline.predict(data.X_val), data.w_val), "train_rows": n})
            if n == len(data.y_fit):
                break


def cv_trial(config: dict[str, Any], model: str, folds: int, data: SearchData) -> None:
    """The report's evaluation: k-fold cross-validated MSE on the fit rows (fitted with the
    sample weights when there are any; the folds' MSE is unweighted, as in the report)."""
    from ray import tune
    from sklearn.model_selection import cross_val_score

    scores = cross_val_score(build_pipeline(model, config, threads=1), data.X_fit, data.y_fit,
                             cv=folds, scoring="neg_mean_squared_error", n_jobs=1,
                             params=data.fit_weights(len(data.y_fit)) or None)
    tune.report({"mse": float(-scores.mean()), "train_rows": len(data.y_fit)})


def search(preset_name: str, preset: dict[str, Any], data: SearchData, storage: str,
           max_failures: int = 2) -> dict[str, Any]:
    """Run the search on the connected Ray cluster; return the best config and every trial."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    model = preset["model"]
    if "grid" in preset:
        trainable = tune.with_parameters(cv_trial, model=model, folds=int(preset["cv_folds"]), data=data)
        tune_config = tune.TuneConfig(metric="mse", mode="min", num_samples=1)
    else:
        asha = preset["asha"]
        rungs = asha_rungs(int(asha["min_rows"]), int(asha["reduction_factor"]), int(asha["max_rows"]))
        trainable = tune.with_parameters(asha_trial, model=model, rungs=rungs, data=data)
        scheduler = ASHAScheduler(time_attr="train_rows", max_t=rungs[-1], grace_period=rungs[0],
                                  reduction_factor=int(asha["reduction_factor"]))
        tune_config = tune.TuneConfig(metric="mse", mode="min", num_samples=int(preset["num_samples"]),
                                      scheduler=scheduler)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space=param_space(preset),
        tune_config=tune_config,
        run_config=tune.RunConfig(
            name=f"salary-{preset_name}",
            storage_path=storage,
            failure_config=tune.FailureConfig(max_failures=max_failures),
            verbose=1,
        ),
    )
    results = tuner.fit()
    if results.errors:
        # A trial that still fails after its retries fails the search: never silently dropped.
        raise RuntimeError(f"{len(results.errors)} trial(s) failed after {max_failures} retries: {results.errors[0]}")
    trials = []
    for r in (results[i] for i in range(len(results))):
        metrics = r.metrics or {}
        frame = r.metrics_dataframe
        history = ([] if frame is None or "train_rows" not in frame else
                   [[int(n), float(v)] for n, v in zip(frame["train_rows"], frame["mse"], strict=True)])
        trials.append({"config": r.config, "mse": metrics["mse"], "train_rows": metrics["train_rows"],
                       "iterations": metrics.get("training_iteration"), "node_ip": metrics.get("node_ip"),
                       "history": history})
    # Compare trials at the largest budget reached: an early-stopped trial's MSE is on fewer rows.
    top_rows = max(t["train_rows"] for t in trials)
    best = min((t for t in trials if t["train_rows"] == top_rows), key=lambda t: t["mse"])
    log.info("best of %d trials at %d rows: mse %.0f with %s", len(trials), top_rows, best["mse"], best["config"])
    return {"best_config": best["config"], "best_validation_mse": best["mse"], "trials": trials}
