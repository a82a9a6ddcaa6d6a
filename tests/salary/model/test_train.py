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


def test_beyond_max_rows_every_labelled_row_and_a_stable_sample_of_the_rest_is_loaded(tmp_path, settings):
    """At 300M rows the tuning job holds max_rows_in_memory of them, read a batch at a time: the
    same ids on every run, every labelled row, each split part keeping its share."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from salary.lake import MANIFEST, Lake, LakeIO
    from salary.lake.fsspec_store import FsspecStore
    from salary.model.features import split
    from salary.model.train import load_curated

    lake = Lake(f"file://{tmp_path}", settings.lake)
    folder = tmp_path / lake.curated_version("r1").removeprefix(f"file://{tmp_path}/")
    folder.mkdir(parents=True)
    n, labelled = 200_000, 50
    for part in range(2):  # two files, each in several row groups
        ids = np.arange(part * n // 2, (part + 1) * n // 2)
        pq.write_table(pa.table({"id": ids, "age": (ids % 60 + 18).astype(np.int32), "is_active": ids % 2 == 0,
                                 "signup_date": pa.array([dt.date(2020, 1, 1)] * len(ids)),
                                 "salary": ids.astype(np.float64),
                                 "source": ["generated"] * (len(ids) - labelled) + ["labelled-d1"] * labelled}),
                       folder / f"part-{part}.parquet", row_group_size=30_000)
    (folder / MANIFEST).write_text('{"columns": ["id", "age", "salary", "signup_date", "is_active", "source"], '
                                   f'"rows": {n}}}')
    io = LakeIO(lake, FsspecStore())
    df, manifest = load_curated(io, "r1", max_rows=20_000)
    again, _ = load_curated(io, "r1", max_rows=20_000)
    assert manifest["rows"] == n and 18_000 < len(df) < 22_000 + 2 * labelled
    assert df["id"].tolist() == again["id"].tolist()
    assert (df["source"] == "labelled-d1").sum() == 2 * labelled
    assert str(df["signup_date"].dtype).startswith("datetime64")  # not a Python date object per row
    parts = split(df["id"].to_numpy(), 20, 5)
    assert 0.18 < parts.test.mean() < 0.22 and 0.04 < parts.validation.mean() < 0.06
    whole, _ = load_curated(io, "r1", max_rows=n)
    assert len(whole) == n and whole["id"].tolist() == list(range(n))


def _curated_version(tmp_path, settings, n: int):
    """A lake under ``tmp_path`` with run r1's curated version of ``n`` rows (salary = id)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from salary.lake import MANIFEST, Lake

    lake = Lake(f"file://{tmp_path}", settings.lake)
    folder = tmp_path / lake.curated_version("r1").removeprefix(f"file://{tmp_path}/")
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"id": range(n), "age": [30 + i % 40 for i in range(n)],
                             "is_active": [i % 2 == 0 for i in range(n)], "signup_date": [dt.date(2020, 1, 1)] * n,
                             "salary": [float(i) for i in range(n)]}),
                   folder / "part-0.parquet")
    (folder / MANIFEST).write_text(json.dumps({"columns": ["id", "age", "salary", "signup_date", "is_active"],
                                               "rows": n}))
    return lake


def test_only_the_rows_a_trial_can_fit_on_go_to_the_search(tmp_path, settings, monkeypatch):
    """The largest ASHA rung bounds what any trial fits on: the fit rows beyond it stay out of the
    object store (at 30M rows, 21M rows of three float64 features and the target)."""
    from salary.lake import LakeIO
    from salary.lake.fsspec_store import FsspecStore
    from salary.model import train
    from salary.runtime.job import JobContext, Stages

    lake = _curated_version(tmp_path, settings, 4_000)
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


def test_training_data_keeps_only_the_test_rows_of_the_loaded_frame_in_step_with_the_targets(tmp_path, settings):
    """The frame is freed before the search and the refit except its test rows, on which the
    champion is scored: they must be the very rows (in the same order) the candidate's test
    targets come from, or the promotion gate compares two different test sets."""
    from salary.lake import LakeIO
    from salary.lake.fsspec_store import FsspecStore
    from salary.model.train import load_training_data

    n = 2_000
    lake = _curated_version(tmp_path, settings, n)
    data = load_training_data(LakeIO(lake, FsspecStore()), settings, "r1", ("age",))
    assert data.rows_loaded == data.curated_rows == n
    assert len(data.test_frame) == int(data.parts.test.sum()) < n // 3
    assert data.test_frame["salary"].tolist() == data.y[data.parts.test].tolist()
    assert data.test_frame["age"].tolist() == data.X[data.parts.test, 0].tolist()
