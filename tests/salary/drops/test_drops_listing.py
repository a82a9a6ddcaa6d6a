"""Which entries of drops/incoming/ are drops."""

from __future__ import annotations

import pytest

from salary.drops.listing import IGNORED, PENDING, READY, complete_drops, drop_state, list_complete
from salary.lake import join
from tests.helpers import STORE, drop_table, put


@pytest.mark.parametrize(("name", "is_dir", "children", "state"), [
    ("a.parquet", False, (), READY),
    ("a.parquet._COPYING_", False, (), IGNORED),
    (".hidden", False, (), IGNORED),
    ("_tmp", True, ("_SUCCESS",), IGNORED),
    ("batch", True, ("part-0.parquet",), PENDING),
    ("batch", True, ("part-0.parquet", "_SUCCESS"), READY),
])
def test_drop_state(name, is_dir, children, state):
    assert drop_state(name, is_dir, children) == state


def test_complete_drops_sorted():
    assert complete_drops({"b.parquet": None, "a": ["_SUCCESS"], "c": ["x"], "d.tmp": None}) == ["a", "b.parquet"]


def test_list_complete_on_lake(lake):
    put(join(lake.incoming, "one.parquet"), drop_table(3))
    put(join(lake.incoming, "two", "part-0.parquet"), drop_table(3))  # no _SUCCESS yet
    put(join(lake.incoming, "three.parquet._COPYING_"), drop_table(3))
    assert list_complete(lake.incoming) == ["one.parquet"]
    STORE.write_atomic(join(lake.incoming, "two", "_SUCCESS"), b"")
    assert list_complete(lake.incoming) == ["one.parquet", "two"]
