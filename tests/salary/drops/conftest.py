from __future__ import annotations

import pytest

from salary.lake import Lake


@pytest.fixture(params=["file", pytest.param("hdfs", marks=pytest.mark.slow)])
def lake(request, tmp_path, settings) -> Lake:
    if request.param == "file":
        root = f"file://{tmp_path}/lake"
    else:
        root = f"{request.getfixturevalue('hdfs')}/t-{tmp_path.name}"
    return Lake(root, settings.lake)
