from __future__ import annotations

import numpy as np
import pytest

from salary.model.monitoring import drift_report, health_verdict, pooled_drift, psi, reference_bins

NAMES = ("age", "is_active", "tenure_years")


def sample(n: int, seed: int, age_shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.integers(18, 81, n) + age_shift, rng.random(n) < 0.6, rng.random(n) * 10])


def test_same_distribution_is_stable():
    reference = reference_bins(sample(200_000, 1), NAMES)
    values = psi(reference, sample(50_000, 2), NAMES)
    assert set(values) == set(NAMES) and max(values.values()) < 0.01


def test_shifted_feature_is_flagged_alone():
    reference = reference_bins(sample(200_000, 1), NAMES)
    report = drift_report(reference, sample(50_000, 2, age_shift=15), NAMES, threshold=0.25)
    assert report["drifted"] == ["age"] and report["psi"]["age"] > 0.25


def test_a_sample_too_small_to_judge_is_reported_not_flagged():
    reference = reference_bins(sample(200_000, 1), NAMES)
    small = drift_report(reference, sample(100, 2, age_shift=15), NAMES, threshold=0.25, min_rows=1000)
    assert small["drifted"] == [] and small["psi"]["age"] > 0.25 and small["note"].startswith("100 rows")
    enough = drift_report(reference, sample(1000, 2, age_shift=15), NAMES, threshold=0.25, min_rows=1000)
    assert enough["drifted"] == ["age"] and "note" not in enough


def test_the_configured_minimum_keeps_chance_far_below_the_threshold(settings):
    """Samples of the reference population itself, at the configured minimum size: their PSI
    stays under half the threshold (at 100 rows, 1.7% of them exceed it)."""
    p = settings.predict
    reference = reference_bins(sample(200_000, 1), NAMES, p.psi_bins)
    worst = max(max(psi(reference, sample(p.psi_min_rows, seed), NAMES).values()) for seed in range(2, 202))
    assert worst < p.psi_drift / 2


def test_small_samples_pooled_are_judged_as_the_sample_of_all_their_rows():
    """Twenty samples of 50-145 rows of a shifted population: none is judged alone; pooled, their
    PSI is exactly that of their 1,950 rows together, and age drifted. Twenty of the reference's
    own population pooled do not drift."""
    reference = reference_bins(sample(200_000, 1), NAMES)
    shifted = [sample(50 + 5 * i, seed, age_shift=15) for i, seed in enumerate(range(2, 22))]
    reports = {f"d{i}": drift_report(reference, X, NAMES, 0.25, min_rows=1000) for i, X in enumerate(shifted)}
    assert not any(r["judged"] or r["drifted"] for r in reports.values())
    pooled = pooled_drift(reports, 0.25, min_rows=1000)
    together = drift_report(reference, np.concatenate(shifted), NAMES, 0.25, min_rows=1000)
    assert pooled["psi"] == pytest.approx(together["psi"]) and pooled["rows"] == 1950 and pooled["judged"]
    assert pooled["drifted"] == ["age"] and pooled["drops"] == sorted(reports)
    same = {f"s{seed}": drift_report(reference, sample(100, seed), NAMES, 0.25, 1000) for seed in range(30, 50)}
    assert pooled_drift(same, 0.25, 1000)["drifted"] == []


def test_a_pool_is_judged_only_with_enough_rows_and_two_drops():
    reference = reference_bins(sample(200_000, 1), NAMES)
    reports = {f"d{seed}": drift_report(reference, sample(100, seed, 15), NAMES, 0.25, 1000) for seed in (2, 3)}
    few = pooled_drift(reports, 0.25, min_rows=1000)
    assert few["judged"] is False and few["drifted"] == [] and few["note"].startswith("200 rows")
    assert pooled_drift({"d2": reports["d2"]}, 0.25, 1000) is None
    assert pooled_drift({**reports, "empty": drift_report(reference, sample(0, 4), NAMES, 0.25, 1000)},
                        0.25, 1000)["drops"] == ["d2", "d3"]
    assert pooled_drift({"a": drift_report(None, sample(10, 1), NAMES, 0.25), "b": reports["d2"]}, 0.25, 1000) is None


def test_boolean_feature_gets_one_bin_per_value():
    reference = reference_bins(sample(10_000, 1), NAMES)
    assert len(reference["is_active"]["shares"]) == 2
    assert reference["is_active"]["shares"][1] == pytest.approx(0.6, abs=0.02)
    all_active = sample(1000, 3)
    all_active[:, 1] = 1
    assert psi(reference, all_active, NAMES)["is_active"] > 1


def test_no_reference_is_reported_not_guessed():
    report = drift_report(None, sample(10, 1), NAMES, threshold=0.25)
    assert report["psi"] == {} and "no training reference" in report["note"]


def result(drifted=(), mse_over_floor=None, test_over_floor=1.01):
    live = None if mse_over_floor is None else {"mse": mse_over_floor * 25e6, "mse_over_floor": mse_over_floor,
                                                 "test_mse_over_floor": test_over_floor}
    return {"drop": "d", "model_version": "v1", "drifted": list(drifted), "live": live,
            "psi": {"age": 0.9 if "age" in drifted else 0.01, "tenure_years": 0.02}}


def test_a_healthy_drop_is_no_event():
    assert health_verdict(result(), 1.5) is None
    assert health_verdict(result(mse_over_floor=1.2), 1.5) is None  # 1.19 x the test MSE: within the limit


def test_drift_is_reported_with_the_psi_of_each_feature():
    verdict = health_verdict(result(drifted=["age"]), 1.5)
    assert verdict["drop"] == "d" and verdict["drifted_features"] == ["age"]
    assert verdict["psi"] == {"age": 0.9, "tenure_years": 0.02} and verdict["live_mse"] is None
    assert verdict["reasons"] == ["PSI of age 0.900 above the threshold"]


def test_a_live_mse_above_the_limit_is_degradation_even_without_drift():
    verdict = health_verdict(result(mse_over_floor=2.02, test_over_floor=1.01), 1.5)
    assert verdict["live_mse_over_test"] == pytest.approx(2.0) and verdict["drifted_features"] == []
    assert "2.00 x the model's test MSE" in verdict["reasons"][0]
