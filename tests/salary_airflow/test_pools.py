"""The deployment's pools: the file is checked, a missing pool is created in a real metadata DB,
one an operator changed is left alone."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from salary_airflow.pools import read_pools

REPO = Path(__file__).resolve().parents[2]
POOLS = REPO / "config" / "airflow_pools.json"


def test_the_pools_file_declares_usable_pools():
    pools = read_pools(POOLS)
    assert pools and all(p["slots"] >= 1 for p in pools.values())


@pytest.mark.parametrize(("pool", "error"), [
    ({"slots": 0, "description": "x"}, "slots"),
    ({"slots": True, "description": "x"}, "slots"),
    ({"slots": 2}, "description"),
])
def test_a_pool_that_could_not_run_a_task_is_refused(tmp_path, pool, error):
    path = tmp_path / "pools.json"
    path.write_text(json.dumps({"p": pool}))
    with pytest.raises(ValueError, match=error):
        read_pools(path)


def test_missing_pools_are_created_and_an_operators_change_is_kept(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    db = tmp_path / "home" / "airflow.db"
    name, declared = next(iter(read_pools(POOLS).items()))

    def ensure() -> str:
        return subprocess.run([sys.executable, "-m", "salary_airflow.pools", str(POOLS)], env=env, check=True,
                              capture_output=True, text=True, timeout=120).stdout

    def row() -> tuple[int, str, bool] | None:
        with sqlite3.connect(db) as conn:
            found = conn.execute("select slots, description, include_deferred from slot_pool where pool = ?",
                                 (name,)).fetchone()
        return None if found is None else (found[0], found[1], bool(found[2]))

    assert row() is None
    assert name in ensure()
    assert row() == (declared["slots"], declared["description"], declared.get("include_deferred", False))
    subprocess.run(["airflow", "pools", "set", name, "5", "raised by an operator"], env=env, check=True,
                   capture_output=True, timeout=120)
    assert "all there" in ensure()
    assert row() is not None and row()[0] == 5
