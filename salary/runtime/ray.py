"""The runtime env every Ray job of ours is submitted with (no Ray import: DAG files use it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The package, the jobs and the config ship as the job's working_dir; data, caches, tests, the
# Airflow side and the development helpers do not.
WORKING_DIR_EXCLUDES = (".git", ".local", ".venv", "build", "tests", "bench", "devtools", "dags", "salary_airflow",
                        "scripts", "docker", "**/__pycache__")


def job_runtime_env(repo: Path) -> dict[str, Any]:
    """Our code as the job's working_dir (RayJobOperator adds the code version when it submits)."""
    return {"working_dir": str(repo), "excludes": list(WORKING_DIR_EXCLUDES)}
