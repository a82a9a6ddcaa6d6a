"""Distributed hyperparameter search with Ray Tune over the presets in config/search_spaces.toml.

Trials get the training data through Ray's object store (``tune.with_parameters`` puts it
there once); each trial takes one CPU and single-threaded estimators, so trials, not threads,
share the cluster's cores. The ``default`` preset runs ASHA with training rows as the
resource; the ``paper`` preset is the report's 3-fold grid search.
"""

from __future__ import annotations

import logging
import pickle
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from salary.config import Asha, SearchPreset
from salary.model.features import asha_rungs, build_pipeline, mse
from salary.model.table import tabulate

log = logging.getLogger(__name__)


MODEL = "model_zlib_pickle"  # the result key of a trial's fitted model (the one that reached the target)


def dump_model(pipeline: Any) -> bytes:
    return zlib.compress(pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL), 1)


def load_model(blob: bytes) -> Any:
    return pickle.loads(zlib.decompress(blob))  # noqa: S301 - our own trial's model, through Ray


@dataclass(frozen=True)
class SearchData:
    """Arrays the trials need; shipped to the object store once."""

    X_fit: np.ndarray
    y_fit: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    # Sample weights (salary.model.features.sample_weights) of the fit and validation rows; None: equal.
    w_fit: np.ndarray | None = None
    w_val: np.ndarray | None = None

    def fit_weights(self, n: int) -> dict[str, Any]:
        """The fit arguments of a pipeline fitted on the first ``n`` fit rows."""
        return {} if self.w_fit is None else {"model__sample_weight": self.w_fit[:n]}


def search_rows(preset: SearchPreset) -> int | None:
    """The most fit rows any trial of an ASHA preset fits on (its largest rung); None for a
    preset whose trials use all the rows they are given. Only that prefix of the fit rows needs
    to travel to the object store."""
    return preset_rungs(preset.asha)[-1] if preset.asha else None


def preset_rungs(asha: Asha) -> list[int]:
    """The training-row budgets of a preset's ASHA rungs."""
    return asha_rungs(asha.min_rows, asha.reduction_factor, asha.max_rows)


def param_space(preset: SearchPreset) -> dict[str, Any]:
    """The preset's search space as Ray Tune domains."""
    from ray import tune

    if preset.grid is not None:
        return {name: tune.grid_search(list(values)) for name, values in preset.grid.items()}
    space: dict[str, Any] = {}
    for name, spec in (preset.space or {}).items():
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


def asha_trial(config: dict[str, Any], model: str, rungs: list[int], data: SearchData,
               target_mse: float | None = None) -> None:
    """Fit on growing prefixes of the (shuffled) fit rows; report validation MSE at each rung.

    ASHA stops the trial at a rung when it is not among the best 1/reduction_factor there; the
    trial stops itself at the first rung whose MSE reaches ``target_mse``.
    """
    from ray import tune
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        for rows in rungs:
            n = min(rows, len(data.y_fit))
            pipeline = build_pipeline(model, config, threads=1).fit(data.X_fit[:n], data.y_fit[:n],
                                                                      **data.fit_weights(n))
            score = mse(data.y_val, tabulate(pipeline).predict(data.X_val), data.w_val)
            reached = target_mse is not None and score <= target_mse
            # The model that reaches the target is the one the job publishes: it travels with
            # the result (through Ray, from whichever node), so nothing is fitted twice.
            tune.report({"mse": score, "train_rows": n, **({MODEL: dump_model(pipeline)} if reached else {})})
            if n == len(data.y_fit) or reached:
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


class TargetReached:
    """A Ray Tune stopper (``tune.Stopper``'s interface): ends the whole search once any trial
    reports an MSE at or below ``target_mse``; no trial is stopped for any other reason."""

    def __init__(self, target_mse: float) -> None:
        self.target_mse = target_mse
        self.reached = False

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if result.get("mse", float("inf")) <= self.target_mse:
            self.reached = True
        return False

    def stop_all(self) -> bool:
        return self.reached


def target_stopper(target_mse: float) -> Any:
    """``TargetReached`` as a ``tune.Stopper`` (Ray Tune calls ``stop_all`` only on those)."""
    from ray import tune

    class _TargetReached(TargetReached, tune.Stopper):
        pass

    return _TargetReached(target_mse)


def pick_best(trials: list[dict[str, Any]], target_mse: float | None) -> dict[str, Any]:
    """The trial to refit: of those that reached the target, the one on the fewest rows (then
    the lowest MSE); if none did, the lowest MSE at the largest budget reached (an early-stopped
    trial's MSE is on fewer rows, not comparable)."""
    reached = [t for t in trials if target_mse is not None and t["mse"] <= target_mse]
    if reached:
        return min(reached, key=lambda t: (t["train_rows"], t["mse"]))
    top_rows = max(t["train_rows"] for t in trials)
    return min((t for t in trials if t["train_rows"] == top_rows), key=lambda t: t["mse"])


def search(preset: SearchPreset, data: SearchData, storage: str,
           max_failures: int = 2, target_mse: float | None = None) -> dict[str, Any]:
    """Run the search on the connected Ray cluster; return the best config and every trial.

    With ``target_mse`` (ASHA presets), the search ends as soon as a trial reaches it, and
    ``reached_target`` says whether one did.
    """
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    if preset.asha is None:
        trainable = tune.with_parameters(cv_trial, model=preset.model, folds=preset.cv_folds, data=data)
        tune_config = tune.TuneConfig(metric="mse", mode="min", num_samples=1)
        target_mse = None
    else:
        rungs = preset_rungs(preset.asha)
        trainable = tune.with_parameters(asha_trial, model=preset.model, rungs=rungs, data=data,
                                         target_mse=target_mse)
        scheduler = ASHAScheduler(time_attr="train_rows", max_t=rungs[-1], grace_period=rungs[0],
                                  reduction_factor=preset.asha.reduction_factor)
        # Seeded: the same candidates on every run (comparable runs; the benchmark's baseline
        # searches the same ones).
        # A fresh worker process per trial (Ray's default): reusing them (reuse_actors) made the
        # search 3 x faster at 20,000 rows, but short trials then all ran in the first process
        # to start, on one node of the cluster (docs/benchmarks.md, "Tuning").
        tune_config = tune.TuneConfig(metric="mse", mode="min", num_samples=preset.num_samples,
                                      scheduler=scheduler, search_alg=BasicVariantGenerator(random_state=0))
    # The arrays are in the object store now: this process's copy can go (the caller builds
    # ``data`` in the call, so this was its last reference).
    del data
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space=param_space(preset),
        tune_config=tune_config,
        run_config=tune.RunConfig(
            name=f"salary-{preset.name}",
            storage_path=storage,
            failure_config=tune.FailureConfig(max_failures=max_failures),
            stop=None if target_mse is None else target_stopper(target_mse),
            verbose=1,
        ),
    )
    results = tuner.fit()
    if results.num_errors:
        # A trial that still fails after its retries fails the search: never silently dropped.
        # (num_errors counts failed trials only; ``errors`` also lists the trials the target
        # stopper ended before they started, which have no results to read.)
        failed = f"{results.num_errors} trial(s) failed after {max_failures} retries: {results.errors}"
        raise RuntimeError(failed[:3000])
    trials = []
    for r in (results[i] for i in range(len(results))):
        metrics = r.metrics or {}
        if "mse" not in metrics:  # ended by the target stopper before its first rung
            continue
        frame = r.metrics_dataframe
        history = ([] if frame is None or "train_rows" not in frame else
                   [[int(n), float(v)] for n, v in zip(frame["train_rows"], frame["mse"], strict=True)])
        trials.append({"config": r.config, "mse": metrics["mse"], "train_rows": metrics["train_rows"],
                       "iterations": metrics.get("training_iteration"), "node_ip": metrics.get("node_ip"),
                       "history": history, **({MODEL: metrics[MODEL]} if MODEL in metrics else {})})
    log.info("%d of %d trials reported before the search ended", len(trials), len(results))
    best = pick_best(trials, target_mse)
    reached = target_mse is not None and best["mse"] <= target_mse
    log.info("best of %d trials at %d rows: mse %.0f with %s (%s)", len(trials), best["train_rows"], best["mse"],
             best["config"], "target reached" if reached else "target not reached" if target_mse else "no target")
    model = best.pop(MODEL, None) if reached else None
    for trial in trials:
        trial.pop(MODEL, None)
    return {"best_config": best["config"], "best_validation_mse": best["mse"], "best_train_rows": best["train_rows"],
            "reached_target": reached, "best_model": model, "trials": trials}
