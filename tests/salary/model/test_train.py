"""The pure parts of training: which rows came from drops and how recent they are."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from salary.config import Asha, SearchPreset
from salary.model.train import recency

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


def test_recency_halves_every_half_life_and_generated_rows_have_none():
    df = pd.DataFrame({"source": ["generated", "labelled-new", "labelled-old", "labelled-unknown", "labelled-old"]})
    at = {"labelled-new": NOW.isoformat(), "labelled-old": (NOW - dt.timedelta(days=14)).isoformat()}
    assert recency(df, at, NOW, 7).tolist() == pytest.approx([0.0, 1.0, 0.25, 1.0, 0.25])
    assert (recency(df, at, NOW, 7) > 0).tolist() == [False, True, True, True, True]


def test_a_curated_version_without_sources_is_all_generated():
    df = pd.DataFrame({"id": [1, 2]})
    assert not (recency(df, {}, NOW, 7) > 0).any() and recency(df, {}, NOW, 7).tolist() == [0.0, 0.0]
    assert np.all(recency(df, {}, NOW, 7) == 0)


def test_a_curated_version_loads_its_sources_as_a_categorical(tmp_path, settings):
    """One of a few names per row: categorical, not a Python string per row (GBs at 30M)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from salary.lake import MANIFEST, Lake, LakeIO
    from salary.lake.fsspec_store import FsspecStore
    from salary.model.train import load_curated

    lake = Lake(f"file://{tmp_path}", settings.lake)
    folder = tmp_path / lake.curated_version("r1").removeprefix(f"file://{tmp_path}/")
    folder.mkdir(parents=True)
    n = 6
    pq.write_table(pa.table({"id": range(n), "age": [30] * n, "is_active": [True] * n,
                             "signup_date": [dt.date(2020, 1, 1)] * n, "salary": [1.0] * n, "name": ["x"] * n,
                             "source": ["generated"] * 4 + ["labelled-d1"] * 2}), folder / "part-0.parquet")
    (folder / MANIFEST).write_text('{"columns": ["id", "name", "age", "salary", "signup_date", "is_active", "source"]}')
    df, _ = load_curated(LakeIO(lake, FsspecStore()), "r1")
    assert isinstance(df["source"].dtype, pd.CategoricalDtype)
    assert (recency(df, {}, NOW, 7) > 0).tolist() == [False] * 4 + [True] * 2


def test_only_the_rows_a_trial_can_fit_on_go_to_the_search(tmp_path, settings, monkeypatch):
    """The largest ASHA rung bounds what any trial fits on: the fit rows beyond it stay out of the
    object store (at 30M rows, 21M rows of three float64 features and the target)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from salary.lake import MANIFEST, Lake, LakeIO
    from salary.lake.fsspec_store import FsspecStore
    from salary.model import train
    from salary.runtime.job import JobContext, Stages

    lake = Lake(f"file://{tmp_path}", settings.lake)
    folder = tmp_path / lake.curated_version("r1").removeprefix(f"file://{tmp_path}/")
    folder.mkdir(parents=True)
    n = 4_000
    pq.write_table(pa.table({"id": range(n), "age": [30 + i % 40 for i in range(n)],
                             "is_active": [i % 2 == 0 for i in range(n)], "signup_date": [dt.date(2020, 1, 1)] * n,
                             "salary": [float(i) for i in range(n)]}),
                   folder / "part-0.parquet")
    (folder / MANIFEST).write_text('{"columns": ["id", "age", "salary", "signup_date", "is_active"]}')
    small = SearchPreset(name="small", description="", model="hist_gradient_boosting",
                         features=("age", "is_active", "tenure_years"), num_samples=2,
                         asha=Asha(min_rows=100, reduction_factor=2, max_rows=500), space={})
    settings = dataclasses.replace(settings, presets={"small": small})
    given = {}

    class Searched(Exception):
        pass

    def fake_search(preset, data, storage, target_mse=None):
        given["data"] = data
        raise Searched

    monkeypatch.setattr(train, "search", fake_search)
    with pytest.raises(Searched):
        train.tune_and_publish(JobContext(LakeIO(lake, FsspecStore()), settings, "r1", Stages()), "small")
    data = given["data"]
    assert len(data.y_fit) == len(data.X_fit) == 400  # rungs 100, 200, 400 (800 > 500)
    assert len(set(data.y_fit.tolist())) == 400 and len(data.y_val) > 0
