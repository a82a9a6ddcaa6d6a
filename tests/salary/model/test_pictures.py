"""Pictures are drawn from the numbers a run has, and never fail the run."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from salary.lake import Lake
from salary.lake.fsspec_store import FsspecStore
from salary.model.pictures import drop_pictures, save_pictures, training_pictures

PNG = b"\x89PNG\r\n\x1a\n"


def test_a_training_run_gets_four_pictures_and_a_page():
    rng = np.random.default_rng(1)
    y = rng.normal(60_000, 20_000, 1000)
    pictures = training_pictures(
        "v1", y, y + rng.normal(0, 5000, 1000), rng.integers(18, 81, 1000), np.arange(1000) < 50, 25e6,
        (18, 25, 35, 45, 55, 65, 75), 80,
        [{"train_rows": 100, "mse": 3e7, "history": [[10, 4e7], [100, 3e7]]}, {"train_rows": 10, "mse": 5e7}],
        {"load": 1.0, "search": 5.0}, {"test MSE / noise floor": "1.01"})
    assert set(pictures) == {"predicted_vs_actual.png", "error_by_age_band.png", "trials.png", "stage_timings.png",
                             "index.html"}
    assert all(data.startswith(PNG) for name, data in pictures.items() if name.endswith(".png"))
    page = pictures["index.html"].decode()
    assert '<img src="trials.png"' in page and "test MSE / noise floor" in page


def test_a_drop_gets_psi_distributions_and_live_mse():
    monitoring = {"psi": {"age": 4.8, "is_active": 0.001}, "threshold": 0.25, "drifted": ["age"],
                  "bins": {"age": {"edges": [18, 40, 60, 80], "reference": [0.4, 0.3, 0.3], "drop": [0, 0, 1.0]}},
                  "live": {"mse": 4e7, "mse_over_floor": 1.6, "test_mse_over_floor": 1.0, "rows_with_label": 20}}
    pictures = drop_pictures("d1", monitoring, 1.5)
    assert set(pictures) == {"psi.png", "distributions.png", "live_mse.png", "index.html"}
    assert "drifted features</th><td>age" in pictures["index.html"].decode()
    unlabelled = drop_pictures("d2", {**monitoring, "live": None}, 1.5)
    assert "live_mse.png" not in unlabelled


def test_a_drop_too_small_to_judge_says_so_on_its_page():
    monitoring = {"psi": {"age": 0.4}, "threshold": 0.25, "drifted": [],
                  "note": "100 rows, fewer than the 1,000 drift is judged on: PSI recorded, not judged"}
    page = drop_pictures("d1", monitoring, 1.5)["index.html"].decode()
    assert "drifted features</th><td>none" in page and "fewer than the 1,000 drift is judged on" in page


@pytest.fixture
def lake(tmp_path, settings):
    return Lake(f"file://{tmp_path}", settings.lake)


def test_pictures_land_in_their_folder(lake):
    folder = f"{lake.root}/p"
    assert save_pictures(FsspecStore(), folder, "x", lambda: {"a.png": PNG}) == folder
    assert FsspecStore().read_bytes(f"{folder}/a.png") == PNG


def test_a_failure_to_draw_or_write_is_logged_and_not_raised(lake, caplog):
    def broken():
        raise ValueError("no font")

    class ReadOnly(FsspecStore):
        def write_bytes(self, uri, data):
            raise PermissionError(uri)

    with caplog.at_level(logging.ERROR):
        assert save_pictures(FsspecStore(), f"{lake.root}/p", "drop d", broken) is None
        assert save_pictures(ReadOnly(), f"{lake.root}/q", "drop e", lambda: {"a.png": PNG}) is None
    assert "could not draw the pictures of drop d" in caplog.text and "no font" in caplog.text
    assert "could not write the pictures of drop e" in caplog.text
