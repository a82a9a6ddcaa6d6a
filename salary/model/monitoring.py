"""Model monitoring: feature distributions of new data against the training reference. Pure.

The reference is stored in each model version's manifest at training time: per feature, the
bin edges (deciles of the training rows; distinct values for a feature with few of them) and
the share of training rows in each bin. A drop's population stability index per feature is

    PSI = sum over bins of (p_drop - p_train) * ln(p_drop / p_train)

with shares clipped at 1e-4 so an empty bin does not make it infinite. Common reading:
< 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

EPSILON = 1e-4


def _bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: interior edges split the line; values beyond the outer edges fall
    into the first or last bin."""
    return np.searchsorted(edges[1:-1], values, side="right")


def reference_bins(X: np.ndarray, names: Sequence[str], bins: int = 10) -> dict[str, Any]:
    """Bin edges and training shares per feature (columns of ``X`` named by ``names``)."""
    out: dict[str, Any] = {}
    for j, name in enumerate(names):
        column = X[:, j]
        distinct = np.unique(column[: 100_000])
        if len(distinct) <= bins:  # a categorical or boolean feature: one bin per value
            mids = (distinct[1:] + distinct[:-1]) / 2
            edges = np.concatenate([[distinct[0]], mids, [distinct[-1]]])
        else:
            edges = np.unique(np.quantile(column, np.linspace(0, 1, bins + 1)))
        counts = np.bincount(_bin_index(column, edges), minlength=len(edges) - 1)
        out[name] = {"edges": edges.tolist(), "shares": (counts / counts.sum()).tolist()}
    return out


def shares(reference: dict[str, Any], X: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Share of the rows ``X`` in each of the reference's bins, per feature it has."""
    out = {}
    for j, name in enumerate(names):
        if name in reference and len(X):
            counts = np.bincount(_bin_index(X[:, j], np.asarray(reference[name]["edges"])),
                                 minlength=len(reference[name]["shares"]))
            out[name] = counts / counts.sum()
    return out


def _psi(expected: Sequence[float], found: np.ndarray) -> float:
    expected_shares = np.clip(np.asarray(expected), EPSILON, None)
    actual = np.clip(found, EPSILON, None)
    return float(np.sum((actual - expected_shares) * np.log(actual / expected_shares)))


def _psi_by_feature(reference: dict[str, Any], found: Mapping[str, np.ndarray]) -> dict[str, float]:
    return {name: _psi(reference[name]["shares"], f) for name, f in found.items()}


def psi(reference: dict[str, Any], X: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """PSI per feature of the rows ``X`` against ``reference`` (features it lacks are skipped)."""
    return _psi_by_feature(reference, shares(reference, X, names))


def _judged(values: Mapping[str, float], rows: int, threshold: float, min_rows: int) -> dict[str, Any]:
    judged = rows >= min_rows
    report: dict[str, Any] = {"psi": values, "threshold": threshold, "rows": rows, "min_rows": min_rows,
                              "judged": judged,
                              "drifted": sorted(name for name, value in values.items() if judged and value > threshold)}
    if not judged:
        report["note"] = f"{rows:,} rows, fewer than the {min_rows:,} drift is judged on: PSI recorded, not judged"
    return report


def drift_report(reference: dict[str, Any] | None, X: np.ndarray, names: Sequence[str],
                 threshold: float, min_rows: int = 0) -> dict[str, Any]:
    """PSI per feature and the features whose PSI exceeds ``threshold``; fewer rows than
    ``min_rows`` are not judged (PSI's sampling noise grows as 1/rows: a small sample of the
    training population itself exceeds a usual threshold by chance), only reported."""
    if not reference:
        return {"psi": {}, "drifted": [], "note": "the model's manifest has no training reference"}
    found = shares(reference, X, names)
    bins = {name: {"edges": reference[name]["edges"], "reference": reference[name]["shares"], "drop": f.tolist()}
            for name, f in found.items()}
    return {**_judged(_psi_by_feature(reference, found), len(X), threshold, min_rows), "bins": bins}


def pooled_drift(reports: Mapping[str, Mapping[str, Any]], threshold: float, min_rows: int) -> dict[str, Any] | None:
    """Drift of several drops taken as one sample: the drops' ``drift_report``s (by drop) that
    were too small to be judged alone, their bin shares summed by rows. Many small drops of a
    shifted population drift together where none could alone. None for fewer than two drops."""
    reports = {drop: r for drop, r in reports.items() if r.get("bins") and r.get("rows")}
    if len(reports) < 2:
        return None
    rows = sum(int(r["rows"]) for r in reports.values())
    features = set.intersection(*(set(r["bins"]) for r in reports.values()))
    values = {}
    for name in sorted(features):
        counts = np.sum([np.asarray(r["bins"][name]["drop"]) * int(r["rows"]) for r in reports.values()], axis=0)
        values[name] = _psi(next(iter(reports.values()))["bins"][name]["reference"], counts / rows)
    return {**_judged(values, rows, threshold, min_rows), "drops": sorted(reports)}


def health_verdict(result: Mapping[str, Any], degraded_mse_over_test: float) -> dict[str, Any] | None:
    """Why a predicted drop says the model is unhealthy, or None when it does not: features
    whose PSI exceeds the threshold (drift), or a live MSE above ``degraded_mse_over_test`` times
    the model's test MSE on the drop's labelled rows (degradation)."""
    drifted = list(result.get("drifted") or [])
    live = result.get("live") or {}
    over_test = None
    if live.get("test_mse_over_floor"):
        over_test = float(live["mse_over_floor"]) / float(live["test_mse_over_floor"])
    reasons = [f"PSI of {name} {result['psi'][name]:.3f} above the threshold" for name in drifted]
    if over_test is not None and over_test > degraded_mse_over_test:
        reasons.append(f"live MSE {live['mse']:,.0f} is {over_test:.2f} x the model's test MSE "
                       f"(limit {degraded_mse_over_test})")
    if not reasons:
        return None
    return {"drop": result["drop"], "model_version": result.get("model_version"), "reasons": reasons,
            "drifted_features": drifted, "psi": result.get("psi") or {}, "live_mse": live.get("mse"),
            "live_mse_over_test": over_test}
