"""Pictures people would rather look at than read: one page per training run (under the model
version) and one per predicted drop (under its predictions), PNGs plus an index.html.

Drawing is never part of what a run must do: ``draw`` and ``save_pictures`` log a failure and carry on.
matplotlib (Agg backend, no display).
"""

from __future__ import annotations

import html
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from salary.lake import Store, join

log = logging.getLogger(__name__)

PICTURES = "_pictures"  # hidden from Spark and Hadoop readers of the folder it sits in
Pictures = dict[str, bytes]  # file name -> content (PNGs and index.html)


def draw(what: str, drawing: Callable[..., Pictures], *args: Any, **kwargs: Any) -> Pictures:
    """``drawing(*args, **kwargs)``, or no pictures (logged) when it fails."""
    try:
        return drawing(*args, **kwargs)
    except Exception:  # noqa: BLE001 - a picture must never fail the run it shows
        log.exception("could not draw the pictures of %s (the run itself is not affected)", what)
        return {}


def save_pictures(store: Store, folder: str, what: str, drawing: Callable[..., Pictures], *args: Any,
                  **kwargs: Any) -> str | None:
    """Draw and write the pictures of ``what`` to ``folder`` (each file atomically); returns the
    folder, or None (logged) when drawing or writing failed."""
    pictures = draw(what, drawing, *args, **kwargs)
    if not pictures:
        return None
    try:
        for name, data in pictures.items():
            store.write_atomic(join(folder, name), data)
    except Exception:  # noqa: BLE001
        log.exception("could not write the pictures of %s to %s (the run itself is not affected)", what, folder)
        return None
    log.info("pictures of %s: %s/index.html", what, folder)
    return folder


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    _pyplot().close(fig)
    return buf.getvalue()


def page(title: str, facts: Mapping[str, Any], pictures: Sequence[str]) -> bytes:
    """An HTML page with the key numbers and the pictures (relative links: the page sits next to them)."""
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    images = "".join(f'<p><img src="{html.escape(p)}" alt="{html.escape(p)}"></p>' for p in pictures)
    return (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><table>{rows}</table>{images}\n").encode()


def training_pictures(version: str, y_test: np.ndarray, y_pred: np.ndarray, age_test: np.ndarray,
                      labelled_test: np.ndarray, floor_mse: float, band_starts: Sequence[int], age_max: int,
                      trials: Sequence[Mapping[str, Any]], stage_seconds: Mapping[str, float],
                      facts: Mapping[str, Any]) -> Pictures:
    """Predicted vs actual on the test split, error by age band, the trials, the stage timings."""
    plt = _pyplot()
    out: Pictures = {}

    fig, ax = plt.subplots(figsize=(6, 5))
    sample = np.random.default_rng(0).permutation(len(y_test))[:20_000]
    kinds = ((~labelled_test, "generated", "tab:blue"), (labelled_test, "labelled drops", "tab:red"))
    for mask, label, colour in kinds:
        rows = sample[mask[sample]]
        if len(rows):
            ax.scatter(y_test[rows], y_pred[rows], s=2, alpha=0.3, color=colour, label=f"{label} ({mask.sum():,})")
    lo, hi = float(np.min(y_test)), float(np.max(y_test))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="perfect")
    ax.set(xlabel="actual salary", ylabel="predicted salary", title="Test split: predicted vs actual")
    ax.legend(loc="upper left", markerscale=5)
    out["predicted_vs_actual.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    edges = [*band_starts, age_max + 1]
    labels = [f"{low}-{high - 1}" for low, high in zip(edges[:-1], edges[1:], strict=True)]
    groups = [(~labelled_test, "generated rows", "tab:blue")]
    if labelled_test.any():  # the drops' world next to the generated one: where the model moved
        groups.append((labelled_test, "labelled-drop rows", "tab:red"))
    width = 0.8 / len(groups)
    for k, (rows, label, colour) in enumerate(groups):
        ratios, counts = [], []
        for low, high in zip(edges[:-1], edges[1:], strict=True):
            band = rows & (age_test >= low) & (age_test < high)
            ratios.append(float(np.mean((y_test[band] - y_pred[band]) ** 2)) / floor_mse if band.any() else 0.0)
            counts.append(int(band.sum()))
        x = np.arange(len(labels)) + (k - (len(groups) - 1) / 2) * width
        bars = ax.bar(x, ratios, width=width, color=colour, label=label)
        ax.bar_label(bars, labels=[f"{c:,}" if c else "" for c in counts], fontsize=6)
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="noise floor")
    ax.set(xlabel="age band (test rows above bars)", ylabel="MSE / noise floor", title="Error by age band")
    ax.legend(fontsize=8)
    out["error_by_age_band.png"] = _png(fig)

    if trials:
        fig, ax = plt.subplots(figsize=(6, 4))
        for t in trials:
            history = t.get("history") or [[t["train_rows"], t["mse"]]]
            rows_seen, mses = zip(*history, strict=True)
            ax.plot(rows_seen, np.asarray(mses) / floor_mse, marker="o", markersize=3, linewidth=1, alpha=0.7)
        ax.set(xscale="log", xlabel="training rows (ASHA rung)", ylabel="validation MSE / noise floor",
               title=f"{len(trials)} trials: stopped early or promoted")
        out["trials.png"] = _png(fig)

    if stage_seconds:
        fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(stage_seconds)))
        names = list(stage_seconds)
        ax.barh(names, [stage_seconds[n] for n in names], color="tab:green")
        ax.invert_yaxis()
        ax.set(xlabel="seconds", title="tune_model stages")
        out["stage_timings.png"] = _png(fig)

    out["index.html"] = page(f"Model {version}", facts, [n for n in out if n.endswith(".png")])
    return out


def drop_pictures(drop: str, monitoring: Mapping[str, Any], degraded_mse_over_test: float) -> Pictures:
    """PSI per feature against the threshold, the drop's distributions over the training ones,
    and the live MSE over the noise floor (when the drop carried the salary)."""
    plt = _pyplot()
    out: Pictures = {}
    psi = monitoring.get("psi") or {}
    if psi:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        threshold = float(monitoring["threshold"])
        names = list(psi)
        drifted = set(monitoring.get("drifted") or [])
        ax.bar(names, [psi[n] for n in names], color=["tab:red" if n in drifted else "tab:blue" for n in names])
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"drift threshold {threshold}")
        ax.set(ylabel="PSI vs the training data", title=f"{drop}: population stability per feature")
        ax.legend()
        out["psi.png"] = _png(fig)

    bins = {k: v for k, v in (monitoring.get("bins") or {}).items() if k in ("age", "tenure_years")}
    if bins:
        fig, axes = plt.subplots(1, len(bins), figsize=(5 * len(bins), 3.5), squeeze=False)
        for ax, (name, b) in zip(axes[0], bins.items(), strict=True):
            edges = b["edges"]
            labels = [f"{lo:.0f}-{hi:.0f}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
            x = np.arange(len(labels))
            ax.bar(x - 0.2, b["reference"], width=0.4, label="training", color="tab:gray")
            ax.bar(x + 0.2, b["drop"], width=0.4, label=drop, color="tab:orange")
            ax.set_xticks(x, labels, rotation=45, fontsize=7)
            ax.set(title=f"{name} (training deciles)", ylabel="share of rows")
            ax.legend(fontsize=7)
        out["distributions.png"] = _png(fig)

    live = monitoring.get("live") or {}
    if live.get("mse_over_floor") is not None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        test = live.get("test_mse_over_floor")
        values = {"this drop": float(live["mse_over_floor"])}
        if test:
            values["model's test split"] = float(test)
            ax.axhline(float(test) * degraded_mse_over_test, color="tab:red", linestyle="--", linewidth=1,
                       label=f"degraded above {degraded_mse_over_test} x test")
        ax.bar(list(values), list(values.values()), color=["tab:orange", "tab:gray"][: len(values)])
        ax.axhline(1.0, color="black", linestyle=":", linewidth=1, label="noise floor")
        ax.set(ylabel="MSE / noise floor", title=f"{drop}: live MSE ({live['rows_with_label']:,} labelled rows)")
        ax.legend(fontsize=7)
        out["live_mse.png"] = _png(fig)

    facts = {"drop": drop, "drifted features": ", ".join(monitoring.get("drifted") or []) or "none",
             **{f"PSI {k}": f"{v:.4f}" for k, v in psi.items()}}
    if monitoring.get("note"):
        facts["drift"] = monitoring["note"]
    if live:
        facts["live MSE / noise floor"] = f"{live['mse_over_floor']:.3f}"
    out["index.html"] = page(f"Drop {drop}", facts, [n for n in out if n.endswith(".png")])
    return out
