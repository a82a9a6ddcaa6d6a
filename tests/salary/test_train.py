"""The pure parts of training: which rows came from drops and how recent they are."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from salary.train import recency

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
