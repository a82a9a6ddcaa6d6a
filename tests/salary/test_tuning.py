"""The search's stopping rule and its choice of the trial to refit (pure; the search itself runs
in the tune_model job tests)."""

from __future__ import annotations

import numpy as np
import pytest

from salary.train import refit_rows_for
from salary.tuning import TargetReached, pick_best, target_stopper


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
    assert refit_rows_for({"reached_target": True, "best_train_rows": 30}, fit, train, False).tolist() == \
        list(range(99, 69, -1))
    assert refit_rows_for({"reached_target": False, "best_train_rows": 100}, fit, train, False) is train
    assert refit_rows_for({"reached_target": False, "best_train_rows": 100}, fit, train, True) is fit
