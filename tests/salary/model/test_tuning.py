"""The search's stopping rule and its choice of the trial to refit (pure; the search itself runs
in the tune_model job tests)."""

from __future__ import annotations

import numpy as np
import pytest

from salary.config import Asha, SearchPreset
from salary.model.train import refit_rows_for
from salary.model.tuning import TargetReached, pick_best, target_stopper


def trial(rows: int, mse: float, name: str = "") -> dict:
    return {"config": {"name": name}, "train_rows": rows, "mse": mse}


def test_the_search_ends_once_any_trial_reaches_the_target():
    stopper = TargetReached(100.0)
    assert stopper("a", {"mse": 150.0, "train_rows": 50}) is False and not stopper.stop_all()
    assert stopper("b", {"train_rows": 50}) is False and not stopper.stop_all()  # no MSE yet
    assert stopper("c", {"mse": 100.0, "train_rows": 200}) is False  # never stops one trial alone
    assert stopper.stop_all()


def test_the_stopper_is_one_ray_tune_calls_stop_all_on():
    from ray import tune

    stopper = target_stopper(5.0)
    assert isinstance(stopper, tune.Stopper)
    stopper("a", {"mse": 4.0})
    assert stopper.stop_all()


def test_of_the_trials_that_reached_the_target_the_one_on_fewest_rows_wins():
    trials = [trial(800, 90.0, "big"), trial(200, 99.0, "small-worse"), trial(200, 98.0, "small"),
              trial(50, 130.0, "tiny")]
    assert pick_best(trials, 100.0)["config"]["name"] == "small"


@pytest.mark.parametrize("target", [None, 10.0])
def test_without_a_reached_target_the_best_at_the_largest_budget_wins(target):
    trials = [trial(800, 90.0, "big-worse"), trial(800, 80.0, "big"), trial(50, 20.0, "tiny-lucky")]
    assert pick_best(trials, target)["config"]["name"] == "big"  # tiny-lucky's 20 is on 50 rows


def test_refit_rows_are_the_rows_that_reached_the_target_or_else_the_training_split():
    fit, train = np.arange(100)[::-1], np.arange(120)
    assert refit_rows_for({"reached_target": True, "best_train_rows": 30}, fit, train, False, 120).tolist() == \
        list(range(99, 69, -1))
    assert refit_rows_for({"reached_target": False, "best_train_rows": 100}, fit, train, False, 120) is train
    assert refit_rows_for({"reached_target": False, "best_train_rows": 100}, fit, train, True, 120) is fit


def test_a_refit_on_the_training_split_holds_at_most_refit_max_rows_of_the_shuffled_fit_rows():
    """At 300M rows the fallback refit on all 22.5M training rows of the sample made the peak
    (9.96 GB): beyond the cap it fits on a prefix of the shuffled fit rows, a random sample."""
    fit, train = np.random.default_rng(0).permutation(100), np.arange(120)
    rows = refit_rows_for({"reached_target": False, "best_train_rows": 100}, fit, train, False, 40)
    assert rows.tolist() == fit[:40].tolist()
    # A search that reached its target keeps its rows, even past the cap: no refit then.
    assert len(refit_rows_for({"reached_target": True, "best_train_rows": 60}, fit, train, False, 40)) == 60


@pytest.mark.slow
def test_the_search_ends_at_the_rung_that_reaches_the_target_and_hands_back_that_model(ray_gcs_address, tmp_path):
    """A real Ray Tune search (on the test's Ray head): an easy target is reached on the first
    rung, the search ends there, and the model that reached it comes back ready to predict."""
    import ray

    from salary.model.tuning import SearchData, load_model, search

    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, size=(60_000, 1))
    y = 10 * X[:, 0] + rng.normal(0, 1, size=len(X))  # noise floor: 1
    data = SearchData(X[:50_000], y[:50_000], X[50_000:], y[50_000:])
    preset = SearchPreset(
        name="easy", description="", model="hist_gradient_boosting", features=("x",), num_samples=4,
        asha=Asha(min_rows=1_000, reduction_factor=4, max_rows=50_000),
        space={"learning_rate": {"uniform": [0.1, 0.3]}, "max_leaf_nodes": {"choice": [15]},
               "min_samples_leaf": {"choice": [20]}, "max_iter": {"choice": [100]},
               "l2_regularization": {"uniform": [0.0, 0.1]}})
    ray.init(address=ray_gcs_address)
    try:
        result = search(preset, data, str(tmp_path), target_mse=1.5)
    finally:
        ray.shutdown()
    assert result["reached_target"] and result["best_train_rows"] == 1_000
    assert all(t["train_rows"] == 1_000 for t in result["trials"])  # no trial went past the first rung
    assert not any("model_zlib_pickle" in t for t in result["trials"])  # the model is not kept in the record
    model = load_model(result["best_model"])
    assert np.mean((model.predict(data.X_val) - data.y_val) ** 2) == pytest.approx(result["best_validation_mse"])


def test_an_asha_search_needs_the_fit_rows_up_to_its_largest_rung_and_a_grid_all(settings):
    from salary.model.tuning import search_rows

    asha = settings.preset("default").asha
    largest = search_rows(settings.preset("default"))
    assert largest is not None and largest <= asha.max_rows < largest * asha.reduction_factor
    assert search_rows(settings.preset("paper")) is None
