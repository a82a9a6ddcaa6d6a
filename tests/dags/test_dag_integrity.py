"""Every DAG in dags/: imports cleanly, light to parse, and carries the usual policy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))
HEAVY = ("pandas", "numpy", "pyarrow", "aiohttp", "sklearn", "ray", "pyspark")  # fsspec: airflow.sdk loads it

PROBE = """
import importlib.util, json, sys
import airflow.sdk  # every DAG file imports it
for i, path in enumerate({files!r}):  # as the dag-processor loads them: a module per file
    spec = importlib.util.spec_from_file_location(f"dag_file_{{i}}", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def test_parsing_the_dag_files_loads_no_heavy_library():
    """The dag-processor parses these files every 30 s: pandas & co. belong in the tasks."""
    code = PROBE.format(files=[str(f) for f in DAG_FILES], heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_every_dag_imports_and_follows_the_policy(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"salary_training", "salary_batch_predict", "salary_drops_window"}
    for dag in dagbag.dags.values():
        assert dag.tags and "salary" in dag.tags, dag.dag_id
        assert dag.catchup is False and dag.doc_md, dag.dag_id
        for task in dag.tasks:
            assert task.owner == "data-eng", (dag.dag_id, task.task_id)
            assert task.retries >= 1, (dag.dag_id, task.task_id)
